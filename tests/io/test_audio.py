"""The audio path: STFT against a direct computation, mel projection, Griffin-Lim, WAV bytes,
loudness matching, resampling, and the memory estimate against measured peaks."""

import io
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile

from invmel_core import (SOLVERS, InputError, InverseMelScale, MelFilterbank, griffinlim, load_audio,
                       match_loudness, mel_spectrogram, spectrogram, to_wav_bytes)
from invmel_core.dsp.stft import stft_window
from invmel_core.limits import check_duration, estimate_solve_bytes, format_duration
from invmel_core.dsp.metrics import log_spectral_distance, spectral_convergence

ASSETS = Path(__file__).resolve().parents[2] / "assets"


def direct_spectrogram(y, n_fft, hop, win_length, power):
    """torchaudio.Spectrogram written out frame by frame with np.fft.fft, as a reference."""
    y = np.asarray(y, np.float64)
    pad = n_fft // 2
    padded = np.concatenate([y[pad:0:-1], y, y[-2:-pad - 2:-1]])  # reflect, edge not repeated
    hann = np.hanning(win_length + 1)[:-1] if win_length > 1 else np.ones(1)  # periodic Hann
    window = np.zeros(n_fft)
    left = (n_fft - win_length) // 2
    window[left:left + win_length] = hann
    n_frames = 1 + (len(padded) - n_fft) // hop
    out = np.empty((n_fft // 2 + 1, n_frames))
    for t in range(n_frames):
        spectrum = np.fft.fft(padded[t * hop:t * hop + n_fft] * window)
        out[:, t] = np.abs(spectrum[:n_fft // 2 + 1]) ** power
    return out


@pytest.mark.parametrize("n_fft, hop, win_length, power, n", [
    (512, 128, None, 2.0, 4000),
    (400, None, None, 2.0, 3000),  # torchaudio's default hop: win_length // 2
    (512, 100, 300, 1.0, 2501),  # a window shorter than n_fft, zero-padded centrally
    (255, 64, None, 2.0, 1000),  # odd n_fft
    (64, 1, 64, 0.5, 200),
])
def test_spectrogram_matches_direct_computation(n_fft, hop, win_length, power, n):
    y = np.random.default_rng(n).standard_normal(n).astype(np.float32)
    spec = spectrogram(y, n_fft, hop, win_length, power)
    expected = direct_spectrogram(y, n_fft, hop or (win_length or n_fft) // 2, win_length or n_fft, power)
    assert spec.dtype == np.float32 and spec.shape == expected.shape
    np.testing.assert_allclose(spec, expected, rtol=2e-4, atol=2e-4 * expected.max())


def test_spectrogram_matches_librosa_stft_on_speech():
    import librosa

    y, _ = load_audio(ASSETS / "speech_short.wav")
    spec = spectrogram(y, 1024, 256)
    reference = np.abs(librosa.stft(y, n_fft=1024, hop_length=256, pad_mode="reflect")) ** 2
    assert spec.shape == reference.shape
    assert np.abs(spec - reference).max() / reference.max() < 1e-5


def test_stft_window_is_torch_hann():
    np.testing.assert_allclose(stft_window(8), 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(8) / 8), atol=1e-7)
    assert stft_window(5, 1).tolist() == [0, 0, 1, 0, 0]  # torch.hann_window(1) == [1.]


@pytest.mark.parametrize("n", [1, 2, 255, 256, 257])
def test_short_signals_are_zero_padded_not_rejected(n):
    # reflect padding needs more than n_fft // 2 = 256 samples; shorter ones are zero-padded first
    y = np.full(n, 0.5, np.float32)
    spec = spectrogram(y, 512, 128)
    padded_length = max(n, 257)
    assert spec.shape == (257, 1 + padded_length // 128)
    assert np.isfinite(spec).all() and spec.max() > 0
    if n <= 256:
        np.testing.assert_allclose(spec, spectrogram(np.pad(y, (0, 257 - n)), 512, 128))


@pytest.mark.parametrize("kwargs, match", [
    (dict(samples=np.zeros(0)), "empty"),
    (dict(samples=np.zeros((2, 100))), "mono, 1-D"),
    (dict(samples=np.array([0.0, np.nan])), "NaN"),
    (dict(samples=np.zeros(10, complex)), "real numeric"),
    (dict(samples=np.zeros(10), n_fft=1), "n_fft must be >= 2"),
    (dict(samples=np.zeros(10), n_fft=512.5), "n_fft must be an integer"),
    (dict(samples=np.zeros(10), n_fft=256, win_length=300), "win_length must be at most n_fft=256"),
    (dict(samples=np.zeros(10), hop_length=0), "hop_length must be >= 1"),
    (dict(samples=np.zeros(10), power=0), "power must be > 0"),
    (dict(samples=np.zeros(10), power=float("nan")), "power must be finite"),
])
def test_spectrogram_rejects_bad_parameters(kwargs, match):
    with pytest.raises(InputError, match=match):
        spectrogram(**kwargs)


def test_mel_spectrogram_is_the_filterbank_projection():
    fb = MelFilterbank(257, 0.0, None, 40, 16000)
    spec = np.random.default_rng(0).random((3, 257, 11), dtype=np.float32)
    mel = mel_spectrogram(spec, fb)
    assert mel.shape == (3, 40, 11) and mel.dtype == np.float32
    np.testing.assert_allclose(mel, np.einsum("fm,bft->bmt", fb.dense, spec), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(mel_spectrogram(spec[0], fb.dense), mel[0], rtol=1e-5, atol=1e-6)
    with pytest.raises(InputError, match=r"\(\.\.\., 257, time\).*n_fft // 2 \+ 1"):
        mel_spectrogram(np.ones((256, 4)), fb)


def test_griffinlim_recovers_the_chirp():
    y, _ = load_audio(ASSETS / "chirp.wav")
    spec = spectrogram(y, 1024, 256)
    errors = {}
    for n_iter in (1, 32):
        out = griffinlim(spec, 1024, 256, n_iter=n_iter, length=y.size)
        assert out.dtype == np.float32 and out.shape == y.shape
        errors[n_iter] = spectral_convergence(spectrogram(out, 1024, 256), spec, power=2)
    # measured: 0.38 after 1 iteration, 0.065 after 32
    assert errors[32] < 0.12 and errors[32] < errors[1] / 3
    assert log_spectral_distance(spectrogram(out, 1024, 256), spec, power=2) < 1.5  # dB; measured 0.93


@pytest.mark.parametrize("spec, match", [
    (np.ones((100, 5)), r"shape \(129, frames\) for n_fft=256"),
    (np.ones((129, 0)), r"shape \(129, frames\)"),
    (-np.ones((129, 5)), "non-negative"),
    (np.full((129, 5), np.nan), "finite"),
])
def test_griffinlim_rejects_bad_spectrograms(spec, match):
    with pytest.raises(InputError, match=match):
        griffinlim(spec, 256)


def test_wav_bytes_round_trip_without_normalising():
    y = np.array([0.0, 0.1, -0.25, 2.0, -3.0], np.float32)
    data = to_wav_bytes(y, 11025)
    back, rate = soundfile.read(io.BytesIO(data), dtype="float32")
    info = soundfile.info(io.BytesIO(data))
    assert rate == 11025 and info.subtype == "PCM_16" and info.format == "WAV"
    np.testing.assert_allclose(back, [0.0, 0.1, -0.25, 1.0, -1.0], atol=1 / 32768)
    with pytest.raises(InputError, match="NaN"):
        to_wav_bytes(np.array([np.nan]), 8000)
    with pytest.raises(InputError, match="sample_rate"):
        to_wav_bytes(y, 0)


def test_match_loudness():
    rng = np.random.default_rng(0)
    quiet, loud = 0.01 * rng.standard_normal(1000), 0.3 * rng.standard_normal(500)
    matched = match_loudness(quiet, loud)
    assert matched.dtype == np.float32
    np.testing.assert_allclose(np.sqrt(np.mean(matched.astype(np.float64) ** 2)),
                               np.sqrt(np.mean(loud**2)), rtol=1e-5)
    np.testing.assert_allclose(matched / matched.max(), quiet / quiet.max(), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(match_loudness(np.zeros(10), loud), np.zeros(10))
    np.testing.assert_array_equal(match_loudness(quiet, np.zeros(10)), np.zeros(1000))


def test_load_audio_resamples():
    rate = 8000
    tone = 0.5 * np.sin(2 * np.pi * 440 * np.arange(rate) / rate)
    buf = io.BytesIO()
    soundfile.write(buf, tone, rate, format="FLAC")
    y, sr = load_audio(buf, sample_rate=22050)
    assert sr == 22050 and y.dtype == np.float32 and abs(y.size - 22050) <= 1
    peak_hz = np.argmax(np.abs(np.fft.rfft(y))) * sr / y.size
    assert abs(peak_hz - 440) < 2
    assert abs(np.sqrt(np.mean(y[1000:-1000] ** 2)) - 0.5 / np.sqrt(2)) < 0.01
    same, sr2 = load_audio(buf, sample_rate=8000)
    assert sr2 == 8000 and np.abs(same - tone).max() < 1e-4
    with pytest.raises(InputError, match="at most 768000"):
        load_audio(buf, sample_rate=10**7)


def test_bundled_samples_load():
    for name, seconds in [("speech_10s.wav", 10.0), ("speech_short.wav", 4.2), ("chirp.wav", 3.0)]:
        y, sr = load_audio(ASSETS / name)
        assert sr == 22050 and abs(y.size / sr - seconds) < 0.05 and 0 < np.abs(y).max() <= 1


def test_duration_helpers():
    assert format_duration(3 * 3600) == "3:00:00"
    check_duration(900.0, 900)
    with pytest.raises(InputError, match=r"lasts 3:00:00, longer than the limit of 15:00.*trim"):
        check_duration(3 * 3600.0, 900)


@pytest.mark.parametrize("solver", [pytest.param(name, marks=pytest.mark.slow) if name == "librosa" else name
                                    for name in sorted(SOLVERS)])
def test_memory_estimate_covers_measured_peak(solver, monkeypatch):
    """The estimate checked before a solve must not be below what the solve really allocates
    (numpy reports its buffers to tracemalloc), nor absurdly above it. (librosa's chunks are
    solved in this process here, where tracemalloc sees them; the app's longer inputs go to a
    child process, which the same estimate bounds.)"""
    from invmel_core.inverse.solvers import librosa_solver

    monkeypatch.setattr(librosa_solver, "IN_PROCESS_ELEMENTS", 10**9)
    batch, n_stft, n_mels, time = 2, 257, 32, 100
    inv = InverseMelScale(n_stft, n_mels, 16000, solver=solver, max_iter=20, seed=0)
    spec = np.random.default_rng(0).random((batch, n_stft, time), dtype=np.float32)
    mel = mel_spectrogram(spec, inv.fb)  # consistent, so every solver converges quickly
    inv(mel[..., :2])  # warm up: imports and JIT compilation are not the solve's memory
    tracemalloc.start()
    try:
        for _ in inv.iterate(mel, every=1):
            pass
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    estimate = estimate_solve_bytes(batch, n_stft, n_mels, time, inv.solver)
    report = f"{solver}: measured {peak / 2**20:.1f} MiB, estimated {estimate / 2**20:.1f} MiB"
    assert peak <= estimate, report
    assert estimate < 4 * peak + 4 * 2**20, report
