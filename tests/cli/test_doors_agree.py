"""One library, thin doors: the same model mel file and settings give the same WAV, sample for
sample, from the command line, from batch and from the app's result."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from invmel_core import load_audio, mel_from_audio
from invmel_core.app import workflow
from invmel_core.app.mel_input import read_mel as app_read_mel
from invmel_core.app.settings import Settings, format_values
from invmel_core.batch.plan import run as run_batch
from invmel_core.cli import invert as cli
from invmel_core.pipeline.render import RenderOptions

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    samples, _ = load_audio(ROOT / "assets" / "speech_short.wav", 22050)
    path = tmp_path_factory.mktemp("in") / "model_out.npy"
    np.save(path, mel_from_audio(samples[: 22050], "hifigan").T)   # 1 s, stored (time, n_mels) as models do
    return path


def app_wav(path: Path, settings: Settings) -> bytes:
    stored = np.load(path).T                          # the page reads the file as (n_mels, time)
    reading = app_read_mel(np.ascontiguousarray(stored), settings)
    return workflow.to_wav(None, settings, mel=reading.mel)


@pytest.mark.parametrize("method", ["joint", "cascade"])
def test_the_command_line_and_the_app_write_the_same_samples(tmp_path, model_file, method):
    out = tmp_path / "out"
    extra = ["--n-iter", "8"] + (["--solver", "nnls"] if method == "cascade" else [])
    assert cli.main([str(model_file), "--format", "hifigan", "--method", method, "--wav", "-q", "-o", str(out),
                     *extra]) == 0
    by_cli = (out / "model_out.wav").read_bytes()
    settings = Settings.checked(**format_values("hifigan"), method=method, n_iter=8, solver="nnls")
    if method == "cascade":   # the app hears the solver's estimate, as the CLI does
        from invmel_core.pipeline.render import load, transform
        loaded = load(model_file, RenderOptions(format="hifigan", solver="nnls").checked())
        estimate = transform(RenderOptions(format="hifigan", solver="nnls").checked(), 80, 22050)(loaded.mel)
        by_app = workflow.to_wav(estimate, settings, mel=loaded.mel)
    else:
        by_app = app_wav(model_file, settings)
    assert by_cli == by_app


def test_batch_writes_what_the_command_line_writes(tmp_path, model_file):
    cli_out, batch_out = tmp_path / "cli", tmp_path / "batch"
    assert cli.main([str(model_file), "--format", "hifigan", "--n-iter", "8", "--wav", "-q", "-o", str(cli_out)]) == 0
    records = run_batch(str(model_file.parent), batch_out, RenderOptions(format="hifigan", n_iter=8), workers=0)
    assert [r.status for r in records] == ["done"]
    assert (batch_out / "model_out.wav").read_bytes() == (cli_out / "model_out.wav").read_bytes()
