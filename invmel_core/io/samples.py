"""The bundled samples (``assets/``, shipped in the package as ``invmel_core/assets``): names, captions, paths.

Examples
--------
>>> from invmel_core.io.samples import SAMPLES, sample_path
>>> sample_path("chirp").name
'chirp.wav'
>>> sample_path("chirp").is_file()
True
"""

from __future__ import annotations

from pathlib import Path

from invmel_core.errors import InputError

# In a checkout ``invmel_core/assets`` is a link to the project's ``assets/``; an installed
# package holds a copy of its files (pyproject's package data).
ASSETS = Path(__file__).resolve().parent.parent / "assets"

# The bundled samples (see assets/README.md): name -> (file, what it is).
SAMPLES = {
    "speech_short": ("speech_short.wav", "Speech, 4.2 s (espeak-ng, British English)"),
    "speech_10s": ("speech_10s.wav", "Speech, 10 s (espeak-ng, US English)"),
    "chirp": ("chirp.wav", "Sine sweep 100 Hz → 8 kHz, 3 s"),
    "chord": ("chord.wav", "Plucked C major chord, 3 s"),
}


def sample_path(name: str) -> Path:
    """Path of a bundled sample; raises :class:`~invmel_core.errors.InputError` for an unknown name."""
    if not isinstance(name, str) or name not in SAMPLES:
        raise InputError(f"sample must be one of {sorted(SAMPLES)}, got {name!r}")
    return ASSETS / SAMPLES[name][0]
