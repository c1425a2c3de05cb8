"""Code that reproduces a :class:`~invmel_core.settings.Settings` in each framework.

Every snippet starts from the same file, ``mel.npy`` (a power mel spectrogram
``(n_mels, time)``, which the app offers as a download), and ends with ``spec``, the
recovered power spectrogram ``(n_stft, time)``. The snippets name each framework's own
parameters: torchaudio calls the scale ``mel_scale``, MindSpore ``mel_type`` (an enum)
and takes ``sgdargs={"sgd_lr", "sgd_momentum"}``; torchaudio >= 2.1 dropped the SGD
parameters for a least-squares ``driver``; librosa infers ``n_mels`` from the input, wants
``n_fft`` rather than ``n_stft``, spells the scale ``htk=True/False`` and returns a
magnitude (hence the ``** 2``).
"""

from __future__ import annotations

from .errors import InputError
from .settings import Settings

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


def torchaudio_sgd(settings: Settings) -> str:
    """torchaudio <= 2.0: ``InverseMelScale`` with SGD from ``torch.manual_seed``."""
    s = settings
    return "\n".join([
        "# torchaudio <= 2.0 (InverseMelScale solved by SGD from a random start)",
        "import numpy as np",
        "import torch",
        "import torchaudio",
        "",
        "mel = torch.from_numpy(np.load(\"mel.npy\"))  # power mel spectrogram, (n_mels, time)",
        f"torch.manual_seed({s.seed})  # the random start",
        "inverse = torchaudio.transforms.InverseMelScale(",
        f"    n_stft={s.n_stft}, n_mels={s.n_mels}, sample_rate={s.sample_rate},",
        f"    f_min={_num(s.f_min)}, f_max={_f_max(s)},",
        f"    max_iter={s.max_iter}, tolerance_loss={s.tolerance_loss!r}, tolerance_change={s.tolerance_change!r},",
        f"    sgdargs={{\"lr\": {s.lr!r}, \"momentum\": {s.momentum!r}}},",
        f"    norm={s.norm!r}, mel_scale={s.mel_type!r},",
        ")",
        "spec = inverse(mel)  # (n_stft, time)",
    ]) + "\n"


def torchaudio_lstsq(settings: Settings) -> str:
    """torchaudio >= 2.1: ``InverseMelScale`` by least squares (``driver``), clamped at 0."""
    s = settings
    return "\n".join([
        "# torchaudio >= 2.1 (InverseMelScale solved by least squares; negative parts set to 0)",
        "import numpy as np",
        "import torch",
        "import torchaudio",
        "",
        "mel = torch.from_numpy(np.load(\"mel.npy\"))  # power mel spectrogram, (n_mels, time)",
        "inverse = torchaudio.transforms.InverseMelScale(",
        f"    n_stft={s.n_stft}, n_mels={s.n_mels}, sample_rate={s.sample_rate},",
        f"    f_min={_num(s.f_min)}, f_max={_f_max(s)},",
        f"    norm={s.norm!r}, mel_scale={s.mel_type!r},",
        "    driver=\"gelsd\",  # SVD, as invmel_core's 'lstsq'; the default 'gels' breaks on empty filters",
        ")",
        "spec = inverse(mel)  # (n_stft, time)",
    ]) + "\n"


def mindspore(settings: Settings) -> str:
    """MindSpore: ``mindspore.dataset.audio.InverseMelScale`` from ``ds.config.set_seed``."""
    s = settings
    norm = "NormType.SLANEY" if s.norm == "slaney" else "NormType.NONE"
    mel_type = "MelType.SLANEY" if s.mel_type == "slaney" else "MelType.HTK"
    return "\n".join([
        "# MindSpore (InverseMelScale solved by gradient descent from a random start)",
        "import numpy as np",
        "import mindspore.dataset as ds",
        "from mindspore.dataset.audio import InverseMelScale, MelType, NormType",
        "",
        "mel = np.load(\"mel.npy\").astype(np.float32)  # power mel spectrogram, (n_mels, time)",
        f"ds.config.set_seed({s.seed})  # the random start",
        "inverse = InverseMelScale(",
        f"    n_stft={s.n_stft}, n_mels={s.n_mels}, sample_rate={s.sample_rate},",
        f"    f_min={_num(s.f_min)}, f_max={_f_max(s)},",
        f"    max_iter={s.max_iter}, tolerance_loss={s.tolerance_loss!r}, tolerance_change={s.tolerance_change!r},",
        f"    sgdargs={{\"sgd_lr\": {s.lr!r}, \"sgd_momentum\": {s.momentum!r}}},",
        f"    norm={norm}, mel_type={mel_type},",
        ")",
        "spec = inverse(mel)[0]  # MindSpore returns (1, n_stft, time) for a 2-D input",
    ]) + "\n"


def librosa_code(settings: Settings) -> str:
    """librosa: ``mel_to_stft`` (non-negative least squares), squared back to power."""
    s = settings
    return "\n".join([
        "# librosa (mel_to_stft: non-negative least squares, returns a magnitude)",
        "import numpy as np",
        "import librosa",
        "",
        "mel = np.load(\"mel.npy\")  # power mel spectrogram, (n_mels, time)",
        "magnitude = librosa.feature.inverse.mel_to_stft(",
        f"    mel, sr={s.sample_rate}, n_fft={s.n_fft}, power=2.0,",
        f"    fmin={_num(s.f_min)}, fmax={_num(s.nyquist)}, htk={s.mel_type == 'htk'}, norm={s.norm!r},",
        ")",
        "spec = magnitude ** 2  # back to power, (n_stft, time)",
    ]) + "\n"


def invmel_core_code(settings: Settings) -> str:
    """This project's core, with every setting spelled out."""
    s = settings
    return "\n".join([
        f"# invmel_core (solver {s.solver!r})",
        "import numpy as np",
        "from invmel_core import InverseMelScale",
        "",
        "mel = np.load(\"mel.npy\")  # power mel spectrogram, (n_mels, time)",
        "inverse = InverseMelScale(",
        f"    n_stft={s.n_stft}, n_mels={s.n_mels}, sample_rate={s.sample_rate},",
        f"    f_min={_num(s.f_min)}, f_max={_f_max(s)},",
        f"    max_iter={s.max_iter}, tolerance_loss={s.tolerance_loss!r}, tolerance_change={s.tolerance_change!r},",
        f"    sgdargs={{\"lr\": {s.lr!r}, \"momentum\": {s.momentum!r}}},",
        f"    norm={s.norm!r}, mel_type={s.mel_type!r}, solver={s.solver!r}, seed={s.seed},",
        ")",
        "spec = inverse(mel)  # (n_stft, time)",
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
    """
    if not isinstance(settings, Settings):
        raise InputError(f"settings must be an invmel_core.settings.Settings, got {type(settings).__name__}")
    if target not in _GENERATORS:
        raise InputError(f"target must be one of {sorted(_GENERATORS)}, got {target!r}")
    return _GENERATORS[target](settings)


def generate_all(settings: Settings) -> dict[str, str]:
    """``{target: code}`` for every target, in :data:`TARGETS` order."""
    return {target: generate(settings, target) for target in TARGETS}
