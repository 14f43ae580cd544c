"""``emovox bench throughput``: the batched whole-pipeline benchmark runs on the CPU and counts each item's own
audio, not the padding. No timings are asserted."""

import pytest
import torch

from emovox.bench.throughput import Batch, Pipeline
from emovox.cli import main


@pytest.fixture(scope="module")
def tts():
    from emovox.pipelines import EmotionalTTS

    return EmotionalTTS.load(precision="fp32")


def test_a_batch_counts_each_items_own_audio(tts):
    """Batch 2 holds the first sentence of batch 1 and a second one: its audio is their sum, and the first item's
    length does not change when a longer sentence pads it."""
    pipe = Pipeline(tts, torch.device("cpu"))
    one, two = Batch(tts, 1, torch.device("cpu")), Batch(tts, 2, torch.device("cpu"))
    _, len_one = pipe.acoustic(one, 0)
    _, len_two = pipe.acoustic(two, 0)
    assert int(len_two[0]) == int(len_one[0]) and int(len_two[1]) > 0
    seconds = pipe(two, 0)
    assert seconds == pytest.approx(float(len_two.sum()) * 256 / 22050)
    assert two.z.shape[0] == 2 and not torch.equal(two.z[0], two.z[1])  # two different emotions


def test_the_benchmark_prints_a_row_per_setting(capsys):
    argv = ["bench", "throughput", "--device", "cpu", "--batch", "1", "--precision", "fp32"]
    assert main([*argv, "--steps", "0,2", "--repeats", "1", "--threads", "1"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines() if line[:5].strip() == "1"]
    assert [(r[0], r[2]) for r in rows] == [("1", "-"), ("1", "2")]
    assert all(float(r[5]) > 0 and float(r[6]) > 0 for r in rows)


@pytest.mark.parametrize(
    "options, message",
    [
        (["--precision", "fp16"], "--precision takes fp32 and/or bf16"),
        (["--batch", "0"], "--batch and --repeats must be positive"),
        (["--batch", "two"], "--batch takes comma-separated integers"),
        (["--device", "tpu"], "is not a device"),
    ],
)
def test_bad_options_are_messages(capsys, options, message):
    assert main(["bench", "throughput", *options]) == 1
    assert message in capsys.readouterr().err
