"""invmel_core.app.offload: GIL-bound work in worker processes, with the same results as inline."""

import os
import signal
import time

import numpy as np
import pytest

from invmel_core import InputError
from invmel_core.app import offload
from invmel_core.dsp import phase
from invmel_core.app import workflow as pipeline
from invmel_core.figures import plots
from invmel_core.dsp import stft
from invmel_core.app.settings import Settings

pytestmark = pytest.mark.slow  # each test starts worker processes (seconds each)


@pytest.fixture
def one_worker(monkeypatch):
    monkeypatch.setenv(offload.ENV_WORKERS, "1")
    offload.shutdown()
    yield
    offload.shutdown()


def test_calls_run_in_another_process_and_give_the_inline_result(one_worker):
    assert offload.call(os.getpid) != os.getpid()
    settings = Settings.checked(n_fft=256, n_mels=20)
    spec = stft.spectrogram(np.sin(np.arange(4000) * 0.3).astype(np.float32), n_fft=256)
    args = (spec, settings.replace(method="cascade"))
    assert offload.call(pipeline.to_wav, *args) == pipeline.to_wav(*args)
    png = offload.call(plots.render_png, plots.loss_figure, [1, 2, 3], [1.0, 0.5, 0.1])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_zero_workers_runs_inline(monkeypatch):
    monkeypatch.setenv(offload.ENV_WORKERS, "0")
    assert offload.call(os.getpid) == os.getpid()
    assert offload.start() == []


def test_errors_in_a_worker_reach_the_caller_as_they_are(one_worker):
    with pytest.raises(InputError, match="spec must have shape"):
        offload.call(phase.griffinlim, np.ones((3, 3), np.float32), 256)


def test_a_killed_worker_loses_no_result(one_worker):
    first = offload.call(os.getpid)
    os.kill(first, signal.SIGKILL)
    time.sleep(0.2)
    # The pool is broken: this call is made here instead, and the next one in a new worker.
    assert offload.call(divmod, 7, 2) == (3, 1)
    second = offload.call(os.getpid)
    assert second not in (first, os.getpid())


def test_start_warms_workers_up_in_the_background(one_worker):
    futures = offload.start()
    assert len(futures) == 1 and offload.start() == []   # once
    futures[0].result(timeout=120)


@pytest.mark.parametrize("raw", ["-1", "two", "1.5"])
def test_a_bad_worker_count_is_logged_with_its_name_and_the_default_used(monkeypatch, caplog, raw):
    monkeypatch.setenv(offload.ENV_WORKERS, raw)
    assert offload.worker_count() == min(2, os.cpu_count() or 1)
    assert offload.ENV_WORKERS in caplog.text and repr(raw) in caplog.text
