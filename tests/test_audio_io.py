from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from emovox.audio import AudioError, MelConfig, MelSpectrogram, load_audio, mel_spectrogram, save_wav
from emovox.audio.mel import mel_filterbank, n_frames
from tests.mel_reference import golden_signal, reference_mel

GOLDEN = Path(__file__).parent / "data" / "mel_golden.npz"


def test_mel_matches_independent_reference_and_golden_values():
    y = golden_signal()
    mel = mel_spectrogram(y).numpy()
    ref = reference_mel(y, mel_filterbank(MelConfig()))
    assert mel.shape == ref.shape == (80, n_frames(len(y), MelConfig()))
    np.testing.assert_allclose(mel, ref, atol=2e-4)
    golden = np.load(GOLDEN)
    assert tuple(golden["shape"]) == mel.shape
    np.testing.assert_allclose(mel[:, ::8], golden["frames"], atol=2e-4)
    assert mel.min() == pytest.approx(np.log(1e-5), abs=1e-3)  # the silent lead-in hits the floor


def test_mel_is_batched_and_consistent():
    y = torch.randn(3, 22050) * 0.1
    m = MelSpectrogram()
    batch = m(y)
    assert batch.shape == (3, 80, 86)
    for i in range(3):
        torch.testing.assert_close(batch[i], m(y[i]), atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError):
        m(torch.zeros(1, 1, 100))
    with pytest.raises(ValueError, match="too short"):
        m(torch.zeros(100))


@pytest.mark.parametrize(
    "fmt,subtype", [("WAV", "PCM_16"), ("FLAC", "PCM_24"), ("OGG", "VORBIS"), ("WAV", "FLOAT")]
)
def test_load_resamples_and_downmixes(tmp_path, fmt, subtype):
    sr = 44100
    t = np.arange(sr) / sr
    stereo = np.stack([0.5 * np.sin(2 * np.pi * 300 * t), 0.3 * np.sin(2 * np.pi * 300 * t)], axis=1)
    path = tmp_path / f"x.{fmt.lower()}"
    sf.write(path, stereo, sr, format=fmt, subtype=subtype)
    audio, info = load_audio(path)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert abs(len(audio) - 22050) <= 1
    assert info.downmixed and info.resampled and info.orig_sample_rate == sr and info.orig_channels == 2
    assert abs(info.peak - 0.4) < 0.02
    assert not info.is_clipped and not info.is_silent


def test_clipping_and_silence_are_reported(tmp_path):
    p = tmp_path / "clip.wav"
    sf.write(p, np.clip(2 * np.sin(np.linspace(0, 200, 22050)), -1, 1), 22050, subtype="FLOAT")
    _, info = load_audio(p)
    assert info.is_clipped and any("clipped" in w for w in info.warnings)
    q = tmp_path / "quiet.wav"
    sf.write(q, 1e-5 * np.ones(22050), 22050, subtype="FLOAT")
    _, info = load_audio(q)
    assert info.is_silent and any("silent" in w for w in info.warnings)


def test_bad_files_give_clear_errors(tmp_path):
    with pytest.raises(AudioError, match="not found"):
        load_audio(tmp_path / "missing.wav")
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk")
    with pytest.raises(AudioError, match="cannot be read"):
        load_audio(corrupt)
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0), 22050)
    with pytest.raises(AudioError, match="no samples"):
        load_audio(empty)
    nan = tmp_path / "nan.wav"
    sf.write(nan, np.array([0.0, np.nan, 0.1]), 22050, subtype="FLOAT")
    with pytest.raises(AudioError, match="NaN"):
        load_audio(nan)
    # float samples near float32's limit (found by the fuzz test): resampling them overflowed to NaN
    huge = tmp_path / "huge.wav"
    sf.write(
        huge, np.float32(3e38) * np.sin(np.linspace(0, 300, 4800, dtype=np.float32)), 48000, subtype="FLOAT"
    )
    with pytest.raises(AudioError, match="times full scale"):
        load_audio(huge)
    # floats written on the 16-bit scale still load, as clipped audio
    int_scaled = tmp_path / "int_scaled.wav"
    sf.write(int_scaled, 30000 * np.sin(np.linspace(0, 300, 4800)), 48000, subtype="FLOAT")
    audio, info = load_audio(int_scaled)
    assert np.isfinite(audio).all() and info.is_clipped
    long = tmp_path / "long.wav"
    sf.write(long, np.zeros(22050 * 3), 22050)
    with pytest.raises(AudioError, match="allowed"):
        load_audio(long, max_seconds=2)


def test_save_wav_is_atomic_and_clips(tmp_path):
    p = save_wav(tmp_path / "o.wav", np.array([0.0, 1.5, -2.0, 0.25], dtype=np.float32))
    back, sr = sf.read(p)
    assert sr == 22050 and back.max() <= 1.0 and back.min() >= -1.0
    assert not list(tmp_path.glob(".*"))
    with pytest.raises(AudioError):
        save_wav(tmp_path / "bad.wav", np.array([np.inf]))
    assert not (tmp_path / "bad.wav").exists()


def test_shared_real_clip_loads(ljspeech_mini):
    audio, info = load_audio(ljspeech_mini / "wavs" / "LJ001-0001.wav")
    assert info.orig_sample_rate == 22050 and not info.resampled and info.duration > 1


@pytest.mark.parametrize(
    "cfg",
    [MelConfig(), MelConfig(sample_rate=16000), MelConfig(sample_rate=24000, n_fft=2048, win_length=2048,
                                                          hop_length=300, n_mels=100, fmin=20.0, fmax=12000.0)],
)  # fmt: skip
def test_mel_filterbank_is_librosas_slaney_filterbank(cfg):
    librosa = pytest.importorskip("librosa")
    ours = mel_filterbank(cfg)
    theirs = librosa.filters.mel(
        sr=cfg.sample_rate, n_fft=cfg.n_fft, n_mels=cfg.n_mels, fmin=cfg.fmin, fmax=cfg.fmax
    )
    assert ours.shape == theirs.shape and np.abs(ours - theirs).max() < 1e-7
