"""Compare solvers: several solvers on the same input, convergence overlaid, one table.

Keys. Sidebar: sample_rate, n_fft, hop_length, n_mels, f_min, f_max, mel_type, norm.
Input: source, sample, upload, mic, npy (adopt_n_mels). Solvers: compare_solvers (multiselect),
max_iter, tolerance_loss, tolerance_change, lr, momentum, seed, compare_time_limit;
button compare_run. Result (containers): compare_chart, compare_table; download compare_png.
"""

import streamlit as st

from invmel_core import SOLVERS, InputError, offload, pipeline, plots
from invmel_core.live import cpu_slot
from pages import _state as session
from pages import _sources as sources
from pages import _widgets as widgets

session.require_app()

RESULT = "compare_result"
state = st.session_state

settings, fb = widgets.signal_sidebar()

st.title("Compare solvers")
st.markdown("Run several solvers on the same mel spectrogram and compare how fast they get how close. "
            "Their own losses are defined differently, so the curves show one common measure: the "
            "relative mel residual ‖fbᵀX̂ − M‖ / ‖M‖ against solver time.")
widgets.empty_filter_warning(fb)

left, right = st.columns([1, 1], gap="large")
with left:
    st.subheader("1. Input")
    loaded = sources.source_section(settings, fb)
    if loaded is not None:
        sources.show_input(loaded, settings)
with right:
    st.subheader("2. Solvers")
    default = [name for name in SOLVERS if name != "librosa"]  # librosa's NNLS is slow on long input
    st.multiselect("Solvers to run", list(SOLVERS), default=default, key="compare_solvers")
    for name in state.get("compare_solvers") or []:
        st.caption(f"**{name}**: {SOLVERS[name].summary}")
    widgets.solver_widgets(choose_solver=False)
    st.number_input("Time limit per solver (s)", min_value=0.1, max_value=120.0, step=1.0,
                    key="compare_time_limit")

chosen = state.get("compare_solvers") or []
if st.button("Run all", key="compare_run", type="primary", disabled=loaded is None or not chosen):
    runs, failures = [], []
    with st.status("Running solvers…", expanded=True) as status:
        for name in chosen:
            st.write(f"**{name}** …")
            try:
                with cpu_slot():
                    runs.append(pipeline.run_solver(loaded.mel, settings.replace(solver=name),
                                                    float(state["compare_time_limit"]), original=loaded.spec))
            except InputError as exc:
                failures.append(f"{name}: {exc}")
        status.update(label=f"Ran {len(runs)} solver(s)", state="complete", expanded=False)
    for text in failures:
        widgets.show_error(text)
    if runs:
        curves = {run.solver: (run.times, run.residuals) for run in runs}
        state[RESULT] = {"runs": runs, "label": loaded.label, "settings": settings,
                         "png": offload.call(plots.render_png, plots.convergence_figure, curves, "solver time (s)")}

result = state.get(RESULT)
if result is not None:
    st.subheader("3. Results")
    if result["settings"].replace(solver=settings.solver) != settings or (loaded and result["label"] != loaded.label):
        st.caption(f"For {result['label']} with the settings at the time; press Run all to update.")
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
    st.download_button("Figure .png", result["png"], "solvers.png", "image/png", key="compare_png",
                       on_click="ignore")

session.sync_url(settings)
