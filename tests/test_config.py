from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from emovox.config import (
    ConfigError,
    config_from_dict,
    config_to_dict,
    load_config,
    parse_overrides,
    save_config,
)


@dataclass
class Optim:
    lr: float = 1e-3
    betas: list[float] = field(default_factory=lambda: [0.8, 0.99])


@dataclass
class Run:
    name: str = "run"
    steps: int = 10
    amp: bool = False
    optim: Optim = field(default_factory=Optim)


def test_defaults_files_and_overrides_merge_in_order(tmp_path):
    f = tmp_path / "a.yaml"
    f.write_text("steps: 20\noptim:\n  lr: 0.01\n")
    cfg = load_config(Run, [f], ["optim.lr=5e-4", "amp=true"])
    assert isinstance(cfg, Run) and isinstance(cfg.optim, Optim)
    assert cfg.steps == 20 and cfg.optim.lr == 5e-4 and cfg.amp is True and cfg.name == "run"


def test_unknown_key_in_file_names_the_key(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("optim:\n  learning_rate: 0.1\n")
    with pytest.raises(ConfigError, match="learning_rate"):
        load_config(Run, [f])


def test_unknown_override_key_is_an_error():
    with pytest.raises(ConfigError, match="stepz"):
        load_config(Run, [], ["stepz=3"])


def test_wrong_type_names_the_key():
    with pytest.raises(ConfigError, match="steps"):
        load_config(Run, [], ["steps=many"])


@pytest.mark.parametrize("bad", ["steps", "=3", "a..b=1"])
def test_malformed_overrides(bad):
    with pytest.raises(ConfigError):
        parse_overrides([bad])


def test_missing_file_and_non_mapping(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(Run, [tmp_path / "nope.yaml"])
    f = tmp_path / "list.yaml"
    f.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(Run, [f])


def test_save_round_trip(tmp_path):
    cfg = load_config(Run, [], ["optim.betas=[0.5,0.9]", "name=x"])
    path = save_config(cfg, tmp_path / "out" / "config.yaml")
    assert load_config(Run, [path]) == cfg
    assert config_from_dict(Run, config_to_dict(cfg)) == cfg
    assert not list(path.parent.glob(".*tmp"))
