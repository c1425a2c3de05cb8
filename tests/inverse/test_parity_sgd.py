"""torchaudio <= 2.0 and MindSpore reproduced iterate by iterate (fixtures in tests/fixtures)."""

import numpy as np
import pytest

from fixture_data import CASES, case_kwargs, load_fixture, rel_err
from invmel_core import InverseMelScale

TA = load_fixture("sgd_torchaudio20.npz")
MS = load_fixture("sgd_mindspore.npz")
FIXED = [("sgd_htk", n) for n in (1, 2, 10, 100, 1000)] + [("sgd_slaney", n) for n in (1, 10, 200, 3000)]


def last_iterate(transform, melspec):
    *_, last = transform.iterate(melspec, every=10**9)
    return last


@pytest.mark.parametrize("case,max_iter", FIXED)
def test_sgd_matches_torchaudio_20(case, max_iter, mel_inputs):
    t = InverseMelScale(max_iter=max_iter, **case_kwargs(case))
    last = last_iterate(t, mel_inputs[CASES[case]["input"]])
    assert last.step == int(TA[f"{case}_iter{max_iter}_steps"]) == max_iter
    assert last.done and last.reason == "max_iter"
    assert rel_err(last.spec, TA[f"{case}_iter{max_iter}"]) <= 1e-4


def test_sgd_tolerance_stop_matches_torchaudio_20(mel_inputs):
    t = InverseMelScale(max_iter=100000, **case_kwargs("sgd_htk"))
    last = last_iterate(t, mel_inputs["mel_htk_201_40"])
    expected_steps = int(TA["sgd_htk_iter100000_steps"])  # 8595
    assert last.reason == "tolerance_change"
    assert abs(last.step - expected_steps) <= 0.01 * expected_steps
    assert rel_err(last.spec, TA["sgd_htk_iter100000"]) <= 1e-3


def test_sgd_batch_is_one_problem():
    t = InverseMelScale(max_iter=50, **case_kwargs("sgd_htk", seed=3))
    out = t(TA["sgd_batch_input"])
    assert out.shape == (2, 3, 201, 32) and out.dtype == np.float32
    assert rel_err(out, TA["sgd_batch_iter50"]) <= 1e-4


@pytest.mark.parametrize("case,max_iter", [("sgd_htk", n) for n in (1, 2, 10, 100)]
                         + [("sgd_slaney", n) for n in (1, 10, 200, 3000)])
def test_mindspore_matches(case, max_iter, mel_inputs):
    t = InverseMelScale(max_iter=max_iter, solver="mindspore", **case_kwargs(case))
    out = t(mel_inputs[CASES[case]["input"]])
    assert rel_err(out, MS[f"{case}_iter{max_iter}"][0]) <= 1e-4


def test_mindspore_quiet_input_returns_its_random_start(mel_inputs):
    """The fixture's sgd_slaney input is quiet: MindSpore's absolute tolerance stops it at once."""
    from invmel_core.inverse.solvers.random_starts import mindspore_rand

    t = InverseMelScale(max_iter=200, solver="mindspore", **case_kwargs("sgd_slaney"))
    last = last_iterate(t, mel_inputs["mel_slaney_257_64"])
    assert last.step == 1 and last.reason == "tolerance_change"
    assert np.abs(last.spec - mindspore_rand(7, 1, 257, 32)[0]).max() < 1e-4
    assert any("random start" in note for note in t.notes(last))


DOC_INPUT = np.array([[1, 1], [0, 0], [1, 1], [1, 1]], np.float32)


def test_seed_document_example_torchaudio():
    with pytest.warns(UserWarning, match="all zero values"):
        t = InverseMelScale(n_stft=2, n_mels=4, seed=1)
    np.testing.assert_allclose(t(DOC_INPUT), [[0.7576, 0.4031], [0.2793, 0.7347]], atol=1e-4)
    np.testing.assert_allclose(t(DOC_INPUT), TA["seed_doc_example"], rtol=1e-6)
    # Why: no filter covers a bin, so the loss never moves and the start is returned.
    assert t.fb.empty.size == 4
    assert any("Every one of the 4 mel filters is empty" in n for n in t.notes())


def test_seed_document_example_mindspore():
    with pytest.warns(UserWarning):
        t = InverseMelScale(n_stft=2, n_mels=4, seed=3, solver="mindspore")
    np.testing.assert_allclose(t(DOC_INPUT), [[0.5508, 0.0707], [0.7081, 0.8399]], atol=1e-4)
    np.testing.assert_allclose(t(DOC_INPUT), MS["seed_doc_example"][0], rtol=1e-6)


@pytest.mark.parametrize("solver", ["sgd", "mindspore"])
def test_seed_none_gives_fresh_starts_and_a_seed_repeats(solver, mel_inputs):
    x = mel_inputs["mel_htk_201_40"]
    kw = case_kwargs("sgd_htk", seed=None, max_iter=3)
    a, b = InverseMelScale(solver=solver, **kw)(x), InverseMelScale(solver=solver, **kw)(x)
    assert not np.array_equal(a, b)
    kw["seed"] = 11
    np.testing.assert_array_equal(InverseMelScale(solver=solver, **kw)(x),
                                  InverseMelScale(solver=solver, **kw)(x))


@pytest.mark.parametrize("solver", ["sgd", "mindspore"])
def test_iterate_reports_every_n_steps_and_the_last(solver, mel_inputs):
    t = InverseMelScale(max_iter=25, solver=solver, **case_kwargs("sgd_htk"))
    its = list(t.iterate(mel_inputs["mel_htk_201_40"], every=10))
    assert [it.step for it in its] == [10, 20, 25]
    assert [it.done for it in its] == [False, False, True]
    assert its[-1].reason == "max_iter"
    # Every record owns its array: keeping one does not see later steps.
    assert not np.array_equal(its[0].spec, its[-1].spec)
    np.testing.assert_array_equal(its[-1].spec, t(mel_inputs["mel_htk_201_40"]))


def test_closing_the_generator_stops_the_solver(mel_inputs):
    t = InverseMelScale(max_iter=100000, **case_kwargs("sgd_htk"))
    gen = t.iterate(mel_inputs["mel_htk_201_40"], every=5)
    first = next(gen)
    gen.close()
    assert first.step == 5 and not first.done


def test_mindspore_divergence_stops_with_a_reason_and_a_finite_result():
    """MindSpore itself returns NaN here (lr 0.1 is far too large for values of 1000)."""
    t = InverseMelScale(1025, 1, 16000, max_iter=300, solver="mindspore", seed=0)
    last = last_iterate(t, np.full((1, 3), 1000.0, np.float32))
    assert last.reason == "diverged" and last.step < 300
    assert np.isfinite(last.spec).all() and (last.spec >= 0).all()
    assert any("diverged" in note and "Lower lr" in note for note in t.notes(last))
