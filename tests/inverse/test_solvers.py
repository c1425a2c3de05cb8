"""The lstsq, librosa and nnls solvers: parity with the real libraries, NNLS optimality,
scale invariance, empty filters, silence, batches (fixtures in tests/fixtures)."""

import warnings

import numpy as np
import pytest
import scipy.linalg
import scipy.optimize

from fixture_data import CASES, case_kwargs, load_fixture, rel_err
from invmel_core import EmptyFilterWarning, InverseMelScale, MelFilterbank
from invmel_core.dsp.metrics import mel_residual
from invmel_core.inverse.solvers import SolverOptions
from invmel_core.inverse.solvers import columns
from invmel_core.inverse.solvers import nnls

LSTSQ = load_fixture("lstsq_torchaudio29.npz")
LIBROSA = load_fixture("librosa.npz")
LIN = load_fixture("inputs.npz")


def solver_kwargs(case):
    kwargs = case_kwargs(case)
    kwargs.pop("sgdargs"), kwargs.pop("seed")
    return kwargs


def last_iterate(transform, melspec, every=10**9):
    *_, last = transform.iterate(melspec, every=every)
    return last


def empty_filter_setup():
    """201 bins, 128 HTK mels at 16 kHz: torchaudio warns, several low filters are empty."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EmptyFilterWarning)
        fb = MelFilterbank(201, 0.0, None, 128, 16000)
    assert 0 < fb.empty.size < fb.n_mels
    spec = LIN["lin_201"]
    mel = fb.dense.T @ spec
    mel[fb.empty] = np.linspace(1.0, 5.0, fb.empty.size)[:, None]  # energy nothing can match
    return fb, spec, mel


# --------------------------------------------------------------------------- lstsq

@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("driver", ["gelsd", "gels"])
def test_lstsq_matches_torchaudio_29(case, driver, mel_inputs):
    last = last_iterate(InverseMelScale(solver="lstsq", **solver_kwargs(case)), mel_inputs[CASES[case]["input"]])
    assert last.done and last.reason == "closed_form" and last.step == 0
    assert rel_err(last.spec, LSTSQ[f"{case}_lstsq_{driver}"]) <= 1e-3


def test_lstsq_leaves_a_large_residual_because_it_ignores_nonnegativity(mel_inputs):
    melspec = mel_inputs["mel_htk_201_40"]
    t = InverseMelScale(solver="lstsq", **solver_kwargs("sgd_htk"))
    last = last_iterate(t, melspec)
    assert last.loss == pytest.approx(mel_residual(last.spec, melspec, t.fb), rel=1e-4)
    assert last.loss > 0.05


def test_lstsq_with_empty_filters_is_the_min_norm_solution():
    fb, _, mel = empty_filter_setup()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EmptyFilterWarning)
        t = InverseMelScale(201, 128, 16000, solver="lstsq")
    last = last_iterate(t, mel)
    assert np.isfinite(last.spec).all()
    # An independent route: LAPACK's SVD-based gelsd in float64 on the rank-deficient matrix.
    # Its singular values jump from 0.55 to 3e-16 (empty and duplicate filters), so any
    # cut-off in between gives the same minimum-norm solution.
    fbT = fb.dense.T.astype(np.float64)
    singular = np.linalg.svd(fbT, compute_uv=False)
    assert not np.any((singular > 1e-12) & (singular < 0.1))
    expected = np.maximum(scipy.linalg.lstsq(fbT, mel.astype(np.float64), cond=1e-6,
                                             lapack_driver="gelsd")[0], 0)
    assert rel_err(last.spec, expected) <= 1e-4
    # The loss is the residual on the filters that can be matched.
    matchable = np.setdiff1d(np.arange(128), fb.empty)
    direct = np.linalg.norm(fb.dense.T[matchable] @ last.spec - mel[matchable]) / np.linalg.norm(mel[matchable])
    assert last.loss == pytest.approx(direct, rel=1e-4)


# --------------------------------------------------------------------------- librosa

def test_librosa_matches_the_fixture_on_the_quiet_case(mel_inputs):
    """On this quiet input L-BFGS-B stops at its start (absolute tolerance): exact match."""
    t = InverseMelScale(solver="librosa", **solver_kwargs("sgd_slaney"))
    last = last_iterate(t, mel_inputs["mel_slaney_257_64"])
    assert last.done and last.step == 1
    np.testing.assert_allclose(t.fb.dense.T, LIBROSA["sgd_slaney_librosa_fb"], rtol=1e-5, atol=1e-9)
    assert rel_err(np.sqrt(last.spec), LIBROSA["sgd_slaney_mel_to_stft_power2"]) <= 1e-5


def test_librosa_matches_the_fixture_on_the_loud_case(mel_inputs):
    """Here L-BFGS-B stops at a 2e-3 residual on an underdetermined problem, where its end
    point depends on floating-point details (BLAS, scipy's L-BFGS-B version): the same call
    differs from the fixture's machine by 0.6 % of the peak in power (3 % in magnitude,
    where the square root magnifies differences near zero) and ends at the same residual."""
    melspec = mel_inputs["mel_htk_201_40"]
    t = InverseMelScale(solver="librosa", **solver_kwargs("sgd_htk"))
    last = last_iterate(t, melspec)
    np.testing.assert_allclose(t.fb.dense.T, LIBROSA["sgd_htk_librosa_fb"], rtol=1e-5, atol=1e-9)
    expected = LIBROSA["sgd_htk_mel_to_stft_power2"].astype(np.float64) ** 2
    assert rel_err(last.spec, expected) <= 1e-2
    assert last.loss == pytest.approx(mel_residual(expected, melspec, t.fb), rel=0.1)


def test_librosa_solver_is_a_call_of_mel_to_stft():
    """Mapping check on a setting with every parameter away from its default."""
    import librosa

    rng = np.random.default_rng(5)
    fb = MelFilterbank(129, 50.0, 3000.0, 20, 8000, norm="slaney", mel_type="slaney", compat="librosa")
    melspec = (fb.dense.T @ rng.random((129, 6), dtype=np.float32) * 1e-3).astype(np.float32)
    t = InverseMelScale(129, 20, 8000, f_min=50.0, f_max=3000.0, norm="slaney", mel_type="slaney",
                        solver="librosa")
    expected = librosa.feature.inverse.mel_to_stft(melspec, sr=8000, n_fft=256, power=1.0, fmin=50.0,
                                                   fmax=3000.0, htk=False, norm="slaney")
    np.testing.assert_array_equal(t(melspec), expected)


# --------------------------------------------------------------------------- nnls

@pytest.mark.parametrize("case", CASES)
def test_nnls_reaches_its_tolerance_and_reports_the_true_residual(case, mel_inputs):
    melspec = mel_inputs[CASES[case]["input"]]
    t = InverseMelScale(solver="nnls", tolerance_loss=1e-5, **solver_kwargs(case))
    last = last_iterate(t, melspec)
    assert last.reason == "tolerance_loss" and last.loss <= 1e-5
    assert last.loss == pytest.approx(mel_residual(last.spec, melspec, t.fb), rel=1e-2, abs=1e-7)
    assert last.spec.dtype == np.float32 and last.spec.min() >= 0


def test_nnls_solves_nonnegative_least_squares_on_infeasible_input():
    """A random mel spectrogram has no exact non-negative preimage: compare with the
    optimum of scipy's active-set NNLS, frame by frame, and check the optimality conditions."""
    fb = MelFilterbank(201, 0.0, None, 40, 16000)
    melspec = np.random.default_rng(0).random((40, 12)).astype(np.float32)
    last = last_iterate(InverseMelScale(201, 40, 16000, solver="nnls"), melspec)
    assert last.reason == "converged" and last.step < 2000
    fbT = fb.dense.T.astype(np.float64)
    optimum = np.stack([scipy.optimize.nnls(fbT, m)[0] for m in melspec.T.astype(np.float64)], axis=1)
    best = np.linalg.norm(fbT @ optimum - melspec) / np.linalg.norm(melspec)
    assert best > 0.005  # really infeasible
    assert last.loss <= best * 1.001
    grad = fbT.T @ (fbT @ last.spec - melspec)  # KKT: grad >= 0, and grad == 0 where X > 0
    scale = np.abs(fbT.T @ melspec).max()
    assert grad.min() >= -1e-3 * scale
    assert np.abs(grad[last.spec > 1e-3 * last.spec.max()]).max() <= 1e-3 * scale


def test_notes_say_when_no_nonnegative_spectrogram_fits_and_not_when_one_does(mel_inputs):
    """An infeasible input (every other band zero) is called out with its residual; a
    consistent one (the fixtures' speech mel spectrogram) gets no such note."""
    t = InverseMelScale(201, 40, 16000, solver="nnls")
    melspec = np.random.default_rng(1).random((40, 12)).astype(np.float32)
    melspec[::2] = 0
    last = last_iterate(t, melspec)
    text = " ".join(t.notes(last))
    assert last.reason == "converged" and f"{last.loss:.2g}" in text and "No non-negative" in text
    consistent = InverseMelScale(solver="nnls", **solver_kwargs("sgd_htk"))
    last = last_iterate(consistent, mel_inputs[CASES["sgd_htk"]["input"]])
    assert not any("No non-negative" in note for note in consistent.notes(last))


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("c", [1e-6, 1.0, 1e6, 2.0**-40, 2.0**40])
def test_nnls_is_scale_invariant(case, c, mel_inputs):
    """Scaling the input scales the output, with the same steps.

    For a power of two the scaled float32 input is exact, and so is everything after it:
    same steps, output exactly c times. For other factors the scaled input itself is
    rounded (6e-8 relative), which the solve carries through: the output is c times within
    1e-4, and where the residual falls slowly through the tolerance (sgd_slaney: about
    0.1 % per step near 1e-5) the crossing can move by a few steps (1139 vs 1145), and the
    end point by up to 2e-4 of the peak (the problem is underdetermined)."""
    melspec = mel_inputs[CASES[case]["input"]]
    kwargs = solver_kwargs(case)
    reference = last_iterate(InverseMelScale(solver="nnls", **kwargs), melspec)
    scaled = last_iterate(InverseMelScale(solver="nnls", **kwargs), melspec * np.float32(c))
    assert reference.step > 10
    assert scaled.reason == reference.reason == "tolerance_loss"
    assert scaled.loss == pytest.approx(reference.loss, rel=2e-3)
    if np.log2(c).is_integer():
        assert scaled.step == reference.step
        np.testing.assert_array_equal(scaled.spec, reference.spec * np.float32(c))
    else:
        if case == "sgd_htk":
            assert scaled.step == reference.step
        assert abs(scaled.step - reference.step) <= 0.01 * reference.step
        assert rel_err(scaled.spec / np.float32(c), reference.spec) <= 1e-3


def test_torchaudio_sgd_is_not_scale_invariant(mel_inputs):
    """The contrast the nnls test is about: with an absolute tolerance and a start that does
    not scale with the input, a quiet input gives a different answer, not a scaled one."""
    melspec = mel_inputs["mel_htk_201_40"]
    kwargs = case_kwargs("sgd_htk", max_iter=3000)
    loud = last_iterate(InverseMelScale(**kwargs), melspec)
    quiet = last_iterate(InverseMelScale(**kwargs), melspec * np.float32(1e-6))
    assert rel_err(quiet.spec / np.float32(1e-6), loud.spec) > 1.0


def test_nnls_scale_invariance_holds_frame_by_frame():
    """A frame 1e12 times quieter than its neighbour is solved just as well."""
    fb = MelFilterbank(257, 20.0, 8000.0, 64, 22050, "slaney", "slaney")
    spec = LIN["lin_257"][:, :4].copy()
    spec[:, 1] *= np.float32(1e-12)
    melspec = fb.dense.T @ spec
    t = InverseMelScale(257, 64, 22050, 20.0, 8000.0, tolerance_loss=0.0, max_iter=400, norm="slaney",
                        mel_type="slaney", solver="nnls")
    out = t(melspec)
    for frame in range(4):
        residual = mel_residual(out[:, frame:frame + 1], melspec[:, frame:frame + 1], fb)
        assert residual < 1e-4, frame


def test_nnls_silence_gives_zeros_at_once():
    t = InverseMelScale(201, 40, 16000, solver="nnls")
    with np.errstate(all="raise"):
        records = list(t.iterate(np.zeros((2, 40, 5), np.float32)))
    assert len(records) == 1
    last = records[0]
    assert last.step == 0 and last.loss == 0.0 and last.reason == "tolerance_loss"
    assert last.spec.shape == (2, 201, 5) and not last.spec.any()


def test_nnls_silent_frames_stay_exactly_zero(mel_inputs):
    melspec = mel_inputs["mel_htk_201_40"].copy()
    melspec[:, [0, 7, 8, 31]] = 0
    out = InverseMelScale(solver="nnls", **solver_kwargs("sgd_htk"))(melspec)
    assert not out[:, [0, 7, 8, 31]].any() and out[:, 1:7].any()


def test_nnls_ignores_empty_filters():
    fb, spec, mel = empty_filter_setup()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EmptyFilterWarning)
        t = InverseMelScale(201, 128, 16000, solver="nnls", tolerance_loss=1e-5)
    last = last_iterate(t, mel)
    assert last.reason == "tolerance_loss" and last.step < 3000
    matchable = np.setdiff1d(np.arange(128), fb.empty)
    direct = np.linalg.norm(fb.dense.T[matchable] @ last.spec - mel[matchable]) / np.linalg.norm(mel[matchable])
    assert direct <= 1.01e-5 and last.loss == pytest.approx(direct, rel=1e-2, abs=1e-7)
    # Energy only in empty filters: nothing to match, zeros at once.
    only_empty = np.zeros_like(mel)
    only_empty[fb.empty] = 1.0
    records = list(t.iterate(only_empty))
    assert len(records) == 1 and records[0].loss == 0.0 and not records[0].spec.any()


def test_nnls_every_filter_empty():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EmptyFilterWarning)
        t = InverseMelScale(n_stft=2, n_mels=4, solver="nnls")
    out = t(np.array([[1, 1], [0, 0], [1, 1], [1, 1]], np.float32))
    assert out.shape == (2, 2) and not out.any()


def test_nnls_batch_items_are_independent_problems(mel_inputs):
    """With a fixed number of steps, solving a batch equals solving its items one by one
    (frames are independent and the momentum does not depend on the data)."""
    a = mel_inputs["mel_htk_201_40"]
    b = a[:, ::-1] * np.float32(3.0) + np.float32(0.5)
    kwargs = dict(solver_kwargs("sgd_htk"), max_iter=60, tolerance_loss=0.0)
    batch = InverseMelScale(solver="nnls", **kwargs)(np.stack([a, b]))
    np.testing.assert_array_equal(batch[0], InverseMelScale(solver="nnls", **kwargs)(a))
    np.testing.assert_array_equal(batch[1], InverseMelScale(solver="nnls", **kwargs)(b))


def test_nnls_blocks_and_threads_do_not_change_the_result(monkeypatch):
    """Frames cut into blocks and run on two threads give bit-identical results."""
    rng = np.random.default_rng(1)
    fb = MelFilterbank(201, 0.0, None, 40, 16000)
    melspec = (fb.dense.T @ rng.random((201, 300), dtype=np.float32))[None]
    options = SolverOptions(max_iter=50, tolerance_loss=0.0)
    whole = list(nnls.run(melspec, fb, options, 10**9, block_frames=10**6))[-1]
    monkeypatch.setattr(columns, "MIN_PARALLEL_ELEMENTS", 0)
    monkeypatch.setattr(columns, "available_cores", lambda: 2)
    blocked = list(nnls.run(melspec, fb, options, 10**9, block_frames=64))[-1]
    np.testing.assert_array_equal(blocked.spec, whole.spec)
    assert blocked.loss == pytest.approx(whole.loss, rel=1e-6)


def test_nnls_iterates_are_reported_every_n_steps_and_improve(mel_inputs):
    t = InverseMelScale(solver="nnls", max_iter=95, tolerance_loss=0.0, **solver_kwargs("sgd_htk"))
    records = list(t.iterate(mel_inputs["mel_htk_201_40"], every=20))
    assert [r.step for r in records] == [20, 40, 60, 80, 95]
    assert records[-1].reason == "max_iter" and [r.done for r in records] == [False] * 4 + [True]
    losses = [r.loss for r in records]
    assert losses[-1] < losses[0] / 10
    assert not np.shares_memory(records[0].spec, records[1].spec)
    assert not np.array_equal(records[0].spec, records[1].spec)


def test_nnls_is_deterministic(mel_inputs):
    t = InverseMelScale(solver="nnls", **solver_kwargs("sgd_slaney"))
    x = mel_inputs["mel_slaney_257_64"]
    np.testing.assert_array_equal(t(x), t(x))


def test_nnls_settled_frames_stay_in_every_snapshot(monkeypatch):
    """Frames set aside once they are far below the tolerance keep their values: every
    reported iterate's loss is the true residual of its spectrogram, and the result is that
    of a solve that never sets frames aside."""
    fb = MelFilterbank(257, 20.0, 8000.0, 64, 22050, "slaney", "slaney")
    melspec = fb.dense.T @ LIN["lin_257"]
    t = InverseMelScale(257, 64, 22050, 20.0, 8000.0, norm="slaney", mel_type="slaney", solver="nnls",
                        tolerance_loss=1e-5)
    shed = []
    write = nnls._Block.write
    monkeypatch.setattr(nnls._Block, "write", lambda self, out, columns=None: (
        shed.append(int(columns.sum())) if columns is not None else None, write(self, out, columns))[1])
    records = list(t.iterate(melspec, every=10))
    assert records[-1].reason == "tolerance_loss"
    assert 0 < sum(shed) < melspec.shape[1]  # some frames were set aside, not all
    for r in records:
        assert r.loss == pytest.approx(mel_residual(r.spec, melspec, fb), rel=1e-3, abs=1e-7)
    monkeypatch.setattr(nnls, "SETTLE_RATIO", 0.0)
    plain = last_iterate(t, melspec)
    assert abs(plain.step - records[-1].step) <= 0.01 * plain.step
    # Not identical: a frame that keeps being updated after its residual is ~1e-6 drifts a
    # little along the (underdetermined) set of exact solutions; a settled one does not.
    assert rel_err(records[-1].spec, plain.spec) <= 5e-3
