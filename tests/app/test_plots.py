"""Figures and charts: what they draw is what the core computes."""

import numpy as np
import pytest
from matplotlib.figure import Figure

from invmel_core import InputError, MelFilterbank
from invmel_core.app import charts
from invmel_core.figures import plots
from invmel_core.dsp.scales import hz_to_mel


def test_downsample_max_keeps_peaks_and_bounds_the_size():
    a = np.zeros((1025, 3001), np.float32)
    a[700, 1234] = 5.0
    small = plots.downsample_max(a, 256, 1000)
    assert small.shape[0] <= 256 and small.shape[1] <= 1000
    assert small.max() == 5.0                                  # one loud pixel survives pooling
    assert plots.downsample_max(a[:10, :10]).shape == (10, 10)  # small arrays untouched
    with pytest.raises(InputError, match="2-D"):
        plots.downsample_max(np.zeros(5))


def test_power_to_db_is_relative_to_the_peak_and_floored():
    db = plots.power_to_db(np.array([[1.0, 0.1, 0.0]]))
    assert db[0].tolist() == pytest.approx([0.0, -10.0, -plots.DB_RANGE])
    silent = plots.power_to_db(np.zeros((3, 3)))
    assert np.isfinite(silent).all() and (silent == -plots.DB_RANGE).all()


def test_spectrogram_rgb_is_landscape_with_low_frequencies_at_the_bottom():
    power = np.full((1025, 50), 1e-12, np.float32)
    power[0] = 1.0                                             # all energy in the lowest bin
    rgb = plots.spectrogram_rgb(power)
    assert rgb.dtype == np.uint8 and rgb.shape[2] == 3
    assert rgb.shape[0] <= 256 and rgb.shape[1] >= 640
    assert rgb[-1].mean() > rgb[0].mean() + 100                # bright bottom row, dark top row


@pytest.mark.parametrize("n_stft,frames", [(257, 517), (129, 40), (1025, 431), (513, 25840)])
def test_spectrogram_rgb_keeps_one_shape_whatever_the_input(n_stft, frames):
    """Not a thin strip for few bins (257 pool to 129 rows) nor for few frames."""
    rgb = plots.spectrogram_rgb(np.random.default_rng(0).random((n_stft, frames)).astype(np.float32))
    assert rgb.shape[0] == 256 and 640 <= rgb.shape[1] <= 1100


def test_filterbank_chart_draws_each_filter_and_marks_empty_ones():
    fb = MelFilterbank(257, 0.0, None, 128, 22050)
    assert fb.empty.size
    spec = charts.filterbank_chart(fb)
    layers = spec["layer"]
    drawn = {row["filter"] for row in layers[0]["data"]["values"]}
    assert drawn == set(range(128)) - set(fb.empty.tolist())
    dashed = next(layer for layer in layers if layer["mark"].get("strokeDash"))
    assert {row["filter"] for row in dashed["data"]["values"]} == set(fb.empty.tolist())
    tips = next(layer for layer in layers if layer["mark"]["type"] == "point")["data"]["values"]
    assert [t["centre"] for t in tips] == pytest.approx(fb.edges_hz[1:-1], abs=0.01)
    assert [t["empty"] for t in tips] == [m in set(fb.empty) for m in range(128)]


def test_zoomed_chart_shows_bins_and_ideal_triangles():
    fb = MelFilterbank(257, 0.0, None, 128, 22050, norm="slaney")
    spec = charts.filterbank_chart(fb, zoom_hz=300.0)
    rules = next(layer for layer in spec["layer"] if layer["mark"]["type"] == "rule")
    assert [r["hz"] for r in rules["data"]["values"]] == pytest.approx(fb.bin_hz[fb.bin_hz <= 300], abs=0.01)
    ideal = spec["layer"][1]["data"]["values"]
    first = [r for r in ideal if r["filter"] == ideal[0]["filter"]]
    m = first[0]["filter"]
    assert first[1]["weight"] == pytest.approx(2 / (fb.edges_hz[m + 2] - fb.edges_hz[m]))  # unit area


def test_filter_table_reads_out_edges_and_bins():
    fb = MelFilterbank(201, 0.0, None, 40, 16000)
    table = fb.table()
    assert table["lower (Hz)"][1] == pytest.approx(table["centre (Hz)"][0])
    assert table["upper (Hz)"][0] == pytest.approx(table["centre (Hz)"][1])
    counts = (fb.dense > 0).sum(axis=0)
    assert (table["bins inside"] == counts).all()


def test_mel_curves_show_slaney_linear_below_1khz():
    # Each scale in its own mel units (HTK: layer 0, Slaney: layer 1), not 0-1.
    rows = charts.mel_curve_chart(8000.0)["layer"][1]["data"]["values"]
    slaney = {r["hz"]: r["mel"] for r in rows if r["scale"] == "Slaney"}
    hz = sorted(slaney)
    below = [h for h in hz if 0 < h < 1000]
    ratios = [slaney[h] / h for h in below]
    assert max(ratios) / min(ratios) < 1.01                     # a straight line through 0
    assert slaney[hz[-1]] == pytest.approx(hz_to_mel(8000.0, "slaney"), abs=0.01)


def test_filter_spacing_is_constant_below_1khz_for_slaney_and_rises_for_htk():
    rows = charts.filter_spacing_chart(0.0, 8000.0, 80, 31.25)["layer"][0]["data"]["values"]
    slaney = [r["spacing"] for r in rows if r["scale"] == "Slaney" and r["hz"] < 900]
    htk = [r["spacing"] for r in rows if r["scale"] == "HTK"]
    assert max(slaney) - min(slaney) < 0.01
    assert htk == sorted(htk)


def test_comparison_figure_has_one_db_scale_and_an_error_map():
    rng = np.random.default_rng(0)
    orig = rng.random((129, 40)).astype(np.float32)
    fig = plots.comparison_figure(orig, orig * 0.5, 16000, 64)
    images = [im for ax in fig.axes for im in ax.get_images()]
    assert len(images) == 3
    assert images[0].get_clim() == images[1].get_clim() == (-plots.DB_RANGE, 0)
    # Half the power is -3 dB everywhere: the error map says so.
    assert np.allclose(images[2].get_array(), 10 * np.log10(0.5), atol=1e-4)
    assert plots.figure_png(fig)[:8] == b"\x89PNG\r\n\x1a\n"
    only_mel = plots.comparison_figure(None, orig, 16000, 64, mel=orig[:20])
    assert len([im for ax in only_mel.axes for im in ax.get_images()]) == 2
    with pytest.raises(InputError, match="must match"):
        plots.comparison_figure(orig[:, :10], orig, 16000, 64)


def test_convergence_figure_overlays_one_line_per_solver():
    fig = plots.convergence_figure({"a": ([0.1, 0.2, 0.3], [1, 0.5, 0.2]), "b": ([0.05], [0.01])})
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert [line.get_label() for line in ax.get_lines()] == ["a", "b"]
    with pytest.raises(InputError):
        plots.convergence_figure({})


def test_loss_chart_drops_values_a_log_axis_cannot_show():
    spec = charts.loss_chart([1, 2, 3, 4], [1.0, 0.0, np.nan, 0.5])
    assert [r["step"] for r in spec["data"]["values"]] == [1, 4]
    assert spec["encoding"]["y"]["scale"]["type"] == "log"


@pytest.mark.slow
def test_long_spectrograms_are_drawn_at_screen_resolution():
    long = np.random.default_rng(0).random((1025, 12000)).astype(np.float32)
    fig = plots.comparison_figure(long, long, 22050, 512)
    for image in (im for ax in fig.axes for im in ax.get_images()):
        rows, cols = image.get_array().shape[:2]
        assert rows <= 512 and cols <= 1000
    assert plots.spectrogram_rgb(long).shape[:2] == (256, 924)


# ------------------------------------------------------------------ magnitude spectrograms, fit chart

def test_a_magnitude_spectrogram_is_drawn_at_the_same_levels_as_its_power():
    rng = np.random.default_rng(0)
    magnitude = rng.random((129, 40), dtype=np.float32) ** 3
    original = magnitude * 1.1
    mel = rng.random((16, 40), dtype=np.float32)
    assert plots.power_to_db(np.array([1.0, 0.1]), exponent=1.0).tolist() == pytest.approx([0.0, -20.0])
    np.testing.assert_array_equal(plots.spectrogram_rgb(magnitude, exponent=1.0), plots.spectrogram_rgb(magnitude ** 2))
    as_magnitude = plots.render_png(plots.comparison_figure, original, magnitude, 8000, 64, mel=mel, power=1.0)
    as_power = plots.render_png(plots.comparison_figure, original ** 2, magnitude ** 2, 8000, 64, mel=mel ** 2)
    assert as_magnitude == as_power
    assert as_magnitude != plots.render_png(plots.comparison_figure, original, magnitude, 8000, 64, mel=mel)


def test_the_fit_chart_has_a_bar_per_candidate_in_order_coloured_by_verdict():
    from types import SimpleNamespace as Row

    rows = [Row(name="hifigan", verdict="fits", residual=1e-5, residual_lower=0.0, duration=4.17),
            Row(name="whisper", verdict="ruled out", residual=0.09, residual_lower=0.085, duration=3.59),
            Row(name="espnet", verdict="cannot tell", residual=3e-3, residual_lower=1e-4, duration=4.17)]
    spec = charts.fit_chart(rows)
    bars, ticks = spec["layer"]
    values = spec["data"]["values"]
    assert [v["candidate"] for v in values] == ["hifigan", "whisper", "espnet"]
    assert [v["order"] for v in values] == [0, 1, 2]
    assert bars["encoding"]["y"]["sort"] == ticks["encoding"]["y"]["sort"] == {"field": "order", "op": "min"}
    assert values[0]["lower"] == 1e-7                       # 0 on a log axis: drawn at its floor
    # Bars from the floor to the residual, on a log axis; the certified lower bound as a tick.
    assert bars["encoding"]["x"]["scale"]["type"] == "log" and bars["encoding"]["x2"] == {"field": "residual"}
    assert all(v["base"] == 1e-7 for v in values) and ticks["encoding"]["x"]["field"] == "lower"
    scale = bars["encoding"]["color"]["scale"]
    assert dict(zip(scale["domain"], scale["range"])) == charts.VERDICT_COLOURS
