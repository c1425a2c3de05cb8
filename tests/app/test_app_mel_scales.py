"""The Home and Mel scales pages through AppTest, and the settings shared between pages."""

import numpy as np
import pytest

from invmel_core import MelFilterbank
from app_support import errors, open_page, warnings


def test_home_shows_the_demo_without_errors():
    at = open_page()
    assert not errors(at)
    assert at.title[0].value.startswith("invmel")
    assert len(at.image) == 1
    assert len(at.get("audio")) == 2                    # original and reconstruction
    assert any("spectral convergence" in c.value for c in at.caption)


@pytest.mark.slow
def test_home_demo_is_heard_with_the_default_sound_settings():
    """It used a fixed 32 Griffin-Lim iterations; now the defaults (joint, its 150)."""
    from invmel_core.app import workflow as pipeline
    from invmel_core.app.settings import Settings

    at = open_page()
    label = " ".join(m.value for m in at.markdown)
    assert "joint" in label and "150 iterations" in label, label
    made = pipeline.demo(call=lambda fn, *a, **k: fn(*a, **k))
    assert (made.settings.method, made.settings.sound_iterations) == (Settings.checked().method, 150)


def test_mel_scales_page_draws_and_tracks_n_mels():
    at = open_page("mel_scales")
    assert not errors(at)
    assert len(at.get("vega_lite_chart")) == 4         # scales, spacing, filterbank, zoom
    table = at.dataframe[0].value
    assert len(table) == 128
    at.slider(key="n_mels").set_value(40).run()
    assert not at.exception
    assert len(at.dataframe[0].value) == 40
    assert at.query_params["n_mels"] in ("40", ["40"])


def test_filter_readout_matches_the_filterbank():
    at = open_page("mel_scales")
    at.number_input(key="n_fft").set_value(512)
    at.slider(key="n_mels").set_value(64)
    at.radio(key="mel_type").set_value("slaney").run()
    table = at.dataframe[0].value
    fb = MelFilterbank(257, 0.0, None, 64, 22050, None, "slaney")
    assert np.allclose(table["centre (Hz)"], fb.edges_hz[1:-1], atol=0.01)
    assert list(table["empty"]) == [i in set(fb.empty) for i in range(64)]


def test_empty_filter_warning_appears_and_explains():
    at = open_page("mel_scales")
    at.number_input(key="n_fft").set_value(512).run()           # 128 mels on 257 bins
    fb = MelFilterbank(257, 0.0, None, 128, 22050)
    assert fb.empty.size > 0
    texts = warnings(at)
    assert any(f"{fb.empty.size} of 128 mel filters are empty" in w for w in texts), texts
    at.slider(key="n_mels").set_value(40).run()
    assert not any("empty" in w for w in warnings(at))


def test_bad_mel_range_shows_an_error_and_the_page_keeps_working():
    at = open_page("mel_scales")
    at.number_input(key="f_min").set_value(9000.0)
    at.number_input(key="f_max").set_value(4000.0).run()
    assert not at.exception
    assert any("f_min must be below f_max" in e for e in errors(at)), errors(at)
    assert len(at.dataframe[0].value) == 128                     # last good settings still drawn
    at.number_input(key="f_min").set_value(0.0).run()
    assert not errors(at)


def test_odd_sample_rate_explains_the_grid_difference():
    at = open_page("mel_scales")
    at.number_input(key="sample_rate").set_value(11025).run()
    assert any("odd sample rate" in i.value for i in at.info), [i.value for i in at.info]


def test_settings_follow_the_user_between_pages():
    at = open_page("mel_scales")
    at.slider(key="n_mels").set_value(77)
    at.radio(key="norm").set_value("slaney").run()
    at.switch_page("pages/home.py").run()                       # a page without these widgets
    at.switch_page("pages/invert.py").run()
    assert at.slider(key="n_mels").value == 77
    assert at.radio(key="norm").value == "slaney"


def test_a_bad_link_falls_back_with_a_notice():
    at = open_page(query={"n_mels": "lots", "mel_type": "bark", "n_fft": "1024"})
    notices = warnings(at)                                       # shown on the page the link opens
    assert any("n_mels" in w and "lots" in w for w in notices), notices
    assert any("mel_type" in w for w in notices), notices
    at.switch_page("pages/mel_scales.py").run()
    assert not at.exception
    assert at.slider(key="n_mels").value == 128                  # the default
    assert at.radio(key="mel_type").value == "htk"
    assert at.number_input(key="n_fft").value == 1024            # the good part of the link is kept
    assert not warnings(at)                                      # said once, not on every page


# ------------------------------------------------------------------ the Hz -> mel readout and the zoomed chart

def chart_specs(at) -> list[dict]:
    import json

    return [json.loads(c.proto.spec) for c in at.get("vega_lite_chart")]


def test_hz_to_mel_chart_is_in_real_mel_units_with_a_readout():
    from invmel_core.dsp.scales import hz_to_mel

    at = open_page("mel_scales")
    curves = chart_specs(at)[0]
    lines = {layer["data"]["values"][0]["scale"]: layer for layer in
             (part["layer"][0] if "layer" in part else part for part in curves["layer"][:2])}
    for name, scale in (("HTK", "htk"), ("Slaney", "slaney")):
        top = max(row["mel"] for row in lines[name]["data"]["values"])
        assert top == pytest.approx(hz_to_mel(11025.0, scale), abs=0.01), name      # mels, not 0-1
    assert [part["encoding"]["y"]["axis"]["title"] for part in curves["layer"][:2]] == ["HTK mel", "Slaney mel"]
    readout = at.get("markdown")
    assert any("1000 Hz = 1000.0 mel (HTK) = 15.00 mel (Slaney)" in m.value for m in readout)
    at.number_input(key="readout_hz").set_value(4000.0).run()
    expected = f"4000 Hz = {hz_to_mel(4000.0):.1f} mel (HTK) = {hz_to_mel(4000.0, 'slaney'):.2f} mel (Slaney)"
    assert any(expected in m.value for m in at.markdown), [m.value for m in at.markdown][:8]


@pytest.mark.parametrize("n_fft,n_mels", [(256, 40), (512, 128), (2048, 128)])
def test_spacing_caption_counts_what_the_filterbank_actually_does(n_fft, n_mels):
    """The old caption said a curve under the bin spacing means empty filters; at n_fft 256 and
    40 mels it dips under and no filter is empty. The caption now counts, per scale."""
    at = open_page("mel_scales")
    at.number_input(key="n_fft").set_value(n_fft)
    at.slider(key="n_mels").set_value(n_mels).run()
    caption = at.get("caption")
    text = " ".join(c.value for c in caption if "at these settings" in c.value)
    assert "come out empty" not in text
    for scale, label in (("htk", "HTK"), ("slaney", "Slaney")):
        fb = MelFilterbank(n_fft // 2 + 1, 0.0, None, n_mels, 22050, None, scale)
        one_bin = int(((fb.dense > 0).sum(axis=0) == 1).sum())
        empty = fb.empty.size
        part = text.split(f"**{label}")[1].split("**")[1]
        assert f"{empty} filter{'s' * (empty != 1)} {'are' if empty != 1 else 'is'} empty" in part, (label, part)
        assert f"{one_bin} see{'s' * (one_bin == 1)} only one bin" in part, (label, part)


def zoom_of(spec: dict):
    params = [p for layer in spec["layer"] for p in layer.get("params", [])]
    assert params and params[0]["bind"] == "scales"
    return params[0]["select"]["zoom"]


def test_filterbank_chart_zooms_only_when_asked_and_says_how_to_reset():
    at = open_page("mel_scales")
    assert zoom_of(chart_specs(at)[2]) is False                      # the wheel scrolls the page
    assert any("double-click to reset" in m.value and "Zoom with the mouse wheel" in m.value for m in at.markdown)
    at.toggle(key="filterbank_wheel_zoom").set_value(True).run()
    assert zoom_of(chart_specs(at)[2]) == "wheel!"


@pytest.mark.parametrize("n_mels,zoomed", [(128, True), (8, True), (1, False)])
def test_the_zoom_chart_never_repeats_the_main_chart(n_mels, zoomed):
    at = open_page("mel_scales")
    at.number_input(key="n_mels_box").set_value(n_mels).run()
    specs = chart_specs(at)
    assert len(specs) == (4 if zoomed else 3)
    if zoomed:
        main_top = specs[2]["layer"][0]["encoding"]["x"]["scale"]["domain"][1]
        zoom_top = specs[3]["layer"][-1]["encoding"]["x"]["scale"]["domain"][1]
        assert zoom_top <= main_top / 2, (zoom_top, main_top)
    else:
        assert any("no zoom" in c.value for c in at.caption)
