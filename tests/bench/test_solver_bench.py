"""The benchmark's workload and report (the timings themselves are run by `python -m bench`)."""

import numpy as np

from bench import solvers as bench
from invmel_core import MelFilterbank
from invmel_core.inverse.solvers import columns


def test_workload_is_the_issue_s():
    spec, melspec, rate = bench.workload()
    assert rate == 22050 and spec.shape == (1025, 431) and melspec.shape == (128, 431)
    fb = MelFilterbank(1025, 0.0, None, 128, rate)
    np.testing.assert_allclose(melspec, fb.dense.T @ spec, rtol=1e-5, atol=1e-6 * melspec.max())
    # One thread on this size: hand-offs would cost more than they save.
    assert columns.threads_for(len(columns.split_evenly(431)), 1025 * 431) == 1


def test_verdicts_compare_in_the_right_direction():
    assert bench.verdict("x", 600.0, 500.0, unit="x").endswith("PASS")
    assert bench.verdict("x", 400.0, 500.0, unit="x").endswith("FAIL")
    assert bench.verdict("x", 2e-5, 1e-4, at_least=False).endswith("PASS")
    assert bench.verdict("x", 2e-4, 1e-4, at_least=False).endswith("FAIL")
    assert "not measured" in bench.verdict("x", None, 1.0)


def test_table_marks_estimates_and_missing_values():
    rows = [bench.Row("nnls", "to 1e-3", 0.05, 73, 9.9e-4, 0.22, 8.3),
            bench.Row("sgd", "estimated", 40.0, 100000, None, None, 10.1, estimated=True)]
    text = bench.table(rows)
    lines = text.splitlines()
    assert len(lines) == 4 and lines[0].startswith("| solver |")
    assert "| 0.685 |" in lines[2]  # ms per step: 50 ms / 73 steps
    assert "40 (est.)" in lines[3] and "| — |" in lines[3]
