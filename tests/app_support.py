"""Helpers for the AppTest tests of the app's pages (no tests here).

Every test drives the real entry point, ``app.py`` (which restores the shared settings and
runs the chosen page), through Streamlit's ``AppTest``, and finds widgets by their keys.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import soundfile
from streamlit.testing.v1 import AppTest

APP = Path(__file__).resolve().parent.parent / "app.py"
TIMEOUT = 120  # generous: the first run of a page imports librosa and fills caches


def open_page(page: str | None = None, query: dict | None = None) -> AppTest:
    """``app.py`` run once (Home), then switched to ``pages/<page>.py`` if given."""
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    if page:
        at.switch_page(f"pages/{page}.py").run()
        assert not at.exception, [e.value for e in at.exception]
    return at


def errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


def warnings(at: AppTest) -> list[str]:
    """The warnings' texts as a reader sees them (Markdown escapes such as ``n\\_mels`` undone)."""
    return [re.sub(r"\\(.)", r"\1", w.value) for w in at.warning]


def metric(at: AppTest, label: str) -> str:
    found = [m.value for m in at.metric if m.label == label]
    assert found, f"no metric {label!r}; have {[m.label for m in at.metric]}"
    return found[0]


def wav_bytes(seconds: float = 0.5, sample_rate: int = 16000, freq: float = 440.0) -> bytes:
    """A short sine tone as WAV file contents."""
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    buf = io.BytesIO()
    soundfile.write(buf, 0.3 * np.sin(2 * np.pi * freq * t), sample_rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def upload_mel(at: AppTest, array, name: str = "mel.npy") -> AppTest:
    """Choose the mel spectrogram input and upload ``array`` as a ``.npy`` file."""
    at.radio(key="source").set_value("npy").run()
    at.file_uploader(key="npy").upload(name, npy_bytes(array))
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def npy_bytes(array, allow_pickle: bool = False) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=allow_pickle)
    return buf.getvalue()


def run_until_result(at: AppTest, max_runs: int = 20) -> AppTest:
    """Rerun until the Invert page holds a result (each run advances the live solve)."""
    for _ in range(max_runs):
        if "invert_result" in at.session_state:
            return at
        at.run()
        assert not at.exception, [e.value for e in at.exception]
    raise AssertionError("the solve did not finish")


def shown_sound(at: AppTest):
    """The :class:`invmel_core.app.workflow.Sound` the Invert page's result plays now (the last
    one made for the result on screen)."""
    views = at.session_state["_result_views"]
    sounds = [value for key, value in views.items() if isinstance(key, tuple) and key[0] == "sound"]
    assert sounds, f"no sound made; views: {[k for k in views if k != 'result']}"
    return sounds[-1]
