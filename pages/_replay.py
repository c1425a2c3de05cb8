"""Replay of a finished solve on the Invert page, at a teacher's pace (Streamlit only).

A solve of the app is over in a second; :class:`~invmel_core.app.live.LiveSolve` keeps every
loss value and log-spaced snapshots of the spectrogram, and this shows them again: Play / Pause,
one snapshot back or on, a slider to scrub, the pace; the loss curve marks the shown step beside
its spectrogram.

Widgets: ``replay_step`` (the shown snapshot's step), ``replay_play`` / ``replay_pause``,
``replay_back`` / ``replay_next`` (one snapshot), ``replay_speed`` (snapshots a second). State:
``replay_of`` (the solve it replays), ``replay_at`` (the shown step: the slider shows it, and
is disabled while playing, so a browser behind the server cannot send back an older step),
``replay_playing``, ``replay_last`` (when it last moved on). Containers: ``replay``, ``loss_chart``, ``live_spec`` (the live view's: a finished solve
keeps them).
"""

from __future__ import annotations

import time

import streamlit as st

from invmel_core import SOLVERS
from invmel_core.app import charts
from invmel_core.app.live import LiveSolve
from invmel_core.figures import plots

LIVE = "invert_live"   # pages/_inversion.py's LiveSolve
REPLAY_OF, PLAYING, LAST_MOVE, AT = "replay_of", "replay_playing", "replay_last", "replay_at"
SPEEDS = (0.5, 1.0, 2.0, 4.0, 8.0)   # replay pace, snapshots a second


def can_replay(live: LiveSolve, solver: str) -> bool:
    """A finished solve with at least two snapshots of an iterative solver: something to replay."""
    return SOLVERS[solver].iterative and len(live.snapshots) >= 2


def _steps(live: LiveSolve) -> list[int]:
    return [step for step, _ in live.snapshots]


def _move(by: int) -> None:
    """The shown step ``by`` snapshots on (clamped), pausing the replay: a step by hand."""
    state = st.session_state
    live = state.get(LIVE)
    if live is None or not live.snapshots:
        return
    steps = _steps(live)
    at = steps.index(state[AT]) if state.get(AT) in steps else len(steps) - 1
    state[AT] = steps[min(max(at + by, 0), len(steps) - 1)]
    state[PLAYING] = False


def play() -> None:
    """Play from the shown snapshot (from the first when the last is shown)."""
    state = st.session_state
    live = state.get(LIVE)
    if live is None or not live.snapshots:
        return
    steps = _steps(live)
    if state.get(AT) not in steps or state[AT] == steps[-1]:
        state[AT] = steps[0]
    state[PLAYING] = True
    state[LAST_MOVE] = None      # the run that starts playing shows the first one; the next moves on


def pause_replay() -> None:
    st.session_state[PLAYING] = False


def _scrubbed() -> None:
    st.session_state[AT] = st.session_state["replay_step"]   # dragged (only possible while paused)


def replay_section(live: LiveSolve, peak: float | None, power: float) -> None:
    """The finished solve again, at a teacher's pace: Play / Pause, one snapshot back or on, a
    slider to scrub, and the pace; the loss curve marks the shown step beside its spectrogram
    (``peak``: the dB reference, ``power``: the spectrogram's exponent).

    Playing is a fragment that reruns itself every ``1 / pace`` seconds (only the replay is
    redrawn); it stops at the last snapshot, and any click (the slider, a step) pauses it.
    """
    state = st.session_state
    steps = _steps(live)
    if state.get(REPLAY_OF) is not live:   # a new solve: shown at its end, not playing
        state[REPLAY_OF] = live
        state[PLAYING] = False
        state[AT] = steps[-1]
    if state.get(AT) not in steps:
        state[AT] = min(steps, key=lambda s: abs(s - (state.get(AT) or 0)))
    if state.get("replay_speed") not in SPEEDS:
        state["replay_speed"] = 2.0
    with st.container(key="replay"):
        st.markdown(f"**Replay** — {len(steps)} snapshots of this solve (steps {steps[0]:,} to {steps[-1]:,}; "
                    "more of them early, where most happens), every loss value: play it at your pace, step "
                    "through it, or drag the slider.")
        cols = st.columns([1, 1, 2])
        if state.get(PLAYING):
            cols[0].button("Pause", key="replay_pause", icon=":material/pause:", on_click=pause_replay,
                           width="stretch")
        else:
            cols[0].button("Play", key="replay_play", icon=":material/play_arrow:", on_click=play,
                           width="stretch")
        cols[1].select_slider("Pace", SPEEDS, key="replay_speed", format_func=lambda v: f"{v:g} snapshots/s",
                              label_visibility="collapsed", help="Snapshots shown a second while playing.")
        cols[2].caption("Pace: snapshots a second. Pause stops on the one shown; the slider and ◀ ▶ move by hand.")
        pace = float(state["replay_speed"])
        st.fragment(_replay_view, run_every=1.0 / pace if state.get(PLAYING) else None)(live, peak, power)


def _replay_view(live: LiveSolve, peak: float | None, power: float) -> None:
    """One frame of the replay (a fragment: while playing it moves on one snapshot per run)."""
    state = st.session_state
    steps = _steps(live)
    playing = bool(state.get(PLAYING))
    if playing:
        pace = float(state.get("replay_speed", 2.0))
        now = time.perf_counter()
        if state.get(LAST_MOVE) is None:
            state[LAST_MOVE] = now
        elif now - state[LAST_MOVE] >= 0.75 / pace:
            at = steps.index(state[AT]) if state.get(AT) in steps else 0
            state[AT] = steps[min(at + 1, len(steps) - 1)]
            state[LAST_MOVE] = now
        if state[AT] == steps[-1]:
            state[PLAYING] = False
            st.rerun(scope="app")        # the whole page: Play again, and no more timer
    state["replay_step"] = state[AT]
    cols = st.columns([1, 8, 1], vertical_alignment="bottom")
    cols[0].button("◀", key="replay_back", on_click=_move, args=(-1,), help="One snapshot back", width="stretch")
    cols[1].select_slider("Shown step", steps, key="replay_step", on_change=_scrubbed, disabled=playing,
                          format_func=lambda s: f"step {s:,}",
                          help="Drag to any snapshot (Pause first while it plays).")
    cols[2].button("▶", key="replay_next", on_click=_move, args=(1,), help="One snapshot on", width="stretch")
    shown = state["replay_step"]
    index = steps.index(shown)
    loss = live.losses[live.steps.index(shown)] if shown in live.steps else float("nan")
    chart_col, picture_col = st.columns([1, 1])
    steps_all, losses = live.loss_curve()
    with chart_col.container(key="loss_chart"):
        st.vega_lite_chart(charts.loss_chart(steps_all, losses, height=200, title="Loss, shown step marked",
                                             mark_step=shown), width="stretch")
    with picture_col.container(key="live_spec"):
        st.image(plots.spectrogram_rgb(live.snapshot_spec(index), peak, exponent=power),
                 output_format="JPEG", width="stretch",
                 caption=f"Estimate X̂ at step {shown:,} (snapshot {index + 1} of {len(steps)}) · loss {loss:.4g}")
