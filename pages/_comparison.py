"""The Compare page's run: its session state, the Run all / Stop / Resume actions, the
progress loop inside the page run, and the players (Streamlit only; the solving is
invmel_core.app.comparison.Comparison's).

Session keys: ``compare_live`` (the :class:`~invmel_core.app.comparison.Comparison` in progress),
``compare_result`` (the finished comparison, ``of``, with its figure and the sounds made of it),
``compare_input`` (the input on screen, for the Run all callback).
"""

from __future__ import annotations

import time

import streamlit as st
from streamlit.runtime.scriptrunner_utils.exceptions import StopException

from invmel_core.app import offload
from invmel_core.app import workflow as pipeline
from invmel_core.figures import plots
from invmel_core.app.comparison import Comparison
from invmel_core.app.live import slice_seconds
from invmel_core.app.settings import Settings
from pages import _state as session
from pages import _widgets as widgets

LIVE, RESULT, INPUT = "compare_live", "compare_result", "compare_input"
SLICE_S = 0.2       # solver time between two redraws of the progress line
PREVIEW_S = 30.0    # the players hold at most the first 30 s


def start() -> None:
    """Run all: a fresh comparison of the chosen solvers on the current input."""
    state = st.session_state
    loaded, chosen = state.get(INPUT), state.get("compare_solvers") or []
    current, problem = session.current_settings()
    if loaded is None or problem or not chosen:
        return
    old = state.get(LIVE)
    if old is not None:
        old.stop()
    state[LIVE] = Comparison(loaded, current, chosen, float(state["compare_time_limit"]))


def stop() -> None:
    if st.session_state.get(LIVE) is not None:
        st.session_state[LIVE].stop()


def resume() -> None:
    if st.session_state.get(LIVE) is not None:
        st.session_state[LIVE].paused = False


def finish(comparison: Comparison) -> None:
    """The figure of a finished (or stopped) comparison; kept, with the comparison itself (its
    runs, failures, problem and settings) and the sounds made of it, as the result."""
    result = {"of": comparison, "wavs": {}}
    if comparison.runs:
        curves = {run.solver: (run.times, run.residuals) for run in comparison.runs}
        result["png"] = offload.call(plots.render_png, plots.convergence_figure, curves, "solver time (s)")
    st.session_state[RESULT] = result


def finish_if_done(comparison) -> None:
    if comparison is not None and comparison.done and (st.session_state.get(RESULT) or {}).get("of") is not comparison:
        with st.spinner("Drawing the figure…"):
            finish(comparison)


def players(result: dict, settings: Settings) -> list[bytes]:
    """Each run's sound, made once per number of iterations: Griffin-Lim on its estimate
    (:func:`invmel_core.app.workflow.to_wav` by the cascade, in a worker process), so each solver
    is heard; the joint method would make the same sound from the mel for all of them."""
    cascade = settings.replace(method="cascade")
    key = ("cascade", cascade.sound_iterations)
    if key not in result["wavs"]:
        of = result["of"]
        base = of.settings.replace(method="cascade", n_iter=settings.n_iter)
        result["wavs"][key] = [
            offload.call(pipeline.to_wav, run.estimate, base.replace(solver=run.solver), of.problem.samples,
                         mel=of.problem.mel, max_seconds=PREVIEW_S)
            for run in of.runs]
    return result["wavs"][key]


def joint_player(result: dict, settings: Settings) -> bytes:
    """The joint method's sound of the same mel (what the Invert page plays by default), for
    reference: made once per number of iterations, its progress shown."""
    joint = result["of"].settings.replace(method="joint", n_iter=settings.n_iter)
    key = ("joint", joint.sound_iterations)
    if key not in result["wavs"]:
        problem = result["of"].problem
        result["wavs"][key] = widgets.in_worker(("compare", id(result), key), "Making the joint method's sound",
                                                pipeline.to_wav, None, joint, problem.samples, mel=problem.mel,
                                                max_seconds=PREVIEW_S)
    return result["wavs"][key]


def drive(comparison: Comparison) -> None:
    """Advance the comparison a slice at a time, redrawing a progress line, until it ends (then
    the whole page again, with the results) or the page run's budget is spent. A click
    anywhere interrupts it at its next redraw; Streamlit's own Stop holds it until Resume."""
    status = st.empty()
    deadline = widgets.page_run_deadline()
    try:
        while not comparison.done and not comparison.paused:
            comparison.advance(slice_seconds(SLICE_S))
            done = ", ".join(f"{run.solver} {run.seconds:.1f} s" for run in comparison.runs)
            number = min(len(comparison.runs) + len(comparison.failures) + 1, comparison.total)
            status.markdown(f"Running **{comparison.current or '…'}** ({number} of {comparison.total})"
                            + (f" · done: {done}" if done else ""))
            if deadline is not None and time.perf_counter() >= deadline:
                return
    except StopException:
        comparison.paused = True
        raise
    st.rerun()
