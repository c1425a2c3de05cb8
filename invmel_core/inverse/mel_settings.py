"""The settings :func:`invmel_core.inverse.mel_audio.mel_to_audio` runs with: its keywords, or a
:class:`~invmel_core.formats.presets.MelFormat`'s fields where a keyword was not given.

``mel_to_audio(mel, format="hifigan")`` and the same call with the preset's fields spelled out
as keywords run the same: :func:`resolve` fills every keyword left at :data:`DEFAULT` from the
format (a preset's name or a ``MelFormat``), and without a format from :data:`PLAIN`, the
function's own defaults (torch's STFT: centred frames, reflect padding).

Examples
--------
>>> settings = resolve("hifigan", dict(n_iter=None, power=DEFAULT, hop_length=DEFAULT, framing=DEFAULT))
>>> settings["power"], settings["hop_length"], settings["framing"]
(1.0, 256, 'same')
>>> resolve(None, dict(framing=DEFAULT, norm="slaney"))
{'framing': 'center', 'norm': 'slaney'}
"""

from __future__ import annotations

from invmel_core.errors import InputError


class _Default:
    """The value of a keyword not given: the format's field, else :data:`PLAIN`'s."""

    def __repr__(self) -> str:
        return "DEFAULT"

    def __reduce__(self):  # one sentinel, also after pickling (batch workers)
        return "DEFAULT"


DEFAULT = _Default()
# mel_to_audio's keywords that a MelFormat has as fields (same names), and their values without one.
PLAIN = dict(sample_rate=None, n_fft=None, hop_length=None, win_length=None, power=2.0, f_min=0.0, f_max=None,
             mel_type="htk", norm=None, compat="torchaudio", framing="center", pad_mode="reflect",
             drop_last_frame=False)


def resolve(format, given: dict) -> dict:
    """``given`` (keyword -> value) with each :data:`DEFAULT` replaced by ``format``'s field of
    that name (``format`` None: :data:`PLAIN`'s). Raises :class:`InputError` for a ``format``
    that is neither a ``MelFormat`` nor a preset's name, and when ``sample_rate`` or ``n_fft``
    is given by neither."""
    if format is not None:
        from invmel_core.formats.presets import get_format  # formats build on inverse's neighbours

        format = get_format(format)
    out = {}
    for name, value in given.items():
        if value is DEFAULT:
            value = getattr(format, name) if format is not None else PLAIN[name]
        out[name] = value
    for name in ("sample_rate", "n_fft"):
        if name in out and out[name] is None:
            raise InputError(f"{name} is required: give {name}=..., or format= (a MelFormat or a preset's name)")
    return out
