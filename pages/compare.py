"""Compare solvers: several solvers on the same input, convergence overlaid, one table, a player each.

Keys. Sidebar: sample_rate, n_fft, hop_length, n_mels, f_min, f_max, mel_type, norm.
Input: source, sample, upload, mic, npy (adopt_n_mels, transpose_npy). Solvers: compare_solvers
(multiselect), max_iter, tolerance_loss, tolerance_change, lr, momentum, seed, compare_time_limit,
phase_iter; buttons compare_run, compare_stop, compare_resume. Progress: container compare_status.
Result (containers): compare_chart, compare_table, compare_audio (one player per solver);
download compare_png.

The solvers run inside the page run, a slice at a time (like the Invert page), so Stop — or
any click — is answered between slices; Stop keeps the runs finished so far and the one under
way as "stopped". Streamlit's own Stop (toolbar) holds the comparison until Resume.
"""

import streamlit as st
from streamlit.runtime.scriptrunner_utils.exceptions import StopException

from invmel_core import SOLVERS, offload, pipeline, plots
from invmel_core.live import slice_seconds
from pages import _state as session
from pages import _sources as sources
from pages import _widgets as widgets

session.require_app()

LIVE, RESULT, INPUT = "compare_live", "compare_result", "compare_input"
SLICE_S = 0.2       # solver time between two redraws of the progress line
PREVIEW_S = 30.0    # the players hold at most the first 30 s
state = st.session_state

settings, fb = widgets.signal_sidebar()


def start() -> None:
    loaded, chosen = state.get(INPUT), state.get("compare_solvers") or []
    current, problem = session.current_settings()
    if loaded is None or problem or not chosen:
        return
    old = state.get(LIVE)
    if old is not None:
        old.stop()
    state[LIVE] = pipeline.Comparison(loaded, current, chosen, float(state["compare_time_limit"]))


def stop() -> None:
    if state.get(LIVE) is not None:
        state[LIVE].stop()


def resume() -> None:
    if state.get(LIVE) is not None:
        state[LIVE].paused = False


def finish(comparison: pipeline.Comparison) -> None:
    """Figure, table rows and sound of a finished (or stopped) comparison; kept as the result."""
    runs = comparison.runs
    failures = [f"{name}: {exc}" for name, exc in comparison.failures]
    result = {"runs": runs, "failures": failures, "label": comparison.problem.label,
              "settings": comparison.settings, "problem": comparison.problem, "of": comparison, "wavs": {}}
    if runs:
        curves = {run.solver: (run.times, run.residuals) for run in runs}
        result["png"] = offload.call(plots.render_png, plots.convergence_figure, curves, "solver time (s)")
    state[RESULT] = result


def players(result: dict, phase_iter: int) -> list[bytes]:
    """Each run's sound (pipeline.to_wav, in a worker), made once per number of iterations."""
    if phase_iter not in result["wavs"]:
        problem, base = result["problem"], result["settings"].replace(phase_iter=phase_iter)
        result["wavs"][phase_iter] = [
            offload.call(pipeline.to_wav, run.estimate, base.replace(solver=run.solver), problem.samples,
                         mel=problem.mel, max_seconds=PREVIEW_S)
            for run in result["runs"]]
    return result["wavs"][phase_iter]


st.title("Compare solvers")
st.markdown("Run several solvers on the same mel spectrogram and compare how fast they get how close, and "
            "how they sound. Their own losses are defined differently, so the curves show one common measure: "
            "the relative mel residual ‖fbᵀX̂ − M‖ / ‖M‖ against solver time.")
widgets.empty_filter_warning(fb, brief=True)

left, right = st.columns([1, 1], gap="large")
with left:
    st.subheader("1. Input")
    loaded = sources.source_section(settings, fb)
    state[INPUT] = loaded
    if loaded is not None:
        sources.show_input(loaded, settings)
with right:
    st.subheader("2. Solvers")
    default = [name for name in SOLVERS if name != "librosa"]  # librosa's NNLS takes minutes at n_fft 2048
    st.multiselect("Solvers to run", list(SOLVERS), default=default, key="compare_solvers")
    for name in state.get("compare_solvers") or []:
        st.caption(f"**{name}**: {SOLVERS[name].summary}")
    with st.expander("Options (max_iter, tolerances, lr, momentum, seed) and sound"):
        widgets.solver_widgets(choose_solver=False)
        widgets.sound_widgets()
    widgets.ranged_number(st, "Time limit per solver (s)", "compare_time_limit", step=1.0)

comparison = state.get(LIVE)
running = comparison is not None and not comparison.done
chosen = state.get("compare_solvers") or []
cols = st.columns([1, 1, 4])
cols[0].button("Run all", key="compare_run", type="primary", on_click=start, width="stretch",
               disabled=loaded is None or not chosen)
if running and comparison.paused:
    cols[1].button("Resume", key="compare_resume", on_click=resume, width="stretch")
else:
    cols[1].button("Stop", key="compare_stop", on_click=stop, width="stretch", disabled=not running)
progress = st.container(key="compare_status")
if comparison is not None and comparison.done and (state.get(RESULT) or {}).get("of") is not comparison:
    with st.spinner("Drawing the figure…"):
        finish(comparison)

result = state.get(RESULT)
if result is not None:
    st.subheader("3. Results")
    if result["settings"].replace(solver=settings.solver, phase_iter=settings.phase_iter) != settings or (
            loaded and result["label"] != loaded.label):
        st.caption(f"For {result['label']} with the settings at the time; press Run all to update.")
    for text in result["failures"]:
        widgets.show_error(text)
    if result["runs"]:
        with st.container(key="compare_chart"):
            st.image(result["png"], width="stretch")
        st.caption(
            "What to look for: closed-form solvers (one dot) answer at once; iterative ones trade time for "
            "accuracy. SGD and MindSpore's gradient descent start from random numbers and crawl, and their "
            "absolute tolerances stop them early on quiet inputs. Least squares is fast but lets the solution go "
            "negative and clips it afterwards, so its residual stays high. A scale-invariant non-negative least "
            "squares gets to a small residual quickly.")
        rows = {"solver": [], "time (s)": [], "steps": [], "stopped by": [], "mel residual": [],
                "spectral convergence": [], "log-spectral distance (dB)": []}
        for run in result["runs"]:
            rows["solver"].append(run.solver)
            rows["time (s)"].append(round(run.seconds, 3))
            rows["steps"].append(run.steps if SOLVERS[run.solver].iterative else None)  # closed form: no steps
            rows["stopped by"].append(run.reason)
            rows["mel residual"].append(run.scores.mel_residual)
            rows["spectral convergence"].append(run.scores.spectral_convergence)
            rows["log-spectral distance (dB)"].append(run.scores.log_spectral_distance_db)
        with st.container(key="compare_table"):
            st.dataframe(rows, hide_index=True, width="stretch",
                         column_config={"mel residual": st.column_config.NumberColumn(format="%.3g"),
                                        "spectral convergence": st.column_config.NumberColumn(format="%.3g"),
                                        "log-spectral distance (dB)": st.column_config.NumberColumn(format="%.1f")})
        with st.spinner("Making each reconstruction's sound…"):
            wavs = players(result, settings.phase_iter)
        with st.container(key="compare_audio"):
            st.markdown(f"**Listen** (phase by Griffin-Lim, {settings.phase_iter} iterations"
                        + ("; the original is the player above" if result["problem"].samples is not None
                           else "; played at -20 dBFS RMS: a mel spectrogram alone does not say how loud")
                        + ")")
            for row in range(0, len(wavs), 3):
                for col, run, wav in zip(st.columns(3), result["runs"][row:row + 3], wavs[row:row + 3]):
                    col.caption(f"**{run.solver}** ({run.reason})")
                    col.audio(wav, format="audio/wav")
        st.download_button("Figure .png", result["png"], "solvers.png", "image/png", key="compare_png",
                           on_click="ignore")

session.sync_url(settings)

if running and not comparison.paused:
    with progress:
        status = st.empty()
        try:
            while not comparison.done and not comparison.paused:
                comparison.advance(slice_seconds(SLICE_S))
                done = ", ".join(f"{run.solver} {run.seconds:.1f} s" for run in comparison.runs)
                number = len(comparison.runs) + len(comparison.failures) + 1
                status.markdown(f"Running **{comparison.current or '…'}** ({min(number, comparison.total)} of "
                                f"{comparison.total})" + (f" · done: {done}" if done else ""))
        except StopException:   # Streamlit's own Stop: hold until Resume (or Run all again)
            comparison.paused = True
            raise
    st.rerun()                  # the whole page again: the results, and the buttons as they now are
elif running:
    with progress:
        st.info("The comparison was interrupted (Streamlit's Stop, top right): Resume to go on, or Run all to "
                "start again.", icon=":material/pause:")
