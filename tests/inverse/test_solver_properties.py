"""Property-based tests (hypothesis) over the filterbank's parameter space and every solver.

Valid settings give finite, non-negative float32 outputs of the right shape; invalid ones
raise InputError and nothing else. Solvers are read from SOLVERS at collection time, so a
solver registered later is covered without touching this file. Shapes and max_iter stay
small so the whole module runs in seconds.
"""

import math
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from invmel_core import SOLVERS, EmptyFilterWarning, InputError, InverseMelScale, MelFilterbank, spectrogram
from invmel_core.validation import COMPATS
from invmel_core.inverse.solvers.base import (CLOSED_FORM, CONVERGED, DIVERGED, MAX_ITER, TOLERANCE_CHANGE,
                                            TOLERANCE_LOSS)

# DIVERGED: plain gradient steps of lr 0.1 blow up on some filterbanks (a Slaney norm over 0.1 Hz-wide
# bands weighs ~20); the spectrogram returned is still the last finite one.
REASONS = {CLOSED_FORM, CONVERGED, DIVERGED, MAX_ITER, TOLERANCE_CHANGE, TOLERANCE_LOSS}
FAST = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])

sample_rates = st.one_of(st.sampled_from([8000, 11025, 16000, 22050, 44100, 48000, 96000]),
                         st.floats(100.0, 192000.0))


@st.composite
def mel_params(draw):
    """Valid filterbank settings: f_min below f_max, f_max possibly above Nyquist or None."""
    sample_rate = draw(sample_rates)
    nyquist = sample_rate / 2
    f_min = draw(st.floats(0.0, 0.95)) * nyquist
    f_max = draw(st.one_of(st.none(), st.floats(0.02, 1.5).map(lambda u: f_min + u * (nyquist - f_min) + 1.0)))
    if f_max is None:
        assume(f_min < float(sample_rate // 2))
    return dict(
        sample_rate=sample_rate, f_min=f_min, f_max=f_max,
        n_mels=draw(st.integers(1, 48)),
        norm=draw(st.sampled_from([None, "slaney", "none", "Slaney"])),
        mel_type=draw(st.sampled_from(["htk", "slaney"])),
    )


@given(params=mel_params(), n_freqs=st.integers(2, 300), compat=st.sampled_from(COMPATS))
@settings(max_examples=60, deadline=None)
def test_filterbank_is_finite_nonnegative_and_banded(params, n_freqs, compat):
    fb = MelFilterbank(n_freqs, params["f_min"], params["f_max"], params["n_mels"], params["sample_rate"],
                       params["norm"], params["mel_type"], compat)
    dense = fb.dense
    assert dense.shape == (n_freqs, params["n_mels"]) and dense.dtype == np.float32
    assert np.isfinite(dense).all() and dense.min() >= 0
    np.testing.assert_array_equal(fb.empty, np.flatnonzero(~dense.any(axis=0)))
    x = np.random.default_rng(n_freqs).random((n_freqs, 3), dtype=np.float32)
    np.testing.assert_allclose(fb.banded.project(x), dense.T @ x, rtol=1e-5, atol=1e-6)


def melspecs(n_mels: int, lead: tuple, time: int):
    values = st.one_of(st.just(0.0), st.floats(0.0, 1.0, width=32), st.floats(0.0, 1e3, width=32))
    return hnp.arrays(np.float32, lead + (n_mels, time), elements=values)


@pytest.mark.parametrize("solver", sorted(SOLVERS))
@given(data=st.data(), params=mel_params(), n_stft=st.integers(2, 65), time=st.integers(1, 5),
       lead=st.sampled_from([(), (2,)]), max_iter=st.integers(1, 5), every=st.integers(1, 3))
@FAST
def test_every_solver_gives_finite_nonnegative_spectrograms(solver, data, params, n_stft, time, lead,
                                                           max_iter, every):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EmptyFilterWarning)
        inv = InverseMelScale(n_stft, max_iter=max_iter, solver=solver, seed=data.draw(st.integers(0, 2**31)),
                              **params)
    melspec = data.draw(melspecs(params["n_mels"], lead, time), label="melspec")
    with warnings.catch_warnings():  # librosa repeats the empty-filter warning the transform gave
        warnings.filterwarnings("ignore", message="Empty filters detected")
        records = list(inv.iterate(melspec, every=every))
    assert records and records[-1].done and not any(r.done for r in records[:-1])
    assert records[-1].reason in REASONS
    steps = [r.step for r in records]
    assert steps == sorted(steps) and 0 <= steps[-1] <= max_iter * max(1, math.prod(lead))
    for r in records:
        assert r.spec.shape == lead + (n_stft, time) and r.spec.dtype == np.float32
        assert np.isfinite(r.spec).all() and r.spec.min() >= 0, (r.step, r.reason)
        assert math.isfinite(r.loss) and r.loss >= 0


# One bad value per parameter; a case corrupts one or more of a valid setting.
BAD_VALUES = {
    "n_stft": [0, 1, -5, 2.5, "201", None, float("nan"), True],
    "n_mels": [0, -1, 3.5, "40", None, float("inf")],
    "sample_rate": [0, -16000, float("nan"), float("inf"), "16k", None],
    "f_min": [-1.0, float("nan"), float("-inf"), "0", None],
    "f_max": [0.0, -1.0, float("nan"), float("inf"), "8000"],
    "norm": ["l2", 1, "slaneyy", ""],
    "mel_type": ["mel", None, 3, "HTK "],
    "max_iter": [0, -1, 1.5, float("nan"), "10"],
    "tolerance_loss": [-1.0, float("nan"), "small"],
    "tolerance_change": [-1e-9, float("inf"), None],
    "sgdargs": [{"lr": -1.0}, {"mom": 0.9}, "fast", {"lr": float("nan")}, {"momentum": 0.9}, [0.1, 0.9]],
    "solver": ["nope", 3, "SGD", ""],   # None is the default (torchaudio <= 2.0 sgd, or lstsq with driver=)
    "seed": [-1, 1.5, "x", float("nan")],
}


@given(base=mel_params(), n_stft=st.integers(2, 64),
       corrupt=st.lists(st.sampled_from(sorted(BAD_VALUES)), min_size=1, max_size=3, unique=True),
       data=st.data())
@settings(max_examples=150, deadline=None)
def test_invalid_parameters_raise_input_error_only(base, n_stft, corrupt, data):
    kwargs = dict(base, n_stft=n_stft, max_iter=2, solver=data.draw(st.sampled_from(sorted(SOLVERS))))
    for name in corrupt:
        kwargs[name] = data.draw(st.sampled_from(BAD_VALUES[name]), label=name)
    with pytest.raises(InputError) as info:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", EmptyFilterWarning)
            inv = InverseMelScale(**kwargs)
        inv(np.ones((inv.n_mels, 2), np.float32))
    assert any(name in str(info.value) for name in corrupt) or "sgdargs" in corrupt, str(info.value)


@given(f_min=st.floats(1.0, 8000.0), below=st.floats(1e-6, 1.0))
@settings(max_examples=30, deadline=None)
def test_f_min_not_below_f_max_is_rejected(f_min, below):
    with pytest.raises(InputError, match="f_min must be below f_max"):
        InverseMelScale(201, 40, 16000, f_min=f_min, f_max=f_min * below)


@pytest.mark.parametrize("solver", sorted(SOLVERS))
@given(shape=hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=6),
       poison=st.sampled_from([None, np.nan, np.inf, -np.inf, -1.0, -1e-30]))
@FAST
def test_invalid_melspecs_raise_input_error_only(solver, shape, poison):
    n_mels = 4
    inv = InverseMelScale(16, n_mels, 8000, max_iter=2, solver=solver, seed=0)
    arr = np.ones(shape, np.float32)
    valid_shape = len(shape) >= 2 and shape[-2] == n_mels and 0 not in shape
    if poison is not None and arr.size:
        arr.flat[arr.size // 2] = poison
    if valid_shape and poison is None:
        assert inv(arr).shape == shape[:-2] + (16, shape[-1])
    else:
        with pytest.raises(InputError):
            inv(arr)


@given(samples=hnp.arrays(np.float32, st.integers(1, 2000), elements=st.floats(-1, 1, width=32)),
       n_fft=st.integers(2, 300), data=st.data(), power=st.sampled_from([0.5, 1.0, 2.0]))
@settings(max_examples=60, deadline=None)
def test_spectrogram_shape_and_values(samples, n_fft, data, power):
    win_length = data.draw(st.integers(1, n_fft))
    hop = data.draw(st.integers(1, 2 * n_fft))
    spec = spectrogram(samples, n_fft, hop, win_length, power)
    length = max(samples.size, n_fft // 2 + 1)
    assert spec.shape == (n_fft // 2 + 1, 1 + (length + 2 * (n_fft // 2) - n_fft) // hop)
    assert spec.dtype == np.float32 and np.isfinite(spec).all() and spec.min() >= 0


@given(scale=st.floats(1e19, 3e38))
@settings(max_examples=10, deadline=None)
def test_spectrogram_overflow_is_input_error(scale):
    with pytest.raises(InputError, match=r"overflow.*\[-1, 1\]"):
        spectrogram(np.full(300, scale, np.float32), 256)
