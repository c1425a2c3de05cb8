"""solver="sgd" (banded, fused, chunked over cores) gives the iterates of the straightforward
dense formulation in bench/reference.py. Speed is measured by `python -m bench`, not here."""

from pathlib import Path

import numpy as np
import pytest

from bench.reference import dense_sgd
from fixture_data import rel_err
from invmel_core import MelFilterbank, load_audio, spectrogram
from invmel_core.inverse.solvers import SolverOptions
from invmel_core.inverse.solvers import columns
from invmel_core.inverse.solvers import torch_sgd

ASSETS = Path(__file__).resolve().parents[2] / "assets"


def fast_sgd(melspec, fb, steps, seed=0):
    options = SolverOptions(max_iter=steps, tolerance_loss=0.0, tolerance_change=0.0, seed=seed)
    *_, last = torch_sgd.run(melspec, fb, options, every=10**9)
    assert last.step == steps and last.reason == "max_iter"
    return last


@pytest.fixture(scope="module")
def speech_mel():
    """The first 1.5 s of the benchmark's speech, n_fft 512: (1, 64, 65)."""
    samples, rate = load_audio(ASSETS / "speech_10s.wav")
    spec = spectrogram(samples[: int(1.5 * rate)], n_fft=512, hop_length=512)
    fb = MelFilterbank(257, 0.0, None, 64, rate)
    return fb, (fb.dense.T @ spec)[None]


def test_fast_sgd_matches_the_dense_formulation_after_1000_steps(speech_mel):
    fb, melspec = speech_mel
    expected, losses = dense_sgd(melspec, fb, 1000, seed=0)
    last = fast_sgd(melspec, fb, 1000)
    assert rel_err(last.spec, expected) <= 1e-4
    # The loss reported for step 1000 is the one computed before that step.
    assert last.loss == pytest.approx(losses[-1], rel=1e-4)


def test_chunks_threads_and_batches_do_not_change_the_iterates(monkeypatch):
    """300 columns spanning three batch items, cut into two chunks run on two threads."""
    rng = np.random.default_rng(2)
    fb = MelFilterbank(257, 0.0, None, 64, 16000)
    melspec = np.einsum("fm,bft->bmt", fb.dense, rng.random((3, 257, 100), dtype=np.float32))
    monkeypatch.setattr(columns, "MIN_PARALLEL_ELEMENTS", 0)
    monkeypatch.setattr(columns, "available_cores", lambda: 2)
    monkeypatch.setattr(torch_sgd, "CHUNK_COLUMNS", 256)
    assert len(columns.split_evenly(300, 256)) == 2
    last = fast_sgd(melspec, fb, 300, seed=4)
    expected, _ = dense_sgd(melspec, fb, 300, seed=4)
    assert last.spec.shape == (3, 257, 100)
    assert rel_err(last.spec, expected) <= 1e-4


def test_write_columns_spans_batch_items():
    out = np.zeros((3, 2, 4), np.float32)
    values = np.arange(2 * 7, dtype=np.float32).reshape(2, 7)
    columns.write_columns(out, slice(3, 10), values)
    flat = columns.as_columns(out)
    np.testing.assert_array_equal(flat[:, 3:10], values)
    assert not flat[:, :3].any() and not flat[:, 10:].any()


def test_split_evenly_covers_everything_once():
    for n in (1, 255, 256, 257, 431, 25841):
        runs = columns.split_evenly(n)
        assert runs[0].start == 0 and runs[-1].stop == n
        assert all(a.stop == b.start for a, b in zip(runs, runs[1:]))
        sizes = [r.stop - r.start for r in runs]
        assert max(sizes) <= columns.CHUNK_COLUMNS and max(sizes) - min(sizes) <= 1
