"""The Invert page's solve: its session state, the Run/Pause/Stop actions and the live view
(Streamlit only; the solve itself is invmel_core.pipeline's).

Session keys: ``invert_live`` (the :class:`~invmel_core.live.LiveSolve` in progress),
``invert_context`` (what it solves), ``invert_result`` (the last
:class:`~invmel_core.pipeline.Inversion`), ``invert_result_of`` (the solve it came from),
``invert_run_error``, ``invert_input`` (the input on screen, for the Run callback).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import streamlit as st

from invmel_core import InputError, charts, offload, pipeline, plots
from invmel_core.live import FramePacer, LiveSolve, slice_seconds
from invmel_core.settings import Settings
from invmel_core.transform import InverseMelScale
from pages import _state as session

LIVE, CONTEXT, RESULT, RESULT_OF = "invert_live", "invert_context", "invert_result", "invert_result_of"
RUN_ERROR, INPUT = "invert_run_error", "invert_input"
FRAME_S = 0.18      # one live frame (solver slice + redraw): 5.5 refreshes a second
PREVIEW_S = 30.0    # longer results play (and resynthesise at once) only their first 30 s
# Longest a single page run drives a solve before it ends (None: until the solve ends, is
# paused or the user interacts). The AppTest suite shortens it to look at a solve mid-way.
PAGE_RUN_BUDGET_S: float | None = None


@dataclass(frozen=True)
class Context:
    """What a solve in progress solves."""

    settings: Settings
    problem: pipeline.Problem
    transform: InverseMelScale


def _render_in_worker(*args, **kwargs) -> pipeline.ResultMedia:
    # The figure and Griffin-Lim in a worker process: they would hold this server's
    # interpreter lock for seconds (see invmel_core/offload.py).
    return offload.call(pipeline.render_result, *args, **kwargs)


# ---------------------------------------------------------------- actions (button callbacks)

def start() -> None:
    """Run: a fresh solve of the current input with the current settings."""
    state = st.session_state
    state.pop(RUN_ERROR, None)
    loaded = state.get(INPUT)
    current, problem = session.current_settings()
    if loaded is None or problem:
        state[RUN_ERROR] = problem or "Choose an input first."
        return
    old = state.get(LIVE)
    if old is not None:
        old.stop()
    try:
        transform, live = pipeline.start_solve(loaded.mel, current)
    except InputError as exc:
        state[RUN_ERROR] = str(exc)
        return
    state[LIVE] = live
    state[CONTEXT] = Context(current, loaded, transform)


def pause() -> None:
    if st.session_state.get(LIVE) is not None:
        st.session_state[LIVE].pause()


def resume() -> None:
    if st.session_state.get(LIVE) is not None:
        st.session_state[LIVE].resume()


def stop() -> None:
    live = st.session_state.get(LIVE)
    if live is not None and not live.done:
        live.stop()
        finish(live)


def finish(live: LiveSolve) -> None:
    """Score, resynthesise and draw a finished (or stopped) solve; keep it as the result."""
    state = st.session_state
    if live.latest is None or state.get(RESULT_OF) is live:
        return
    ctx: Context = state[CONTEXT]
    state[RESULT] = pipeline.finish(live, ctx.transform, ctx.settings, ctx.problem, preview_s=PREVIEW_S,
                                    render=_render_in_worker)
    state[RESULT_OF] = live


# ---------------------------------------------------------------- live view

def draw_live(live: LiveSolve, ctx: Context, status, chart, picture) -> None:
    """Status line, loss curve and current spectrogram, into their placeholders: a colour-mapped
    array and a browser-drawn chart, cheap enough for several redraws a second."""
    last = live.latest
    where = f"step {last.step:,} · loss {last.loss:.4g}" if last is not None else "starting…"
    word = "paused" if live.paused else f"finished ({live.reason})" if live.done else "running"
    with status.container():
        st.markdown(f"**{word}** — {where}")
        st.caption(f"{live.steps_per_second():,.0f} steps/s · view refreshed {live.refresh_hz():.1f}×/s · "
                   f"solver busy {100 * live.busy_fraction():.0f} % of the time · "
                   f"solving {ctx.problem.label} with solver '{ctx.settings.solver}'")
    steps, losses = live.loss_curve()
    chart.vega_lite_chart(charts.loss_chart(steps, losses), width="stretch")
    if last is not None:
        estimate = pipeline.first_item(last.spec)
        ref = float(ctx.problem.spec.max()) if ctx.problem.spec is not None else None
        picture.image(plots.spectrogram_rgb(estimate, ref or None), output_format="JPEG", width="stretch",
                      caption="Current estimate X̂ (dB re. the original's peak, low frequencies at the bottom)")


def live_panel(live: LiveSolve, ctx: Context) -> None:
    """Advance the solve in slices, redrawing after each, until it ends or is paused.

    This runs inside the page's run, as its last part: a click anywhere (Pause, Stop, a
    setting) interrupts it at its next redraw, and the run that follows picks the solve up
    where it was. No fragment timer drives it: timers still in flight when the result
    arrived made the browser drop parts of the result (seen with 8 users at once).
    """
    state = st.session_state
    status = st.container(key="live_status").empty()
    chart_col, picture_col = st.columns([1, 1])
    chart = chart_col.container(key="loss_chart").empty()
    picture = picture_col.container(key="live_spec").empty()
    deadline = None if PAGE_RUN_BUDGET_S is None else time.perf_counter() + PAGE_RUN_BUDGET_S
    pacer = state.setdefault("invert_pacer", FramePacer(FRAME_S))
    while True:
        if live.running:
            try:
                live.advance(slice_seconds(pacer.slice()))
            except InputError as exc:          # e.g. the solver refuses this input
                live.stop()
                state[RUN_ERROR] = str(exc)
                st.rerun()
        drawing = time.perf_counter()
        draw_live(live, ctx, status, chart, picture)
        pacer.drawn(time.perf_counter() - drawing)
        if not live.running or (deadline is not None and time.perf_counter() >= deadline):
            break
    if live.done and state.get(RESULT_OF) is not live:
        with st.spinner("Scoring and resynthesising…"):
            finish(live)
        st.rerun()  # the whole page again: the result, and Run/Pause/Stop as they now are
