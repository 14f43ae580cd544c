"""Every recipe end to end: its run.sh, every stage, on a miniature fake tree of its corpus in the real layout.

The command each recipe runs here is the smoke-run command printed in its README (the line with ``--tiny``), with
``$DATA``, ``$EXP`` and ``$SYNTH`` set to folders in tmp_path; the README's full-size commands are parsed by the
recipe (``--stop-stage -1``: options only). The recipes run two at a time (2 cores, one thread each). Each run
must finish every stage, package a model directory that ``emovox synth --model DIR`` speaks from, and — when
this emovox has ``emovox train evc`` and Debian voices to build parallel renderings with — convert a clip.

The RAVDESS recipe also runs on the real clips of ../shared/data/ravdess_mini + ravdess_dev through evaluation.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from emovox.recipes import RECIPES
from emovox.tts.bank import resolve_acoustic_path
from tests import corpus_fakes
from tests.conftest import SHARED_DATA

pytestmark = pytest.mark.recipes

REPO = Path(__file__).resolve().parents[1]
RECIPES_DIR = REPO / "recipes"
PARALLEL = 2

# run id -> (recipe folder, fake-tree builder of $DATA)
RUNS: dict[str, tuple[str, object]] = {
    "esd_en": ("esd", lambda root: corpus_fakes.make_esd(root, "en")),
    "esd_zh": ("esd", lambda root: corpus_fakes.make_esd(root, "zh")),
    "emovdb": ("emovdb", corpus_fakes.make_emovdb),
    "cremad": ("cremad", corpus_fakes.make_cremad),
    "ravdess": ("ravdess", corpus_fakes.make_ravdess),
    "tess": ("tess", corpus_fakes.make_tess),
    "emns": ("emns", corpus_fakes.make_emns),
    "iemocap": ("iemocap", corpus_fakes.make_iemocap),
    "msppodcast": ("msppodcast", corpus_fakes.make_msppodcast),
    "kazemotts": ("kazemotts", corpus_fakes.make_kazemotts),
    "nemo": ("nemo", corpus_fakes.make_nemo),
    "custom": ("custom", lambda root: corpus_fakes.make_custom(root) and root / "metadata.csv"),
    "multi": ("multi", lambda root: _make_multi(root)),
}


def _make_multi(root: Path) -> Path:
    corpus_fakes.make_esd(root / "esd", "en")
    corpus_fakes.make_emovdb(root / "emovdb")
    corpus_fakes.make_cremad(root / "cremad")
    corpus_fakes.make_ravdess(root / "ravdess")
    corpus_fakes.make_msppodcast(root / "msppodcast")  # an ADV corpus for --adv-corpus
    return root


# --------------------------------------------------------------------------------------------- README commands


def readme_commands(name: str) -> list[str]:
    """The commands in the bash blocks of a recipe's README (continuation lines joined)."""
    text = (RECIPES_DIR / name / "README.md").read_text(encoding="utf-8")
    out = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for cmd in block.replace("\\\n", " ").splitlines():
            cmd = cmd.split(" #")[0].strip()
            if cmd and not cmd.startswith("#"):
                out.append(re.sub(r"\s+", " ", cmd))
    return out


def smoke_command(run_id: str) -> str:
    """The README's smoke-run line for this run (``--tiny``; for ESD the one with its ``--lang``)."""
    name = RUNS[run_id][0]
    cands = [c for c in readme_commands(name)
             if c.startswith(f"recipes/{name}/run.sh") and "--tiny" in c and "--stop-stage" not in c]  # fmt: skip
    if name == "esd":
        cands = [c for c in cands if f"--lang {run_id.split('_')[1]}" in c]
    assert len(cands) == 1, f"recipes/{name}/README.md needs one smoke-run command with --tiny, found {cands}"
    return cands[0]


def synth_corpus_command() -> str:
    cands = []
    text = (RECIPES_DIR / "README.md").read_text(encoding="utf-8")
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        lines = block.replace("\\\n", " ").splitlines()
        cands += [c.strip() for c in lines if c.strip().startswith("emovox synthesize-corpus")]
    assert len(cands) == 1, (
        f"recipes/README.md needs one 'emovox synthesize-corpus' smoke command, found {cands}"
    )
    return re.sub(r"\s+", " ", cands[0])


# --------------------------------------------------------------------------------------------- running


@dataclass
class RunResult:
    run_id: str
    rc: int
    log: str
    exp: Path
    data: Path
    wall_s: float
    cpu_s: float


def _env(base: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", NUMBA_NUM_THREADS="1", PYTHONUNBUFFERED="1",
               EMOVOX_CACHE=str(base / "emovox-cache"), NGPU="1", **extra)  # fmt: skip
    return env


def _run(cmd: str, env: dict[str, str], log_path: Path) -> tuple[int, str, float, float]:
    """Run a shell command line from the repository root; returns rc, log, wall and CPU seconds (its tree)."""
    t0 = time.perf_counter()
    with open(log_path, "w") as log:
        proc = subprocess.Popen(["bash", "-c", cmd], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    return proc.returncode, log_path.read_text(errors="replace"), wall, usage.ru_utime + usage.ru_stime


class Runner:
    """Starts the selected recipe runs, two at a time, and hands each test its result."""

    def __init__(self, base: Path, run_ids: list[str]):
        self.base = base
        self.pool = ThreadPoolExecutor(PARALLEL)
        self.lock = threading.Lock()
        self.synth = self._synth_corpus()
        self.futures: dict[str, Future] = {r: self.pool.submit(self._recipe, r) for r in run_ids}

    def _synth_corpus(self) -> Path | None:
        """Parallel renderings for the EVC stage (Debian voices); None when no voice is installed."""
        from emovox.data_prep.synthetic import detect_voices

        if not detect_voices(["flite_slt"])[0]:
            return None
        out = self.base / "synth"
        (self.base / "sentences.txt").write_text("\n".join(corpus_fakes.EN_SENTENCES[:2]) + "\n")
        cmd = synth_corpus_command()
        rc, log, _, _ = _run(cmd, _env(self.base, SYNTH=str(out), SENTENCES=str(self.base / "sentences.txt")),
                             self.base / "synth.log")  # fmt: skip
        assert rc == 0, log[-3000:]
        return out

    def _recipe(self, run_id: str) -> RunResult:
        root = self.base / run_id
        data = RUNS[run_id][1](root / "data")
        exp = root / "exp"
        env = _env(self.base, DATA=str(data), EXP=str(exp), SYNTH=str(self.synth or self.base / "no-synth"))
        rc, log, wall, cpu = _run(smoke_command(run_id), env, root / "run.log")
        return RunResult(run_id, rc, log, exp, Path(data), wall, cpu)

    def result(self, run_id: str) -> RunResult:
        return self.futures[run_id].result()


@pytest.fixture(scope="session")
def runner(request, tmp_path_factory):
    selected = sorted({item.callspec.params["run_id"] for item in request.session.items
                       if item.originalname == "test_recipe_end_to_end"})  # fmt: skip
    r = Runner(tmp_path_factory.mktemp("recipes"), selected)
    yield r
    r.pool.shutdown(wait=True)
    results = [f.result() for f in r.futures.values() if f.done() and not f.exception()]
    if results:
        lines = [f"{x.run_id:<11} wall {x.wall_s:6.1f} s  cpu {x.cpu_s:6.1f} s" for x in results]
        total = sum(x.cpu_s for x in results)
        print("\nrecipe runs:\n" + "\n".join(lines) + f"\ntotal cpu {total:.1f} s over {len(results)} runs")


# --------------------------------------------------------------------------------------------- checks


def _audio_ok(path: Path, min_seconds: float) -> np.ndarray:
    assert path.is_file(), f"{path} was not written"
    audio, sr = sf.read(path, dtype="float32")
    assert audio.ndim == 1 and audio.size / sr >= min_seconds, (audio.shape, sr)
    assert np.isfinite(audio).all()
    return audio


def _evc_expected(log: str) -> bool:
    return "stage 7 (evc): skipped" not in log


@pytest.mark.parametrize("run_id", sorted(RUNS))
def test_recipe_end_to_end(runner, run_id):
    res = runner.result(run_id)
    assert res.rc == 0, f"{run_id} failed (exit {res.rc}):\n{res.log[-4000:]}"
    name = RUNS[run_id][0]
    done = {p.name for p in res.exp.glob(".done.*")}
    expected = {"0.prepare", "1.features", "3.acoustic", "4.denoiser", "5.bank", "6.vocoder", "8.ser", "9.eval",
                "10.package"} | ({"2.pseudo_adv"} if name == "multi" else set())  # fmt: skip
    assert {f".done.{s}" for s in expected} <= done, (sorted(done), res.log[-2000:])
    if name != "multi":
        assert "stage 2 (pseudo_adv): skipped: not configured" in res.log

    # the evaluation wrote its report on the store's held-out sentences
    report = json.loads((res.exp / "eval" / "report.json").read_text())
    assert report["targets"] and report["meta"]["store"] == str(res.exp / "features")

    # the model directory: described, loadable by `emovox synth --model DIR` (the package stage ran it)
    pkg = res.exp / "package"
    desc = json.loads((pkg / "model.json").read_text())
    assert desc["format"] == "emovox-model-dir" and desc["recipe"]["name"] == name
    assert desc["recipe"]["licence"] == RECIPES[name].licence
    assert {"neutral", "angry"} <= set(desc["emotions"]) and desc["speakers"]
    assert (
        desc["files"]["acoustic"] == "model.safetensors" and desc["files"]["vocoder"] == "vocoder.safetensors"
    )
    assert resolve_acoustic_path(pkg) == pkg / "model.safetensors"
    _audio_ok(pkg / "sample_synth.wav", 0.2)

    # emotional voice conversion: trained (stage 7) and used on a recording of the corpus
    if not _evc_expected(res.log):
        reason = re.search(r"stage 7 \(evc\): skipped: (.*)", res.log).group(1)
        pytest.skip(f"{run_id}: all stages but EVC passed; EVC skipped: {reason}")
    assert ".done.7.evc" in done and desc["files"]["evc"] == "evc.safetensors"
    _audio_ok(pkg / "sample_converted.wav", 0.5)


def test_multi_gives_label_only_clips_pseudo_adv(runner):
    res = runner.result("multi")
    assert res.rc == 0, res.log[-4000:]
    items = [
        json.loads(x) for x in (res.exp / "features" / "items.jsonl").read_text().splitlines() if x.strip()
    ]
    pseudo = [r for r in items if r.get("adv_source") == "pseudo"]
    annotated = [r for r in items if r.get("adv") is not None and r.get("adv_source") != "pseudo"]
    assert annotated, "the MSP-Podcast part keeps its annotated ADV"
    assert pseudo and all(r["emotion"] is not None or r.get("adv") for r in pseudo)
    assert all(len(r["adv"]) == 3 and all(-1 <= v <= 1 for v in r["adv"]) for r in pseudo)
    corpora = {r["utt_id"].split("_")[0] for r in items}
    assert len(corpora) >= 4, corpora  # ESD, EmoV-DB, CREMA-D, RAVDESS and MSP-Podcast ids all present


def test_rerun_resumes_without_redoing_a_stage(runner):
    res = runner.result("ravdess")
    assert res.rc == 0, res.log[-4000:]
    env = _env(runner.base, DATA=str(res.data), EXP=str(res.exp), SYNTH=str(runner.synth or "none"))
    rc, log, wall, _ = _run(smoke_command("ravdess"), env, res.exp.parent / "rerun.log")
    assert rc == 0, log
    for n, stage in ((0, "prepare"), (3, "acoustic"), (9, "eval"), (10, "package")):
        assert f"stage {n} ({stage}): done" in log
    assert "trained to step" not in log and "report:" not in log


@pytest.mark.parametrize("name", sorted({n for n, _ in RUNS.values()}))
def test_readme_commands_parse(name, tmp_path):
    """Every run.sh command in the README is one the recipe accepts (options parsed, no stage run)."""
    cmds = [c for c in readme_commands(name) if c.startswith(f"recipes/{name}/run.sh")]
    assert any("--tiny" not in c for c in cmds), f"recipes/{name}/README.md shows no full-size command"
    env = _env(tmp_path, DATA=str(tmp_path / "data"), EXP=str(tmp_path / "exp"), SYNTH=str(tmp_path / "s"))
    for cmd in cmds:
        rc, log, _, _ = _run(f"{cmd} --exp {tmp_path / 'exp'} --stop-stage -1", env, tmp_path / "log")
        assert rc == 0, f"{cmd}: {log}"


def test_readme_has_data_licence_hours_and_results():
    for name in sorted({n for n, _ in RUNS.values()}):
        text = (RECIPES_DIR / name / "README.md").read_text(encoding="utf-8")
        r = RECIPES[name]
        assert r.licence in text.replace("\n", " "), (
            f"{name}: README must state the licence as the registry does"
        )
        assert "estimate" in text and "| stage | what | hours on one GPU (estimate) |" in text, name
        assert "## Results" in text, name


def test_recipes_command_lists_every_recipe(capsys):
    from emovox.cli import main

    assert main(["recipes"]) == 0
    out = capsys.readouterr().out
    for r in RECIPES.values():
        assert r.name in out and r.status in out
        assert (REPO / r.path / "run.sh").is_file() and (REPO / r.path / "README.md").is_file()
    assert main(["recipes", "show", "nemo"]) == 0
    assert "CC BY-NC-SA 4.0" in capsys.readouterr().out
    assert main(["recipes", "show", "nope"]) == 1


# --------------------------------------------------------------------------------------------- real clips


def _link_clips(src_dirs: list[Path], dst: Path) -> int:
    """Per-file links (the parsers do not follow linked folders), one Actor_NN folder per actor."""
    n = 0
    for src in src_dirs:
        for wav in sorted(src.rglob("*.wav")):
            target = dst / wav.parent.name / wav.name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(wav)
            n += 1
    return n


def test_ravdess_real_clips_through_evaluation(tmp_path):
    dirs = [SHARED_DATA / "ravdess_mini", SHARED_DATA / "ravdess_dev"]
    missing = [str(d) for d in dirs if not d.is_dir()]
    if missing:
        pytest.skip(f"real RAVDESS clips not available: {', '.join(missing)}")
    assert _link_clips(dirs, tmp_path / "data") >= 700
    cands = [c for c in readme_commands("ravdess") if "--stop-stage 9" in c and "--tiny" in c]
    assert len(cands) == 1, (
        "recipes/ravdess/README.md needs the real-clip smoke command (--tiny --stop-stage 9)"
    )
    env = _env(tmp_path, DATA=str(tmp_path / "data"), EXP=str(tmp_path / "exp"), SYNTH=str(tmp_path / "none"))
    rc, log, wall, cpu = _run(cands[0], env, tmp_path / "run.log")
    print(f"\nravdess real clips: wall {wall:.1f} s, cpu {cpu:.1f} s")
    assert rc == 0, log[-4000:]
    manifest = [
        json.loads(x) for x in (tmp_path / "exp" / "data" / "manifest.jsonl").read_text().splitlines()
    ]
    assert len(manifest) >= 700 and len({r["speaker"] for r in manifest}) == 12
    report = json.loads((tmp_path / "exp" / "eval" / "report.json").read_text())
    assert report["meta"]["split"] == "test" and report["targets"]
    assert not (tmp_path / "exp" / ".done.10.package").exists()
