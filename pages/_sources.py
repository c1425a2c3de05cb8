"""The input picker and what it loads: bundled samples, uploads, the microphone, mel files
(Streamlit only; loading and analysis are invmel_core's).

:func:`source_section` draws the picker (keys ``source``, ``sample``, ``upload``, ``mic``,
``npy``), loads the input, shows an ``st.error`` right under it when it is bad, and remembers
the last good input of each kind. Decoded audio and its analysis are cached once per server.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import streamlit as st

from invmel_core import InputError, MelFilterbank
from invmel_core.io import audio
from invmel_core.io import loading
from invmel_core.app import offload
from invmel_core.app import workflow as pipeline
from invmel_core.app.mel_input import MelReading, read_mel
from invmel_core.app.settings import SAMPLES, Settings, sample_path
from pages import _server
from pages import _state as session
from pages._widgets import show_error

INPUTS = "_inputs"             # last good LoadedInput per source kind
SOURCES = {
    "sample": "Bundled sample",
    "upload": "Upload audio",
    "mic": "Microphone",
    "npy": "Mel spectrogram (.npy)",
}


# Decoded audio and its analysis are kept once per server, keyed by a short id of the source
# (hashing megabytes of samples on every rerun would cost more than the page), and shared
# read-only (the object itself, no copy). The big ones (an upload's samples, spectrograms) are on
# shelves bounded in bytes and dropped 90 s after their last use (pages/_server.py): a 4-minute
# input is 21 MB of samples, 42 MB of spectrogram and 5 MB of mel, and a class's inputs must not
# outlive the class. Audio is decoded in a worker process: resampling imports librosa (and
# numba), ~150 MiB the server would keep for good.

_DECODED, _ANALYSED, _STORED, _READINGS, _WAVS = (
    _server.Shelf(name) for name in ("decoded", "analysed", "stored mel", "readings", "wav"))


def _read_only(*arrays: np.ndarray) -> None:
    for array in arrays:
        array.setflags(write=False)


def _load(source, sample_rate: int, name: str | None = None) -> np.ndarray:
    samples = offload.call(loading.load_audio, source, sample_rate, name=name)[0]
    _read_only(samples)
    return samples


def _decode(key: str, sample_rate: int, _data: bytes, name: str | None = None) -> np.ndarray:
    return _DECODED.get((key, sample_rate, name), lambda: _load(_data, sample_rate, name))


@st.cache_resource(max_entries=8, show_spinner=False)
def _sample_audio(name: str, sample_rate: int) -> np.ndarray:
    """A bundled sample (a few seconds each)."""
    return _load(str(sample_path(name)), sample_rate)


def _analyse(key: str, n_fft: int, hop: int, fb: MelFilterbank, power: float, _samples: np.ndarray):
    """(spectrogram, mel spectrogram) of ``power`` of the samples identified by ``key``."""
    def make():
        spec, mel = pipeline.analyse(_samples, fb, n_fft, hop, power)
        _read_only(spec, mel)
        return spec, mel

    return _ANALYSED.get((key, n_fft, hop, fb, power), make)


def _stored_mel(key: str, _data: bytes, name: str) -> np.ndarray:
    """A mel file's values as stored (its first item if batched), never unpickled."""
    def make():
        stored = pipeline.first_item(loading.load_melspec(_data, name=name, compressed=True))
        _read_only(stored)
        return stored

    return _STORED.get((key, name), make)


def _reading(key: str, settings: Settings, _stored: np.ndarray) -> MelReading:
    """The stored values made linear for ``settings`` (their compression and format)."""
    def make():
        reading = read_mel(_stored, settings)
        _read_only(reading.mel)
        return reading

    return _READINGS.get((key, settings), make)


def _wav(key: str, sample_rate: int, _samples: np.ndarray) -> bytes:
    return _WAVS.get((key, sample_rate), lambda: audio.to_wav_bytes(_samples, sample_rate))


# --------------------------------------------------------------------------- sources

@dataclass(frozen=True)
class LoadedInput(pipeline.Problem):
    """A :class:`~invmel_core.app.workflow.Problem` (audio at the settings' sample rate with its
    spectrogram, or a bare mel spectrogram) and where it came from, for the caches."""

    digest: str = ""               # identifies the input at this sample rate (for caches)
    source_key: str = ""           # identifies the source file
    raw: bytes | None = None       # an upload's file contents, to decode again at another rate
    name: str = ""                 # an upload's file name
    reading: MelReading | None = None  # a mel file: how its values were made linear


def _digest(*parts) -> str:
    h = hashlib.sha1()
    for part in parts:
        h.update(part if isinstance(part, bytes) else repr(part).encode())
    return h.hexdigest()[:16]


def audio_input(label: str, samples: np.ndarray, settings: Settings, fb: MelFilterbank, key: str,
                raw: bytes | None = None) -> LoadedInput:
    """Spectrogram and mel spectrogram of ``samples`` (source ``key``) for ``settings``."""
    digest = f"{key}@{settings.sample_rate}"
    spec, mel = _analyse(digest, settings.n_fft, settings.hop, fb, settings.power, samples)
    return LoadedInput(label, mel, samples, spec, digest=digest, source_key=key, raw=raw)


def _upload_key(uploaded, data: bytes) -> str:
    """Streamlit's id of this upload, or a hash of the bytes for a plain file object."""
    file_id = getattr(uploaded, "file_id", None)
    return f"upload:{file_id}:{len(data)}" if file_id else f"bytes:{_digest(data)}"


class NMelsMismatch(InputError):
    """A mel spectrogram whose number of bands differs from the n_mels setting. ``upload``
    names it when its other axis has n_mels entries (it looks saved as ``(time, n_mels)``);
    ``other`` is the number of entries of that other axis, another possible n_mels."""

    def __init__(self, found: int, message: str, upload: str | None = None, other: int | None = None,
                 source: str | None = None):
        super().__init__(message)
        self.found, self.other = found, other
        self.transposed_upload = upload
        self.source = source


TRANSPOSED = "_npy_transposed"   # uploads the user asked to read as (time, n_mels)
MEL_FILE = "_mel_file"           # (upload key, name, values as stored) of the mel file on screen


def _adopt_n_mels(found: int, transposed_upload: str | None = None) -> None:
    session.adopt("n_mels", found)
    if transposed_upload:
        set_transposed(transposed_upload, True)


def set_transposed(upload: str, transposed: bool) -> None:
    """Read the upload ``upload`` as ``(time, n_mels)`` (True) or as stored (False)."""
    chosen = st.session_state.setdefault(TRANSPOSED, set())
    (chosen.add if transposed else chosen.discard)(upload)


def _mel_bands(mel: np.ndarray, name: str, key: str, settings: Settings) -> np.ndarray:
    """``mel`` (2-D) transposed if the user asked; refused with :class:`NMelsMismatch` if
    its bands are not n_mels."""
    if key in st.session_state.get(TRANSPOSED, ()):
        mel = np.ascontiguousarray(mel.T)
    found = mel.shape[-2]
    if found == settings.n_mels:
        return mel
    if mel.shape[-1] == settings.n_mels:
        raise NMelsMismatch(found, f"{name} has {found} rows and {mel.shape[-1]} columns: it looks saved as "
                            f"(time, n_mels) with n_mels = {settings.n_mels}, while this app reads "
                            "(n_mels, time).", upload=key, source=key)
    other = mel.shape[-1] if mel.shape[-1] < found else None    # fewer columns than rows: maybe the bands
    hint = (f" Or, if it holds (time, n_mels), it has {other} mel bands." if other else "")
    raise NMelsMismatch(found, f"{name} has {found} mel bands but n_mels is {settings.n_mels}. Set n_mels to "
                        f"{found} (and the sample rate, n_fft and f_min/f_max it was made with), or choose its "
                        f"format.{hint}", other=other, source=key)


def mel_file_input(data: bytes, name: str, key: str, settings: Settings) -> LoadedInput:
    """A mel file (``.npy``/``.npz``, values as a model stores them) as a :class:`LoadedInput`:
    read as stored, oriented, its compression undone for ``settings``. Remembers the stored
    values (``MEL_FILE``) even when n_mels does not match, for the "Which settings fit?" panel."""
    stored = _stored_mel(key, data, name)
    st.session_state[MEL_FILE] = (key, name, stored)
    oriented = _mel_bands(stored, name, key, settings)
    flipped = oriented is not stored
    reading = _reading(f"{key}{'T' if flipped else ''}", settings, oriented)
    digest = f"{key}{'T' if flipped else ''}:{reading.compression.label}:{settings.power:g}"
    return LoadedInput(f"mel spectrogram {name}", reading.mel, stored=oriented, compression=reading.compression,
                       digest=digest, source_key=key, raw=data, name=name, reading=reading)


def load_upload(uploaded, settings: Settings, fb: MelFilterbank, *, kind: str) -> LoadedInput:
    """An ``UploadedFile`` (audio or a mel ``.npy``) as a :class:`LoadedInput`.

    Raises :class:`InputError` with a message for the user. This is exactly what the page
    runs for an upload, so tests can drive it with an in-memory file.
    """
    data = uploaded.getvalue()
    name = getattr(uploaded, "name", "upload")
    if kind == "npy":
        return mel_file_input(data, name, _upload_key(uploaded, data), settings)
    key = _upload_key(uploaded, data)
    samples = _decode(key, settings.sample_rate, data, None if kind == "mic" else name)
    return audio_input(f"{'recording' if kind == 'mic' else name}", samples, settings, fb, key, data)


def source_section(settings: Settings, fb: MelFilterbank, *, mel_tools=None) -> LoadedInput | None:
    """The input picker; returns the loaded input, or None (with an error shown under it).

    A failed load never discards anything: the last good input of that kind is kept
    (and used if the widget is empty, e.g. after visiting another page). ``mel_tools()``,
    if given, draws under the mel file uploader (the Invert page's format choice).
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
                widget = st.file_uploader(f"Audio file ({loading.SUPPORTED_AUDIO})", type=list(loading.AUDIO_EXTENSIONS), key="upload")
            elif kind == "mic":
                widget = st.audio_input("Record a clip", key="mic", sample_rate=None)
            else:
                widget = st.file_uploader("Mel spectrogram as your model stores it: .npy or .npz",
                                          type=list(loading.MELSPEC_EXTENSIONS), key="npy")
                st.caption("Values as stored (ln, log10, dB, Whisper's, or linear: read off the values), "
                           "(n_mels, time) or (time, n_mels). Pick its format, or set the sample rate, n_fft, hop, "
                           "n_mels, f_min/f_max and power it was made with in the sidebar.")
                if mel_tools is not None:
                    mel_tools()
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
        _offer_fixes(exc)
        return None
    except InputError as exc:
        show_error(exc)
        return None
    if kind != "sample":        # a sample is rebuilt from its name; an upload only lives in its widget
        remembered[kind] = loaded
    return loaded


def _offer_fixes(exc: NMelsMismatch) -> None:
    """The error, and a button for each fix that will work: read the file transposed (with
    n_mels its number of columns, when that differs), or set n_mels to its number of rows
    (only if n_mels can be that; 2000 cannot)."""
    from pages._mel_input import propose_format   # the Invert page's mel tools (they import this module)

    mel_file = st.session_state.get(MEL_FILE)
    proposed = mel_file is not None and mel_file[0] == exc.source and propose_format(exc.source, mel_file[2])
    refused = session.refusal("n_mels", exc.found)
    message = f"{exc} ({refused}.)" if refused and not exc.transposed_upload else str(exc)
    if proposed is True:   # the proposal comes first; the mismatch is the detail, not a red error
        st.caption(f"Or set it yourself: {message}")
    else:
        show_error(message)
        if proposed:       # why no preset was proposed (several fit with other durations, ...)
            st.caption(f"No preset is proposed: {proposed}")
    if exc.transposed_upload:
        st.button("Read it as (time, n_mels)", key="transpose_npy", type="primary", on_click=set_transposed,
                  args=(exc.transposed_upload, True))
    elif exc.other and not session.refusal("n_mels", exc.other):
        st.button(f"Read it as (time, n_mels): n_mels = {exc.other}", key="transpose_adopt_npy", type="primary",
                  on_click=_adopt_n_mels, args=(exc.other, exc.source))
    if not refused:
        st.button(f"Use n_mels = {exc.found}", key="adopt_n_mels", on_click=_adopt_n_mels, args=(exc.found,))


def _reload(earlier: LoadedInput, settings: Settings, fb: MelFilterbank) -> LoadedInput:
    """An earlier input under the current settings (audio is re-analysed; a mel file is read
    again if n_mels or its orientation changed since)."""
    if earlier.kind == "mel":
        return mel_file_input(earlier.raw, earlier.name, earlier.source_key, settings)
    samples = _decode(earlier.source_key, settings.sample_rate, earlier.raw)
    return audio_input(earlier.label, samples, settings, fb, earlier.source_key, earlier.raw)


def show_input(loaded: LoadedInput, settings: Settings) -> None:
    """A one-line description of the input and, for audio, a player (a mel file's duration
    is what its frames imply at the settings' hop and sample rate)."""
    frames = loaded.mel.shape[-1]
    seconds = settings.duration(frames)
    if loaded.samples is not None:
        seconds = loaded.samples.size / settings.sample_rate
        st.audio(_wav(loaded.digest, settings.sample_rate, loaded.samples), format="audio/wav")
    st.caption(f"{loaded.label}: {seconds:.1f} s, {frames} frames, mel {loaded.mel.shape[0]} × {frames}")
