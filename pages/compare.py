"""Compare solvers: several solvers on the same input, convergence overlaid, one table, a player each.

Keys. Sidebar: sample_rate, n_fft, hop_length, power, n_mels, f_min, f_max, mel_type, norm.
Input: source, sample, upload, mic, npy (adopt_n_mels, transpose_npy). Solvers: compare_solvers
(multiselect), max_iter, tolerance_loss, tolerance_change, lr, momentum, seed, compare_time_limit,
method, n_iter; buttons compare_run, compare_stop, compare_resume. Progress: container
compare_status. Result (containers): compare_chart, compare_table, compare_audio (one player per
solver: Griffin-Lim on its estimate), compare_joint (the joint method's sound, for reference);
download compare_png.

The solvers run inside the page run, a slice at a time (like the Invert page), so Stop — or
any click — is answered between slices; Stop keeps the runs finished so far and the one under
way as "stopped". Streamlit's own Stop (toolbar) holds the comparison until Resume.
"""

import streamlit as st

from invmel_core import SOLVERS
from pages import _comparison as comparing
from pages import _state as session
from pages import _sources as sources
from pages import _widgets as widgets

session.require_app()

state = st.session_state

settings, fb = widgets.signal_sidebar()

st.title("Compare solvers")
st.markdown("Run several solvers on the same mel spectrogram and compare how fast they get how close, and "
            "how they sound. Their own losses are defined differently, so the curves show one common measure: "
            "the relative mel residual ‖fbᵀX̂ − M‖ / ‖M‖ against solver time.")
widgets.empty_filter_warning(fb, brief=True)

left, right = st.columns([1, 1], gap="large")
with left:
    st.subheader("1. Input")
    loaded = sources.source_section(settings, fb)
    state[comparing.INPUT] = loaded
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

comparison = state.get(comparing.LIVE)
running = comparison is not None and not comparison.done
chosen = state.get("compare_solvers") or []
cols = st.columns([1, 1, 4])
cols[0].button("Run all", key="compare_run", type="primary", on_click=comparing.start, width="stretch",
               disabled=loaded is None or not chosen)
if running and comparison.paused:
    cols[1].button("Resume", key="compare_resume", on_click=comparing.resume, width="stretch")
else:
    cols[1].button("Stop", key="compare_stop", on_click=comparing.stop, width="stretch", disabled=not running)
progress = st.container(key="compare_status")
comparing.finish_if_done(comparison)

result = state.get(comparing.RESULT)
if result is not None:
    st.subheader("3. Results")
    of = result["of"]
    if of.settings.replace(solver=settings.solver, n_iter=settings.n_iter,
                           method=settings.method) != settings or (loaded and of.problem.label != loaded.label):
        st.caption(f"For {of.problem.label} with the settings at the time; press Run all to update.")
    for name, exc in of.failures:
        widgets.show_error(f"{name}: {exc}")
    if of.runs:
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
        for run in of.runs:
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
            wavs = comparing.players(result, settings)
        cascade = settings.replace(method="cascade")
        with st.container(key="compare_audio"):
            st.markdown(f"**Listen** to each solver's estimate ({widgets.describe_sound(cascade)}"
                        + ("; the original is the player above" if of.problem.samples is not None
                           else "; at the level the mel implies")
                        + ")")
            for row in range(0, len(wavs), 3):
                for col, run, wav in zip(st.columns(3), of.runs[row:row + 3], wavs[row:row + 3]):
                    col.caption(f"**{run.solver}** ({run.reason})")
                    col.audio(wav, format="audio/wav")
        with st.container(key="compare_joint"):
            joint = settings.replace(method="joint")
            st.markdown(f"**For reference: the joint method** ({widgets.describe_sound(joint)}), from the mel "
                        "spectrogram itself, whichever solver: what the Invert page plays by default.")
            st.audio(comparing.joint_player(result, settings), format="audio/wav")
        st.download_button("Figure .png", result["png"], "solvers.png", "image/png", key="compare_png",
                           on_click="ignore")

session.sync_url(settings)

if running and not comparison.paused:
    with progress:
        comparing.drive(comparison)
elif running:
    with progress:
        st.info("The comparison was interrupted (Streamlit's Stop, top right): Resume to go on, or Run all to "
                "start again.", icon=":material/pause:")
