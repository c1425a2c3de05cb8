"""The app's interactive charts, as Vega-Lite specifications (plain dicts drawn by the browser).

The Mel scales page redraws on every slider move, and a browser-side chart costs the server
only the JSON, where a matplotlib figure of the same filterbank costs several hundred
milliseconds; the live loss curve is redrawn several times a second. No UI code here.
"""

from __future__ import annotations

import numpy as np

from invmel_core.dsp.filterbank import MelFilterbank, default_zoom_hz
from invmel_core.figures.plots import COLOURS, FONT, TITLE
from invmel_core.dsp.scales import hz_to_mel, mel_to_hz
from invmel_core.validation import check_number

_VL_SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"
_VL_CONFIG = {"axis": {"labelFontSize": FONT, "titleFontSize": FONT + 1},
              "legend": {"labelFontSize": FONT, "titleFontSize": FONT},
              "title": {"fontSize": TITLE, "anchor": "start"}}


# Sizing for narrow columns (a phone, 1280x720 at 150 % zoom: columns of 250-400 CSS px) of the
# Hz -> mel, spacing and loss charts: few ticks, short labels (10k), overlapping labels dropped,
# the legend above the plot instead of beside it, a short title with a subtitle rather than one
# long title cut with an ellipsis, axis titles never cut.
_SHORT = "abs(datum.value) >= 1000 ? format(datum.value / 1000, '~g') + 'k' : format(datum.value, '~g')"
NARROW_X = {"tickCount": 4, "labelOverlap": "greedy", "labelFlush": True, "labelExpr": _SHORT, "titleLimit": 0}
NARROW_Y = {"tickCount": 5, "labelOverlap": "greedy", "labelExpr": _SHORT, "titleLimit": 0}
LEGEND_ON_TOP = {"orient": "top", "direction": "horizontal"}
WRAPPED_TITLE = {"limit": 0, "subtitleFontSize": FONT, "subtitleColor": "#555555"}


def _r(values, digits: int = 2) -> list:
    return np.round(np.asarray(values, dtype=np.float64), digits).tolist()


# The mouse wheel zooms only when the reader asks (``wheel_zoom=True``, a toggle on the page):
# otherwise it scrolls the page, as everywhere else (a chart that zooms on every scroll steals
# the page, and ends at -36 kHz). Not Shift + wheel: browsers turn that into a sideways
# scroll (deltaY 0), which Vega-Lite's zoom ignores. Double-click resets (Vega-Lite's default
# for a scale-bound interval); dragging pans, along frequency only.
ZOOM_HELP = "Drag to pan, double-click to reset; to zoom, turn on “Zoom with the mouse wheel”."


def zoom_range(fb: MelFilterbank) -> float | None:
    """How much of the low end the zoomed chart shows (:func:`default_zoom_hz`), or a
    quarter of the filters if that would show more than half of the whole chart; None
    when even that would (a zoom that repeats the main chart is no zoom).

    >>> round(zoom_range(MelFilterbank(1025, 0.0, None, 128, 22050)))
    230
    >>> round(zoom_range(MelFilterbank(1025, 0.0, None, 8, 22050)))
    1091
    >>> zoom_range(MelFilterbank(1025, 0.0, None, 1, 22050)) is None
    True
    """
    top = float(max(fb.bin_hz[-1], fb.edges_hz[-1]))
    zoom = default_zoom_hz(fb)
    if zoom > top / 2:
        zoom = float(fb.edges_hz[min(1 + max(1, fb.n_mels // 4), fb.n_mels + 1)])
    return zoom if zoom <= top / 2 else None


def filterbank_chart(fb: MelFilterbank, zoom_hz: float | None = None, *, height: int = 300,
                     wheel_zoom: bool = False) -> dict:
    """The filterbank as an interactive chart (Vega-Lite spec): drag to pan, the mouse wheel
    zooms if ``wheel_zoom`` (else it scrolls the page), double-click resets, hover a filter's
    peak for its edges. Empty filters: their ideal triangle, dashed red.

    With ``zoom_hz``, only 0..``zoom_hz`` is shown and the STFT bins are drawn as grey
    rules, so one can see a narrow triangle fall between two bins.
    """
    dense, edges, band, bins = fb.dense, fb.edges_hz, fb.banded, fb.bin_hz
    empty = set(int(i) for i in fb.empty)
    top = float(zoom_hz) if zoom_hz is not None else float(max(bins[-1], edges[-1]))
    peak = float(dense.max(initial=0.0)) or 1.0
    hz, weight, filt = [], [], []
    for m in range(fb.n_mels):
        if m in empty or edges[m] > top:
            continue
        a, b = max(int(band.starts[m]) - 1, 0), min(int(band.stops[m]) + 1, fb.n_freqs)
        hz.append(bins[a:b])
        weight.append(dense[a:b, m])
        filt.append(np.full(b - a, m))
    lines = []
    if hz:
        lines = [{"hz": h, "weight": w, "filter": f, "parity": f % 2}
                 for h, w, f in zip(_r(np.concatenate(hz)), _r(np.concatenate(weight), 6),
                                    np.concatenate(filt).tolist())]
    tips = fb.ideal_peaks()
    triangles = [{"hz": float(x), "weight": y, "filter": m}
                 for m in sorted(empty) if edges[m] <= top
                 for x, y in ((edges[m], 0.0), (edges[m + 1], float(min(tips[m], peak))), (edges[m + 2], 0.0))]
    heights, argmax = dense.max(axis=0), dense.argmax(axis=0)
    # One dot per filter on its highest bin (at the ideal centre for an empty filter), for the tooltip.
    mels = np.asarray(hz_to_mel(edges, fb.mel_type), dtype=np.float64)
    peaks = [{"filter": m, "hz": round(float(edges[m + 1] if m in empty else bins[argmax[m]]), 2),
              "centre": round(float(edges[m + 1]), 2), "lower": round(float(edges[m]), 2),
              "upper": round(float(edges[m + 2]), 2), "centre_mel": round(float(mels[m + 1]), 2),
              "lower_mel": round(float(mels[m]), 2), "upper_mel": round(float(mels[m + 2]), 2),
              "weight": 0.0 if m in empty else float(heights[m]),
              "bins": int(band.stops[m] - band.starts[m]), "empty": m in empty}
             for m in range(fb.n_mels) if edges[m + 1] <= top]
    x = {"field": "hz", "type": "quantitative", "title": "frequency (Hz)", "scale": {"domain": [0, top]}}
    unit = MEL_UNITS[fb.mel_type]
    y = {"field": "weight", "type": "quantitative", "title": "weight", "scale": {"domain": [0, peak * 1.08]}}
    layers = [
        {"data": {"values": lines}, "mark": {"type": "line", "strokeWidth": 1.6, "clip": True,
                                              "point": zoom_hz is not None},
         "encoding": {"x": x, "y": y, "detail": {"field": "filter"},
                      "color": {"field": "parity", "type": "nominal", "legend": None,
                                "scale": {"domain": [0, 1], "range": [COLOURS["filter_a"], COLOURS["filter_b"]]}}}},
        {"data": {"values": peaks}, "mark": {"type": "point", "filled": True, "size": 30, "clip": True},
         "encoding": {"x": x, "y": y,
                      "color": {"condition": {"test": "datum.empty", "value": COLOURS["empty"]}, "value": "#333333"},
                      "tooltip": [{"field": "filter", "type": "quantitative"},
                                  {"field": "lower", "title": "lower edge (Hz)", "type": "quantitative"},
                                  {"field": "lower_mel", "title": f"lower edge ({unit})", "type": "quantitative"},
                                  {"field": "centre", "title": "centre (Hz)", "type": "quantitative"},
                                  {"field": "centre_mel", "title": f"centre ({unit})", "type": "quantitative"},
                                  {"field": "upper", "title": "upper edge (Hz)", "type": "quantitative"},
                                  {"field": "upper_mel", "title": f"upper edge ({unit})", "type": "quantitative"},
                                  {"field": "bins", "title": "bins inside", "type": "quantitative"}]}},
    ]
    if triangles:
        layers.insert(1, {"data": {"values": triangles},
                          "mark": {"type": "line", "strokeDash": [5, 3], "color": COLOURS["empty"], "clip": True},
                          "encoding": {"x": x, "y": y, "detail": {"field": "filter"}}})
    if zoom_hz is not None:
        # The ideal triangles, faint, under the bins' actual weights: the gap between the two
        # is what sampling the spectrum at the bins does to each filter.
        ideal = [{"hz": round(float(xx), 2), "weight": yy, "filter": m}
                 for m in range(fb.n_mels) if m not in empty and edges[m] <= top
                 for xx, yy in ((edges[m], 0.0), (edges[m + 1], float(tips[m])),
                                (edges[m + 2], 0.0))]
        layers.insert(0, {"data": {"values": ideal},
                          "mark": {"type": "line", "color": "#bbbbbb", "strokeWidth": 1, "clip": True},
                          "encoding": {"x": x, "y": y, "detail": {"field": "filter"}}})
        visible = bins[bins <= top]
        if visible.size <= 400:
            layers.insert(0, {"data": {"values": [{"hz": v} for v in _r(visible)]},
                              "mark": {"type": "rule", "color": "#999999", "strokeWidth": 0.8, "opacity": 0.6},
                              "encoding": {"x": x}})
    else:
        layers[0]["params"] = [{"name": "zoom", "bind": "scales",
                                "select": {"type": "interval", "encodings": ["x"],
                                           "zoom": "wheel!" if wheel_zoom else False}}]
    # A second frequency axis on top, in mels of the filterbank's scale: the same scale (so it
    # pans and zooms with the chart), its ticks labelled with the mel value of their frequency.
    # Only the filter lines draw the Hz axis; the other layers draw none.
    for layer in layers[1:]:
        layer["encoding"]["x"] = {**layer["encoding"]["x"], "axis": None}
    layers.append({"data": {"values": [{"hz": 0.0}]}, "mark": {"type": "rule", "opacity": 0},
                   "encoding": {"x": {**x, "axis": mel_axis(fb.mel_type)}}})
    return {"$schema": _VL_SCHEMA, "width": "container", "height": height, "layer": layers, "config": _VL_CONFIG,
            "resolve": {"axis": {"x": "independent"}}}


MEL_UNITS = {"htk": "HTK mel", "slaney": "Slaney mel"}
# Hz -> mel in Vega's expression language, as invmel_core.dsp.scales.hz_to_mel computes it.
_MEL_EXPR = {"htk": "2595 * log(1 + datum.value / 700) / LN10",
             "slaney": "datum.value < 1000 ? 3 * datum.value / 200 : 15 + 27 * log(datum.value / 1000) / log(6.4)"}


def mel_axis(mel_type: str) -> dict:
    """A Vega-Lite axis on top of a Hz scale whose tick labels are mels of ``mel_type``.

    >>> mel_axis("htk")["title"], mel_axis("htk")["orient"]
    ('frequency (HTK mel)', 'top')
    """
    digits = ".0f" if mel_type == "htk" else ".1f"
    return {"orient": "top", "title": f"frequency ({MEL_UNITS[mel_type]})", "grid": False,
            "labelExpr": f"format({_MEL_EXPR[mel_type]}, '{digits}')"}


def mel_curve_chart(f_max: float, *, mark_hz: float | None = None, height: int = 340) -> dict:
    """Hz -> mel for HTK (left axis, in HTK mels) and Slaney (right axis, in Slaney mels)
    over 0..``f_max``, as a Vega-Lite spec; ``mark_hz`` is marked on both curves.

    The two scales' units differ (1000 Hz is 1000 HTK mels but 15 Slaney mels), so each
    curve has its own axis, in its own colour.

    >>> spec = mel_curve_chart(8000.0, mark_hz=1000.0)
    >>> [layer["encoding"]["y"]["axis"]["title"] for layer in spec["layer"][:2]]
    ['HTK mel', 'Slaney mel']
    """
    f_max = check_number("f_max", f_max, minimum=0, strict=True)
    hz = np.linspace(0.0, f_max, 200)
    x = {"field": "hz", "type": "quantitative", "title": "frequency (Hz)",
         "scale": {"domain": [0, float(f_max)], "nice": False}, "axis": NARROW_X}
    colour = {"field": "scale", "type": "nominal", "title": None, "legend": LEGEND_ON_TOP,
              "scale": {"domain": ["HTK", "Slaney"], "range": [COLOURS["htk"], COLOURS["slaney"]]}}
    layers = []
    for scale, label, side in (("htk", "HTK", "left"), ("slaney", "Slaney", "right")):
        mel = np.asarray(hz_to_mel(hz, scale))
        y = {"field": "mel", "type": "quantitative",
             "axis": {"title": f"{label} mel", "orient": side, "titleColor": COLOURS[scale], **NARROW_Y}}
        rows = [{"hz": h, "mel": m, "scale": label} for h, m in zip(_r(hz, 1), _r(mel, 2))]
        layer = {"data": {"values": rows}, "mark": {"type": "line", "strokeWidth": 2.5},
                 "encoding": {"x": x, "y": y, "color": colour,
                              "tooltip": [{"field": "scale"}, {"field": "hz", "title": "Hz"},
                                          {"field": "mel", "title": "mel", "format": ".2f"}]}}
        if mark_hz is not None and 0 <= mark_hz <= f_max:
            point = {"hz": round(float(mark_hz), 2), "mel": round(float(hz_to_mel(mark_hz, scale)), 2), "scale": label}
            layer = {"layer": [layer, {"data": {"values": [point]},
                                       "mark": {"type": "point", "filled": True, "size": 90},
                                       "encoding": {"x": x, "y": y, "color": colour,
                                                    "tooltip": [{"field": "scale"}, {"field": "hz", "title": "Hz"},
                                                                {"field": "mel", "title": "mel"}]}}]}
            layer["encoding"] = {"y": y}   # one y scale for the curve and its mark
        layers.append(layer)
    if mark_hz is not None and 0 <= mark_hz <= f_max:
        layers.append({"data": {"values": [{"hz": float(mark_hz)}]},
                       "mark": {"type": "rule", "strokeDash": [4, 3], "color": "#666666"}, "encoding": {"x": x}})
    return {"$schema": _VL_SCHEMA, "width": "container", "height": height, "config": _VL_CONFIG,
            "title": {"text": "Hz → mel", "subtitle": "each scale in its own units", **WRAPPED_TITLE},
            "layer": layers,
            "resolve": {"scale": {"y": "independent"}, "axis": {"y": "independent"}}}


def spacing_summary(fb: MelFilterbank) -> dict:
    """What the filter-spacing chart means for ``fb``, counted from the filterbank itself.

    Returns ``bin_hz`` (the bin spacing), ``below_hz`` (the highest filter centre closer to
    the centre below it than the bin spacing, where the chart's curve is under the dashed
    line; None if none is), ``crowded`` (how many filters are that close),
    ``empty`` (filters with no bin inside) and ``one_bin`` (filters with exactly one bin:
    their mel value is that one bin's power, weighted).

    A spacing below the bin spacing does not by itself empty a filter: a triangle spans two
    spacings (from its lower neighbour's centre to its upper one's), so it is empty only
    when no bin falls in that wider span.

    >>> spacing_summary(MelFilterbank(129, 0.0, None, 40, 22050))  # n_fft 256, 40 HTK mels
    {'bin_hz': 86.1, 'below_hz': 513.2, 'crowded': 7, 'empty': 0, 'one_bin': 5}
    """
    centres = fb.edges_hz[1:-1]
    gaps = np.diff(centres)
    step = float(fb.bin_hz[1] - fb.bin_hz[0]) if fb.n_freqs > 1 else float("inf")
    close = np.flatnonzero(gaps < step)
    bins = fb.banded.stops - fb.banded.starts
    return {"bin_hz": round(step, 1),
            "below_hz": round(float(centres[close.max() + 1]), 1) if close.size else None,
            "crowded": int(close.size), "empty": int(fb.empty.size), "one_bin": int(np.sum(bins == 1))}


def filter_spacing_chart(f_min: float, f_max: float, n_mels: int, bin_spacing: float, *,
                         height: int = 340) -> dict:
    """Hz between neighbouring filter centres, HTK vs Slaney, against the STFT bin spacing
    (log scale). Where a curve dips below the bin spacing, filters can fall between bins."""
    rows = []
    for scale, label in (("htk", "HTK"), ("slaney", "Slaney")):
        lo, hi = hz_to_mel(f_min, scale), hz_to_mel(f_max, scale)
        centres = np.asarray(mel_to_hz(np.linspace(lo, hi, n_mels + 2), scale))[1:-1]
        if centres.size > 1:
            rows += [{"hz": c, "spacing": d, "scale": label}
                     for c, d in zip(_r(centres[1:], 1), _r(np.diff(centres), 3))]
    return {"$schema": _VL_SCHEMA, "width": "container", "height": height, "config": _VL_CONFIG,
            "title": {"text": f"Filter spacing, {n_mels} mel{'s' * (n_mels != 1)}", "subtitle": "against the STFT bin spacing (dashed)",
                      **WRAPPED_TITLE},
            "layer": [
                {"data": {"values": rows}, "mark": {"type": "line", "strokeWidth": 2.5, "point": {"size": 12}},
                 "encoding": {"x": {"field": "hz", "type": "quantitative", "title": "filter centre (Hz)",
                                    "axis": NARROW_X},
                              "y": {"field": "spacing", "type": "quantitative", "title": "spacing (Hz)",
                                    "scale": {"type": "log"}, "axis": NARROW_Y},
                              "color": {"field": "scale", "type": "nominal", "title": None, "legend": LEGEND_ON_TOP,
                                        "scale": {"domain": ["HTK", "Slaney"], "range": [COLOURS["htk"], COLOURS["slaney"]]}},
                              "tooltip": [{"field": "scale"}, {"field": "hz", "title": "centre (Hz)"},
                                          {"field": "spacing", "title": "spacing (Hz)"}]}},
                {"data": {"values": [{"spacing": float(bin_spacing), "label": f"bin spacing {bin_spacing:.3g} Hz"}]},
                 "mark": {"type": "rule", "strokeDash": [6, 4], "color": "black", "strokeWidth": 1.5},
                 "encoding": {"y": {"field": "spacing", "type": "quantitative"},
                              "tooltip": [{"field": "label", "title": "STFT"}]}},
            ]}


def loss_chart(steps, losses, *, height: int = 260, title: str = "Loss (log scale)",
               mark_step: int | None = None) -> dict:
    """A loss curve on a log axis as a Vega-Lite spec: cheap to redraw while a solver runs.

    ``mark_step`` (a replay's shown step) is marked by a vertical rule and a dot on the curve
    at the nearest reported step, so the curve and the spectrogram beside it stay in step.

    >>> spec = loss_chart([0, 10, 20], [1.0, 0.5, 0.25], mark_step=10)
    >>> spec["layer"][1]["data"]["values"]
    [{'step': 10, 'loss': 0.5}]
    """
    steps, losses = np.asarray(steps), np.asarray(losses, dtype=np.float64)
    keep = np.isfinite(losses) & (losses > 0)
    rows = [{"step": int(s), "loss": float(v)} for s, v in zip(steps[keep], losses[keep])]
    # Few, unrotated ticks that never overlap: legible projected at 150 % and on a phone.
    x = {"field": "step", "type": "quantitative", "title": "step", "axis": NARROW_X}
    y = {"field": "loss", "type": "quantitative", "title": "solver loss", "scale": {"type": "log"},
         "axis": {"tickCount": 4, "labelOverlap": "greedy", "format": "~s", "titleLimit": 0}}
    curve = {"mark": {"type": "line", "strokeWidth": 2.2, "point": len(rows) < 3},
             "encoding": {"x": x, "y": y, "tooltip": [{"field": "step"}, {"field": "loss", "format": ".4g"}]}}
    spec = {"$schema": _VL_SCHEMA, "width": "container", "height": height, "config": _VL_CONFIG,
            "title": {"text": title, **WRAPPED_TITLE}, "data": {"values": rows}}
    if mark_step is None or not rows:
        return {**spec, **curve}
    near = min(rows, key=lambda row: abs(row["step"] - int(mark_step)))
    marker = {"data": {"values": [near]}, "layer": [
        {"mark": {"type": "rule", "color": "#d62728", "strokeWidth": 2, "strokeDash": [5, 3]},
         "encoding": {"x": {"field": "step", "type": "quantitative"}}},
        {"mark": {"type": "point", "filled": True, "size": 140, "color": "#d62728"},
         "encoding": {"x": {"field": "step", "type": "quantitative"}, "y": {"field": "loss", "type": "quantitative"},
                      "tooltip": [{"field": "step", "title": "shown step"}, {"field": "loss", "format": ".4g"}]}}]}
    return {**spec, "layer": [curve, marker]}


VERDICT_COLOURS = {"fits": "#2ca02c", "cannot tell": "#ff7f0e", "ruled out": "#d62728"}


def fit_chart(rows, *, bar_height: int = 20) -> dict:
    """Which settings fit (:func:`invmel_core.app.mel_input.rank_fits`'s rows), one bar per
    candidate in the ranking's order: its residual on a log axis (the certified lower bound as
    a black tick), coloured by verdict, the implied duration in the tooltip.

    >>> from types import SimpleNamespace as Row
    >>> spec = fit_chart([Row(name="hifigan", verdict="fits", residual=1e-5, residual_lower=0.0, duration=4.2)])
    >>> spec["data"]["values"][0]["residual"], spec["height"]
    (1e-05, {'step': 20})
    """
    floor = 1e-7  # residuals below this draw at it (a log axis has no 0); bars start there
    values = [{"candidate": row.name, "verdict": row.verdict, "residual": max(float(row.residual), floor),
               "lower": max(float(row.residual_lower), floor), "base": floor,
               "duration": round(float(row.duration), 2), "order": i} for i, row in enumerate(rows)]
    y = {"field": "candidate", "type": "nominal", "sort": {"field": "order", "op": "min"}, "title": None,
         "axis": {"labelLimit": 240, "labelFontSize": FONT - 2, "labelOverlap": False}}
    x = {"field": "base", "type": "quantitative", "scale": {"type": "log", "domainMin": floor},
         "title": "relative mel residual (log)"}
    colour = {"field": "verdict", "type": "nominal", "title": None, "legend": {"orient": "top"},
              "scale": {"domain": list(VERDICT_COLOURS), "range": list(VERDICT_COLOURS.values())}}
    tooltip = [{"field": "candidate"}, {"field": "verdict"}, {"field": "residual", "format": ".2g"},
               {"field": "lower", "title": "at least (certified)", "format": ".2g"},
               {"field": "duration", "title": "duration (s)"}]
    return {"$schema": _VL_SCHEMA, "width": "container", "height": {"step": bar_height}, "config": _VL_CONFIG,
            "data": {"values": values},
            "layer": [{"mark": {"type": "bar", "height": {"band": 0.7}},
                       "encoding": {"y": y, "x": x, "x2": {"field": "residual"}, "color": colour,
                                    "tooltip": tooltip}},
                      {"transform": [{"filter": f"datum.lower > {floor}"}],   # a bound of 0 says nothing
                       "mark": {"type": "tick", "color": "black", "thickness": 2, "height": bar_height - 6},
                       "encoding": {"y": y, "x": {**x, "field": "lower"}, "tooltip": tooltip}}]}
