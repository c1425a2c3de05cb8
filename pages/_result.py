"""The Invert page's result section: metrics, notes, figure, players and downloads of the last
finished solve (Streamlit only).

Containers: result_metrics (with result_residual holding the mel-residual metric),
result_notes, result_figure, result_audio, result_downloads; download buttons dl_spec_npy,
dl_mel_npy, dl_wav, dl_png, dl_json.
"""

from __future__ import annotations

import json
from dataclasses import asdict

import streamlit as st

from invmel_core import offload, pipeline
from invmel_core.settings import Settings
from pages import _widgets as widgets

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


def show_result(result: pipeline.Inversion, settings: Settings, label: str | None, preview_s: float) -> None:
    """Section 4, for the result of an earlier Run; ``settings`` and ``label`` are what is on
    screen now (the section says when the result is for something else)."""
    st.subheader("4. Result")
    if result.settings != settings or result.problem.label != label:
        st.caption(f"This result is for {result.problem.label} with the settings at the time it ran; press Run "
                   "to update it.")
    scores, media = result.scores, result.media
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
    with st.container(key="result_figure"):
        st.image(media.png, width="stretch")
    st.caption(
        "What to look for: the reconstruction matches the mel bands, not the spectrum. Inside each triangle the "
        "solver cannot tell bins apart, so fine detail (harmonics) is smeared across the band — more at high "
        "frequencies, where the bands are wide. Red in the error map: energy the solver put where there was none; "
        "blue: energy it missed. " + SOLVER_NOTES.get(result.settings.solver, ""))
    with st.container(key="result_audio"):
        a, b = st.columns(2)
        if media.original_wav is not None:
            a.markdown("**Original**")
            a.audio(media.original_wav, format="audio/wav")
        b.markdown("**Reconstruction** (Griffin-Lim phase, same loudness as the original)")
        b.audio(media.wav, format="audio/wav")
        if media.excerpt:
            st.caption(f"Both players hold the first {preview_s:.0f} s. The full-length reconstruction is made "
                       "when you download it (Griffin-Lim takes a while on long audio).")
    with st.container(key="result_downloads"):
        d = st.columns(5)
        d[0].download_button("Spectrogram .npy", widgets.npy_bytes(result.estimate), "reconstruction.npy",
                             "application/octet-stream", key="dl_spec_npy", on_click="ignore")
        d[1].download_button("Mel input .npy", widgets.npy_bytes(result.problem.mel), "mel.npy",
                             "application/octet-stream", key="dl_mel_npy", on_click="ignore")
        # The full-length sound only if downloaded, computed then (in a worker process).
        full_wav = (lambda: offload.call(pipeline.Inversion.full_wav, result)) if media.excerpt else media.wav
        d[2].download_button("Audio .wav", full_wav, "reconstruction.wav", "audio/wav", key="dl_wav",
                             on_click="ignore")
        d[3].download_button("Figure .png", media.png, "reconstruction.png", "image/png", key="dl_png",
                             on_click="ignore")
        report = {"input": result.problem.label, "settings": json.loads(result.settings.to_json()),
                  "scores": asdict(scores), "steps": result.steps, "stopped_by": result.reason,
                  "seconds": result.seconds}
        d[4].download_button("Parameters .json", json.dumps(report, indent=2), "parameters.json",
                             "application/json", key="dl_json", on_click="ignore")
