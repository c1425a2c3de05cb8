"""The session's shared state: start-up, the settings store, the URL (Streamlit only).

Every shareable setting is a field of :class:`invmel_core.app.settings.Settings` and has one
widget whose key is the field's name (``sample_rate``, ``n_fft``, ``hop_length``, ``n_mels``,
``f_min``, ``f_max``, ``norm``, ``mel_type``, ``solver``, ``max_iter``, ``tolerance_loss``,
``tolerance_change``, ``lr``, ``momentum``, ``seed``, ``sample``, ``n_iter``, ``method``,
``power``, ``compression``). The raw widget
values live in a session store, copied back into the widget keys at the start of every run
(:func:`start_run`), so a value set on one page is there on the next; the URL is read once
per session and rewritten after the widgets (:func:`sync_url`).

No value reaches a widget unchecked: the URL goes through ``Settings.from_mapping``, a value
set by a button through :func:`adopt`, and every value is checked again against
``invmel_core.app.settings.RANGES`` (the widgets' own bounds) as it is copied into its widget
key, so Streamlit never sees a value its widget would refuse (it raises, and the session
shows nothing but that error until it is reloaded).
"""

from __future__ import annotations

import contextlib
import gc
import runpy
from pathlib import Path

import streamlit as st

from invmel_core import InputError
from invmel_core.app.settings import Settings, check_value

STORE = "_settings_store"      # raw widget values, by key
LAST_GOOD = "_settings_ok"     # the last Settings that validated
URL_NOTICES = "_url_notices"   # what was wrong with the URL (or a value set since), to show once
VIA_APP = "_via_app"           # True while app.py is running the page
APP = Path(__file__).resolve().parent.parent / "app.py"

FIELDS = ("sample_rate", "n_fft", "hop_length", "n_mels", "f_min", "f_max", "norm", "mel_type",
          "solver", "max_iter", "tolerance_loss", "tolerance_change", "lr", "momentum", "seed",
          "sample", "n_iter", "method", "fidelity", "power", "compression")
# Widgets outside Settings whose value should also follow the user from page to page
# (not into the URL: an upload cannot be shared by a link), with their first value.
KEPT = {"source": "sample", "compare_time_limit": 5.0, "readout_hz": 1000.0}
# Second widgets of one value (a slider beside a number box), set from it every run.
MIRRORS = {"n_mels_box": "n_mels"}
# Query parameters Streamlit itself reads (not ours, never reported as unknown).
STREAMLIT_PARAMS = {"embed", "embed_options"}
# In the URL while a solve is in progress (pages/invert.py): a session that starts with it was
# reloaded (or its link copied) mid-run, and is told that the run and any upload are gone.
SOLVING = "solving"
INTERRUPTED_BY_RELOAD = ("The page was reloaded (or opened from a link) while a solve was running: that run, "
                         "and any file you had uploaded, belonged to the old page and are gone. Your settings "
                         "are kept in the link; choose the input again (upload it again if it was a file) and "
                         "press Run.")


@contextlib.contextmanager
def running_page():
    """app.py runs the chosen page inside this, so pages can tell they came through it."""
    st.session_state[VIA_APP] = True
    try:
        yield
    finally:
        st.session_state[VIA_APP] = False


def require_app() -> None:
    """First line of every page: make sure app.py (settings, navigation) runs around it.

    With a ``pages/`` folder next to app.py, a fresh server whose first visitor opens a
    deep link (``/invert?n_mels=40``) runs that page alone, in Streamlit's old multipage
    mode, until some run of app.py calls ``st.navigation``. Then this runs app.py — which
    sets everything up and runs this same page — and stops the bare run.
    """
    if st.session_state.get(VIA_APP):
        return
    runpy.run_path(str(APP), run_name="__main__")
    st.stop()


# --------------------------------------------------------------------------- settings store

def _widget_values(settings: Settings) -> dict:
    """Settings -> the values the widgets hold (norm None is the option "none")."""
    values = {name: getattr(settings, name) for name in FIELDS}
    values["norm"] = settings.norm or "none"
    return values


_heap_frozen = False


def _freeze_startup_heap() -> None:
    """Once per server process: load what every run needs, then exclude it from garbage
    collection (``gc.freeze``).

    Streamlit runs a full collection after every script run (``runner.postScriptGC``), and
    a full collection walks every object; with Streamlit, numpy, scipy, matplotlib and pyarrow
    loaded that is ~260,000 objects and ~100 ms of holding the interpreter lock on an idle
    core (seconds on a busy one), during which the server answers nobody. Objects
    loaded at start-up live for good anyway; freezing them leaves collections the objects
    that users' runs make. librosa (and numba, ~150 MiB) is not loaded here: the server never
    needs it (audio is decoded and resampled in a worker process, pages/_sources.py).
    """
    global _heap_frozen
    if _heap_frozen:
        return
    _heap_frozen = True
    gc.collect()
    gc.freeze()


def start_run() -> None:
    """Call first in every run (app.py): read the URL once, then re-seed the widget keys.

    Re-assigning each key keeps its value when the user visits a page without that
    widget (Streamlit would otherwise forget it) and carries it to the next page.
    """
    _freeze_startup_heap()
    # No offload.start(): the worker processes for figures and sound start when a page first
    # asks for one, and stop when idle (a first page sooner, an idle server small).
    state = st.session_state
    if STORE not in state:
        query = st.query_params.to_dict()
        reloaded = query.pop(SOLVING, None) is not None
        settings, notices = Settings.from_mapping(query)
        if reloaded:
            notices.insert(0, INTERRUPTED_BY_RELOAD)
        unknown = sorted(set(query) - set(FIELDS) - STREAMLIT_PARAMS)
        if unknown:
            names = ", ".join(repr(name[:30]) for name in unknown[:5]) + (" …" if len(unknown) > 5 else "")
            notices.append(f"Ignored {names} in the link: not a setting of this app.")
        state[STORE] = _widget_values(settings)
        state[LAST_GOOD] = settings
        state[URL_NOTICES] = notices
    store, good = state[STORE], _widget_values(state[LAST_GOOD])
    for key in FIELDS + tuple(KEPT):
        value = state[key] if key in state else store.get(key, KEPT.get(key))
        value = _fit_widget(key, value, good.get(key, KEPT.get(key)))
        store[key] = value
        state[key] = value
    for mirror, key in MIRRORS.items():
        state[mirror] = state[key]


def _fit_widget(key: str, value, fallback):
    """``value`` as its widget takes it (checked against RANGES, of the widget's type), or
    ``fallback`` with a notice (shown once, like the link's) if it is not a valid value."""
    if key == "source":
        return value
    try:
        checked = check_value(key, None if key == "norm" and value == "none" else value)
    except InputError as exc:
        st.session_state.setdefault(URL_NOTICES, []).append(
            f"Ignored {key} = {str(value)[:30]!r}: {exc}. Using {fallback}.")
        return fallback
    return "none" if key == "norm" and checked is None else checked


def adopt(key: str, value) -> str | None:
    """Set a setting from a button (e.g. n_mels from an uploaded file): checked like a link's
    value. Returns None when set, or the reason it was refused (nothing is changed)."""
    try:
        st.session_state[key] = check_value(key, value)
    except InputError as exc:
        return str(exc)
    return None


def refusal(key: str, value) -> str | None:
    """Why ``value`` cannot be set for ``key`` (None if it can): to offer a button only
    when it will work."""
    try:
        check_value(key, value)
    except InputError as exc:
        return str(exc)
    return None


def plain(text: str) -> str:
    """``text`` with Markdown's special characters escaped, so a link's contents show as
    typed (a value like ``[x](http://…)`` or ``$x$`` must not become a link or a formula).
    Bare addresses get a zero-width space (``https:\u200b//``, ``www\u200b.``, ``@\u200b``),
    which the autolinker does not take for an address."""
    text = str(text).replace("://", ":\u200b//").replace("www.", "www\u200b.").replace("@", "@\u200b")
    return "".join("\\" + ch if ch in MARKDOWN_SPECIAL else ch for ch in text)


MARKDOWN_SPECIAL = set("\\`*_{}[]()<>#+-.!|$:~&")


def url_notices() -> None:
    """Show, once, what was ignored in the link the session started from (or in a value
    set since), as plain text."""
    notices = st.session_state.pop(URL_NOTICES, None)
    for text in notices or ():
        st.warning(plain(text), icon=":material/link:")


def current_settings() -> tuple[Settings, str | None]:
    """The settings the widgets describe, or the last good ones and the reason why not."""
    state = st.session_state
    values = {key: state.get(key, state[STORE][key]) for key in FIELDS}
    values["norm"] = None if values["norm"] == "none" else values["norm"]
    try:
        settings = Settings.checked(**values)
    except InputError as exc:
        return state[LAST_GOOD], str(exc)
    state[LAST_GOOD] = settings
    return settings, None


def sync_url(settings: Settings, *, solving: bool = False) -> None:
    """Write the non-default settings into the URL, so the link reproduces this view
    (``solving``: and the marker that a solve is in progress, see ``SOLVING``)."""
    wanted = settings.to_query()
    if solving:
        wanted[SOLVING] = "1"
    if st.query_params.to_dict() != wanted:
        st.query_params.from_dict(wanted)
