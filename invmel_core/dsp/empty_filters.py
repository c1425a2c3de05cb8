"""Why mel filters come out empty, cause by cause, and what removes each: the text the app, the
command line and the fit check show (:meth:`MelFilterbank.empty_causes`, :func:`explain_empty`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from invmel_core.dsp.filterbank import MelFilterbank, _short_list


def empty_causes(fb: MelFilterbank) -> tuple:
    """The causes of ``fb``'s empty filters, as :meth:`MelFilterbank.empty_causes` documents them."""
    if not fb.empty.size:
        return ()
    top = float(fb.bin_hz[-1])
    centres = fb.edges_hz[1:-1][fb.empty]
    above = fb.empty[centres >= top]
    narrow = fb.empty[centres < top]
    out = []
    if above.size:
        out.append(EmptyCause("above_nyquist", above, _above_nyquist_text(fb, above, top)))
    if narrow.size:
        out.append(EmptyCause("too_narrow", narrow, _too_narrow_text(fb, narrow)))
    return tuple(out)


@dataclass(frozen=True)
class EmptyCause:
    """One cause of empty filters (:meth:`MelFilterbank.empty_causes`): ``kind``
    (``"above_nyquist"`` or ``"too_narrow"``), the ``filters`` it empties and ``text``: the
    cause and the settings that remove it, in a sentence or two."""

    kind: str
    filters: np.ndarray
    text: str


def _filters_phrase(filters) -> str:
    n = len(filters)
    return f"{n} filter{'s' * (n != 1)} ({_short_list(filters)})"


def _above_nyquist_text(fb: MelFilterbank, filters, top: float) -> str:
    nyquist = fb.sample_rate / 2
    if fb.f_min >= top:
        where = (f"f_min ({fb.f_min:g} Hz) is at or above the Nyquist frequency ({nyquist:g} Hz, sample_rate / 2), "
                 "so every filter lies above the highest STFT bin")
        fix = f"Lower f_max to at most {nyquist:g} Hz (sample_rate / 2) and f_min below it"
    else:
        where = (f"f_max ({fb.f_max:g} Hz) is above the Nyquist frequency ({nyquist:g} Hz, sample_rate / 2): the "
                 f"STFT has no bin above {top:g} Hz, so {'these filters lie' if len(filters) != 1 else 'this filter lies'} "
                 "where there is nothing to measure")
        fix = f"Lower f_max to at most {nyquist:g} Hz (sample_rate / 2), or use audio at a higher sample rate"
    return (f"{_filters_phrase(filters)} {'are' if len(filters) != 1 else 'is'} above Nyquist: {where}. {fix}; more "
            "STFT bins (n_fft) or fewer mels cannot fix this.")


def _too_narrow_text(fb: MelFilterbank, filters) -> str:
    spacing = float(fb.bin_hz[1] - fb.bin_hz[0]) if fb.n_freqs > 1 else float(fb.sample_rate) / 2
    up_to = float(fb.edges_hz[int(filters.max()) + 1])
    return (f"{_filters_phrase(filters)} {'are' if len(filters) != 1 else 'is'} too narrow: near the bottom of the "
            f"mel scale (centred up to {up_to:,.0f} Hz) the triangles are narrower than the {spacing:.3g} Hz between "
            f"STFT bins, so {'they fall' if len(filters) != 1 else 'it falls'} between two bins and "
            f"weigh{'s' * (len(filters) == 1)} nothing. "
            "Lower n_mels, raise n_fft (finer bins) or raise f_min.")


def explain_empty(fb: MelFilterbank) -> str:
    """Every cause of ``fb``'s empty filters, and what removes it ("" when none is empty).

    >>> print(explain_empty(MelFilterbank(513, 0.0, 20000.0, 80, 22050))[:60])
    12 filters (68, 69, 70, 71, 72, 73, 74, 75, ...) are above N
    """
    return " ".join(cause.text for cause in fb.empty_causes())
