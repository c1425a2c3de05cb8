"""Widgets and helpers shared by the app's pages (Streamlit only; numerics live in invmel_core).

Settings. Every shareable setting is a field of :class:`invmel_core.settings.Settings` and has
one widget whose key is the field's name (``sample_rate``, ``n_fft``, ``hop_length``,
``n_mels``, ``f_min``, ``f_max``, ``norm``, ``mel_type``, ``solver``, ``max_iter``,
``tolerance_loss``, ``tolerance_change``, ``lr``, ``momentum``, ``seed``, ``sample``). The
raw widget values live in a session store, copied back into the widget keys at the start of
every run (:func:`start_run`), so a value set on one page is there on the next; the URL is
read once per session and rewritten after the widgets (:func:`sync_url`).

Sources. :func:`source_section` draws the input picker (keys ``source``, ``sample``,
``upload``, ``mic``, ``npy``), loads the input with invmel_core, shows an ``st.error`` right
under the input when it is bad, and remembers the last good input of each kind.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import io
import runpy
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st

from invmel_core import SOLVERS, InputError, MelFilterbank, audio, offload, pipeline, plots
from invmel_core.settings import SAMPLES, Settings, default_solver, sample_path

STORE = "_settings_store"      # raw widget values, by key
LAST_GOOD = "_settings_ok"     # the last Settings that validated
URL_NOTICES = "_url_notices"   # what was wrong with the URL this session started with
INPUTS = "_inputs"             # last good LoadedInput per source kind
VIA_APP = "_via_app"           # True while app.py is running the page
APP = Path(__file__).resolve().parent.parent / "app.py"

FIELDS = ("sample_rate", "n_fft", "hop_length", "n_mels", "f_min", "f_max", "norm", "mel_type",
          "solver", "max_iter", "tolerance_loss", "tolerance_change", "lr", "momentum", "seed",
          "sample")
# Widgets outside Settings whose value should also follow the user from page to page
# (not into the URL: an upload cannot be shared by a link), with their first value.
KEPT = {"source": "sample", "compare_time_limit": 5.0}
SOURCES = {
    "sample": "Bundled sample",
    "upload": "Upload audio",
    "mic": "Microphone",
    "npy": "Mel spectrogram (.npy)",
}
AUDIO_TYPES = ["wav", "flac", "ogg", "mp3"]
MEL_TYPES = ["npy", "npz"]
SAMPLE_RATES = [8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000]


# --------------------------------------------------------------------------- entry

@contextlib.contextmanager
def running_page():
    """app.py runs the chosen page inside this, so pages can tell they came through it."""
    st.session_state[VIA_APP] = True
    try:
        yield
    finally:
        st.session_state[VIA_APP] = False


def require_app() -> None:
    """First line of every page: make sure app.py (settings, navigation) runs around it.

    With a ``pages/`` folder next to app.py, a fresh server whose first visitor opens a
    deep link (``/invert?n_mels=40``) runs that page alone, in Streamlit's old multipage
    mode, until some run of app.py calls ``st.navigation``. Then this runs app.py — which
    sets everything up and runs this same page — and stops the bare run.
    """
    if st.session_state.get(VIA_APP):
        return
    runpy.run_path(str(APP), run_name="__main__")
    st.stop()


# --------------------------------------------------------------------------- settings store

def _widget_values(settings: Settings) -> dict:
    """Settings -> the values the widgets hold (norm None is the option "none")."""
    values = {name: getattr(settings, name) for name in FIELDS}
    values["norm"] = settings.norm or "none"
    return values


_heap_frozen = False


def _freeze_startup_heap() -> None:
    """Once per server process: load what every run needs, then exclude it from garbage
    collection (``gc.freeze``).

    Streamlit runs a full collection after every script run (``runner.postScriptGC``), and
    a full collection walks every object; with Streamlit, numpy, scipy, librosa and pyarrow
    loaded that is ~260,000 objects and ~100 ms of holding the interpreter lock on an idle
    core (seconds on a busy one), during which the server answers nobody. Objects
    loaded at start-up live for good anyway; freezing them leaves collections the objects
    that users' runs make.
    """
    global _heap_frozen
    if _heap_frozen:
        return
    _heap_frozen = True
    import librosa  # noqa: F401  (lazy: the resampler loads on first use)

    librosa.resample  # noqa: B018
    gc.collect()
    gc.freeze()


def start_run() -> None:
    """Call first in every run (app.py): read the URL once, then re-seed the widget keys.

    Re-assigning each key keeps its value when the user visits a page without that
    widget (Streamlit would otherwise forget it) and carries it to the next page.
    """
    _freeze_startup_heap()
    offload.start()  # the worker processes for figures and sound: started, and warmed up, once
    state = st.session_state
    if STORE not in state:
        settings, notices = Settings.from_mapping(st.query_params.to_dict())
        state[STORE] = _widget_values(settings)
        state[LAST_GOOD] = settings
        state[URL_NOTICES] = notices
    store = state[STORE]
    for key in FIELDS + tuple(KEPT):
        value = state[key] if key in state else store.get(key, KEPT.get(key))
        store[key] = value
        state[key] = value


def url_notices() -> None:
    """Show, once, what was ignored in the link the session started from."""
    notices = st.session_state.pop(URL_NOTICES, None)
    for text in notices or ():
        st.warning(text, icon=":material/link:")


def current_settings() -> tuple[Settings, str | None]:
    """The settings the widgets describe, or the last good ones and the reason why not."""
    state = st.session_state
    values = {key: state.get(key, state[STORE][key]) for key in FIELDS}
    values["norm"] = None if values["norm"] == "none" else values["norm"]
    try:
        settings = Settings.checked(**values)
    except InputError as exc:
        return state[LAST_GOOD], str(exc)
    state[LAST_GOOD] = settings
    return settings, None


def sync_url(settings: Settings) -> None:
    """Write the non-default settings into the URL, so the link reproduces this view."""
    wanted = settings.to_query()
    if st.query_params.to_dict() != wanted:
        st.query_params.from_dict(wanted)


# --------------------------------------------------------------------------- widgets

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


# Decoded audio and its analysis are kept once per server, keyed by a short id of the source
# (hashing megabytes of samples on every rerun would cost more than the page), and shared
# read-only (cache_resource returns the object itself, no copy). Bounded in count and age.

def _read_only(*arrays: np.ndarray) -> None:
    for array in arrays:
        array.setflags(write=False)


@st.cache_resource(max_entries=6, ttl=1800, show_spinner=False)
def _decode(key: str, sample_rate: int, _data: bytes, name: str | None = None) -> np.ndarray:
    samples = audio.load_audio(_data, sample_rate, name=name)[0]
    _read_only(samples)
    return samples


@st.cache_resource(max_entries=8, show_spinner=False)
def _sample_audio(name: str, sample_rate: int) -> np.ndarray:
    samples = audio.load_audio(sample_path(name), sample_rate)[0]
    _read_only(samples)
    return samples


@st.cache_resource(max_entries=8, ttl=1800, show_spinner=False)
def _analyse(key: str, n_fft: int, hop: int, fb: MelFilterbank, _samples: np.ndarray):
    """(power spectrogram, mel spectrogram) of the samples identified by ``key``."""
    spec = audio.spectrogram(_samples, n_fft=n_fft, hop_length=hop)
    mel = audio.mel_spectrogram(spec, fb)
    _read_only(spec, mel)
    return spec, mel


@st.cache_resource(max_entries=4, ttl=1800, show_spinner=False)
def _wav(key: str, sample_rate: int, _samples: np.ndarray) -> bytes:
    return audio.to_wav_bytes(_samples, sample_rate)


# --------------------------------------------------------------------------- sources

@dataclass(frozen=True)
class LoadedInput:
    """An input ready to invert: audio (with its spectrogram) or a bare mel spectrogram."""

    label: str
    kind: str                      # "audio" or "mel"
    samples: np.ndarray | None     # mono float32 at the settings' sample rate
    spec: np.ndarray | None        # power spectrogram (n_stft, time), None for a mel input
    mel: np.ndarray                # (n_mels, time)
    digest: str                    # identifies the input at this sample rate (for caches)
    source_key: str = ""           # identifies the source file
    raw: bytes | None = None       # an upload's file contents, to decode again at another rate


def _digest(*parts) -> str:
    h = hashlib.sha1()
    for part in parts:
        h.update(part if isinstance(part, bytes) else repr(part).encode())
    return h.hexdigest()[:16]


def audio_input(label: str, samples: np.ndarray, settings: Settings, fb: MelFilterbank, key: str,
                raw: bytes | None = None) -> LoadedInput:
    """Spectrogram and mel spectrogram of ``samples`` (source ``key``) for ``settings``."""
    digest = f"{key}@{settings.sample_rate}"
    spec, mel = _analyse(digest, settings.n_fft, settings.hop, fb, samples)
    return LoadedInput(label, "audio", samples, spec, mel, digest, key, raw)


def _upload_key(uploaded, data: bytes) -> str:
    """Streamlit's id of this upload, or a hash of the bytes for a plain file object."""
    file_id = getattr(uploaded, "file_id", None)
    return f"upload:{file_id}:{len(data)}" if file_id else f"bytes:{_digest(data)}"


class NMelsMismatch(InputError):
    """A mel spectrogram whose number of bands differs from the n_mels setting."""

    def __init__(self, found: int, message: str):
        super().__init__(message)
        self.found = found


def _adopt_n_mels(found: int) -> None:
    st.session_state["n_mels"] = found


def load_upload(uploaded, settings: Settings, fb: MelFilterbank, *, kind: str) -> LoadedInput:
    """An ``UploadedFile`` (audio or a mel ``.npy``) as a :class:`LoadedInput`.

    Raises :class:`InputError` with a message for the user. This is exactly what the page
    runs for an upload, so tests can drive it with an in-memory file.
    """
    data = uploaded.getvalue()
    name = getattr(uploaded, "name", "upload")
    if kind == "npy":
        mel = audio.load_melspec(data, name=name)
        if mel.ndim > 2:
            mel = mel.reshape(-1, *mel.shape[-2:])[0]
        if mel.shape[-2] != settings.n_mels:
            raise NMelsMismatch(mel.shape[-2], f"{name} has {mel.shape[-2]} mel bands but n_mels is "
                                f"{settings.n_mels}. Set n_mels to {mel.shape[-2]} (and the sample rate, n_fft "
                                "and f_min/f_max it was made with).")
        return LoadedInput(f"mel spectrogram {name}", "mel", None, None, mel, _upload_key(uploaded, data))
    key = _upload_key(uploaded, data)
    samples = _decode(key, settings.sample_rate, data, None if kind == "mic" else name)
    return audio_input(f"{'recording' if kind == 'mic' else name}", samples, settings, fb, key, data)


def source_section(settings: Settings, fb: MelFilterbank) -> LoadedInput | None:
    """The input picker; returns the loaded input, or None (with an error shown under it).

    A failed load never discards anything: the last good input of that kind is kept
    (and used if the widget is empty, e.g. after visiting another page).
    """
    state = st.session_state
    remembered = state.setdefault(INPUTS, {})
    kind = st.radio("Input", list(SOURCES), key="source", horizontal=True, format_func=SOURCES.get)
    try:
        if kind == "sample":
            st.selectbox("Sample", list(SAMPLES), key="sample", format_func=lambda k: SAMPLES[k][1])
            name = state["sample"]
            loaded = audio_input(SAMPLES[name][0], _sample_audio(name, settings.sample_rate), settings, fb,
                                 f"sample:{name}")
        else:
            if kind == "upload":
                widget = st.file_uploader("Audio file (WAV, FLAC, OGG, MP3)", type=AUDIO_TYPES, key="upload")
            elif kind == "mic":
                widget = st.audio_input("Record a clip", key="mic", sample_rate=None)
            else:
                widget = st.file_uploader("Mel spectrogram, power, (n_mels, time): .npy or .npz",
                                          type=MEL_TYPES, key="npy")
                _mel_hint(remembered.get("npy"), settings)
            if widget is None:
                earlier = remembered.get(kind)
                if earlier is None:
                    st.info("Choose a file (or record) to invert.", icon=":material/folder_open:")
                    return None
                loaded = _reload(earlier, settings, fb)
                st.caption(f"Using {earlier.label}, loaded earlier.")
            else:
                loaded = load_upload(widget, settings, fb, kind=kind)
    except NMelsMismatch as exc:
        show_error(exc)
        st.button(f"Use n_mels = {exc.found}", key="adopt_n_mels", on_click=_adopt_n_mels, args=(exc.found,))
        return None
    except InputError as exc:
        show_error(exc)
        return None
    if kind != "sample":        # a sample is rebuilt from its name; an upload only lives in its widget
        remembered[kind] = loaded
    return loaded


def _reload(earlier: LoadedInput, settings: Settings, fb: MelFilterbank) -> LoadedInput:
    """An earlier input under the current settings (audio is re-analysed; a mel is as is)."""
    if earlier.kind == "mel":
        if earlier.mel.shape[0] != settings.n_mels:
            raise NMelsMismatch(earlier.mel.shape[0], f"{earlier.label} has {earlier.mel.shape[0]} mel bands but "
                                f"n_mels is {settings.n_mels}; set n_mels to {earlier.mel.shape[0]}.")
        return earlier
    samples = _decode(earlier.source_key, settings.sample_rate, earlier.raw)
    return audio_input(earlier.label, samples, settings, fb, earlier.source_key, earlier.raw)


def _mel_hint(earlier, settings: Settings) -> None:
    st.caption("The mel spectrogram must be a power (not dB) mel spectrogram; set the sample rate, "
               "n_fft, n_mels and f_min/f_max it was made with in the sidebar.")


def show_input(loaded: LoadedInput, settings: Settings) -> None:
    """A one-line description of the input and, for audio, a player."""
    frames = loaded.mel.shape[-1]
    seconds = frames * settings.hop / settings.sample_rate
    if loaded.samples is not None:
        seconds = loaded.samples.size / settings.sample_rate
        st.audio(_wav(loaded.digest, settings.sample_rate, loaded.samples), format="audio/wav")
    st.caption(f"{loaded.label}: {seconds:.1f} s, {frames} frames, mel {loaded.mel.shape[0]} × {frames}")


# --------------------------------------------------------------------------- display

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


# --------------------------------------------------------------------------- home demo

@dataclass(frozen=True)
class Demo:
    png: bytes
    original_wav: bytes
    reconstructed_wav: bytes
    caption: str


@st.cache_data(max_entries=2, show_spinner="Preparing the demo…")
def home_demo(solver: str | None = None) -> Demo:
    """The Home page's ready-made example: the short speech sample through default settings.

    Made once per server; its solve takes CPU slots slice by slice (LiveSolve.advance)."""
    # 40 mel bands (not the default 128): coarse enough that the smearing is plain to see.
    settings = Settings.checked(solver=solver or "", n_mels=40)
    fb = settings.filterbank()
    samples = _sample_audio("speech_short", settings.sample_rate)
    spec, mel = _analyse("sample:speech_short", settings.n_fft, settings.hop, fb, samples)
    _transform, live = pipeline.start_solve(mel, settings)
    while not live.done:
        live.advance(1.0)
    estimate = live.latest.spec
    png = offload.call(plots.render_png, plots.problem_figure, spec, mel, estimate, fb, settings.sample_rate,
                       settings.hop)
    heard = offload.call(pipeline.resynthesize, estimate, settings, reference=samples)
    scores = pipeline.score(estimate, mel, fb, spec)
    caption = (f"{SAMPLES['speech_short'][1]} at {settings.sample_rate} Hz; n_fft {settings.n_fft}, "
               f"{settings.n_mels} HTK mels; solver '{settings.solver}' ({live.steps[-1]} steps). "
               f"The mel bands are matched to {100 * scores['mel_residual']:.2g} %, yet the spectrogram is "
               f"{100 * scores['spectral_convergence']:.0f} % off (spectral convergence).")
    return Demo(png, audio.to_wav_bytes(samples, settings.sample_rate),
                audio.to_wav_bytes(heard, settings.sample_rate), caption)
