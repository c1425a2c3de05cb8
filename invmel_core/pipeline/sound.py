"""One way from a mel spectrogram to sound, for every door (the app's players and downloads, the
command line, batch): the method, its iterations, the seed, the framing and the loudness are
explicit options, each with one default.

- ``method="joint"``: :func:`invmel_core.mel_to_audio` finds magnitude and phase together
  from the linear mel; ``"cascade"``: Griffin-Lim on a solver's spectrogram ``estimate``.
- ``seed=0``: the same input always sounds the same.
- ``fidelity="exact"``: the joint method holds the mel exactly; ``"soft"`` less so, for a model's
  prediction, which is not the mel of any sound (see :mod:`invmel_core.inverse.mel_fidelity`).
- ``framing``, ``pad_mode``, ``drop_last_frame``: the mel's STFT geometry, as a
  :class:`~invmel_core.MelFormat` has it (``"center"`` frames with ``"reflect"`` padding are
  torch's; HiFi-GAN and BigVGAN pad by hand, ``"same"``; librosa pads with zeros; Whisper drops
  the last frame). The joint method inverts that geometry exactly, so the sound is in time
  with the original; the cascade's Griffin-Lim runs on centred frames and is delayed half a
  hop for ``"same"``.
- ``loudness``: ``"natural"`` (default: the level the mel implies, scaled down only where it
  would clip), ``"reference"`` (the RMS of ``reference``, e.g. the original, so two sounds
  compare by ear) or a number, an RMS level in dBFS (``-20`` for comfortable playback).

Examples
--------
>>> import numpy as np
>>> from invmel_core import MelFilterbank
>>> fb = MelFilterbank(129, 0.0, None, 16, 8000)
>>> mel = fb.banded.project(np.ones((129, 20), np.float32))
>>> y = make_sound(mel, sample_rate=8000, n_fft=256, hop_length=64, power=2.0, n_iter=4)
>>> y.shape, y.dtype
((1216,), dtype('float32'))
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from invmel_core.dsp import phase
from invmel_core.dsp.metrics import first_item
from invmel_core.errors import InputError
from invmel_core.inverse.mel_audio import DEFAULT_ITERATIONS, METHODS, mel_to_audio
from invmel_core.io.audio import match_loudness
from invmel_core.validation import check_choice, check_number

DEFAULT_SEED = 0
FRAMINGS = ("center", "same")
LOUDNESS = ("natural", "reference")
PEAK_LIMIT = 0.99   # "natural" loudness keeps the mel's level unless the sound would clip


def make_sound(mel: np.ndarray | None = None, *, sample_rate: int, n_fft: int, hop_length: int,
               power: float, win_length: int | None = None, f_min: float = 0.0, f_max: float | None = None,
               mel_type: str = "htk", norm: str | None = None, method: str = "joint", n_iter: int | None = None,
               fidelity: str = "exact",
               seed: int = DEFAULT_SEED, framing: str = "center", pad_mode: str = "reflect",
               drop_last_frame: bool = False, loudness: str | float = "natural",
               reference: np.ndarray | None = None, estimate: np.ndarray | None = None,
               length: int | None = None, max_seconds: float | None = None,
               progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """The sound of the first item of ``mel`` (linear, ``(..., n_mels, time)`` of ``power``), or of
    ``estimate`` for ``method="cascade"`` (see the module's text for the options).

    ``length`` (samples; default: ``reference``'s, if given) fixes the output's length;
    ``max_seconds`` makes only the beginning (``reference`` is cut to match).

    See Also
    --------
    invmel_core.mel_to_audio : the joint method itself.
    invmel_core.griffinlim : the cascade's phase.
    """
    method = check_choice("method", method, METHODS)
    framing = check_choice("framing", framing, FRAMINGS)
    loudness = check_loudness(loudness)
    if loudness == "reference" and reference is None:
        raise InputError("loudness='reference' needs the reference sound (reference=)")
    source = mel if method == "joint" else estimate
    if source is None:
        raise InputError(f"the {method} method makes sound from "
                         + ("the mel spectrogram: pass mel" if method == "joint" else
                            "the solver's estimate: pass estimate="))
    source = first_item(source)
    if max_seconds is not None:
        n_samples = max(1, int(check_number("max_seconds", max_seconds, minimum=0.0) * sample_rate))
        source = source[:, : 1 + n_samples // hop_length]
        if reference is not None:
            reference = np.asarray(reference)[:n_samples]
    if length is None and reference is not None:
        length = int(np.size(reference))
    n_iter = DEFAULT_ITERATIONS[method] if n_iter is None else n_iter
    if method == "joint":
        samples = mel_to_audio(source, sample_rate=sample_rate, n_fft=n_fft, hop_length=hop_length,
                               win_length=win_length, power=power, f_min=f_min, f_max=f_max, mel_type=mel_type,
                               norm=norm, n_iter=n_iter, length=length, seed=seed, progress=progress,
                               framing=framing, pad_mode=pad_mode, drop_last_frame=drop_last_frame,
                               fidelity=fidelity)
    else:
        samples = phase.griffinlim(source, n_fft, hop_length, power, n_iter, seed, length, win_length,
                                   progress=progress)
        if framing == "same":   # frame t sits at t * hop + hop / 2, Griffin-Lim's at t * hop: delay by that
            shift = min(hop_length // 2, samples.size)
            samples = np.concatenate([np.zeros(shift, np.float32), samples[:samples.size - shift]])
    return set_loudness(samples, loudness, reference)


def check_loudness(loudness) -> str | float:
    """``"natural"``, ``"reference"``, or an RMS level in dBFS (a number <= 0, or its text).

    >>> check_loudness("-20"), check_loudness("natural")
    (-20.0, 'natural')
    """
    if isinstance(loudness, str) and loudness in LOUDNESS:
        return loudness
    try:
        level = float(loudness) if isinstance(loudness, str) else loudness
    except ValueError:
        level = None
    if level is None or isinstance(level, bool):
        raise InputError(f"loudness must be one of {', '.join(LOUDNESS)} or an RMS level in dBFS "
                         f"(e.g. -20), got {loudness!r}")
    return check_number("loudness (dBFS)", level, maximum=0.0, minimum=-120.0)


def set_loudness(samples: np.ndarray, loudness: str | float = "natural",
                 reference: np.ndarray | None = None) -> np.ndarray:
    """``samples`` at ``loudness`` (see the module's text); silence stays silence.

    >>> set_loudness(np.array([0.5, -2.0], np.float32))            # would clip: scaled to the limit
    array([ 0.2475, -0.99  ], dtype=float32)
    >>> round(float(np.sqrt(np.mean(set_loudness(np.array([0.5, -0.5], np.float32), -20.0) ** 2))), 4)
    0.1
    """
    samples = np.asarray(samples, np.float32)
    if isinstance(loudness, str) and loudness == "reference":
        return match_loudness(samples, reference)
    if isinstance(loudness, str):   # natural
        peak = float(np.max(np.abs(samples))) if samples.size else 0.0
        return samples if peak <= PEAK_LIMIT else (samples * np.float32(PEAK_LIMIT / peak)).astype(np.float32)
    target = 10.0 ** (float(loudness) / 20.0)
    return match_loudness(samples, np.array([target, -target], np.float32))
