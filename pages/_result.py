"""The Invert page's result section: metrics, notes, figure, players and downloads of the last
finished solve (Streamlit only).

Containers: result_metrics (with result_residual holding the mel-residual metric),
result_notes, result_figure, result_audio, result_downloads; download buttons dl_spec_npy,
dl_mel_npy, dl_wav, dl_png, dl_json. View widgets: result_freq_axis (linear / log / mel),
result_band (a frequency band to zoom on); sound: phase_iter (pages/_widgets.sound_widgets).
Another view or number of iterations is drawn or played again (in a worker process) from the
same estimate, without solving again.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict

import streamlit as st

from invmel_core import offload, pipeline
from invmel_core.freq_axis import FREQ_AXES
from invmel_core.settings import Settings
from pages import _widgets as widgets

VIEWS = "_result_views"   # {"result": the Inversion, key: figure or sound made for it}
AXIS_LABELS = {"linear": "Linear", "log": "Log", "mel": "Mel"}

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


def _view(result: pipeline.Inversion, key: tuple, make):
    """``make()`` for this result and view, made once (a session keeps the last result's)."""
    state = st.session_state
    if state.get(VIEWS, {}).get("result") is not result:
        state[VIEWS] = {"result": result}
    views = state[VIEWS]
    if key not in views:
        views[key] = make()
    return views[key]


def show_result(result: pipeline.Inversion, settings: Settings, label: str | None, preview_s: float) -> None:
    """Section 3, for the result of an earlier Run; ``settings`` and ``label`` are what is on
    screen now (the section says when the result is for something else)."""
    st.subheader("3. Result")
    if result.settings.replace(phase_iter=settings.phase_iter) != settings or result.problem.label != label:
        st.caption(f"This result is for {result.problem.label} with the settings at the time it ran; press Run "
                   "to update it.")
    scores = result.scores
    with st.container(key="result_metrics"):
        m = st.columns(5)
        with m[0].container(key="result_residual"):
            st.metric("mel residual", widgets.format_number(scores.mel_residual),
                      help="‖fbᵀX̂ − M‖ / ‖M‖: how well the estimate explains the mel spectrogram.")
        m[1].metric("spectral convergence", widgets.format_number(scores.spectral_convergence),
                    help="‖|X̂| − |X|‖ / ‖|X|‖ on magnitudes, against the original spectrogram (0 = perfect).")
        m[2].metric("log-spectral distance", "—" if scores.log_spectral_distance_db is None
                    else f"{scores.log_spectral_distance_db:.1f} dB")
        m[3].metric("steps", f"{result.steps:,}", help=f"stopped by: {result.reason}")
        m[4].metric("time", f"{result.seconds:.2f} s")
    with st.container(key="result_notes"):
        for note in result.notes:
            st.info(note, icon=":material/lightbulb:")
    png = _figure(result)
    st.caption(
        "What to look for: the reconstruction matches the mel bands, not the spectrum. Inside each triangle the "
        "solver cannot tell bins apart, so fine detail (harmonics) is smeared across the band — more at high "
        "frequencies, where the bands are wide (a log or mel axis shows the low notes apart). Red in the error "
        "map: energy the solver put where there was none; blue: energy it missed. "
        + SOLVER_NOTES.get(result.settings.solver, ""))
    wav, original_wav, excerpt = _sound(result, settings.phase_iter, preview_s)
    _downloads(result, png, wav, excerpt, settings.phase_iter)


def _figure(result: pipeline.Inversion) -> bytes:
    """The view options and the figure drawn with them; returns the PNG on screen."""
    top = result.top_hz or result.settings.nyquist
    a, b = st.columns([1, 2])
    axis = a.radio("Frequency axis", FREQ_AXES, key="result_freq_axis", horizontal=True,
                   format_func=AXIS_LABELS.get,
                   help="Log and mel axes give the low frequencies room: a chord's notes, speech's harmonics.")
    band = widgets.band_slider(b, "Frequency band", "result_band", top)
    whole = band == (0.0, top)
    if axis == "linear" and whole:
        png = result.media.png
    else:
        with st.spinner("Drawing…"):
            png = _view(result, ("figure", axis, band),
                        lambda: offload.call(pipeline.Inversion.figure_png, result, axis, None if whole else band))
    with st.container(key="result_figure"):
        st.image(png, width="stretch")
    return png


def _sound(result: pipeline.Inversion, phase_iter: int, preview_s: float):
    """Players (and the sound options beside them); returns (wav, original wav, excerpt)."""
    media = result.media
    if phase_iter == result.settings.phase_iter:
        sound = (media.wav, media.original_wav, media.excerpt)
    else:
        with st.spinner(f"Making the sound with {phase_iter} iterations…"):
            sound = _view(result, ("sound", phase_iter),
                          lambda: offload.call(pipeline.Inversion.sound, result, phase_iter, preview_s))
    wav, original_wav, excerpt = sound
    with st.container(key="result_audio"):
        a, b, c = st.columns([2, 2, 1])
        if original_wav is not None:
            a.markdown("**Original**")
            a.audio(original_wav, format="audio/wav")
            loudness = "at the original's loudness"
        else:
            loudness = (f"at {20 * math.log10(pipeline.PLAYBACK_RMS):.0f} dBFS RMS: a mel spectrogram alone does "
                        "not say how loud the sound was")
        (b if original_wav is not None else a).markdown(
            f"**Reconstruction** (phase by Griffin-Lim, {phase_iter} iterations; {loudness})")
        (b if original_wav is not None else a).audio(wav, format="audio/wav")
        widgets.sound_widgets(c)
        if excerpt:
            players = "Both players hold" if original_wav is not None else "The player holds"
            st.caption(f"{players} the first {preview_s:.0f} s. The full-length reconstruction is made when you "
                       "download it (phase reconstruction takes a while on long audio).")
    return sound


def _downloads(result: pipeline.Inversion, png: bytes, wav: bytes, excerpt: bool, phase_iter: int) -> None:
    with st.container(key="result_downloads"):
        d = st.columns(5)
        d[0].download_button("Spectrogram .npy", widgets.npy_bytes(result.estimate), "reconstruction.npy",
                             "application/octet-stream", key="dl_spec_npy", on_click="ignore")
        d[1].download_button("Mel input .npy", widgets.npy_bytes(result.problem.mel), "mel.npy",
                             "application/octet-stream", key="dl_mel_npy", on_click="ignore")
        # The full-length sound only if downloaded, computed then (in a worker process).
        full_wav = (lambda: offload.call(pipeline.Inversion.full_wav, result, phase_iter)) if excerpt else wav
        d[2].download_button("Audio .wav", full_wav, "reconstruction.wav", "audio/wav", key="dl_wav",
                             on_click="ignore")
        d[3].download_button("Figure .png", png, "reconstruction.png", "image/png", key="dl_png",
                             on_click="ignore")
        report = {"input": result.problem.label,
                  "settings": json.loads(result.settings.replace(phase_iter=phase_iter).to_json()),
                  "scores": asdict(result.scores), "steps": result.steps, "stopped_by": result.reason,
                  "seconds": result.seconds}
        d[4].download_button("Parameters .json", json.dumps(report, indent=2), "parameters.json",
                             "application/json", key="dl_json", on_click="ignore")
