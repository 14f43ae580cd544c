"""End to end on a generated toy corpus: prep -> features -> train acoustic -> bank -> synth.

The toy corpus renders real sentences (through the real text front end) as vowel-like harmonic complexes whose
F0 rises with the emotion's arousal (tests/toy_corpus.py), so the trends a trained model must reproduce are
known exactly.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

from emovox.cli import main as cli
from tests.toy_corpus import write_toy_corpus

pytestmark = pytest.mark.slow

SENTENCES = [
    "Hello there, my friend.", "Where were you last night?", "It is over now.", "I cannot believe it!",
    "The door was open.", "We walked home slowly.", "Bring me the red box.", "She sings every morning.",
    "Nobody told me anything.", "The train leaves at noon.", "Look at the sky.", "This is my house.",
]  # fmt: skip

TINY = [
    "model.hidden=64", "model.ffn_channels=128", "model.predictor_channels=64", "model.encoder_layers=2",
    "model.decoder_layers=2", "model.emotion.channels=32", "model.emotion.z_dim=8", "model.aligner_channels=32",
    "optim.lr=3e-3", "optim.warmup_steps=50", "loss.bin_start_step=150", "loss.bin_ramp_steps=50",
    "train.batch_size=8", "train.max_steps=800", "train.log_every=10", "train.ckpt_every=800", "train.threads=1",
    "train.tensorboard=false", "train.progress=false",
]  # fmt: skip


def _f0_median(audio):
    from emovox.audio.pitch import estimate_f0

    f0 = estimate_f0(audio).f0
    voiced = f0[f0 > 0]
    return float(np.median(voiced)) if voiced.size else 0.0


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("toy")
    table = write_toy_corpus(root / "corpus", SENTENCES * 2, n_speakers=2)
    assert cli(["prep", "generic", "--root", str(table), "--out", str(root / "prep"), "--dev", "0", "--test", "0",
                "--no-progress"]) == 0  # fmt: skip
    assert cli(["features", str(root / "prep" / "manifest.jsonl"), "--out", str(root / "store")]) == 0
    torch.manual_seed(0)
    sets = [arg for s in [*TINY, f"data.store={root / 'store'}"] for arg in ("--set", s)]
    assert cli(["train", "acoustic", "--out", str(root / "run"), *sets]) == 0
    model = root / "run" / "model.safetensors"
    assert cli(["bank", str(model), str(root / "store")]) == 0
    return root, model


def test_loss_falls_and_alignment_sharpens(trained):
    root, _ = trained
    log = [json.loads(line) for line in (root / "run" / "log.jsonl").read_text().splitlines()]
    first, last = log[0], log[-1]
    assert last["mel/l1"] < 0.6 * first["mel/l1"]
    assert last["align/forward_sum"] < first["align/forward_sum"]
    # binarisation loss = -mean log soft-probability on the hard path: a diagonal, confident alignment has it low
    assert last["align/bin"] < 0.4 * first["align/bin"]


def test_bank_and_emotion_trends(trained):
    """The planned F0 follows the training data: angry > neutral > sad, rising with angry's intensity.

    Checked on the acoustic model's pitch plan (``predict_prosody``): on this toy corpus of pure harmonic
    complexes the vocoded audio of a 800-step tiny model is too rough for an F0 tracker on the emotional
    renderings (octave errors), while its neutral renderings track exactly; the default-voice evaluation
    measures F0 on real audio.
    """
    from emovox.pipelines import EmotionalTTS

    _, model = trained
    tts = EmotionalTTS.load(model)
    assert set(tts.emotions) == {"neutral", "happy", "sad", "angry"}
    text = "We walked home slowly."
    for speaker, base in (("spk0", 110.0), ("spk1", 190.0)):
        f0 = {
            e: tts.predict_prosody(text, e, speaker=speaker)["mean_f0_hz"]
            for e in ("sad", "neutral", "angry")
        }
        assert f0["angry"] > f0["neutral"] > f0["sad"], f0
        assert abs(f0["neutral"] - base) / base < 0.1, f0
        intensities = [0.0, 0.5, 1.0, 1.5, 2.0]
        levels = [tts.predict_prosody(text, f"angry:{a}", speaker=speaker)["mean_f0_hz"] for a in intensities]
        assert spearmanr(intensities, levels).statistic >= 0.9, levels
    # the neutral rendering's audio carries the planned F0
    audio, _ = tts.synthesize(text, "neutral", speaker="spk0")
    assert abs(_f0_median(audio) - 110.0) < 11.0


def test_sigkill_and_resume_reach_the_same_parameters(trained, tmp_path):
    """An acoustic training run killed with SIGKILL and resumed equals an uninterrupted one, bit for bit."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from emovox.checkpoint import load_checkpoint
    from emovox.engine import latest_checkpoint

    root, _ = trained
    sets = [arg for s in [*TINY, f"data.store={root / 'store'}", "train.max_steps=12", "train.ckpt_every=1"]
            for arg in ("--set", s)]  # fmt: skip
    cmd = [sys.executable, "-m", "emovox.cli", "train", "acoustic", *sets]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    killed = tmp_path / "killed"
    proc = subprocess.Popen(
        [*cmd, "--out", str(killed)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        ck = latest_checkpoint(killed)
        if ck is not None and int(ck.stem.split("_")[1]) >= 5:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    stopped_at = int(latest_checkpoint(killed).stem.split("_")[1])
    assert 5 <= stopped_at < 12
    subprocess.run([*cmd, "--out", str(killed)], env=env, check=True, capture_output=True)
    subprocess.run([*cmd, "--out", str(tmp_path / "clean")], env=env, check=True, capture_output=True)
    a = load_checkpoint(killed / "model.safetensors").tensors
    b = load_checkpoint(tmp_path / "clean" / "model.safetensors").tensors
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_bank_adv_fit_anchors_from_the_command_line(trained, tmp_path):
    """``emovox bank --adv-fit anchors`` writes a bank whose ADV map is the ridge least-squares map from the
    emotions' anchors to their directions: its objective there is below the default fit's, which also follows
    the utterances' ADV values (here anchor x intensity). Directions and the ADV range are the same."""
    from emovox.emotion.labels import adv_anchor
    from emovox.pipelines import EmotionalTTS

    root, model = trained
    out = tmp_path / "anchors.safetensors"
    assert cli(["bank", str(model), str(root / "store"), "--adv-fit", "anchors", "-o", str(out)]) == 0
    anchors, data = EmotionalTTS.load(out).bank, EmotionalTTS.load(model).bank
    torch.testing.assert_close(anchors.directions, data.directions)
    torch.testing.assert_close(anchors.adv_low, data.adv_low)

    def objective(bank, ridge=1e-2):  # EmotionBank.compute's default ridge
        miss = sum(
            float((bank.from_adv(adv_anchor(e)) - bank.label(e)).norm() ** 2)
            for e in ("happy", "sad", "angry")
        )
        return miss + ridge * float(bank.adv_map.norm() ** 2)

    assert objective(anchors) < 0.99 * objective(data), (objective(anchors), objective(data))
    assert not torch.allclose(anchors.adv_map, data.adv_map, atol=1e-3)
    with pytest.raises(SystemExit):
        cli(["bank", str(model), str(root / "store"), "--adv-fit", "listeners", "-o", str(out)])
