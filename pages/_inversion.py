"""The Invert page's solve: its session state, the Run/Pause/Stop actions and the live view
(Streamlit only; the solve itself is invmel_core.app.workflow's).

Session keys: ``invert_live`` (the :class:`~invmel_core.app.live.LiveSolve` in progress),
``invert_context`` (what it solves), ``invert_result`` (the last
:class:`~invmel_core.app.workflow.Inversion`), ``invert_result_of`` (the solve it came from),
``invert_run_error``, ``invert_input`` (the input on screen, for the Run callback),
``invert_interrupted`` (the solve Streamlit's own Stop interrupted, held until Resume or Run),
``invert_left`` (the solve paused because the user left the page), ``invert_paused_by_user``
(the solve the user paused: leaving the page then says nothing about it), ``invert_sound_pending``
(the solve whose result's sound the next run makes: said in the status line meanwhile).
A finished solve is replayed by pages/_replay.py.

Streamlit's toolbar Stop ends the page run wherever it is, and nothing can be drawn after
it: the screen keeps the last frame ("running", Pause enabled). So the solve is held (paused)
on the server, and every "running" frame carries its own "interrupted" wording and a Resume
button that CSS shows only while the app is not running (``stApp[data-test-script-state]``):
a solve that is really running keeps the page running, so "running" on an idle page means
it was interrupted.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import streamlit as st
from streamlit.runtime.scriptrunner_utils.exceptions import StopException

from invmel_core import SOLVERS, InputError
from invmel_core.app import charts
from invmel_core.app import offload
from invmel_core.app import workflow as pipeline
from invmel_core.figures import plots
from invmel_core.app.live import FramePacer, LiveSolve, slice_seconds
from invmel_core.app.settings import Settings
from invmel_core.inverse.transform import InverseMelScale
from pages import _replay
from pages import _state as session
from pages import _widgets as widgets

LIVE, CONTEXT, RESULT, RESULT_OF = "invert_live", "invert_context", "invert_result", "invert_result_of"
RUN_ERROR, INPUT, INTERRUPTED = "invert_run_error", "invert_input", "invert_interrupted"
LEFT, SOUND_PENDING, PAUSED_BY_USER = "invert_left", "invert_sound_pending", "invert_paused_by_user"
FRAME_S = 0.18      # one live frame (solver slice + redraw): 5.5 refreshes a second
PREVIEW_S = 30.0    # longer results play (and resynthesise at once) only their first 30 s


@dataclass(frozen=True)
class Context:
    """What a solve in progress solves."""

    settings: Settings
    problem: pipeline.Problem
    transform: InverseMelScale


def format_bytes(n: float) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{max(n / 2**20, 1):.0f} MiB"


def format_seconds(seconds: float) -> str:
    if seconds < 90:
        return f"{max(seconds, 1):.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


def cost_line(settings: Settings, loaded) -> pipeline.SolveCost | None:
    """Say before Run what the solve will take (container ``solve_cost``): memory against
    the limit, and time where the solver's can be estimated; a solve over the limit is
    refused here, with what to change. None without an input."""
    if loaded is None:
        return None
    cost = pipeline.solve_cost(settings, loaded.mel.shape[-1])
    with st.container(key="solve_cost"):
        if not cost.fits:
            widgets.show_error(
                f"This solve would need about {format_bytes(cost.memory_bytes)} of memory, more than the limit of "
                f"{format_bytes(cost.limit_bytes)}. Use a smaller n_fft, a shorter input, or another solver "
                "('nnls' needs little memory).")
        elif cost.seconds is not None:
            st.caption(f"Takes roughly **{format_seconds(cost.seconds)}** (could be half or twice that: its "
                       f"stopping rule depends on how loud the input is) and up to "
                       f"{format_bytes(cost.memory_bytes)} of memory. Progress shows as it goes; Stop ends it at "
                       "once, keeping what is solved." + _quicker(settings, loaded, cost.seconds))
        else:
            st.caption(f"Needs about {format_bytes(cost.memory_bytes)} of memory; runs until max_iter or its "
                       "tolerances (Pause and Stop at any time).")
    return cost


def _quicker(settings: Settings, loaded, seconds: float) -> str:
    """For a long solve of audio: what smaller n_fft values would take (its time grows
    steeply with the number of bins)."""
    if seconds < 120 or loaded.samples is None:
        return ""
    options = [f"n_fft {n_fft}: about {format_seconds(cost.seconds)}"
               for n_fft, cost in pipeline.smaller_n_fft_costs(settings, loaded.samples.size)]
    return f" Quicker: {'; '.join(options)}." if options else ""


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
    for name in (INTERRUPTED, LEFT, PAUSED_BY_USER):
        state.pop(name, None)
    state[_replay.PLAYING] = False
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
        st.session_state[PAUSED_BY_USER] = st.session_state[LIVE]


def resume() -> None:
    for name in (INTERRUPTED, LEFT, PAUSED_BY_USER):
        st.session_state.pop(name, None)
    if st.session_state.get(LIVE) is not None:
        st.session_state[LIVE].resume()


def stop() -> None:
    """Stop at once; the slow part (scoring, the figure, the sound) is left to the page run,
    which says it is doing it first (:func:`pending_line`): a callback's work greys the page
    while the last frame still says "running"."""
    live = st.session_state.get(LIVE)
    if live is not None and not live.done:
        live.stop()


def left_page() -> None:
    """Another page is running: pause a solve in progress, and remember why (the status says so).
    Not one the user paused; one that something else held meanwhile (the run that was drawing it
    may still be ending in its own thread, or was stopped) is said to be paused by leaving."""
    state = st.session_state
    live = state.get(LIVE)
    if live is not None and not live.done and state.get(PAUSED_BY_USER) is not live:
        live.pause()
        state[LEFT] = live
        state.pop(INTERRUPTED, None)


def in_progress() -> bool:
    """A solve has started and not ended (running or paused): a reload now loses it."""
    live = st.session_state.get(LIVE)
    return live is not None and not live.done


def finish(live: LiveSolve) -> None:
    """Score and draw a finished (or stopped) solve (and check a mel file's settings); keep
    it as the result."""
    state = st.session_state
    if live.latest is None or state.get(RESULT_OF) is live:
        return
    ctx: Context = state[CONTEXT]
    # The figure and the fit check in a worker process: they would hold this server's
    # interpreter lock (see invmel_core/offload.py). The sound is made by the result section.
    state[RESULT] = pipeline.finish(live, ctx.transform, ctx.settings, ctx.problem, call=offload.call)
    state[RESULT_OF] = live
    state[SOUND_PENDING] = live


# ---------------------------------------------------------------- live view

# Shown while the app is idle, hidden while it runs: see the module docstring.
INTERRUPTED_CSS = """<style>
.invmel-stalled, .st-key-resume_interrupted { display: none; }
[data-test-script-state="notRunning"] .invmel-running { display: none; }
[data-test-script-state="notRunning"] .invmel-stalled { display: inline; }
[data-test-script-state="notRunning"] .st-key-resume_interrupted { display: block; }
[data-test-script-state="notRunning"] .st-key-pause:has(button:enabled) { display: none; }
</style>"""


def status_word(live: LiveSolve) -> str:
    """Markdown for the state of ``live``: running (with its interrupted twin), paused,
    interrupted (held after Streamlit's Stop) or finished."""
    if live.done:
        return f"**finished ({live.reason})**"
    if live.paused:
        if st.session_state.get(LEFT) is live:
            return "**paused** because you left the page; Resume continues"
        if st.session_state.get(INTERRUPTED) is live:
            return "**interrupted**"
        return "**paused**"
    return '<span class="invmel-running">**running**</span><span class="invmel-stalled">**interrupted**</span>'


def pending_line(live: LiveSolve) -> str | None:
    """The status while slow work follows that draws nothing yet (None if none does): a solve
    that ended but is not scored and drawn yet, or a result whose sound is being made."""
    state = st.session_state
    step = f"step {live.latest.step:,}" if live.latest is not None else "no step"
    if live.done and state.get(RESULT_OF) is not live:
        what = "**stopping** — stopped at" if live.reason == "stopped" else f"**finished ({live.reason})** at"
        return f"{what} {step}; scoring, drawing the result and making its sound (a few seconds)…"
    if live.done and state.get(SOUND_PENDING) is live:
        return f"**finished ({live.reason})** at {step} — making the sound (a few seconds)…"
    return None


def status_slot(live: LiveSolve | None):
    """The live status line's place (container ``live_status``), drawn first, above the result:
    it says at once what the slow work after it is doing (see :func:`pending_line`)."""
    slot = st.container(key="live_status").empty()
    if live is not None:
        line = pending_line(live)
        if line is not None:
            slot.markdown(line)
    return slot


def draw_live(live: LiveSolve, ctx: Context, status, chart, picture) -> None:
    """Status line, loss curve and current spectrogram, into their placeholders: a colour-mapped
    array and a browser-drawn chart, cheap enough for several redraws a second. A closed-form
    solver (one step) gets no loss curve: one point is not a curve."""
    last = live.latest
    where = f"step {last.step:,} · loss {last.loss:.4g}" if last is not None else "starting…"
    with status.container():
        line = f"{status_word(live)} — {where} · {live.wall_seconds():.1f} s elapsed"
        if not live.done and not live.paused:   # its twin, shown by CSS only if the run was interrupted
            line += (' <span class="invmel-stalled">— Streamlit\'s Stop (top right) interrupted it: Resume to go '
                     "on from here, or Run to start again.</span>")
        st.markdown(line, unsafe_allow_html=True)
        if live.paused and st.session_state.get(INTERRUPTED) is live:
            st.caption("Streamlit's Stop (top right) interrupted the solve: Resume to go on from here, or Run to "
                       "start again.")
        st.caption(f"{live.steps_per_second():,.0f} steps/s · view refreshed {live.refresh_hz():.1f}×/s · "
                   f"solver busy {100 * live.busy_fraction():.0f} % of the time · "
                   f"solving {ctx.problem.label} with solver '{ctx.settings.solver}'")
    steps, losses = live.loss_curve()
    if SOLVERS[ctx.settings.solver].iterative and np.unique(steps).size > 1:
        chart.vega_lite_chart(charts.loss_chart(steps, losses, height=200), width="stretch")
    elif SOLVERS[ctx.settings.solver].iterative:
        chart.caption("The loss curve starts at the solver's second report (for 'librosa', a report is a chunk "
                      "of frames solved).")
    else:
        chart.caption(f"'{ctx.settings.solver}' is solved in one step (closed form): there is no loss curve to "
                      "watch; the mel residual is in the result below.")
    if last is not None:
        estimate = pipeline.first_item(last.spec)
        picture.image(plots.spectrogram_rgb(estimate, ctx.problem.peak or None, exponent=ctx.settings.power),
                      output_format="JPEG",
                      width="stretch",
                      caption="Current estimate X̂ (dB re. " + ("the original's peak" if ctx.problem.peak else "its own peak"
                                                                      + (": a mel input has no original"
                                                                         if ctx.problem.spec is None else ""))
                              + ", low frequencies at the bottom)")


def draw_status(live: LiveSolve, ctx: Context, status) -> None:
    """The status line alone (a finished solve with its replay below)."""
    last = live.latest
    where = f"step {last.step:,} · loss {last.loss:.4g}" if last is not None else "no step"
    with status.container():
        st.markdown(f"{status_word(live)} — {where} · {live.wall_seconds():.1f} s elapsed")
        st.caption(f"{live.steps_per_second():,.0f} steps/s · solved {ctx.problem.label} with solver "
                   f"'{ctx.settings.solver}'")


def live_panel(live: LiveSolve, ctx: Context, status=None) -> None:
    """Advance the solve in slices, redrawing after each, until it ends or is paused.

    This runs inside the page's run, as its last part: a click anywhere (Pause, Stop, a
    setting) interrupts it at its next redraw, and the run that follows picks the solve up
    where it was. No fragment timer drives it: timers still in flight when the result
    arrived made the browser drop parts of the result (seen with 8 users at once).
    """
    state = st.session_state
    status = status if status is not None else st.container(key="live_status").empty()
    state.pop(SOUND_PENDING, None)     # the result section above has made it
    if live.done and state.get(RESULT_OF) is live and _replay.can_replay(live, ctx.settings.solver):
        draw_status(live, ctx, status)
        _replay.replay_section(live, ctx.problem.peak or None, ctx.settings.power)
        return
    if live.done and state.get(RESULT_OF) is not live:
        status.markdown(pending_line(live))
        with st.spinner("Scoring and drawing…"):
            finish(live)
        st.rerun()
    chart_col, picture_col = st.columns([1, 1])
    chart = chart_col.container(key="loss_chart").empty()
    picture = picture_col.container(key="live_spec").empty()
    deadline = widgets.page_run_deadline()
    pacer = state.setdefault("invert_pacer", FramePacer(FRAME_S))
    try:
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
    except StopException:   # Streamlit's own Stop: hold the solve until the user says (Resume / Run)
        live.pause()
        state[INTERRUPTED] = live
        raise
    if live.done and state.get(RESULT_OF) is not live:
        status.markdown(pending_line(live))
        with st.spinner("Scoring and drawing…"):
            finish(live)
        st.rerun()  # the whole page again: the result, and Run/Pause/Stop as they now are


