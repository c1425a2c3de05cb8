"""invmel_core.inverse.mel_audio.mel_to_audio: the joint method against the cascade (quality, both
powers), determinism, batches, lengths, short and silent inputs, bad input refused before any
work, memory; its parts (the mel projection, the tridiagonal solve, the re-mel error's gradient,
the polish); and the audio metrics appended to invmel_core.dsp.metrics."""

import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
import soundfile

import invmel_core.inverse.mel_audio as mel_audio
from invmel_core import InputError, InverseMelScale, MelFilterbank
from invmel_core.inverse.mel_audio import (MelError, MelProjection, _solve_tridiagonal, mel_to_audio,
                                         mel_to_audio_bytes, polish)
from invmel_core.dsp.metrics import (audio_log_spectral_distance, audio_mel_residual, audio_spectral_convergence,
                                   estoi, mel_residual, stoi)
from invmel_core.dsp.phase import griffinlim
from invmel_core.dsp.stft import STFTPlan, stft_frames, signal_length, spectrogram

ASSETS = Path(__file__).resolve().parents[2] / "assets"
HIFIGAN = dict(sample_rate=22050, n_fft=1024, hop_length=256, f_max=8000.0, mel_type="slaney", norm="slaney")
TORCHAUDIO = dict(sample_rate=22050, n_fft=1024, hop_length=256)  # HTK, no norm, f_max = Nyquist


def clip(name="speech_short.wav", seconds=2.5):
    y, sr = soundfile.read(ASSETS / name, dtype="float32")
    return y[:int(seconds * sr)]


def filterbank(settings, n_mels=80):
    return MelFilterbank(settings["n_fft"] // 2 + 1, 0.0, settings.get("f_max"), n_mels, settings["sample_rate"],
                         settings.get("norm"), settings.get("mel_type", "htk"))


def mel_of(y, settings, power, n_mels=80):
    spec = spectrogram(y, settings["n_fft"], settings["hop_length"], power=power)
    return filterbank(settings, n_mels).banded.project(spec)


@pytest.mark.parametrize("settings, power", [(HIFIGAN, 1.0), pytest.param(TORCHAUDIO, 2.0, marks=pytest.mark.slow)])
def test_joint_reproduces_the_mel_and_beats_the_cascade(settings, power):
    """The issue's measure on a speech excerpt, both kinds of mel spectrogram (measured,
    magnitude: joint re-mel 0.010, ESTOI 0.975; cascade 0.066, 0.93)."""
    y = clip()
    mel = mel_of(y, settings, power)
    fb = filterbank(settings)
    scores = {}
    for method in ("joint", "cascade"):
        out = mel_to_audio(mel, power=power, method=method, length=y.size, **settings)
        assert out.dtype == np.float32 and out.shape == y.shape
        scores[method] = (audio_mel_residual(out, mel, fb, n_fft=1024, hop_length=256, power=power),
                          estoi(out, y, 22050))
    (joint_mel, joint_estoi), (cascade_mel, cascade_estoi) = scores["joint"], scores["cascade"]
    assert joint_mel < 0.03 and joint_mel < cascade_mel / 2
    assert joint_estoi > cascade_estoi + 0.02


def test_cascade_is_nnls_then_griffinlim():
    y = clip(seconds=1.0)
    mel = mel_of(y, HIFIGAN, 1.0)
    out = mel_to_audio(mel, power=1.0, method="cascade", n_iter=8, seed=3, **HIFIGAN)
    magnitude = InverseMelScale(513, 80, 22050, 0.0, 8000.0, norm="slaney", mel_type="slaney", solver="nnls")(mel)
    np.testing.assert_array_equal(out, griffinlim(magnitude, 1024, 256, power=1.0, n_iter=8, seed=3))


def test_deterministic_for_a_seed_and_batched_like_single_items():
    y = clip(seconds=1.0)
    mel = mel_of(y, TORCHAUDIO, 2.0)
    a = mel_to_audio(mel, n_iter=12, seed=7, **TORCHAUDIO)
    np.testing.assert_array_equal(a, mel_to_audio(mel, n_iter=12, seed=7, **TORCHAUDIO))
    assert not np.array_equal(a, mel_to_audio(mel, n_iter=12, seed=8, **TORCHAUDIO))
    batch = mel_to_audio(np.stack([mel, 0.5 * mel]), n_iter=12, seed=7, **TORCHAUDIO)
    assert batch.shape == (2, a.size)
    np.testing.assert_array_equal(batch[0], a)
    np.testing.assert_array_equal(batch[1], mel_to_audio(0.5 * mel, n_iter=12, seed=7, **TORCHAUDIO))


@pytest.mark.parametrize("method", ["joint", "cascade"])
def test_scaling_the_mel_scales_the_sound_exactly(method):
    """Every stage is scale-free: a mel 2**-26 or 2**14 times the size (exact in floating point)
    gives 2**-13 or 2**7 times the samples, bit for bit (a quiet input is not solved worse)."""
    mel = mel_of(clip(seconds=1.0), TORCHAUDIO, 2.0)
    reference = mel_to_audio(mel, n_iter=30, method=method, **TORCHAUDIO)
    for exponent in (-26, 14):
        scaled = mel_to_audio(mel * np.float32(2.0**exponent), n_iter=30, method=method, **TORCHAUDIO)
        np.testing.assert_array_equal(scaled, reference * np.float32(2.0 ** (exponent / 2)))


def test_progress_counts_every_step_of_every_stage():
    mel = mel_of(clip(seconds=0.5), TORCHAUDIO, 2.0)
    steps = []
    mel_to_audio(mel, n_iter=30, progress=lambda step, total: steps.append((step, total)), **TORCHAUDIO)
    assert [s for s, _ in steps] == list(range(1, 31)) and {t for _, t in steps} == {30}


def test_lengths_short_inputs_gaps_and_silence():
    mel = mel_of(clip(seconds=0.5), TORCHAUDIO, 2.0)
    n_frames = mel.shape[1]
    assert mel_to_audio(mel, n_iter=3, **TORCHAUDIO).shape == (256 * (n_frames - 1),)
    assert mel_to_audio(mel, n_iter=3, length=5000, **TORCHAUDIO).shape == (5000,)
    # A signal has at least 3 frames here (reflect padding needs n_fft // 2 + 1 samples);
    # fewer are run with the last one repeated: one frame gives one hop of sound.
    for frames, expected in [(1, 256), (2, 256), (3, 512)]:
        short = mel_to_audio(mel[:, 10:10 + frames], n_iter=6, **TORCHAUDIO)
        assert short.shape == (expected,) and np.isfinite(short).all() and np.abs(short).max() > 0
    gappy = mel_to_audio(mel, n_iter=6, **{**TORCHAUDIO, "hop_length": 1536})  # hop past the window
    assert gappy.shape == (1536 * (n_frames - 1),) and np.isfinite(gappy).all()
    assert not gappy[600:900].any()  # between the first two frames' windows: no window, no sound
    silent = mel_to_audio(np.zeros((80, 20), np.float32), n_iter=6, **TORCHAUDIO)
    assert silent.shape == (256 * 19,) and not silent.any()


BAD = [
    (dict(method="best"), "method must be one of"),
    (dict(n_iter=0), "n_iter must be >= 1"),
    (dict(n_iter=10**6), "n_iter must be at most 10000"),
    (dict(power=-1), "power must be > 0"),
    (dict(seed=-3), "seed must be >= 0"),
    (dict(seed=2**40), "seed must be at most"),
    (dict(length=0), "length must be >= 1"),
    (dict(length=10**12), r"mel_to_audio of 1 x 10 frames .* into 1,000,000,000,000 samples each .*MiB"),
    (dict(melspec=np.full((80, 10), 10.0, np.float32), power=0.01), r"melspec \*\* \(1 / power\) overflows with power=0\.01"),
    (dict(n_fft=1), "n_fft must be >= 2"),
    (dict(win_length=2048), "win_length must be at most n_fft=1024"),
    (dict(sample_rate=0), "sample_rate must be > 0"),
    (dict(f_min=9000.0, f_max=8000.0), "f_min must be below f_max"),
    (dict(norm="l2"), "norm must be"),
    (dict(mel_type="bark"), "mel_type must be one of"),
    (dict(melspec=-np.ones((80, 10), np.float32)), "negative values .* log or dB"),
    (dict(melspec=np.ones(10, np.float32)), "at least 2 dimensions"),
    (dict(melspec=np.full((80, 10), np.nan, np.float32)), "NaN"),
]


@pytest.mark.parametrize("kwargs, match", BAD)
def test_bad_input_is_refused_before_any_work(kwargs, match, monkeypatch):
    def no_work(*args, **kw):
        raise AssertionError("work started before the input was checked")

    monkeypatch.setattr(mel_audio, "InverseMelScale", no_work)
    arguments = {"melspec": np.ones((80, 10), np.float32), **TORCHAUDIO, **kwargs}
    with pytest.raises(InputError, match=match):
        mel_to_audio(**arguments)


def test_memory_is_checked_first_and_the_estimate_covers_the_peak(monkeypatch):
    y = clip(seconds=1.5)
    mel = mel_of(y, HIFIGAN, 1.0)
    plan = STFTPlan(1024, 256, 1024, n_frames=mel.shape[1], length=signal_length(mel.shape[1], 1024, 256))
    mel_to_audio(mel[:, :8], power=1.0, n_iter=3, **HIFIGAN)  # warm up: imports are not the solve's memory
    tracemalloc.start()
    try:
        mel_to_audio(mel, power=1.0, n_iter=30, **HIFIGAN)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    estimate = mel_to_audio_bytes(plan, 80)
    assert peak <= estimate <= 4 * peak, f"measured {peak / 2**20:.1f} MiB, estimated {estimate / 2**20:.1f} MiB"
    monkeypatch.setenv("INVMEL_MAX_SOLVE_MB", "8")
    with pytest.raises(InputError, match="mel_to_audio of 1 x 130 frames .*MiB"):
        mel_to_audio(mel, power=1.0, **HIFIGAN)


# --------------------------------------------------------------------------- the parts

@pytest.mark.parametrize("power", [1.0, 2.0])
def test_mel_projection_meets_the_mel_and_keeps_the_detail(power):
    y = clip()
    fb = filterbank(HIFIGAN)
    true = spectrogram(y, 1024, 256, power=1.0)
    mel = fb.banded.project(true ** power)
    rng = np.random.default_rng(0)
    estimate = (true * np.exp(0.1 * rng.standard_normal(true.shape))).T.astype(np.float32)  # time-major
    before = estimate.copy()
    pulled = MelProjection(fb, mel, power)(estimate)
    np.testing.assert_array_equal(estimate, before)  # the argument is not modified
    assert mel_residual(pulled.T ** power, mel, fb) < 2e-3 < mel_residual(estimate.T ** power, mel, fb)
    assert not pulled[:, fb.bin_hz > 8000].any()  # bins no filter sees: nothing
    # A smooth gain: peaks and valleys inside a band stay peaks and valleys.
    inside = (fb.bin_hz > 300) & (fb.bin_hz < 7000)
    ratio = np.log(pulled[:, inside] + 1e-9) - np.log(estimate[:, inside] + 1e-9)
    assert np.median(np.abs(np.diff(ratio, axis=1))) < 0.02


def test_tridiagonal_solve_matches_lapack():
    rng = np.random.default_rng(0)
    n, columns = 12, 5
    off = rng.random((n - 1, columns)).astype(np.float32)
    diag = (rng.random((n, columns)) + 2.5).astype(np.float32)
    rhs = rng.standard_normal((n, columns)).astype(np.float32)
    expected = np.stack([scipy.linalg.solve_banded((1, 1), np.vstack([np.r_[0, off[:, c]], diag[:, c],
                                                                      np.r_[off[:, c], 0]]), rhs[:, c])
                         for c in range(columns)], axis=1)
    np.testing.assert_allclose(_solve_tridiagonal(off, diag.copy(), rhs.copy()), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("power", [1.0, 2.0])
def test_mel_error_gradient_matches_finite_differences(power):
    y = clip(seconds=0.3)
    fb = filterbank(HIFIGAN)
    plan = STFTPlan(1024, 256, 1024, n_frames=stft_frames(y.size, 1024, 256), length=y.size)
    error = MelError(plan, fb, fb.banded.project(spectrogram(y, 1024, 256, power=power)), power)
    x = (y + 0.05 * np.random.default_rng(1).standard_normal(y.size)).astype(np.float32)
    direction = np.random.default_rng(2).standard_normal(y.size).astype(np.float32)
    value, gradient = error(x)
    assert value == pytest.approx(0.5 * audio_mel_residual(x, error.target, fb, n_fft=1024, hop_length=256,
                                                            power=power) ** 2, rel=1e-4)
    h = 1e-4  # |X| bends sharply near 0: larger steps measure the curvature, not the slope
    numeric = (error((x + h * direction).astype(np.float32))[0] - error((x - h * direction).astype(np.float32))[0]) / (2 * h)
    assert numeric == pytest.approx(float(np.dot(gradient, direction)), rel=1e-2)


def test_polish_only_lowers_the_error():
    y = clip(seconds=0.5)
    fb = filterbank(TORCHAUDIO)
    plan = STFTPlan(1024, 256, 1024, n_frames=stft_frames(y.size, 1024, 256), length=y.size)
    error = MelError(plan, fb, fb.banded.project(spectrogram(y, 1024, 256)), 2.0)
    start = griffinlim(spectrogram(y, 1024, 256), 1024, 256, n_iter=5, length=y.size)
    values = [error(polish(error, start, n))[0] for n in (1, 5, 20)]
    assert values[0] == error(start)[0] and values[2] < values[1] < values[0] * 0.9
    silent = MelError(plan, fb, np.zeros((80, plan.n_frames), np.float32), 2.0)
    np.testing.assert_array_equal(polish(silent, np.zeros(y.size, np.float32), 5), np.zeros(y.size))


# --------------------------------------------------------------------------- audio metrics

def test_audio_metrics():
    y = clip(seconds=2.0)
    fb = filterbank(HIFIGAN)
    mel = mel_of(y, HIFIGAN, 1.0)
    assert audio_mel_residual(y, mel, fb, n_fft=1024, hop_length=256, power=1.0) < 1e-6
    noisy = (y + 0.01 * np.random.default_rng(0).standard_normal(y.size)).astype(np.float32)
    spec = spectrogram(noisy, 1024, 256, power=1.0)
    assert audio_mel_residual(noisy, mel, fb, n_fft=1024, hop_length=256, power=1.0) == pytest.approx(
        mel_residual(spec, mel, fb))
    truth = spectrogram(y, 1024, 256, power=1.0)
    assert audio_spectral_convergence(noisy, y, n_fft=1024, hop_length=256) == pytest.approx(
        float(np.linalg.norm(spec - truth) / np.linalg.norm(truth)), rel=1e-5)
    assert audio_log_spectral_distance(y, y, n_fft=1024, hop_length=256) == 0
    assert 0 < audio_log_spectral_distance(noisy, y, n_fft=1024, hop_length=256) < 20
    with pytest.raises(InputError, match="samples make 173 frames but melspec has shape"):
        audio_mel_residual(y, mel[:, :-1], fb, n_fft=1024, hop_length=256, power=1.0)
    with pytest.raises(InputError, match="estimate has 100 samples and reference 44100"):
        audio_spectral_convergence(y[:100], y, n_fft=1024)


def test_stoi_is_pystoi_and_refuses_too_little_sound():
    from pystoi import stoi as reference

    y = clip(seconds=2.0)
    noisy = (y + 0.05 * np.random.default_rng(0).standard_normal(y.size)).astype(np.float32)
    assert estoi(noisy, y, 22050) == pytest.approx(reference(y, noisy, 22050, extended=True), rel=1e-6)
    assert stoi(noisy, y, 22050) == pytest.approx(reference(y, noisy, 22050), rel=1e-6)
    assert estoi(y, y, 22050) == pytest.approx(1.0) and estoi(noisy, y, 22050) < 0.95
    with pytest.raises(InputError, match="too little sound"):
        estoi(y[:2000], y[:2000], 22050)
    with pytest.raises(InputError, match="sample_rate must be an integer"):
        estoi(y, y, 22050.5)
