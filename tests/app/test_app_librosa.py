"""The librosa solver in the app. It ran out of memory at the defaults (one
L-BFGS-B over every frame, quadratic in n_stft), showed nothing while it ran and ignored Stop.
Now it solves chunks of frames in a child process: bounded memory, progress after each chunk,
a heartbeat in between, and Stop ends it at once. The cost is said before Run."""

import time

import numpy as np
import pytest

from invmel_core import InverseMelScale, MelFilterbank
from invmel_core.io import loading
from invmel_core.dsp import stft
from invmel_core.app.settings import Settings, sample_path
from invmel_core.inverse.solvers import librosa_solver
from pages import _widgets
from app_support import errors, open_page


def speech_mel(n_fft: int, n_mels: int = 128, sample: str = "speech_short") -> np.ndarray:
    samples, rate = loading.load_audio(sample_path(sample), 22050)
    fb = MelFilterbank(n_fft // 2 + 1, 0.0, None, n_mels, rate, compat="librosa")
    return stft.mel_spectrogram(stft.spectrogram(samples, n_fft, n_fft // 4), fb).astype(np.float32)


def child_processes() -> list[int]:
    """pids of this process's children running the librosa solver."""
    import os
    from pathlib import Path

    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                parent = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
                command = Path(f"/proc/{entry}/cmdline").read_bytes().decode(errors="replace")
            except (OSError, IndexError, ValueError):
                continue
            if parent == os.getpid() and "_child_main" in command:
                found.append(int(entry))
    return found


def test_the_cost_is_said_before_run_and_the_defaults_are_not_refused():
    at = open_page("invert", query={"solver": "librosa"})        # the defaults: n_fft 2048, 128 mels
    cost = at.session_state["_settings_ok"]
    assert cost.solver == "librosa" and cost.n_fft == 2048
    captions = " ".join(c.value for c in at.caption)
    assert "Takes roughly" in captions and "min" in captions and "GiB of memory" in captions, captions
    assert not errors(at) and not at.button(key="run").disabled


def test_a_solve_over_the_memory_limit_is_refused_before_run(monkeypatch):
    monkeypatch.setenv("INVMEL_MAX_SOLVE_MB", "300")              # below one 32-frame chunk at n_fft 2048
    at = open_page("invert", query={"solver": "librosa"})
    assert any("more than the limit" in e for e in errors(at)), errors(at)
    assert at.button(key="run").disabled


@pytest.mark.slow
def test_chunks_bound_memory_and_report_progress(monkeypatch):
    monkeypatch.setenv("INVMEL_MAX_SOLVE_MB", "24")               # n_stft 129: ~45-frame chunks
    mel = speech_mel(256, 40)[:, :200] * 1e-4                     # quiet: L-BFGS-B stops quickly
    t = InverseMelScale(129, 40, 22050, solver="librosa")
    frames = librosa_solver.chunk_frames(1, 129, 40, 200)
    assert 32 <= frames < 200
    iterates = list(t.iterate(mel))
    chunks = -(-200 // frames)
    # One iterate per chunk (step = chunks done), and heartbeats (the same step) while one runs.
    assert sorted({it.step for it in iterates} - {0}) == list(range(1, chunks + 1))
    assert [it.step for it in iterates] == sorted(it.step for it in iterates)
    assert iterates[-1].done and iterates[-1].step == chunks and not any(it.done for it in iterates[:-1])
    # Each chunk is exactly librosa's own call on those frames (solved in the child process).
    import librosa

    kwargs = librosa_solver.librosa_arguments(t.fb)
    for start in range(0, 200, frames):
        expected = librosa.feature.inverse.mel_to_stft(mel[:, start:start + frames], power=1.0, **kwargs)
        np.testing.assert_allclose(iterates[-1].spec[:, start:start + frames], expected, rtol=1e-6, atol=1e-12)
    # Memory: the estimate is one chunk's, not the whole input's (which would be ~4x).
    one_call = librosa_solver._workspace(1, 129, 200)
    assert librosa_solver.memory_estimate(1, 129, 40, 200) < one_call / 2


def test_closing_the_solver_ends_a_chunk_under_way_at_once():
    mel = speech_mel(1024)[:, :96]                                # loud speech: a chunk takes a long time
    t = InverseMelScale(513, 128, 22050, solver="librosa")
    iterates = t.iterate(mel)
    first = next(iterates)                                        # a heartbeat: the chunk is under way
    assert first.step == 0 and not first.done
    assert child_processes()
    started = time.perf_counter()
    iterates.close()
    assert time.perf_counter() - started < 2.0
    deadline = time.perf_counter() + 5
    while child_processes() and time.perf_counter() < deadline:
        time.sleep(0.05)
    assert not child_processes(), "the child process outlived Stop"


@pytest.mark.slow
def test_app_runs_librosa_at_the_defaults_shows_elapsed_time_and_stops(monkeypatch):
    monkeypatch.setattr(_widgets, "PAGE_RUN_BUDGET_S", 4.0)
    at = open_page("invert", query={"solver": "librosa"})
    at.button(key="run").click().run()                            # 4 s of solving, then the page run ends
    assert not errors(at), errors(at)
    live = at.session_state["invert_live"]
    assert not live.done and live.steps, "no progress was reported while the first chunk ran"
    status = [m.value for m in at.markdown if "elapsed" in m.value]
    assert status and "running" in status[0]
    started = time.perf_counter()
    at.button(key="stop").click().run()
    assert live.reason == "stopped"
    assert time.perf_counter() - started < 30                     # scoring and drawing included
    result = at.session_state["invert_result"]
    assert result.reason == "stopped" and result.settings == Settings.checked(solver="librosa")
    assert not child_processes()
