"""The Home and Mel scales pages through AppTest, and the settings shared between pages."""

import numpy as np

from invmel_core import MelFilterbank
from app_support import errors, open_page, warnings


def test_home_shows_the_demo_without_errors():
    at = open_page()
    assert not errors(at)
    assert at.title[0].value.startswith("invmel")
    assert len(at.image) == 1
    assert len(at.get("audio")) == 2                    # original and reconstruction
    assert any("spectral convergence" in c.value for c in at.caption)


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
