"""The API: each class of failure the adversarial pass found, with several cases
per class, most of them beyond the issue's examples. Every refusal is an ``InputError``
(not a library's exception) whose message names the parameter; every accepted input gives
a finite result; no input is modified."""

import math
import warnings

import numpy as np
import pytest
from refusals import refused

from invmel_core import (
    BandedFilterbank,
    InverseMelScale,
    MelFilterbank,
    bin_frequencies,
    filter_edges,
    griffinlim,
    mel_spectrogram,
    melscale_fbanks,
    spectrogram,
    to_wav_bytes,
)
from invmel_core.dsp import metrics
from invmel_core.dsp.stft import stft_frames
from invmel_core.limits import MAX_GRIFFINLIM_ITERS


@pytest.fixture(autouse=True)
def _quiet_empty_filters():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


# --------------------------------------------------------------------------- 1. short inputs


@pytest.mark.parametrize("n", [1, 100, 511, 512, 700, 1023, 1024, 1025, 2047])
def test_short_clips_round_trip_at_the_defaults(n):
    """512-1023 samples at n_fft=2048, hop=512 made librosa's Griffin-Lim raise: the STFT
    pads short audio to 3 frames, librosa rebuilt 2. Every length now comes back."""
    y = (0.3 * np.cos(np.arange(n) * 0.05)).astype(np.float32)
    out = griffinlim(spectrogram(y, 2048, 512), 2048, 512, n_iter=4, length=n)
    assert out.shape == (n,) and out.dtype == np.float32 and np.isfinite(out).all()
    assert np.abs(out).max() > 0  # sound, not the zero padding


@pytest.mark.parametrize("frames, length, expected", [
    (1, None, 512),  # one frame: one hop of sound
    (1, 700, 700),
    (1, 1, 1),
    (2, None, 512),
    (3, 5000, 5000),  # past the last frame: zero padding, as librosa's `length` promises
    (3, 10, 10),
])
def test_griffinlim_gives_the_length_asked_for(frames, length, expected):
    spec = np.random.default_rng(frames).random((1025, frames), dtype=np.float32)
    out = griffinlim(spec, 2048, 512, n_iter=2, length=length)
    assert out.shape == (expected,) and np.isfinite(out).all()


@pytest.mark.parametrize("n_fft, hop, win", [(2, 1, 2), (3, 1, 1), (16, 48, 16), (255, 64, 127), (256, 1, 256),
                                             (2048, 4096, 1024)])
@pytest.mark.parametrize("frames", [1, 2, 5])
@pytest.mark.parametrize("length", [None, 1, 10_000])
def test_griffinlim_odd_geometries_never_raise(n_fft, hop, win, frames, length):
    """Odd n_fft, hop of 1, hop past the window (gaps), one-sample windows."""
    spec = np.random.default_rng(0).random((n_fft // 2 + 1, frames), dtype=np.float32)
    out = griffinlim(spec, n_fft, hop, n_iter=2, length=length, win_length=win)
    natural = hop * (max(frames, 2) - 1) + n_fft % 2
    assert out.shape == ((length or natural),) and np.isfinite(out).all()


def test_one_frame_mel_inverts_and_sounds():
    inv = InverseMelScale(1025, 128, 22050, solver="nnls", max_iter=50)
    spec = inv(np.random.default_rng(0).random((128, 1), dtype=np.float32))
    sound = griffinlim(spec, 2048, 512, n_iter=4)
    assert spec.shape == (1025, 1) and sound.shape == (512,) and np.isfinite(sound).all()


def test_stft_frames_matches_the_spectrogram():
    for n in [1, 700, 1024, 1025, 5000]:
        for n_fft, hop in [(2048, 512), (255, 7), (16, 100)]:
            assert spectrogram(np.ones(n, np.float32), n_fft, hop).shape[1] == stft_frames(n, n_fft, hop)


# --------------------------------------------------------------------------- 2. memory before work


def huge_view(shape, value=1.0):
    """Terabytes that cost nothing until someone copies them."""
    return np.broadcast_to(np.float32(value), shape)


@pytest.mark.parametrize("call, match", [
    (lambda: InverseMelScale(201, 40)(huge_view((40, 10**9))), r"INVMEL_MAX_SOLVE_MB"),
    (lambda: InverseMelScale(201, 40)(huge_view((10**4, 40, 10**5))), r"INVMEL_MAX_SOLVE_MB"),
    (lambda: spectrogram(huge_view((10**10,), 0.1)), r"checking samples \(shape \(10000000000,\)\)"),
    (lambda: griffinlim(huge_view((129, 10**9)), 256), r"Griffin-Lim making .* samples"),
    (lambda: mel_spectrogram(huge_view((201, 10**9)), MelFilterbank(201, 0, None, 40, 16000)), r"mel projection"),
    (lambda: to_wav_bytes(huge_view((10**10,), 0.1), 8000), r"checking samples"),
    (lambda: metrics.spectral_convergence(huge_view((201, 10**9)), huge_view((201, 10**9)), power=2),
     r"INVMEL_MAX_SOLVE_MB"),
    (lambda: metrics.mel_residual(huge_view((201, 10**9)), huge_view((40, 10**9)),
                                  MelFilterbank(201, 0, None, 40, 16000)), r"INVMEL_MAX_SOLVE_MB"),
])
def test_broadcast_views_are_refused_not_copied(call, match):
    refused(call, match)  # a copy would take minutes and terabytes; the refusal takes milliseconds


@pytest.mark.parametrize("kwargs, match", [
    (dict(hop_length=1 << 20), r"Griffin-Lim making 9,437,184 samples .* 129 x 10.*smaller hop_length"),
    (dict(length=10**12), r"Griffin-Lim making 1,000,000,000,000 samples"),
    (dict(length=2**63), r"Griffin-Lim making"),
    (dict(n_iter=MAX_GRIFFINLIM_ITERS + 1), r"n_iter must be at most 10000"),
    (dict(n_iter=10**12), r"n_iter must be at most"),
    (dict(seed=2**32), r"seed must be at most 4294967295"),
    (dict(seed=2**64), r"seed must be at most"),
    (dict(seed=-1), r"seed must be >= 0"),
])
def test_griffinlim_bounds_what_it_makes(kwargs, match, monkeypatch):
    monkeypatch.setenv("INVMEL_MAX_SOLVE_MB", "64")
    params = dict(n_fft=256, n_iter=1)
    params.update(kwargs)
    refused(lambda: griffinlim(np.ones((129, 10), np.float32), **params), match)


def test_memmap_is_checked_before_it_is_read(tmp_path, monkeypatch):
    path = tmp_path / "mel.f32"
    mm = np.lib.format.open_memmap(path, "w+", np.float32, (40, 2_000_000))  # 305 MiB on disk, sparse
    monkeypatch.setenv("INVMEL_MAX_SOLVE_MB", "64")
    refused(lambda: InverseMelScale(201, 40)(mm), r"2000000 linear spectrogram.*INVMEL_MAX_SOLVE_MB")
    small = np.lib.format.open_memmap(tmp_path / "small.npy", "w+", np.float32, (40, 5))
    small[:] = 1.0
    assert InverseMelScale(201, 40, solver="nnls")(small).shape == (201, 5)


@pytest.mark.parametrize("kwargs", [dict(n_freqs=10**9, n_mels=4), dict(n_freqs=2**17 + 1, n_mels=16384),
                                    dict(n_freqs=10**400, n_mels=4)])
def test_filterbanks_too_large_are_refused_everywhere(kwargs):
    for make in (MelFilterbank, melscale_fbanks):
        refused(lambda: make(kwargs["n_freqs"], 0.0, None, kwargs["n_mels"], 16000), r"INVMEL_MAX_SOLVE_MB")


# --------------------------------------------------------------------------- 3. no raw exceptions

HUGE = 10**400  # beyond float64: OverflowError if anything converts it naively


@pytest.mark.parametrize("call, match", [
    (lambda: InverseMelScale(201, 40, seed=2**32), r"seed must be at most 4294967295"),
    (lambda: InverseMelScale(201, 40, seed=2**63), r"seed must be at most"),
    (lambda: InverseMelScale(201, 40, seed=HUGE), r"seed must be at most .*\.\.\."),
    (lambda: InverseMelScale(201, 40, sample_rate=HUGE), r"sample_rate must be finite"),
    (lambda: InverseMelScale(201, 40, max_iter=1e400), r"max_iter must be finite"),
    (lambda: InverseMelScale(HUGE, 40), r"INVMEL_MAX_SOLVE_MB"),
    (lambda: InverseMelScale(201, 40, solver=["sgd"]), r"solver must be one of"),
    (lambda: InverseMelScale(201, 40, solver={"name": "sgd"}), r"solver must be one of"),
    (lambda: InverseMelScale(201, 40, norm=["slaney"]), r"norm must be"),
    (lambda: InverseMelScale(201, 40, mel_type={"htk"}), r"mel_type must be one of"),
    (lambda: InverseMelScale(201, 40, sgdargs={1: 0.1, "lr": 0.1}), r"sgdargs has unknown keys 1"),
    (lambda: InverseMelScale(201, 40, sgdargs={"lr": [0.1]}), r"sgdargs lr must be a number"),
    (lambda: InverseMelScale(201, 40, sgdargs={"lr": np.float64("nan")}), r"sgdargs lr must be finite"),
    (lambda: InverseMelScale(201, 40, tolerance_loss=np.array([1.0, 2.0])), r"tolerance_loss must be a number"),
    (lambda: InverseMelScale(201, np.bool_(True)), r"n_mels must be an integer"),
    (lambda: MelFilterbank(201, 0, None, 40, 16000, compat=np.array(["torchaudio"])), r"compat must be one of"),
    (lambda: MelFilterbank(201, 0, None, 40, 16000, compat=["librosa"]), r"compat must be one of"),
    (lambda: to_wav_bytes(np.zeros(10), 2**31), r"sample_rate must be at most 768000 Hz"),
    (lambda: to_wav_bytes(np.zeros(10), 2**63), r"sample_rate must be at most"),
    (lambda: to_wav_bytes(np.zeros(10), 44100.5), r"sample_rate must be an integer"),
    (lambda: to_wav_bytes(np.zeros(10), True), r"sample_rate must be an integer"),
    (lambda: spectrogram(np.zeros(10), n_fft=HUGE), r"n_fft must be at most 262144"),
    (lambda: spectrogram(np.zeros(10), hop_length=2**64), r"hop_length must be at most"),
    (lambda: spectrogram(np.zeros(10), power="2"), r"power must be a number"),
    (lambda: InverseMelScale(201, 10**9), r"n_mels must be at most 16384"),
    (lambda: __import__("invmel_core").load_melspec(b"\x93NUMPY", n_mels=HUGE), r"n_mels must be at most 16384"),
    (lambda: InverseMelScale(201, 40).iterate(np.ones((40, 3)), every=0), r"every must be >= 1"),
])
def test_absurd_parameters_are_input_errors(call, match):
    refused(call, match)


TONE = (0.5 * np.sin(np.arange(4000) * 0.1)).astype(np.float32)


@pytest.mark.parametrize("call, match", [
    (lambda: spectrogram(TONE, 256, power=100), r"samples lie in \[-1, 1\], but power=100 raises"),
    (lambda: spectrogram(TONE * 1e20, 256), r"samples reach 5e\+19, but audio should lie in \[-1, 1\]"),
    (lambda: griffinlim(spectrogram(TONE, 256, 64), 256, 64, power=0.01), r"overflows with power=0\.01.*2 for a power"),
    (lambda: griffinlim(spectrogram(TONE, 256, 64), 256, 64, power=1e-300), r"overflows with power=1e-300"),
    (lambda: griffinlim(np.full((129, 5), 3e38, np.float32), 256, power=1), r"too loud for Griffin-Lim"),
    (lambda: metrics.spectral_convergence(np.full((3, 2), 4.0), np.ones((3, 2)), power=1e-300),
     r"estimate \*\* \(1 / power\) overflows with power=1e-300"),
    (lambda: metrics.log_spectral_distance(np.ones((3, 2)), np.full((3, 2), 1e300), power=0.001),
     r"overflows with power=0\.001"),
])
def test_powers_that_overflow_are_named(call, match):
    refused(call, match)


@pytest.mark.parametrize("call, match", [
    (lambda: bin_frequencies(10, "x"), r"sample_rate must be a number"),
    (lambda: bin_frequencies(10, 16000, compat=[]), r"compat must be one of"),
    (lambda: bin_frequencies(HUGE, 16000), r"n_freqs must be at most"),
    (lambda: bin_frequencies(0, 16000), r"n_freqs must be >= 1"),
    (lambda: filter_edges(0, 100, 4, []), r"mel_type must be one of"),
    (lambda: filter_edges(0, float("nan"), 4), r"f_max must be finite"),
    (lambda: filter_edges(0, HUGE, 4), r"f_max must be finite"),
    (lambda: filter_edges(0, 100, 10**6), r"n_mels must be at most 16384"),
    (lambda: mel_spectrogram(np.ones((201, 3)), "x"), r"fb must be a numeric array"),
    (lambda: mel_spectrogram(np.ones((201, 3)), np.ones(5)), r"fb must be a MelFilterbank or a 2-D"),
    (lambda: mel_spectrogram(None, MelFilterbank(201, 0, None, 40, 16000)), r"spec must be a numeric array"),
    (lambda: mel_spectrogram(np.full((201, 3), np.nan), MelFilterbank(201, 0, None, 40, 16000)),
     r"spec contains 603 NaN or infinite values"),
    (lambda: mel_spectrogram(np.ones((201, 3)), np.full((201, 4), np.inf)), r"fb contains 804 NaN"),
    (lambda: mel_spectrogram(np.ones((201, 3)), -np.ones((201, 4))), r"fb has negative weights"),
    (lambda: metrics.mel_residual("x", np.ones((40, 3)), MelFilterbank(201, 0, None, 40, 16000)),
     r"spec must be a numeric array"),
    (lambda: metrics.mel_residual(np.full((201, 3), np.nan), np.ones((40, 3)), MelFilterbank(201, 0, None, 40, 16000)),
     r"spec contains 603 NaN"),
    (lambda: metrics.mel_residual(np.ones((201, 3)), np.ones((40, 3)), "fb"), r"fb must be a numeric array"),
    (lambda: metrics.mel_residual(np.ones((201, 3)), np.ones((40, 3)), MelFilterbank(201, 0, None, 40, 16000),
                                  include_empty="yes"), r"include_empty must be True or False"),
    (lambda: metrics.spectral_convergence("a", "b", power=2), r"estimate must be a numeric array"),
    (lambda: BandedFilterbank("x"), r"dense must be a numeric array"),
    (lambda: BandedFilterbank(np.ones(4)), r"dense must be a MelFilterbank or a 2-D"),
    (lambda: BandedFilterbank(np.full((4, 2), np.nan)), r"dense contains 8 NaN"),
    (lambda: BandedFilterbank(-np.ones((4, 2))), r"dense has negative weights"),
    (lambda: BandedFilterbank(np.broadcast_to(np.float32(1), (10**6, 10**4))), r"INVMEL_MAX_SOLVE_MB"),
    (lambda: metrics.spectral_convergence(np.ones(3), np.ones(3), power=True), r"power must be a number"),
    (lambda: metrics.log_spectral_distance(np.ones((3, 2)), np.ones((3, 2)), power=2, floor_db=float("nan")),
     r"floor_db must be finite"),
    (lambda: metrics.log_spectral_distance(np.ones((3, 2)), np.ones((3, 2)), power=2, floor_db=10),
     r"floor_db must be below 0"),
    (lambda: metrics.log_spectral_distance(np.ones((3, 2)), np.ones((3, 2), complex), power=2),
     r"reference is complex"),
])
def test_exported_helpers_refuse_bad_arguments(call, match):
    refused(call, match)


@pytest.mark.parametrize("value", [np.ma.masked_array(np.ones((40, 3)), mask=np.eye(40, 3)),
                                   __import__("scipy.sparse").sparse.csr_matrix(np.ones((40, 3))),
                                   np.ones((40, 3), "m8[s]"), np.ones((40, 3), "M8[s]"),
                                   [[1.0, 2.0], [3.0]], iter([1, 2]), object()])
def test_unusable_array_likes_are_named(value):
    message = refused(lambda: InverseMelScale(201, 40)(value), r"melspec")
    assert "must" in message or "fill" in message or "dense" in message


# --------------------------------------------------------------------------- 5. silent garbage


@pytest.mark.parametrize("solver, sgdargs", [
    ("sgd", {"lr": 1e30}), ("sgd", {"lr": 1e5}), ("sgd", {"lr": 0.1, "momentum": 2.0}),
    ("sgd", {"lr": 10.0, "momentum": 1.5}), ("mindspore", {"lr": 1e30}), ("mindspore", {"lr": 1e6}),
])
def test_unstable_steps_stop_as_diverged_with_a_finite_result(solver, sgdargs):
    rng = np.random.default_rng(0)
    mel = rng.random((2, 40, 700), dtype=np.float32)  # 1400 columns: several chunks of the sgd solver
    mel[1] *= 1000
    inv = InverseMelScale(201, 40, 16000, solver=solver, sgdargs=sgdargs, max_iter=2000, seed=0)
    last = list(inv.iterate(mel, every=50))[-1]
    assert last.reason == "diverged" and last.done
    assert np.isfinite(last.spec).all() and last.spec.min() >= 0 and math.isfinite(last.loss)
    notes = " ".join(inv.notes(last))
    assert "diverged" in notes and "Lower lr" in notes and "not a solution" in notes
    assert "random start" not in notes  # the "stopped after 1 step" note is for quiet inputs
    if sgdargs.get("momentum", 0) >= 1:
        assert "momentum" in notes and "below 1" in notes


def test_sgd_keeps_an_iterate_of_the_first_losses_order():
    mel = np.random.default_rng(0).random((40, 1400), dtype=np.float32)
    inv = InverseMelScale(201, 40, 16000, solver="sgd", sgdargs={"lr": 1e5}, max_iter=100, seed=0)
    records = list(inv.iterate(mel))
    first = list(InverseMelScale(201, 40, 16000, solver="sgd", sgdargs={"lr": 1e5}, max_iter=1, seed=0).iterate(mel))
    assert records[-1].reason == "diverged" and records[-1].loss <= 1e4 * first[0].loss


def test_momentum_of_one_or_more_is_remarked_on_even_without_divergence():
    inv = InverseMelScale(201, 40, 16000, solver="sgd", sgdargs={"lr": 1e3, "momentum": 1.0}, max_iter=200, seed=0)
    last = list(inv.iterate(np.random.default_rng(0).random((40, 50), dtype=np.float32)))[-1]
    notes = " ".join(inv.notes(last))
    assert "momentum 1" in notes and "below 1" in notes


def test_sgd_divergence_keeps_each_chunks_last_sane_iterate():
    """Columns are independent: each chunk stops at the iterate it had before its loss blew
    up, and the loss reported is that returned spectrogram's own."""
    rng = np.random.default_rng(1)
    mel = rng.random((2, 40, 600), dtype=np.float32)
    mel[1] *= 1e4
    inv = InverseMelScale(201, 40, 16000, solver="sgd", sgdargs={"lr": 1e5}, max_iter=500, seed=0)
    last = list(inv.iterate(mel))[-1]
    assert last.reason == "diverged"
    fb = inv.fb.dense.astype(np.float64)
    residual = np.einsum("fm,bft->bmt", fb, last.spec.astype(np.float64)) - mel
    assert last.loss == pytest.approx(float((residual**2).sum()) / (2 * 600), rel=1e-4)


@pytest.mark.parametrize("solver", ["sgd", "mindspore", "nnls"])
def test_stable_runs_are_not_called_diverged(solver):
    from invmel_core import load_audio
    from invmel_core.app.settings import sample_path

    y, sr = load_audio(sample_path("speech_short"))
    inv = InverseMelScale(513, 80, sr, solver=solver, sgdargs={"lr": 1.0, "momentum": 0.99}, max_iter=300, seed=0)
    mel = mel_spectrogram(spectrogram(y, 1024, 256), inv.fb)
    for scale in (1e-6, 1.0, 1e6):
        assert list(inv.iterate(mel * np.float32(scale), every=300))[-1].reason != "diverged"


@pytest.mark.parametrize("solver", ["lstsq", "nnls", "librosa"])
def test_results_beyond_float32_are_refused_not_returned(solver):
    """A slaney-normalised filterbank divides by filter widths: a mel near float32's top has
    no float32 solution. Say so instead of returning inf."""
    inv = InverseMelScale(1025, 128, 22050, norm="slaney", solver=solver, max_iter=5)
    for peak in (3e38, 1e34):
        refused(lambda: inv(np.full((128, 3), peak, np.float32)), r"would not fit float32.*Scale the mel spectrogram down")
    assert np.isfinite(inv(np.full((128, 3), 1e25, np.float32))).all()


# --------------------------------------------------------------------------- 7. messages


@pytest.mark.parametrize("value", [1e39, 1e300, np.finfo(np.float64).max])
def test_float64_beyond_float32_is_not_called_nan(value):
    for call in (lambda a: InverseMelScale(201, 40)(a), lambda a: spectrogram(a[0]), lambda a: to_wav_bytes(a[0], 8000)):
        message = refused(lambda: call(np.full((40, 3), value)), r"beyond float32's range \(3\.4e38\).*scale it down")
        assert "NaN" not in message


@pytest.mark.parametrize("sample_rate", [1, 1.5, 0.001])
def test_a_tiny_sample_rate_is_blamed_not_f_max(sample_rate):
    message = refused(lambda: InverseMelScale(201, 40, sample_rate=sample_rate),
                      r"sample_rate=.* Hz puts the Nyquist frequency.*set the sample rate the audio was made at")
    assert "f_max must" not in message and "lower f_min" not in message


def test_a_sample_rate_below_f_min_suggests_both():
    refused(lambda: InverseMelScale(201, 40, sample_rate=100, f_min=80),
            r"at or below f_min=80 Hz; set the sample rate .* or a lower f_min")


@pytest.mark.parametrize("value", [HUGE, -HUGE, "x" * 10**6, list(range(10**6))])
def test_messages_stay_short_for_huge_values(value):
    message = refused(lambda: InverseMelScale(201, value), r"n_mels must")
    assert len(message) < 300


@pytest.mark.parametrize("sample_rate", [1e6, 1e12, 1e300])
def test_huge_sample_rates_still_give_finite_filterbanks(sample_rate):
    fb = MelFilterbank(201, 0.0, None, 40, sample_rate)
    assert np.isfinite(fb.dense).all() and fb.dense.max() > 0


# --------------------------------------------------------------------------- inputs are never modified


def frozen(arr):
    arr = np.array(arr)
    arr.setflags(write=False)
    return arr


@pytest.mark.parametrize("solver", ["sgd", "mindspore", "nnls", "lstsq"])
def test_read_only_inputs_work_and_are_untouched(solver):
    mel = frozen(np.random.default_rng(0).random((40, 7), dtype=np.float32))
    before = mel.copy()
    out = InverseMelScale(201, 40, solver=solver, max_iter=5, seed=0)(mel)
    np.testing.assert_array_equal(mel, before)
    assert out.shape == (201, 7) and not np.shares_memory(out, mel)
    y = frozen(np.sin(np.arange(3000) * 0.1))
    spec = frozen(spectrogram(y, 256, 64))
    sound = griffinlim(spec, 256, 64, n_iter=2, length=y.size)
    to_wav_bytes(y, 8000)
    mel_spectrogram(spec, frozen(MelFilterbank(129, 0, None, 20, 8000).dense))
    assert sound.shape == y.shape and not spec.flags.writeable


@pytest.mark.parametrize("solver", ["sgd", "mindspore", "nnls", "lstsq"])
def test_writable_inputs_are_left_as_they_were(solver):
    """A read-only input would raise on a write; a writable one shows whether anything wrote to it."""
    mel = np.random.default_rng(0).random((2, 40, 7), dtype=np.float32)
    before = mel.copy()
    out = InverseMelScale(201, 40, solver=solver, max_iter=5, seed=0)(mel)
    np.testing.assert_array_equal(mel, before)
    assert not np.shares_memory(out, mel)
    y = np.sin(np.arange(3000) * 0.1)
    spec = spectrogram(y, 256, 64)
    y_before, spec_before = y.copy(), spec.copy()
    griffinlim(spec, 256, 64, n_iter=2, length=y.size)
    mel_spectrogram(spec, MelFilterbank(129, 0, None, 20, 8000).dense)
    to_wav_bytes(y, 8000)
    np.testing.assert_array_equal(spec, spec_before)
    np.testing.assert_array_equal(y, y_before)


@pytest.mark.parametrize("make", [
    lambda a: a.astype(">f4"),  # big-endian
    lambda a: np.asfortranarray(a),
    lambda a: a[:, ::-1].copy()[:, ::-1],  # negative strides
    lambda a: np.asmatrix(a),  # a subclass
    lambda a: a.astype(np.float16),
    lambda a: (a * 1000).astype(np.int64),
    lambda a: a > 0.5,
])
def test_unusual_layouts_and_dtypes_solve_like_float32(make):
    mel = np.random.default_rng(0).random((40, 6)).astype(np.float32)
    arr = make(mel)
    expected = np.asarray(arr, dtype=np.float32)
    inv = InverseMelScale(201, 40, solver="nnls", max_iter=20)
    np.testing.assert_array_equal(inv(arr), inv(expected))
