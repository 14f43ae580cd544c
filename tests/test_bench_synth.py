"""``emovox bench synth``: runs end to end in quick mode; its pieces do what the numbers rely on. No timings."""

import sys

import pytest
import torch

from emovox.bench import synth
from emovox.cli import main


def test_quick_runs_end_to_end(capsys):
    assert main(["bench", "synth", "--quick", "--steps", "1,2", "--no-coqui"]) == 0
    out = capsys.readouterr().out
    assert "1. Acoustic model, 16 phonemes" in out and "emovox FastSpeech2" in out
    assert "2. Pipeline" in out and "vocoder 'random-v3'" in out
    assert "3. Diffusion decoder" in out  # a table, or "unavailable" before the decoder is installed
    if synth.import_diffusion() is not None:
        assert "RANDOM WEIGHTS" in out


def test_bad_options_are_messages(capsys):
    assert main(["bench", "synth", "--quick", "--steps", "1,x"]) == 1
    assert "--steps takes comma-separated integers" in capsys.readouterr().err
    assert main(["bench", "synth", "--quick", "--phonemes", "2"]) == 1
    assert "--phonemes must be at least 3" in capsys.readouterr().err


def test_sentence_ids_keeps_bos_eos_and_length():
    full = synth.sentence_ids("Hi.", 40)  # shorter than 40: the text is repeated
    assert len(full) == 40
    cut = synth.sentence_ids(synth.TEXT, 30)
    assert len(cut) == 30 and cut[-1] == full[-1] and cut[0] == full[0]


def test_biased_duration_predictor_gives_realistic_lengths():
    model = synth.build_acoustic(synth.tiny_config(), frames_per_phoneme=5.5)
    inputs = synth.acoustic_inputs(synth.sentence_ids(synth.TEXT, 50), model.cfg.emotion.z_dim)
    out = model.infer(inputs.tokens, inputs.x_lengths, inputs.speaker, inputs.z)
    assert 5.0 <= out.durations.float().mean() <= 6.0
    assert synth.ours_runner(model, inputs)() == int(out.mel_lengths[0])


def test_log_mel_l1_counts_valid_frames_only():
    a, b = torch.zeros(1, 2, 4), torch.zeros(1, 2, 4)
    b[..., :2] = 1.0
    b[..., 3] = 100.0  # padded frame
    mask = torch.tensor([[[1.0, 1.0, 1.0, 0.0]]])
    assert synth.log_mel_l1(a, b, mask) == pytest.approx(2 / 3)


def test_coqui_forward_tts_loads_without_leaving_modules():
    before = set(sys.modules)
    classes = synth.load_coqui_forward_tts()
    if classes is None:
        pytest.skip("coqui-tts is not installed")
    assert not {m for m in set(sys.modules) - before if m.split(".")[0] in ("TTS", "coqpit", "trainer")}
    forward_tts, forward_args = classes
    small = {"hidden_channels_ffn": 16, "num_heads": 1, "num_layers": 1, "dropout_p": 0.0}
    args = forward_args(num_chars=20, hidden_channels=16, encoder_params=small, decoder_params=small,
                        duration_predictor_hidden_channels=8, pitch_predictor_hidden_channels=8,
                        energy_predictor_hidden_channels=8, use_energy=True)  # fmt: skip
    model = forward_tts(args).eval()
    synth.bias_durations(model.duration_predictor.proj, 4.0)
    inputs = synth.acoustic_inputs([1, 5, 6, 7, 2], 4)
    frames = synth.coqui_runner(model, inputs)()
    assert 5 * 3 <= frames <= 5 * 6  # about 4 frames per token
