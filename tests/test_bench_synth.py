"""``emovox bench synth``: runs end to end in quick mode; its pieces do what the numbers rely on. No timings."""

import math
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


# ----- the diffusion quality table (a trained model against held-out recordings) -----


@pytest.fixture(scope="module")
def voice_and_store(tmp_path_factory):
    from tests.tiny_store import make_tiny_store
    from tests.tiny_voice import EMOTIONS, SPEAKERS, make_tiny_voice

    root = tmp_path_factory.mktemp("benchq")
    voice = make_tiny_voice(root / "voice.safetensors", denoiser=True)
    return voice, make_tiny_store(root / "store", SPEAKERS, EMOTIONS, n=3, split="test")


def _subject_and_items(voice_and_store):
    from emovox.tts.data import open_acoustic_store

    voice, store = voice_and_store
    subject = synth.trained_subject(str(voice), synth.load_vocoder("random-v3"), synth.QUICK_TEXT, 16)
    items = synth.held_out_items(
        open_acoustic_store(store, split="test", progress=False), 3, subject.speakers
    )
    return subject, items


def test_quality_table_structure_and_the_fastspeech2_row(voice_and_store):
    from emovox.audio.kernels import maximum_path
    from emovox.tts.training import collate_items

    subject, items = _subject_and_items(voice_and_store)
    assert [it["utt_id"] for it in items] == ["utt0", "utt1", "utt2"]
    assert [it["speaker"] for it in items] == [0, 1, 0]  # store speakers mapped to the model's indices
    result = synth.diffusion_quality(subject.model, subject.denoiser, subject.diffusion, items, [2, 1])
    assert [r.steps for r in result.rows] == [0, 1, 2]
    assert result.utt_ids == ["utt0", "utt1", "utt2"]
    assert result.seconds == pytest.approx(sum(it["mel"].shape[1] for it in items) * 256 / 22050)
    for r in result.rows:
        assert math.isfinite(r.l1) and r.l1 > 0 and math.isfinite(r.variance_ratio) and r.variance_ratio > 0
    # steps = 0 is FastSpeech2 teacher-forced on the recording, measured independently here.
    with torch.no_grad():
        fs2 = []
        for it in items:
            batch = collate_items([it], [])
            fs2.append(float((subject.model(batch, maximum_path).mel - batch.mel).abs().mean()))
    assert result.rows[0].l1 == pytest.approx(sum(fs2) / len(fs2), rel=1e-5)
    # The refined mels differ from FastSpeech2's, and one seed gives the same table again.
    assert result.rows[1].l1 != result.rows[0].l1
    again = synth.diffusion_quality(subject.model, subject.denoiser, subject.diffusion, items, [1, 2])
    assert again.rows == result.rows


def test_gain_share_with_an_oracle_decoder(voice_and_store):
    """A decoder predicting the recording's mel (x0) closes the L1 gap in one step: every gain share ~ 1."""
    from emovox.tts.models.denoiser import Denoiser

    subject, items = _subject_and_items(voice_and_store)
    refs = {it["mel"].shape[1]: it["mel"].float()[None] for it in items}  # the store's lengths are distinct

    class Oracle(Denoiser):
        def forward(self, x_t, t, cond, coarse, z, g, mask):
            return self.normalise(refs[x_t.shape[2]]).expand_as(x_t)

    oracle = Oracle(subject.denoiser.cfg)
    oracle.load_state_dict(subject.denoiser.state_dict())
    result = synth.diffusion_quality(subject.model, oracle, subject.diffusion, items, [1, 2, 4])
    fs2, *refined = result.rows
    assert fs2.l1 > 0.3 and fs2.variance_ratio < 0.5  # FastSpeech2 (random weights) is far from the recording
    assert refined[-1].gain_share == 1.0
    for r in refined:
        assert r.l1 < 1e-3 and r.variance_ratio == pytest.approx(1.0, abs=1e-2)
        assert r.delta_ratio == pytest.approx(1.0, abs=1e-2)
        assert r.gain_share == pytest.approx(1.0, abs=1e-3)


def test_smallest_step_count_meeting_both_targets():
    rows = [synth.QualityRow(0, 1.0, 0.5, 0.4, math.nan)] + [
        synth.QualityRow(n, 1.0 - share * 0.5, 0.9, 0.8, share)
        for n, share in [(1, 0.5), (2, 0.92), (4, 0.99), (8, 1.0)]
    ]
    result = synth.QualityResult(rows, [], 1.0)
    assert synth.smallest_meeting_targets({1: 0.1, 2: 0.3, 4: 0.6, 8: 1.2}, result) == 2
    assert synth.smallest_meeting_targets({1: 0.1, 2: 0.6, 4: 0.5, 8: 1.2}, result) == 4
    assert synth.smallest_meeting_targets({1: 0.1, 2: 0.6, 4: 0.6, 8: 0.6}, result) is None
    no_gain = synth.QualityResult([rows[0], synth.QualityRow(1, 1.2, 0.9, 0.8, math.nan)], [], 1.0)
    assert synth.smallest_meeting_targets({1: 0.0}, no_gain) is None


def test_cli_with_model_and_store(voice_and_store, capsys):
    voice, store = voice_and_store
    argv = ["bench", "synth", "--quick", "--no-coqui", "--model", str(voice), "--store", str(store),
            "--steps", "1,2", "--utterances", "2"]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert f"trained model {voice}" in out and "RANDOM WEIGHTS" not in out
    assert "4. Diffusion quality: 2 utterances" in out and "0 (FS2)" in out
    assert "Diffusion targets at 1 thread" in out and "smallest meeting both" in out
    assert main([*argv, "--skip", "acoustic", "pipeline", "--noise-scale", "0"]) == 0
    assert "noise scale 0, seed 0" in capsys.readouterr().out
    assert main([*argv, "--noise-scale", "-1"]) == 1
    assert "noise_scale must be finite" in capsys.readouterr().err
    assert main(["bench", "synth", "--quick", "--noise-scale", "0.5"]) == 1
    assert "--noise-scale needs --model" in capsys.readouterr().err


def test_cli_store_option_errors(voice_and_store, capsys):
    voice, store = voice_and_store
    assert main(["bench", "synth", "--quick", "--store", str(store), "--steps", "1"]) == 1
    assert "--store needs --model" in capsys.readouterr().err
    assert main(["bench", "synth", "--quick", "--model", str(voice), "--store", str(store)]) == 1
    assert "--store needs --steps" in capsys.readouterr().err
    argv = ["bench", "synth", "--quick", "--model", str(voice), "--store", str(store), "--steps", "1"]
    assert main([*argv, "--split", "train"]) == 1
    assert "no usable utterances in split 'train'" in capsys.readouterr().err
    assert main([*argv, "--utterances", "0"]) == 1
    assert "--utterances must be at least 1" in capsys.readouterr().err
