"""Invert: pick an input, pick a solver, watch it converge, look at and listen to the result.

Keys. Sidebar: sample_rate, n_fft, hop_length, power, n_mels, f_min, f_max, mel_type, norm.
Input: source (radio), sample, upload, mic, npy (and adopt_n_mels / transpose_npy /
transpose_adopt_npy, buttons offered when an uploaded mel spectrogram has another number of
bands); for a mel file: mel_format, compression and the "Which settings fit?" panel
(pages/_mel_input.py). Solver: solver, and in an expander
max_iter, tolerance_loss, tolerance_change, lr, momentum, seed; container solve_cost (what the
solve will take). Buttons: run, pause, resume, stop (and resume_interrupted, pages/_inversion.py).
Live view (containers): live_status, loss_chart, live_spec (pages/_inversion.py); once finished,
its replay: replay_step, replay_play / replay_pause, replay_back / replay_next, replay_speed
(container replay). The options expander opens itself once an option was changed.
Result: see pages/_result.py. For audio inputs, "Where the sound is lost": pages/_oracle.py.
"""

import streamlit as st

from invmel_core import SOLVERS
from pages import _inversion as inversion
from pages import _mel_input as mel_input
from pages import _oracle as oracle
from pages import _result
from pages import _state as session
from pages import _sources as sources
from pages import _widgets as widgets

session.require_app()

state = st.session_state
settings, fb = widgets.signal_sidebar()
OPTION_KEYS = ("max_iter", "tolerance_loss", "tolerance_change", "lr", "momentum", "seed")
OPTIONS_SEEN, OPTIONS_OPEN = "_solver_options_seen", "_solver_options_open"

# ---------------------------------------------------------------- page

st.html(inversion.INTERRUPTED_CSS)   # first, in every run: the interrupted state must be styled at any moment
st.title("Invert a mel spectrogram")
st.markdown("Pick an input and a solver, press **Run**, and watch the solver search for a spectrogram "
            "X̂ ≥ 0 whose mel bands match: fbᵀ·X̂ ≈ M.")
widgets.empty_filter_warning(fb, brief=True)

# Two columns, the Run buttons under the solver, the options folded away: the live view that
# follows starts within the first screen (1000 px).
left, right = st.columns([1, 1], gap="large")
with left:
    st.subheader("1. Input")
    loaded = sources.source_section(settings, fb, mel_tools=lambda: mel_input.format_choice(settings))
    state[inversion.INPUT] = loaded
    if loaded is not None and loaded.kind == "mel":
        mel_input.describe(loaded, settings)
    elif loaded is not None:
        sources.show_input(loaded, settings)
    if state.get("source") == "npy":
        mel_input.fit_panel(settings)
with right:
    st.subheader("2. Solver")
    widgets.solver_choice()
    solver = SOLVERS[settings.solver]
    if solver.random_start:
        st.caption("It starts from random numbers: another seed gives another spectrogram with the same mel bands.")
    elif not solver.iterative:
        st.caption("It is solved in one step (no loss curve to watch).")
    used = widgets.options_used(settings, solver)   # only what this solver reads
    # One label whatever the values (a new label is a new, folded expander), and opened by the
    # page once an option has been changed: changing one must not fold them away.
    options = tuple(state.get(name) for name in OPTION_KEYS)
    if state.get(OPTIONS_SEEN, options) != options:
        state[OPTIONS_OPEN] = True
    state[OPTIONS_SEEN] = options
    with st.expander("Solver options", expanded=bool(state.get(OPTIONS_OPEN))):
        widgets.solver_widgets(choose_solver=False, options_of=settings.solver)
    st.caption(f"Options in use: {used}.")
    cost = inversion.cost_line(settings, loaded)

    live = state.get(inversion.LIVE)
    cols = st.columns(3)
    cols[0].button("Run", key="run", type="primary", on_click=inversion.start,
                   disabled=loaded is None or (cost is not None and not cost.fits), width="stretch")
    if live is not None and live.paused:
        cols[1].button("Resume", key="resume", on_click=inversion.resume, width="stretch")
    else:
        cols[1].button("Pause", key="pause", on_click=inversion.pause, width="stretch",
                       disabled=live is None or not live.running)
        if live is not None and live.running:    # shown by CSS only if Streamlit's Stop interrupted the run
            cols[1].button("Resume", key="resume_interrupted", on_click=inversion.resume, width="stretch")
    cols[2].button("Stop", key="stop", on_click=inversion.stop, width="stretch", disabled=live is None or live.done)
    if state.get(inversion.RUN_ERROR):
        widgets.show_error(state[inversion.RUN_ERROR])


# Progress above the result on screen, but drawn after it: the live loop may run for a while,
# and the last result stays in view meanwhile.
progress_box, result_box = st.container(), st.container()
with progress_box:   # the status line first: it says what the slow work below is doing
    status = inversion.status_slot(live if inversion.CONTEXT in state else None)
result = state.get(inversion.RESULT)
if result is not None:
    with result_box:
        _result.show_result(result, settings, loaded.label if loaded else None, inversion.PREVIEW_S)
if loaded is not None and loaded.kind == "audio":
    oracle.oracle_section(loaded, settings)
session.sync_url(settings, solving=inversion.in_progress())   # a reload now is told it lost the run
if live is not None and inversion.CONTEXT in state:
    with progress_box:
        inversion.live_panel(live, state[inversion.CONTEXT], status)
