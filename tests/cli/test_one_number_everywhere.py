"""One reconstruction, one number: the app, the CLI and the benchmark score the same solve
of the same input with the same metrics, so they print the same figures."""

import re

import pytest

from app_support import metric, open_page, run_until_result
from bench import solvers as bench
from invmel_core.cli import invert as cli

pytestmark = pytest.mark.slow

# The benchmark's workload is the CLI's and the app's defaults on speech_10s.wav:
# 22050 Hz, n_fft 2048, hop 512, 128 HTK mels, nnls to tolerance_loss 1e-5 within 1000 steps.


def cli_numbers(capsys, tmp_path) -> dict[str, float]:
    assert cli.main([str(bench.WORKLOAD["path"]), "-o", str(tmp_path), "--npy", "-q"]) == 0
    out = capsys.readouterr().out
    return {name: float(re.search(rf"{name}[^:]*: ([0-9.e+-]+)", out).group(1))
            for name in ("mel residual", "spectral convergence")}


def test_app_cli_and_benchmark_show_the_same_scores(capsys, tmp_path):
    from_cli = cli_numbers(capsys, tmp_path)

    spec, melspec, rate = bench.workload()
    row = bench.measured_row("nnls", "", bench.transform("nnls", rate, max_iter=1000), melspec, spec, repeats=1)

    at = open_page("invert", {"sample": "speech_10s"})
    at.button(key="run").click().run()
    run_until_result(at)
    scores = at.session_state["invert_result"].scores

    assert f"{from_cli['spectral convergence']:.3g}" == f"{row.convergence:.3g}" \
        == metric(at, "spectral convergence") == f"{scores.spectral_convergence:.3g}"
    assert from_cli["mel residual"] == pytest.approx(row.residual, rel=1e-3)
    assert from_cli["mel residual"] == pytest.approx(scores.mel_residual, rel=1e-3)
    # Magnitudes, not power: on power spectrograms this solve scores about 0.22.
    assert 0.25 < scores.spectral_convergence < 0.3
