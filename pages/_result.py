"""The Invert page's result section: metrics, whether the settings fit a mel file, notes,
figure, players and downloads of the last finished solve (Streamlit only).

Containers: result_metrics (with result_residual holding the mel-residual metric),
result_fit (a mel file: do the settings fit its values), result_notes, result_figure,
result_audio, result_downloads; download buttons dl_spec_npy, dl_mel_npy, dl_wav, dl_png,
dl_json. View widgets: result_freq_axis (linear / log / mel), result_band (a frequency band to
zoom on); sound: method, n_iter (pages/_widgets.sound_widgets). Another view or sound is
drawn or made again (in a worker process, with its progress shown) from the same estimate,
without solving again.
"""

from __future__ import annotations

import json
import math

import streamlit as st

from invmel_core.app import downloads, offload
from invmel_core.app import workflow as pipeline
from invmel_core.app.mel_input import format_clamp_note
from invmel_core.figures.freq_axis import FREQ_AXES
from invmel_core.app.settings import Settings
from pages import _widgets as widgets

VIEWS = "_result_views"   # {"result": the Inversion, key: figure or sound made for it}
AXIS_LABELS = {"linear": "Linear", "log": "Log", "mel": "Mel"}
SOUND_FIELDS = ("method", "n_iter", "fidelity")   # settings a result is heard with, not solved with

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
    heard = result.sound_settings(settings.method, settings.n_iter, settings.fidelity)
    if heard != settings or result.problem.label != label:
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
    if result.fit is not None:
        with st.container(key="result_fit"):
            fit_verdict(result.fit, scores.mel_residual,
                        format_clamp_note(result.fit, result.problem.stored, result.settings))
    with st.container(key="result_notes"):
        for note in result.notes:
            st.info(note, icon=":material/lightbulb:")
    png = _figure(result)
    if result.problem.spec is not None:
        look = ("Red in the error map: energy the solver put where there was none; blue: energy it missed. ")
    else:
        look = ("With a mel spectrogram alone there is no original to compare with, so no error map: the "
                "estimate is shown in dB relative to its own peak, under the mel input it explains. ")
    st.caption(
        "What to look for: the reconstruction matches the mel bands, not the spectrum. Inside each triangle the "
        "solver cannot tell bins apart, so fine detail (harmonics) is smeared across the band — more at high "
        "frequencies, where the bands are wide (a log or mel axis shows the low notes apart). " + look
        + SOLVER_NOTES.get(result.settings.solver, ""))
    sound = _sound(result, heard, preview_s)
    _downloads(result, png, sound, heard)


def lower_bound_text(value: float, digits: int = 3) -> str:
    """A lower bound rounded down to ``digits`` significant digits, so that on screen it never
    exceeds a value it bounds (shown rounded to nearest with as many digits)."""
    if not math.isfinite(value) or value <= 0:
        return "0"
    scale = 10.0 ** (math.floor(math.log10(value)) - digits + 1)
    return f"{math.floor(value / scale * (1 + 1e-12)) * scale:.{digits}g}"


def fit_verdict(fit, reached: float | None = None, clamp: str = "") -> None:
    """Do the settings fit the mel file's values (:func:`invmel_core.app.mel_input.settings_fit`)?
    Ruled out: the solve ended on a plateau, not a solution; say so first. Every residual
    here is the mel residual of the metric above (``reached``: the solve's), and the lower
    bound is certified below any solver's; the verdict itself rests on the frames' own
    residuals (a misfit in a few quiet frames counts), which the caption gives."""
    solver = "" if reached is None else f"; the solve above reached {widgets.format_number(reached)}"
    if fit.verdict == "ruled out":
        empty = (f" {fit.empty_share:.2g} of the mel sits in filters that are empty with these settings, where no "
                 "spectrum can put anything." if fit.empty_share >= 1e-3 else "")
        st.warning(f"**No spectrogram fits these mel values with these settings.** Every X ≥ 0 leaves a mel residual "
                   f"of at least {lower_bound_text(fit.residual_lower)} (certified, over all {fit.n_frames} frames"
                   f"{solver}), and frame by frame at least {lower_bound_text(fit.frame_residual_lower)} of each "
                   f"frame unexplained (RMS).{empty} The caption below says which bar that crosses. The solve stopped on a "
                   "plateau, and the sound is of the wrong settings. Check n_fft, the mel scale, the norm, "
                   "f_min/f_max and the sample rate: 'Which settings fit?' under the input ranks the common ones.",
                   icon=":material/report:")
    elif fit.verdict == "cannot tell" and fit.ran_out:
        st.info(f"**The check ran out of iterations before it could decide** (mel residual {fit.residual:.3g} and "
                f"still falling, at least {lower_bound_text(fit.residual_lower)}{solver}): the values may well fit "
                "these settings. 'Which settings fit?' checks again.", icon=":material/hourglass_bottom:")
    elif fit.verdict == "cannot tell":
        st.info(f"**These settings can be neither confirmed nor ruled out** (mel residual {fit.residual:.3g}, at "
                f"least {lower_bound_text(fit.residual_lower)}{solver}): the values are not exactly a filterbank's "
                "image (a model's prediction, lossy storage), or the settings are close but not right.",
                icon=":material/help:")
    else:
        st.success(f"**These settings fit the values** (mel residual {fit.residual:.2g}{solver}). A fit shows they "
                   "are possible, not that they are the ones used: finer settings fit many mels (see 'Which "
                   "settings fit?').", icon=":material/check_circle:")
    if clamp:
        st.warning(f"**The format's clamp does not match the values:** {clamp}. The settings may still be right; "
                   "the floor says the file came from another pipeline or another clamp.", icon=":material/compare_arrows:")
    st.caption(fit.why)


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
        png = result.png
    else:
        with st.spinner("Drawing…"):
            png = _view(result, ("figure", axis, band),
                        lambda: offload.call(pipeline.Inversion.figure_png, result, axis, None if whole else band))
    with st.container(key="result_figure"):
        st.image(png, width="stretch")
    return png


def _sound(result: pipeline.Inversion, heard: Settings, preview_s: float) -> pipeline.Sound:
    """Players and the sound options beside them; the sound is made (in a worker, its
    progress shown) once per method and number of iterations."""
    with st.container(key="result_audio"):
        a, b, c = st.columns([2, 2, 1])
        with c:
            widgets.sound_widgets()
        slot = b if result.problem.samples is not None else a
        with slot:
            sound = _view(result, ("sound", heard.method, heard.sound_iterations, heard.fidelity),
                          lambda: widgets.in_worker(("sound", id(result), heard.method, heard.sound_iterations,
                                                     heard.fidelity),
                                                    f"Making the sound ({heard.method})", pipeline.Inversion.sound,
                                                    result, heard.method, heard.n_iter, preview_s,
                                                    fidelity=heard.fidelity))
        if sound.original_wav is not None:
            a.markdown("**Original**")
            a.audio(sound.original_wav, format="audio/wav")
            loudness = "at the level its mel implies, as the original's"
        else:
            loudness = "at the level the mel implies (lowered only where it would clip), as the command line writes it"
        slot.markdown(f"**Reconstruction** ({widgets.describe_sound(heard)}; {loudness})")
        slot.audio(sound.wav, format="audio/wav")
        if heard.method == "joint":
            st.caption("The joint method makes the sound from the mel spectrogram itself, not from the solver's "
                       "estimate: every solver sounds the same here. Choose 'cascade' to hear the estimate above "
                       "through Griffin-Lim (as librosa's mel_to_audio does).")
        if sound.excerpt:
            players = "Both players hold" if sound.original_wav is not None else "The player holds"
            st.caption(f"{players} the first {preview_s:.0f} s. The full-length reconstruction is made when you "
                       "download it (making sound takes a while on long audio).")
    return sound


def _downloads(result: pipeline.Inversion, png: bytes, sound: pipeline.Sound, heard: Settings) -> None:
    """The result's files, named after the input as the command line names them
    (:mod:`invmel_core.app.downloads`), and what reproduces it."""
    names = downloads.file_names(downloads.input_stem(result.problem.label))
    with st.container(key="result_downloads"):
        d = st.columns(5)
        d[0].download_button("Spectrogram .npy", widgets.npy_bytes(result.estimate), names["spec"],
                             "application/octet-stream", key="dl_spec_npy", on_click="ignore")
        # The linear mel that was inverted (a mel file's compression undone): what the code of the
        # Frameworks page reads. (A help tooltip would add a second button to the container.)
        d[1].download_button("Mel input .npy", widgets.npy_bytes(result.problem.mel), names["mel"],
                             "application/octet-stream", key="dl_mel_npy", on_click="ignore")
        # The full-length sound only if downloaded, computed then (in a worker process).
        full_wav = (lambda: offload.call(pipeline.Inversion.full_wav, result, heard.method, heard.n_iter,
                                         heard.fidelity)) if sound.excerpt else sound.wav
        d[2].download_button("Audio .wav", full_wav, names["wav"], "audio/wav", key="dl_wav", on_click="ignore")
        d[3].download_button("Figure .png", png, names["png"], "image/png", key="dl_png", on_click="ignore")
        d[4].download_button("Parameters .json", json.dumps(downloads.parameters(result, heard), indent=2),
                             names["json"], "application/json", key="dl_json", on_click="ignore")
