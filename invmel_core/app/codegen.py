"""Code that reproduces a :class:`~invmel_core.app.settings.Settings` in each framework, from the
mel spectrogram to the sound.

Every snippet starts from the same file, ``mel.npy`` (the linear mel spectrogram ``(n_mels,
time)`` of ``settings.power``: 2 power, 1 magnitude; the Invert page offers it as a download,
a mel file's compression undone), recovers ``spec`` (the spectrogram ``(n_stft, time)``, same
power) and makes ``audio``, written to ``reconstruction.wav``. The snippets name each
framework's own parameters: torchaudio calls the scale ``mel_scale``, MindSpore ``mel_type``
(an enum) and takes ``sgdargs={"sgd_lr", "sgd_momentum"}``; torchaudio >= 2.1 dropped the SGD
parameters for a least-squares ``driver``; librosa infers ``n_mels`` from the input, wants
``n_fft`` rather than ``n_stft``, spells the scale ``htk=True/False`` and returns a magnitude.
The frameworks make sound by Griffin-Lim on ``spec`` (``GriffinLim``; librosa's
``mel_to_audio``), the cascade; invmel_core by the method of the settings (``mel_to_audio``,
joint by default).
"""

from __future__ import annotations

from invmel_core.errors import InputError
from invmel_core.inverse.mel_audio import DEFAULT_ITERATIONS
from invmel_core.app.settings import Settings

TARGETS = {
    "torchaudio_sgd": "torchaudio ≤ 2.0 (SGD)",
    "torchaudio": "torchaudio ≥ 2.1 (least squares)",
    "mindspore": "MindSpore",
    "librosa": "librosa",
    "invmel_core": "invmel_core",
}


def _num(value: float) -> str:
    """A float literal that round-trips (``0.0``, ``1e-05``, ``11025.0``)."""
    return repr(float(value))


def _f_max(settings: Settings) -> str:
    return "None" if settings.f_max is None else _num(settings.f_max)


def _mel_line(settings: Settings, load: str = "np.load(\"mel.npy\")") -> str:
    kind = "power" if settings.power == 2 else "magnitude"
    return f"mel = {load}  # linear mel spectrogram of {kind}s (power={settings.power:g}), (n_mels, time)"


def _griffinlim_iterations(settings: Settings) -> int:
    """The frameworks' sound is the cascade: its iterations (the settings', else 32)."""
    return settings.n_iter if settings.n_iter is not None else DEFAULT_ITERATIONS["cascade"]


def _write(settings: Settings, samples: str = "audio") -> str:
    return f"soundfile.write(\"reconstruction.wav\", {samples}, {settings.sample_rate})"


def torchaudio_sgd(settings: Settings) -> str:
    """torchaudio <= 2.0: ``InverseMelScale`` with SGD from ``torch.manual_seed``, then
    ``GriffinLim``."""
    s = settings
    return "\n".join([
        "# torchaudio <= 2.0 (InverseMelScale solved by SGD from a random start; sound by Griffin-Lim)",
        "import numpy as np",
        "import soundfile",
        "import torch",
        "import torchaudio",
        "",
        _mel_line(s, "torch.from_numpy(np.load(\"mel.npy\"))"),
        f"torch.manual_seed({s.seed})  # the random start",
        "inverse = torchaudio.transforms.InverseMelScale(",
        f"    n_stft={s.n_stft}, n_mels={s.n_mels}, sample_rate={s.sample_rate},",
        f"    f_min={_num(s.f_min)}, f_max={_f_max(s)},",
        f"    max_iter={s.max_iter}, tolerance_loss={s.tolerance_loss!r}, tolerance_change={s.tolerance_change!r},",
        f"    sgdargs={{\"lr\": {s.lr!r}, \"momentum\": {s.momentum!r}}},",
        f"    norm={s.norm!r}, mel_scale={s.mel_type!r},",
        ")",
        "spec = inverse(mel)  # (n_stft, time)",
        *_torchaudio_sound(s),
    ]) + "\n"


def _torchaudio_sound(s: Settings) -> list[str]:
    return [
        f"griffin_lim = torchaudio.transforms.GriffinLim(n_fft={s.n_fft}, hop_length={s.hop}, power={_num(s.power)},",
        f"                                               n_iter={_griffinlim_iterations(s)})",
        "audio = griffin_lim(spec).numpy()",
        _write(s),
    ]


def torchaudio_lstsq(settings: Settings) -> str:
    """torchaudio >= 2.1: ``InverseMelScale`` by least squares (``driver``), clamped at 0,
    then ``GriffinLim``."""
    s = settings
    return "\n".join([
        "# torchaudio >= 2.1 (InverseMelScale solved by least squares; negative parts set to 0; sound by Griffin-Lim)",
        "import numpy as np",
        "import soundfile",
        "import torch",
        "import torchaudio",
        "",
        _mel_line(s, "torch.from_numpy(np.load(\"mel.npy\"))"),
        "inverse = torchaudio.transforms.InverseMelScale(",
        f"    n_stft={s.n_stft}, n_mels={s.n_mels}, sample_rate={s.sample_rate},",
        f"    f_min={_num(s.f_min)}, f_max={_f_max(s)},",
        f"    norm={s.norm!r}, mel_scale={s.mel_type!r},",
        "    driver=\"gelsd\",  # SVD, as invmel_core's 'lstsq'; the default 'gels' breaks on empty filters",
        ")",
        "spec = inverse(mel)  # (n_stft, time)",
        *_torchaudio_sound(s),
    ]) + "\n"


def mindspore(settings: Settings) -> str:
    """MindSpore: ``mindspore.dataset.audio.InverseMelScale`` from ``ds.config.set_seed``, then
    its ``GriffinLim``."""
    s = settings
    norm = "NormType.SLANEY" if s.norm == "slaney" else "NormType.NONE"
    mel_type = "MelType.SLANEY" if s.mel_type == "slaney" else "MelType.HTK"
    return "\n".join([
        "# MindSpore (InverseMelScale solved by gradient descent from a random start; sound by Griffin-Lim)",
        "import numpy as np",
        "import soundfile",
        "import mindspore.dataset as ds",
        "from mindspore.dataset.audio import GriffinLim, InverseMelScale, MelType, NormType",
        "",
        _mel_line(s, "np.load(\"mel.npy\").astype(np.float32)"),
        f"ds.config.set_seed({s.seed})  # the random start",
        "inverse = InverseMelScale(",
        f"    n_stft={s.n_stft}, n_mels={s.n_mels}, sample_rate={s.sample_rate},",
        f"    f_min={_num(s.f_min)}, f_max={_f_max(s)},",
        f"    max_iter={s.max_iter}, tolerance_loss={s.tolerance_loss!r}, tolerance_change={s.tolerance_change!r},",
        f"    sgdargs={{\"sgd_lr\": {s.lr!r}, \"sgd_momentum\": {s.momentum!r}}},",
        f"    norm={norm}, mel_type={mel_type},",
        ")",
        "spec = inverse(mel)[0]  # MindSpore returns (1, n_stft, time) for a 2-D input",
        f"griffin_lim = GriffinLim(n_fft={s.n_fft}, n_iter={_griffinlim_iterations(s)}, hop_length={s.hop}, "
        f"power={_num(s.power)})",
        "audio = griffin_lim(spec)",
        _write(s),
    ]) + "\n"


def librosa_code(settings: Settings) -> str:
    """librosa: ``mel_to_stft`` (non-negative least squares, a magnitude), then Griffin-Lim as
    ``mel_to_audio`` does it."""
    s = settings
    return "\n".join([
        "# librosa (mel_to_stft: non-negative least squares, returns a magnitude; sound as mel_to_audio makes it)",
        "import numpy as np",
        "import librosa",
        "import soundfile",
        "",
        _mel_line(s),
        "magnitude = librosa.feature.inverse.mel_to_stft(",
        f"    mel, sr={s.sample_rate}, n_fft={s.n_fft}, power={_num(s.power)},",
        f"    fmin={_num(s.f_min)}, fmax={_num(s.nyquist)}, htk={s.mel_type == 'htk'}, norm={s.norm!r},",
        ")",
        f"spec = magnitude ** {_num(s.power)}  # back to the mel's power, (n_stft, time)",
        "# librosa.feature.inverse.mel_to_audio(mel, ...) is mel_to_stft, then this (here without solving twice):",
        f"audio = librosa.griffinlim(magnitude, n_iter={_griffinlim_iterations(s)}, hop_length={s.hop}, n_fft={s.n_fft})",
        _write(s),
    ]) + "\n"


def invmel_core_code(settings: Settings) -> str:
    """This project's core, with every setting spelled out, and its sound as the app makes it
    (at the level the mel implies): the joint method from the mel, or Griffin-Lim on ``spec``."""
    s = settings
    if s.method == "joint":
        sound = ["audio = mel_to_audio(  # magnitude and phase found together, from the mel",
                 f"    mel, sample_rate={s.sample_rate}, n_fft={s.n_fft}, hop_length={s.hop}, power={_num(s.power)},",
                 f"    f_min={_num(s.f_min)}, f_max={_f_max(s)}, mel_type={s.mel_type!r}, norm={s.norm!r},",
                 f"    method=\"joint\", n_iter={s.sound_iterations}, seed={s.seed},",
                 ")"]
        imports = "from invmel_core import InverseMelScale, mel_to_audio"
    else:
        sound = [f"audio = griffinlim(spec, n_fft={s.n_fft}, hop_length={s.hop}, power={_num(s.power)}, "
                 f"n_iter={s.sound_iterations}, seed={s.seed})  # the cascade"]
        imports = "from invmel_core import InverseMelScale, griffinlim"
    return "\n".join([
        f"# invmel_core (solver {s.solver!r}; sound by the {s.method} method)",
        "import numpy as np",
        "import soundfile",
        imports,
        "",
        _mel_line(s),
        "inverse = InverseMelScale(",
        f"    n_stft={s.n_stft}, n_mels={s.n_mels}, sample_rate={s.sample_rate},",
        f"    f_min={_num(s.f_min)}, f_max={_f_max(s)},",
        f"    max_iter={s.max_iter}, tolerance_loss={s.tolerance_loss!r}, tolerance_change={s.tolerance_change!r},",
        f"    sgdargs={{\"lr\": {s.lr!r}, \"momentum\": {s.momentum!r}}},",
        f"    norm={s.norm!r}, mel_type={s.mel_type!r}, solver={s.solver!r}, seed={s.seed},",
        ")",
        "spec = inverse(mel)  # (n_stft, time)",
        *sound,
        _write(s),
    ]) + "\n"


_GENERATORS = {
    "torchaudio_sgd": torchaudio_sgd,
    "torchaudio": torchaudio_lstsq,
    "mindspore": mindspore,
    "librosa": librosa_code,
    "invmel_core": invmel_core_code,
}


def generate(settings: Settings, target: str) -> str:
    """Python source that reproduces ``settings`` with ``target`` (a key of :data:`TARGETS`).

    Examples
    --------
    >>> print(generate(Settings.checked(n_fft=400, n_mels=80, sample_rate=16000), "librosa"))
    ... # doctest: +ELLIPSIS
    # librosa (mel_to_stft: ...)
    ...
        mel, sr=16000, n_fft=400, power=2.0,
        fmin=0.0, fmax=8000.0, htk=True, norm=None,
    ...
    audio = librosa.griffinlim(magnitude, n_iter=32, hop_length=100, n_fft=400)
    ...
    """
    if not isinstance(settings, Settings):
        raise InputError(f"settings must be an invmel_core.app.settings.Settings, got {type(settings).__name__}")
    if target not in _GENERATORS:
        raise InputError(f"target must be one of {sorted(_GENERATORS)}, got {target!r}")
    return _GENERATORS[target](settings)


def generate_all(settings: Settings) -> dict[str, str]:
    """``{target: code}`` for every target, in :data:`TARGETS` order."""
    return {target: generate(settings, target) for target in TARGETS}
