"""Widgets and displays shared by the pages: the sidebar's signal and filterbank settings,
the solver's options, errors and warnings (Streamlit only; numerics live in invmel_core)."""

from __future__ import annotations

import io

import numpy as np
import streamlit as st

from invmel_core import SOLVERS, MelFilterbank
from invmel_core.settings import Settings
from pages._state import current_settings

SAMPLE_RATES = [8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000]


def stft_widgets() -> None:
    """Sample rate, n_fft and hop length (keys ``sample_rate``, ``n_fft``, ``hop_length``)."""
    st.number_input("Sample rate (Hz)", min_value=1000, max_value=384000, step=50, key="sample_rate",
                    help="Audio is resampled to this rate. Common: " + ", ".join(map(str, SAMPLE_RATES)))
    st.number_input("n_fft", min_value=2, max_value=65536, step=2, key="n_fft",
                    help="FFT size; the linear spectrogram has n_stft = n_fft // 2 + 1 bins.")
    n_fft = st.session_state.get("n_fft") or 2
    st.caption(f"n_stft = {n_fft // 2 + 1} bins, {st.session_state.get('sample_rate', 0) / max(n_fft, 1):.3g} Hz apart")
    st.number_input("Hop length (samples)", min_value=1, max_value=65536, step=1, value=None, key="hop_length",
                    placeholder=f"n_fft / 4 = {max(1, n_fft // 4)}",
                    help="Samples between frames. Empty: n_fft // 4.")


def mel_widgets():
    """The filterbank (keys ``n_mels``, ``f_min``, ``f_max``, ``norm``, ``mel_type``).

    Returns an empty slot right under f_max, where a problem with the settings is shown
    (f_min >= f_max is the usual one), next to the inputs the user just changed.
    """
    st.slider("n_mels", min_value=1, max_value=512, step=1, key="n_mels",
              help="Number of triangular mel filters.")
    st.number_input("f_min (Hz)", min_value=0.0, max_value=1e6, step=10.0, key="f_min")
    st.number_input("f_max (Hz)", min_value=0.0, max_value=1e6, step=100.0, value=None, key="f_max",
                    placeholder="Nyquist (sample_rate // 2)", help="Empty: sample_rate // 2.")
    problem_slot = st.empty()
    st.radio("Mel scale (mel_type)", ["htk", "slaney"], key="mel_type", horizontal=True,
             format_func=lambda v: {"htk": "HTK", "slaney": "Slaney"}[v],
             help="torchaudio calls it mel_scale, MindSpore mel_type; librosa htk=True/False.")
    st.radio("Filter norm", ["none", "slaney"], key="norm", horizontal=True,
             format_func=lambda v: {"none": "None (peak 1)", "slaney": "Slaney (area 1)"}[v])
    return problem_slot


def signal_sidebar() -> tuple[Settings, MelFilterbank]:
    """The STFT and mel widgets in the sidebar; returns the settings and the filterbank.

    A combination that does not validate (f_min >= f_max) shows an ``st.error`` under
    f_max and keeps the last good settings, so the page keeps working.
    """
    with st.sidebar:
        st.subheader("Signal and mel filterbank")
        stft_widgets()
        problem_slot = mel_widgets()
        settings, problem = current_settings()
        if problem:
            with problem_slot:
                show_error(problem)
    return settings, filterbank(settings)


OPTION_HELP = {
    "max_iter": "The most steps the solver takes.",
    "tolerance_loss": "Stop once the solver's loss is at most this (nnls: the relative mel residual).",
    "tolerance_change": "Stop once the loss changes by at most this from one step to the next.",
    "lr": "Step size of gradient descent.",
    "momentum": "SGD momentum (torchaudio <= 2.0). MindSpore accepts it but re-zeroes its buffer every "
                "step, so there it has no effect.",
    "seed": "Seed of the random start: the same seed gives the same answer.",
}


def solver_label(name: str) -> str:
    spec = SOLVERS.get(name)
    return f"{name} — {spec.summary}" if spec else name


def solver_widgets(container=None, *, choose_solver: bool = True) -> None:
    """Solver choice and its parameters (keys ``solver``, ``max_iter``, ``tolerance_loss``,
    ``tolerance_change``, ``lr``, ``momentum``, ``seed``)."""
    box = container or st
    if choose_solver:
        box.selectbox("Solver", list(SOLVERS), key="solver", format_func=solver_label)
    spec = SOLVERS.get(st.session_state.get("solver"))

    def option(name: str) -> dict:
        """``disabled`` and ``help`` of an option's widget: with one solver chosen, the options
        it does not read are disabled (their values are kept for the next solver)."""
        off = choose_solver and spec is not None and name not in spec.uses
        return {"disabled": off, "help": (f"Not used by {spec.name}. " if off else "") + OPTION_HELP[name]}

    cols = box.columns(3)
    cols[0].number_input("max_iter", min_value=1, max_value=10_000_000, step=100, key="max_iter",
                         **option("max_iter"))
    cols[1].number_input("tolerance_loss", min_value=0.0, step=1e-6, format="%.1e", key="tolerance_loss",
                         **option("tolerance_loss"))
    cols[2].number_input("tolerance_change", min_value=0.0, step=1e-9, format="%.1e",
                         key="tolerance_change", **option("tolerance_change"))
    cols = box.columns(3)
    cols[0].number_input("lr (learning rate)", min_value=0.0, step=0.01, format="%.4g", key="lr",
                         **option("lr"))
    cols[1].number_input("momentum", min_value=0.0, step=0.05, format="%.3g", key="momentum",
                         **option("momentum"))
    cols[2].number_input("seed", min_value=0, max_value=2**32 - 1, step=1, key="seed", **option("seed"))


# --------------------------------------------------------------------------- caches

@st.cache_resource(max_entries=64, show_spinner=False)
def filterbank(settings: Settings, compat: str | None = None) -> MelFilterbank:
    """The (immutable, shareable) filterbank of ``settings``; its dense and banded forms
    are computed once and cached on the object."""
    fb = settings.filterbank(compat)
    fb.dense, fb.banded, fb.empty  # noqa: B018  (build them now, inside the cache)
    return fb


def empty_filter_warning(fb: MelFilterbank) -> None:
    """Warn, and explain, when some filters cover no STFT bin."""
    n = int(fb.empty.size)
    if not n:
        return
    spacing = fb.bin_hz[1] - fb.bin_hz[0]
    which = ", ".join(str(int(i)) for i in fb.empty[:12]) + (" …" if n > 12 else "")
    if n == fb.n_mels:
        st.warning(f"**All {n} mel filters are empty.** No STFT bin falls inside any triangle, so the mel "
                   "spectrogram carries no information about the spectrum: a solver can only return "
                   "its starting point.", icon=":material/warning:")
        return
    st.warning(
        f"**{n} of {fb.n_mels} mel filters are empty** (filters {which}). Near the bottom of the mel "
        f"scale the triangles are narrower than the {spacing:.3g} Hz between STFT bins, so some "
        "triangles fall between two bins and weigh nothing; their mel values are always 0 and cannot "
        "be matched. Lower n_mels, raise f_min or raise n_fft.", icon=":material/warning:")


def show_error(problem) -> None:
    """An error for the user (an :class:`InputError` or a message), as a sentence; a
    message that starts with a parameter's name (``f_min must be…``) keeps it as it is."""
    text = str(problem)
    first = text.split(" ", 1)[0]
    if first.isalpha() and first.islower():
        text = text[:1].upper() + text[1:]
    st.error(text, icon=":material/error:")


def npy_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.asarray(array), allow_pickle=False)
    return buf.getvalue()


def format_number(x: float | None, digits: int = 3) -> str:
    return "—" if x is None or not np.isfinite(x) else f"{x:.{digits}g}"
