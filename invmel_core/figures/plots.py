"""Every figure of the app, as matplotlib ``Figure`` objects or RGB arrays; no UI, no pyplot.
(The interactive, browser-drawn charts are :mod:`invmel_core.app.charts`.)

Figures are built with ``matplotlib.figure.Figure`` (never pyplot's global state, so
sessions drawing at the same time cannot interfere) and sized to be read on a projector:
large fonts, one dB scale per figure, a colour bar for every image. Spectrograms are
max-pooled to screen resolution before drawing (:func:`downsample_max`); the
computation they come from stays at full resolution.
"""

from __future__ import annotations

import io
from typing import Callable

import matplotlib
import numpy as np
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from invmel_core.errors import InputError
from invmel_core.dsp.filterbank import MelFilterbank, default_zoom_hz
from invmel_core.figures.freq_axis import FREQ_AXES, FrequencyRows, downsample_max
from invmel_core.validation import check_number

FONT = 13          # base font size: readable when projected
TITLE = 15
# Smallest text height / figure width of a figure shown across a page column: images are
# scaled to the column, so text must be sized against the image's own width. 1/36 gives
# 10 CSS px on a 390 px phone, 16 px in the 600 px column of 1280x720 at 150 % zoom.
LEGIBLE = 1 / 36
SPEC_CMAP = "magma"
ERROR_CMAP = "RdBu_r"
DB_RANGE = 80.0    # dB shown below the peak
ERROR_DB = 30.0    # the error map spans +-ERROR_DB
COLOURS = {"htk": "#1f77b4", "slaney": "#d62728", "empty": "#d62728", "bins": "#555555",
           "filter_a": "#1f77b4", "filter_b": "#2ca02c"}


def _figure(width: float, height: float) -> Figure:
    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def _style(ax, title: str | None = None, xlabel: str | None = None, ylabel: str | None = None, *,
           font: float = FONT, title_font: float = TITLE):
    if title:
        ax.set_title(title, fontsize=title_font, loc="left")
    if xlabel:
        ax.set_xlabel(xlabel, fontsize=font)
    if ylabel:
        ax.set_ylabel(ylabel, fontsize=font)
    ax.tick_params(labelsize=font - 1)


def smallest_text_ratio(fig: Figure) -> float:
    """Height of the figure's smallest visible text over the figure's width (both in pixels):
    what its text shrinks to when the image is shown ``w`` pixels wide is ``w`` times this.

    >>> bool(smallest_text_ratio(comparison_figure(None, np.ones((5, 4)), 16000, 64)) >= LEGIBLE)
    True
    """
    fig.canvas.draw()
    sizes = [t.get_fontsize() for t in fig.findobj(matplotlib.text.Text) if t.get_visible() and t.get_text()]
    return float(min(sizes) * fig.dpi / 72 / (fig.get_figwidth() * fig.dpi))


def figure_png(fig: Figure, dpi: int = 100) -> bytes:
    """The figure as PNG bytes (for ``st.image`` and downloads)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def render_png(make: Callable[..., Figure], /, *args, **kwargs) -> bytes:
    """``make(*args, **kwargs)`` drawn as PNG bytes, the figure released at once.

    A function and its arguments rather than a figure, so it can run in a worker process
    (:func:`invmel_core.app.offload.call`): matplotlib figures do not travel between processes.

    >>> render_png(loss_figure, [1, 2, 3], [1.0, 0.1, 0.01])[:4]
    b'\\x89PNG'
    """
    fig = make(*args, **kwargs)
    try:
        return figure_png(fig)
    finally:
        fig.clear()


def power_to_db(power: np.ndarray, ref: float | None = None, floor_db: float = -DB_RANGE, *,
                exponent: float = 2.0) -> np.ndarray:
    """Decibels re. ``ref``, floored ``floor_db`` below 0 dB (ref: the array's peak):
    ``10 log10(power / ref)`` for a power spectrogram, ``20 log10`` for magnitudes
    (``exponent=1``; in general ``(20 / exponent) log10``), so both show the same levels.

    Silence (all zeros) maps to ``floor_db`` everywhere instead of ``-inf`` or NaN.

    >>> power_to_db(np.array([1.0, 0.1]), exponent=1.0).tolist()
    [0.0, -20.0]
    """
    p = np.asarray(power, dtype=np.float64)
    if ref is None:
        ref = float(p.max(initial=0.0))
    if not ref > 0:
        return np.full(p.shape, floor_db, dtype=np.float32)
    factor = 20.0 / check_number("exponent", exponent, minimum=0, strict=True)
    floor = ref * 10.0 ** (floor_db / factor)
    return (factor * np.log10(np.maximum(p, floor) / ref)).astype(np.float32)


def spectrogram_rgb(power: np.ndarray, ref: float | None = None, *, rows: int = 256, min_cols: int = 640,
                    max_cols: int = 960, cmap: str = SPEC_CMAP, exponent: float = 2.0) -> np.ndarray:
    """A spectrogram ``(freq, time)`` of ``exponent`` (2: power, 1: magnitude) as an RGB
    uint8 image in dB re. ``ref`` (its own peak if None), ``DB_RANGE`` dB deep, low
    frequencies at the bottom.

    Cheap enough to redraw several times a second (max-pooling, then a colour lookup
    table; no matplotlib): the app's live view while a solver runs. Pooling happens before
    the dB conversion (dB is monotonic, so the result is the same, on far fewer values).
    Short inputs are stretched in time to at least ``min_cols`` columns, and the frequency
    axis always has ``rows`` rows (pooling halves 257 bins to 129; those are repeated), so
    the picture keeps about the same landscape shape for every input, never a thin strip.
    """
    small = downsample_max(np.asarray(power, dtype=np.float32), rows, max_cols)
    db = power_to_db(small, ref if ref is not None else float(np.max(power, initial=0.0)), exponent=exponent)
    if db.shape[1] < min_cols:
        db = np.repeat(db, -(-min_cols // db.shape[1]), axis=1)
    if db.shape[0] < rows:
        db = db[np.round(np.linspace(0, db.shape[0] - 1, rows)).astype(np.intp)]
    lut = (matplotlib.colormaps[cmap](np.linspace(0.0, 1.0, 256))[:, :3] * 255).astype(np.uint8)
    index = np.clip((db + DB_RANGE) * (255.0 / DB_RANGE), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(lut[index[::-1]])


# --------------------------------------------------------------------------- filterbank

def filterbank_figure(fb: MelFilterbank, zoom_hz: float | None = None) -> Figure:
    """The filterbank over frequency, empty filters in red, with a zoom on the lowest filters.

    Top: every filter as the weights it gives the STFT bins (neighbours alternate in
    colour). Empty filters — triangles no bin falls inside — are drawn as their ideal
    triangle, dashed red. Bottom: the lowest ``zoom_hz`` Hz with the bins drawn as
    vertical lines, so you can see the bins miss the narrow triangles.
    """
    dense = fb.dense
    edges = fb.edges_hz
    empty = set(int(i) for i in fb.empty)
    band = fb.banded
    bins = fb.bin_hz
    if zoom_hz is None:
        zoom_hz = default_zoom_hz(fb)
    fig = _figure(12, 6.2)
    top, bottom = fig.subplots(2, 1, height_ratios=[1.25, 1])
    peak = float(dense.max(initial=0.0)) or 1.0
    for ax, lo, hi in ((top, 0.0, max(float(bins[-1]), float(edges[-1]))), (bottom, 0.0, zoom_hz)):
        lines, colours = [], []
        for m in range(fb.n_mels):
            if m in empty:
                continue
            a, b = max(int(band.starts[m]) - 1, 0), min(int(band.stops[m]) + 1, fb.n_freqs)
            lines.append(np.column_stack([bins[a:b], dense[a:b, m]]))
            colours.append(COLOURS["filter_a"] if m % 2 == 0 else COLOURS["filter_b"])
        ax.add_collection(LineCollection(lines, colors=colours, linewidths=1.6))
        if empty:
            tri = [np.array([[edges[m], 0.0], [edges[m + 1], peak], [edges[m + 2], 0.0]]) for m in sorted(empty)]
            ax.add_collection(PolyCollection(tri, facecolors=(0.84, 0.15, 0.16, 0.12),
                                             edgecolors=COLOURS["empty"], linestyles="--", linewidths=1.2))
        ax.set_xlim(lo, hi)
        ax.set_ylim(0, peak * 1.08)
        ax.grid(alpha=0.25)
    visible = bins[bins <= zoom_hz]
    if visible.size <= 400:
        bottom.vlines(visible, 0, peak * 1.08, colors=COLOURS["bins"], linewidths=0.6, alpha=0.5)
    norm = "slaney-normalised (area 1)" if fb.norm == "slaney" else "peak 1"
    title = (f"{fb.n_mels} {fb.mel_type.upper() if fb.mel_type == 'htk' else 'Slaney'} mel filters on "
             f"{fb.n_freqs} bins, {fb.f_min:g}–{fb.f_max:g} Hz, {norm}")
    _style(top, title, None, "weight")
    sub = f"Zoom 0–{zoom_hz:.0f} Hz" + (", grey lines = STFT bins" if visible.size <= 400 else "")
    if empty:
        sub += f"; {len(empty)} empty filter(s) dashed red"
    _style(bottom, sub, "frequency (Hz)", "weight")
    return fig


# --------------------------------------------------------------------------- spectrograms

def _panels(fig: Figure, rows: int, cols: int = 1, *, top: float = 0.93, bottom: float = 0.1,
            left: float = 0.08, right: float = 0.91, hspace: float = 0.45, wspace: float = 0.18):
    """A fixed grid of image axes, each with a thin colour-bar axis to its right.

    Fixed positions instead of a layout engine: laying out tick labels again and again is
    most of the cost of a spectrogram figure, and these figures are drawn after every solve.
    """
    grid = fig.add_gridspec(rows, 2 * cols, width_ratios=[40, 1] * cols, left=left, right=right,
                            top=top, bottom=bottom, hspace=hspace, wspace=wspace)
    axes = [[fig.add_subplot(grid[r, 2 * c]) for c in range(cols)] for r in range(rows)]
    caxes = [[fig.add_subplot(grid[r, 2 * c + 1]) for c in range(cols)] for r in range(rows)]
    return axes, caxes


def _colourbar(fig: Figure, image, cax, label: str, font: float = FONT) -> None:
    bar = fig.colorbar(image, cax=cax)
    bar.set_label(label, fontsize=font - 1)
    bar.ax.tick_params(labelsize=font - 2)


def comparison_figure(original: np.ndarray | None, reconstruction: np.ndarray, sample_rate: float,
                      hop_length: int, *, mel: np.ndarray | None = None, top_hz: float | None = None,
                      max_cols: int = 1000, freq_axis: str = "linear", freq_range=None,
                      mel_type: str = "htk", power: float = 2.0) -> Figure:
    """Original, reconstruction and their dB difference, on one dB scale with colour bars.

    Both spectrograms are ``(n_stft, time)`` of ``power`` (2: power, 1: magnitude; the mel
    input's too), shown in dB either way, and share one reference (the original's
    peak, or the reconstruction's when there is no original), so equal colours mean
    equal levels. With no original (a mel spectrogram was uploaded), the mel input is
    shown instead of the original and there is no error map.

    ``freq_axis`` is ``"linear"``, ``"log"`` or ``"mel"`` (the ``mel_type`` scale): on a log
    or mel axis low frequencies get room (a chord's notes, speech's harmonics), each screen
    row showing the loudest bin under it, or the nearest bin where rows are finer than the
    bins. ``freq_range`` ``(low, high)`` in Hz zooms in on a band (None: all of it; a log
    axis starts at the first bin above 0 Hz).
    """
    recon = np.asarray(reconstruction, dtype=np.float32)
    if recon.ndim != 2:
        raise InputError(f"reconstruction must be (n_stft, time), got shape {recon.shape}")
    if original is not None and np.shape(original) != recon.shape:
        raise InputError(f"original has shape {np.shape(original)}, reconstruction {recon.shape}; they must match")
    if freq_axis not in FREQ_AXES:
        raise InputError(f"freq_axis must be one of {FREQ_AXES}, got {freq_axis!r}")
    hop_s = hop_length / float(sample_rate)
    top = float(top_hz if top_hz is not None else sample_rate / 2)
    rows = FrequencyRows(np.linspace(0.0, top, recon.shape[0]), freq_axis, freq_range, mel_type)
    ref = float(np.max(original)) if original is not None else float(recon.max(initial=0.0))
    ref = ref if ref > 0 else 1.0
    panels = 3 if original is not None else 2
    # 7.2 in (720 px) wide with 16-17 pt text: the image is shown as wide as the page's column, so
    # its text scales with it; at this size it stays readable on a phone and projected at 150 %
    # (smallest text >= LEGIBLE of the width). Fewer ticks, short titles, room for the labels.
    font, title_font, panel_in = 17.0, 17.0, 2.7
    height = panel_in * panels + 0.5
    fig = Figure(figsize=(7.2, height), dpi=100)
    axes, caxes = _panels(fig, panels, top=1 - 0.45 / height, bottom=0.75 / height, left=0.15, right=0.81,
                          hspace=0.5)
    axes, caxes = [row[0] for row in axes], [row[0] for row in caxes]
    extent = (0.0, recon.shape[1] * hop_s, *rows.extent)
    kw = dict(origin="lower", aspect="auto", extent=extent, interpolation="nearest")
    if original is not None:
        orig_db = power_to_db(original, ref, exponent=power)
        recon_db = power_to_db(recon, ref, exponent=power)
        im = axes[0].imshow(rows.pool(orig_db, max_cols), cmap=SPEC_CMAP, vmin=-DB_RANGE, vmax=0, **kw)
        axes[1].imshow(rows.pool(recon_db, max_cols), cmap=SPEC_CMAP, vmin=-DB_RANGE, vmax=0, **kw)
        # Pool keeping the largest |error| so the loudest mistakes survive downsampling.
        err = axes[2].imshow(rows.pool(recon_db - orig_db, max_cols, signed=True), cmap=ERROR_CMAP,
                             vmin=-ERROR_DB, vmax=ERROR_DB, **kw)
        _style(axes[0], "Original spectrogram", None, rows.label, font=font, title_font=title_font)
        _style(axes[1], "Reconstruction from the mel", None, rows.label, font=font, title_font=title_font)
        _style(axes[2], "Error (red: too loud, blue: too quiet)", "time (s)", rows.label, font=font,
               title_font=title_font)
        _colourbar(fig, im, caxes[0], "dB re. original", font)
        _colourbar(fig, im, caxes[1], "dB re. original", font)
        _colourbar(fig, err, caxes[2], "dB difference", font)
        for ax in axes:
            rows.ticks(ax)
    else:
        mel_arr = np.asarray(mel if mel is not None else np.zeros((1, recon.shape[1])), dtype=np.float32)
        m_im = axes[0].imshow(downsample_max(power_to_db(mel_arr, exponent=power), 512, max_cols), cmap=SPEC_CMAP,
                              vmin=-DB_RANGE, vmax=0, origin="lower", aspect="auto", interpolation="nearest",
                              extent=(0.0, mel_arr.shape[1] * hop_s, 0, mel_arr.shape[0]))
        im = axes[1].imshow(rows.pool(power_to_db(recon, ref, exponent=power), max_cols), cmap=SPEC_CMAP,
                            vmin=-DB_RANGE, vmax=0, **kw)
        _style(axes[0], "Mel spectrogram (input)", None, "mel band", font=font, title_font=title_font)
        _style(axes[1], "Reconstruction", "time (s)", rows.label, font=font, title_font=title_font)
        rows.ticks(axes[1])
        _colourbar(fig, m_im, caxes[0], "dB re. peak", font)
        _colourbar(fig, im, caxes[1], "dB re. peak", font)
    for ax in axes:   # few ticks: their labels are large
        ax.xaxis.set_major_locator(MaxNLocator(5))
        if rows.axis == "linear" or ax is axes[0] and original is None:
            ax.yaxis.set_major_locator(MaxNLocator(4))
            ax.yaxis.set_major_formatter(FuncFormatter(_khz if ax is not axes[0] or original is not None
                                                       else lambda v, _: f"{v:g}"))
    return fig


def _khz(value: float, _pos=None) -> str:
    """A frequency tick in few characters: 500, 2k, 10k."""
    return f"{value / 1000:g}k" if value >= 1000 else f"{value:g}"


def problem_figure(spec: np.ndarray, mel: np.ndarray, reconstruction: np.ndarray, fb: MelFilterbank,
                   sample_rate: float, hop_length: int, max_cols: int = 800) -> Figure:
    """The inverse mel problem in one picture: X, then M = fbᵀ·X, then the recovered X̂.

    X and X̂ share one dB scale (the original's peak); M has its own (its bands are sums of
    many bins, so it is louder). The middle panel has one row per mel band, so it is
    visibly coarser; the right panel shows what a solver gets back.
    """
    hop_s = hop_length / float(sample_rate)
    ref = float(np.max(spec)) or 1.0
    fig = Figure(figsize=(14, 4.4), dpi=100)
    grid = fig.add_gridspec(1, 4, width_ratios=[30, 30, 30, 1], left=0.06, right=0.94, top=0.9, bottom=0.14,
                            wspace=0.4)
    axes = [fig.add_subplot(grid[0, i]) for i in range(3)]
    n_frames = np.shape(spec)[1]
    lin_extent = (0.0, n_frames * hop_s, 0.0, float(fb.bin_hz[-1]))
    kw = dict(origin="lower", aspect="auto", interpolation="nearest", cmap=SPEC_CMAP, vmin=-DB_RANGE, vmax=0)
    axes[0].imshow(downsample_max(power_to_db(spec, ref), 512, max_cols), extent=lin_extent, **kw)
    axes[1].imshow(downsample_max(power_to_db(mel), 512, max_cols),
                   extent=(0.0, n_frames * hop_s, 0, fb.n_mels), **kw)
    im = axes[2].imshow(downsample_max(power_to_db(reconstruction, ref), 512, max_cols), extent=lin_extent, **kw)
    _style(axes[0], f"1. Spectrogram X ({fb.n_freqs} bins)", "time (s)", "Hz")
    _style(axes[1], f"2. Mel M = fbᵀ·X ({fb.n_mels} bands)", "time (s)", "mel band")
    _style(axes[2], "3. Solve fbᵀ·X̂ ≈ M, X̂ ≥ 0", "time (s)", "Hz")
    _colourbar(fig, im, fig.add_subplot(grid[0, 3]), "dB re. peak")
    return fig


# --------------------------------------------------------------------------- convergence

def loss_figure(steps, losses, title: str = "Loss", ylabel: str = "solver loss") -> Figure:
    """One loss curve on a log scale (for the downloadable report)."""
    steps, losses = np.asarray(steps), np.asarray(losses, dtype=np.float64)
    fig = _figure(8, 3.6)
    ax = fig.subplots()
    positive = losses > 0
    ax.plot(steps[positive], losses[positive], lw=2.2, color=COLOURS["htk"])
    if positive.any():
        ax.set_yscale("log")
    ax.grid(alpha=0.3, which="both")
    _style(ax, title, "step", ylabel)
    return fig


def convergence_figure(curves: dict[str, tuple[np.ndarray, np.ndarray]], xlabel: str = "time (s)") -> Figure:
    """Several solvers' relative mel residual against time, overlaid (log-log).

    ``curves`` maps a label to ``(x, residual)``. A closed-form solver has one point and
    is drawn as a marker.
    """
    if not curves:
        raise InputError("curves is empty: run at least one solver")
    fig = _figure(11, 4.6)
    ax = fig.subplots()
    cycle = matplotlib.colormaps["tab10"].colors
    for i, (label, (x, y)) in enumerate(curves.items()):
        x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        ok = (x > 0) & (y > 0) & np.isfinite(y)
        style = dict(color=cycle[i % len(cycle)], label=label)
        if ok.sum() <= 1:
            ax.plot(x[ok], y[ok], marker="o", ms=10, ls="none", **style)
        else:
            ax.plot(x[ok], y[ok], lw=2.4, **style)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=FONT - 1)
    _style(ax, "Convergence: relative mel residual ‖fbᵀX̂ − M‖ / ‖M‖", xlabel, "mel residual")
    return fig
