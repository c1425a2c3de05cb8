"""Invert: pick an input, pick a solver, watch it converge, look at and listen to the result.

Keys. Sidebar: sample_rate, n_fft, hop_length, n_mels, f_min, f_max, mel_type, norm.
Input: source (radio), sample, upload, mic, npy (and adopt_n_mels, a button offered when an
uploaded mel spectrogram has another number of bands). Solver: solver, max_iter, tolerance_loss,
tolerance_change, lr, momentum, seed. Buttons: run, pause, resume, stop.
Live view (containers): live_status, loss_chart, live_spec.
Result (containers): result_metrics (with result_residual holding the mel-residual metric),
result_notes, result_figure, result_audio, result_downloads; download buttons dl_spec_npy,
dl_mel_npy, dl_wav, dl_png, dl_json.
"""

import json
import time

import streamlit as st

from invmel_core import SOLVERS, InputError, offload, pipeline, plots
from invmel_core import live as live_solves
from invmel_core.live import FramePacer, slice_seconds
from pages import _ui as ui

ui.require_app()

FRAME_S = 0.18      # one live frame (solver slice + redraw): 5.5 refreshes a second
PREVIEW_S = 30.0    # longer results play (and resynthesise at once) only their first 30 s
# What each solver's picture shows, for the caption under the result.
SOLVER_NOTES = {
    "sgd": "SGD starts from random numbers and stops when the loss stalls: where the mel bands do not pin the "
           "spectrum down, some of that randomness stays (a noisy error map), and another seed gives another answer.",
    "mindspore": "MindSpore's gradient descent starts from random numbers too, takes small plain steps and "
                 "may stop before it has moved far from them.",
    "lstsq": "Least squares finds the smallest spectrogram matching the mel bands, allowing negative power; "
             "the negative parts are then clipped to 0, which shows as blue holes and a larger mel residual.",
    "nnls": "Non-negative least squares keeps X̂ ≥ 0 throughout, so the mel bands are matched closely; what "
            "is left is the smearing inside each band that no solver can undo.",
    "librosa": "librosa's NNLS keeps X̂ ≥ 0; its stopping rule is absolute, so quiet inputs stop early.",
}
LIVE, CONTEXT, RESULT, RUN_ERROR = "invert_live", "invert_context", "invert_result", "invert_run_error"
state = st.session_state

settings, fb = ui.signal_sidebar()


# ---------------------------------------------------------------- actions (button callbacks)

def start() -> None:
    """Run: a fresh solve of the current input with the current settings."""
    state.pop(RUN_ERROR, None)
    loaded = state.get("invert_input")
    current, problem = ui.current_settings()
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
    state[CONTEXT] = {"settings": current, "input": loaded, "transform": transform,
                      "fb": ui.filterbank(current)}


def pause() -> None:
    if state.get(LIVE) is not None:
        state[LIVE].pause()


def resume() -> None:
    if state.get(LIVE) is not None:
        state[LIVE].resume()


def stop() -> None:
    live = state.get(LIVE)
    if live is not None and not live.done:
        live.stop()
        finish(live)


def finish(live) -> None:
    """Score, resynthesise and draw a finished (or stopped) solve; keep it as the result."""
    ctx = state[CONTEXT]
    if live.latest is None or state.get(RESULT, {}).get("live") is live:
        return
    s, loaded, cfb = ctx["settings"], ctx["input"], ctx["fb"]
    estimate = pipeline.first_item(live.latest.spec)
    scores = pipeline.score(estimate, loaded.mel, cfb, loaded.spec)
    # The figure and Griffin-Lim in a worker process: they would hold this server's
    # interpreter lock for seconds (see invmel_core/offload.py).
    media = offload.call(pipeline.render_result, estimate, s, mel=loaded.mel, original_spec=loaded.spec,
                         samples=loaded.samples, top_hz=float(cfb.bin_hz[-1]), preview_s=PREVIEW_S)
    state[RESULT] = {
        "live": live, "settings": s, "label": loaded.label, "estimate": estimate, "mel": loaded.mel,
        "scores": scores, "notes": ctx["transform"].notes(live.latest),
        "png": media.png, "wav": media.wav, "excerpt": media.excerpt, "original_wav": media.original_wav,
        # The full-length sound only if downloaded, computed then.
        "full_wav": (lambda: offload.call(pipeline.resynthesize_wav, estimate, s, loaded.samples))
        if media.excerpt else media.wav,
        "steps": live.steps[-1], "reason": live.reason, "seconds": live.wall_seconds(),
    }


# ---------------------------------------------------------------- page

st.title("Invert a mel spectrogram")
st.markdown("Choose an input and a solver, press **Run**, and watch the solver search for a spectrogram "
            "X̂ ≥ 0 whose mel bands match: fbᵀ·X̂ ≈ M.")
ui.empty_filter_warning(fb)

left, right = st.columns([1, 1], gap="large")
with left:
    st.subheader("1. Input")
    loaded = ui.source_section(settings, fb)
    state["invert_input"] = loaded
    if loaded is not None:
        ui.show_input(loaded, settings)
with right:
    st.subheader("2. Solver")
    ui.solver_widgets()
    solver = SOLVERS[settings.solver]
    if solver.random_start:
        why = ("Its answer depends on the seed: it starts from random numbers and stops when the loss stalls, "
               "so different seeds give different spectrograms with the same mel bands.")
    else:
        why = "" if solver.iterative else "It is solved in one step (no live curve to watch)."
    st.caption(f"{solver.summary} {why}")

live = state.get(LIVE)
cols = st.columns([1, 1, 1, 5])
cols[0].button("Run", key="run", type="primary", on_click=start, disabled=loaded is None, width="stretch")
if live is not None and live.paused:
    cols[1].button("Resume", key="resume", on_click=resume, width="stretch")
else:
    cols[1].button("Pause", key="pause", on_click=pause, width="stretch",
                   disabled=live is None or not live.running)
cols[2].button("Stop", key="stop", on_click=stop, width="stretch", disabled=live is None or live.done)
if state.get(RUN_ERROR):
    ui.show_error(state[RUN_ERROR])


def draw_live(live, ctx, status, chart, picture) -> None:
    """Status line, loss curve and current spectrogram, into their placeholders: a colour-mapped
    array and a browser-drawn chart, cheap enough for several redraws a second."""
    last = live.latest
    where = f"step {last.step:,} · loss {last.loss:.4g}" if last is not None else "starting…"
    word = "paused" if live.paused else f"finished ({live.reason})" if live.done else "running"
    with status.container():
        st.markdown(f"**{word}** — {where}")
        st.caption(f"{live.steps_per_second():,.0f} steps/s · view refreshed {live.refresh_hz():.1f}×/s · "
                   f"solver busy {100 * live.busy_fraction():.0f} % of the time · "
                   f"solving {ctx['input'].label} with solver '{ctx['settings'].solver}'")
    steps, losses = live.loss_curve()
    chart.vega_lite_chart(plots.loss_chart(steps, losses), width="stretch")
    if last is not None:
        loaded = ctx["input"]
        estimate = last.spec.reshape(-1, *last.spec.shape[-2:])[0]
        ref = float(loaded.spec.max()) if loaded.spec is not None else None
        picture.image(plots.spectrogram_rgb(estimate, ref or None), output_format="JPEG", width="stretch",
                      caption="Current estimate X̂ (dB re. the original's peak, low frequencies at the bottom)")


def live_panel(live, ctx) -> None:
    """Advance the solve in slices, redrawing after each, until it ends or is paused.

    This runs inside the page's run, as its last part: a click anywhere (Pause, Stop, a
    setting) interrupts it at its next redraw, and the run that follows picks the solve up
    where it was. No fragment timer drives it: timers still in flight when the result
    arrived made the browser drop parts of the result (seen with 8 users at once).
    """
    status = st.container(key="live_status").empty()
    chart_col, picture_col = st.columns([1, 1])
    chart = chart_col.container(key="loss_chart").empty()
    picture = picture_col.container(key="live_spec").empty()
    budget = live_solves.PAGE_RUN_BUDGET_S
    deadline = None if budget is None else time.perf_counter() + budget
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
    if live.done and state.get(RESULT, {}).get("live") is not live:
        with st.spinner("Scoring and resynthesising…"):
            finish(live)
        st.rerun()  # the whole page again: the result, and Run/Pause/Stop as they now are


def show_result(result: dict) -> None:
    """Section 4: metrics, notes, figure, players and downloads of the last finished solve."""
    st.subheader("4. Result")
    if result["settings"] != settings or result["label"] != (loaded.label if loaded else None):
        st.caption(f"This result is for {result['label']} with the settings at the time it ran; press Run to "
                   "update it.")
    scores = result["scores"]
    with st.container(key="result_metrics"):
        m = st.columns(5)
        with m[0].container(key="result_residual"):
            st.metric("mel residual", ui.format_number(scores["mel_residual"]),
                      help="‖fbᵀX̂ − M‖ / ‖M‖: how well the estimate explains the mel spectrogram.")
        m[1].metric("spectral convergence", ui.format_number(scores["spectral_convergence"]),
                    help="‖X̂ − X‖ / ‖X‖ against the original spectrogram (0 = perfect).")
        m[2].metric("log-spectral distance", "—" if scores["log_spectral_distance_db"] is None
                    else f"{scores['log_spectral_distance_db']:.1f} dB")
        m[3].metric("steps", f"{result['steps']:,}", help=f"stopped by: {result['reason']}")
        m[4].metric("time", f"{result['seconds']:.2f} s")
    with st.container(key="result_notes"):
        for note in result["notes"]:
            st.info(note, icon=":material/lightbulb:")
    with st.container(key="result_figure"):
        st.image(result["png"], width="stretch")
    st.caption(
        "What to look for: the reconstruction matches the mel bands, not the spectrum. Inside each triangle the "
        "solver cannot tell bins apart, so fine detail (harmonics) is smeared across the band — more at high "
        "frequencies, where the bands are wide. Red in the error map: energy the solver put where there was none; "
        "blue: energy it missed. " + SOLVER_NOTES.get(result["settings"].solver, ""))
    with st.container(key="result_audio"):
        a, b = st.columns(2)
        if result["original_wav"] is not None:
            a.markdown("**Original**")
            a.audio(result["original_wav"], format="audio/wav")
        b.markdown("**Reconstruction** (Griffin-Lim phase, same loudness as the original)")
        b.audio(result["wav"], format="audio/wav")
        if result["excerpt"]:
            st.caption(f"Both players hold the first {PREVIEW_S:.0f} s. The full-length reconstruction is made "
                       "when you download it (Griffin-Lim takes a while on long audio).")
    with st.container(key="result_downloads"):
        d = st.columns(5)
        s = result["settings"]
        d[0].download_button("Spectrogram .npy", ui.npy_bytes(result["estimate"]), "reconstruction.npy",
                             "application/octet-stream", key="dl_spec_npy", on_click="ignore")
        d[1].download_button("Mel input .npy", ui.npy_bytes(result["mel"]), "mel.npy",
                             "application/octet-stream", key="dl_mel_npy", on_click="ignore")
        d[2].download_button("Audio .wav", result["full_wav"], "reconstruction.wav", "audio/wav", key="dl_wav",
                             on_click="ignore")
        d[3].download_button("Figure .png", result["png"], "reconstruction.png", "image/png", key="dl_png",
                             on_click="ignore")
        report = {"input": result["label"], "settings": json.loads(s.to_json()), "scores": scores,
                  "steps": result["steps"], "stopped_by": result["reason"], "seconds": result["seconds"]}
        d[4].download_button("Parameters .json", json.dumps(report, indent=2), "parameters.json",
                             "application/json", key="dl_json", on_click="ignore")


# Progress above the result on screen, but drawn after it: the live loop may run for a while,
# and the last result stays in view meanwhile.
progress_box, result_box = st.container(), st.container()
result = state.get(RESULT)
if result is not None:
    with result_box:
        show_result(result)
ui.sync_url(settings)
if live is not None and CONTEXT in state:
    with progress_box:
        st.subheader("3. Solver progress")
        live_panel(live, state[CONTEXT])
