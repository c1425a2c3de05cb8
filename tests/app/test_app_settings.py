"""No setting may break a session. Every widget's range is
invmel_core.app.settings.RANGES; links, buttons and files can only set values inside it (or are
refused with a notice); hostile links leave every page, and the next one, working."""

import numpy as np
import pytest

from invmel_core import MelFilterbank
from invmel_core.app.settings import RANGES, SLIDER_SPANS, Settings
from app_support import errors, open_page, upload_mel, warnings

PAGES = ["home", "mel_scales", "invert", "compare", "frameworks"]
# Widgets whose key is not the name of the number they hold.
FIELD_OF = {"n_mels_box": "n_mels", "fw_seed_torch": "seed", "fw_seed_mindspore": "seed"}

HOSTILE = [
    {"n_mels": "600"},                                  # the issue's link: above the old slider's 512
    {"n_mels": "2000"}, {"n_mels": "-5"}, {"n_mels": "nan"}, {"n_mels": "1e400"}, {"n_mels": "80.5"},
    {"n_mels": "0x50"}, {"n_mels": ""}, {"n_mels": ["40", "700"]}, {"n_mels": ["700", "40"]},
    {"sample_rate": "0"}, {"sample_rate": "9" * 5000}, {"n_fft": "inf"}, {"n_fft": "-2048"},
    {"hop_length": "0"}, {"f_min": "-1"}, {"f_max": "NaN"}, {"f_min": "9000", "f_max": "100"},
    {"seed": "-1"}, {"seed": str(2**64)}, {"max_iter": "1e12"}, {"tolerance_loss": "-inf"},
    {"lr": "1e309"}, {"momentum": "💥"}, {"n_iter": "0"}, {"n_iter": "1e9"},
    {"solver": "../../etc/passwd"}, {"sample": "/etc/passwd"}, {"norm": "<script>alert(1)</script>"},
    {"mel_type": "[click](https://example.com)"}, {"mel_type": "ｈｔｋ"}, {"f_min": "$x^2$"},
    {"n_mels": "٨٠"},                                   # Arabic-Indic digits: Python reads 80
    {"frobnicate": "1", "<b>": "x", "n_mels": "80"},     # unknown names
    # issues 9.4 and 10.3: the mel's power and compression, the sound's method
    {"power": "0.5"}, {"power": "nan"}, {"method": "../joint"}, {"compression": "<b>db</b>"},
    {"compression": "db30"}, {"method": "CASCADE", "power": "1"},
]


def widget_values(at) -> dict:
    """{key: value} of every number box and slider on the page."""
    return {w.key: w.value for w in list(at.number_input) + list(at.slider) if w.key}


def assert_in_range(at) -> None:
    for key, value in widget_values(at).items():
        field = FIELD_OF.get(key, key)
        if field in RANGES and value is not None:
            low, high = RANGES[field]
            assert (low is None or low <= value) and (high is None or value <= high), (key, value)


def test_every_widget_takes_its_range_from_settings_ranges():
    at = open_page()
    seen = set()
    for page in PAGES[1:]:
        at.switch_page(f"pages/{page}.py").run()
        for widget in list(at.number_input):
            field = FIELD_OF.get(widget.key, widget.key)
            assert field in RANGES, f"{page}: widget {widget.key!r} has no range in RANGES"
            assert (widget.min, widget.max) == RANGES[field], (page, widget.key, widget.min, widget.max)
            seen.add(widget.key)
        for widget in at.slider:   # a slider may show a narrower span, beside a box taking the whole range
            field = FIELD_OF.get(widget.key, widget.key)
            assert (widget.min, widget.max) == SLIDER_SPANS.get(field, RANGES[field]), (page, widget.key)
            assert any(box.key == f"{widget.key}_box" for box in at.number_input) or field not in SLIDER_SPANS
            seen.add(widget.key)
    assert {"n_mels", "n_mels_box", "sample_rate", "n_iter", "compare_time_limit", "readout_hz"} <= seen


def test_the_issue_link_n_mels_600_works_on_every_page():
    """?n_mels=600 passed the link check (up to 1024) and then broke the 512-wide slider."""
    at = open_page(query={"n_mels": "600"})
    for page in PAGES[1:]:
        at.switch_page(f"pages/{page}.py").run()
        assert not at.exception, (page, [e.value for e in at.exception])
    at.switch_page("pages/mel_scales.py").run()
    assert at.slider(key="n_mels").value == 600 and at.number_input(key="n_mels_box").value == 600
    assert len(at.dataframe[0].value) == 600


# Every page under every link is a sweep: the inner loop takes every fifth link, CI all of them.
@pytest.mark.parametrize("query", [pytest.param(q, marks=() if i % 5 == 0 else pytest.mark.slow)
                                   for i, q in enumerate(HOSTILE)],
                         ids=lambda q: "&".join(f"{k}={str(v)[:12]}" for k, v in q.items()))
def test_hostile_links_leave_every_page_working(query):
    at = open_page(query=query)
    notices = warnings(at)
    for page in PAGES[1:] + ["home"]:            # and the next page after each
        at.switch_page(f"pages/{page}.py").run()
        assert not at.exception, (page, query, [e.value for e in at.exception])
        assert_in_range(at)
    settings = at.session_state["_settings_ok"]
    assert isinstance(settings, Settings)
    good, _ = Settings.from_mapping({k: v for k, v in query.items() if k in Settings.__dataclass_fields__})
    assert settings == good                      # what the link could say is kept, the rest refused
    if settings == Settings.checked() and query.get("n_mels") != "":
        assert notices, f"{query} was ignored without a word"
    for text in notices:                         # the link's text is shown as typed, never as markup
        assert "<script>" not in text.replace("\\", "") or "'<script>" in text, text


def test_notices_escape_markdown_so_a_link_cannot_inject_a_link():
    at = open_page(query={"mel_type": "[click](https://example.com)", "f_min": "$x^2$"})
    raw = [w.value for w in at.warning]
    assert any("\\[click\\]\\(https\\:" in w for w in raw), raw
    assert any("\\$x^2\\$" in w for w in raw), raw


def test_unknown_names_in_a_link_are_named_once():
    at = open_page(query={"frobnicate": "1", "n_mels": "80"})
    assert any("'frobnicate'" in w and "not a setting" in w for w in warnings(at)), warnings(at)
    at.switch_page("pages/mel_scales.py").run()
    assert at.slider(key="n_mels").value == 80 and not warnings(at)


def test_n_mels_number_box_and_slider_are_one_value():
    at = open_page("mel_scales")
    at.number_input(key="n_mels_box").set_value(80).run()
    assert at.slider(key="n_mels").value == 80 and len(at.dataframe[0].value) == 80
    at.slider(key="n_mels").set_value(1024).run()          # the top of the range, everywhere
    assert at.number_input(key="n_mels_box").value == 1024 and not at.exception
    at.switch_page("pages/invert.py").run()
    assert not at.exception and at.slider(key="n_mels").value == 1024


def test_a_transposed_mel_file_can_be_read_transposed_or_adopted_without_a_crash():
    """The issue's 'Use n_mels = 862' after a transposed upload: either fix keeps the session."""
    fb = MelFilterbank(1025, 0.0, None, 80, 22050)
    mel = fb.dense.T @ np.random.default_rng(0).random((1025, 862), dtype=np.float32)   # (80, 862)
    at = open_page("invert", query={"n_mels": "80"})
    upload_mel(at, mel.T)                                                               # (862, 80)
    assert any("looks saved as (time, n_mels)" in e for e in errors(at)), errors(at)
    at.button(key="adopt_n_mels").click().run()          # the button the issue clicked: 862 mels
    assert not at.exception and at.slider(key="n_mels").value == 862
    at.switch_page("pages/mel_scales.py").run()
    assert not at.exception and len(at.dataframe[0].value) == 862
    at.switch_page("pages/invert.py").run()
    at.slider(key="n_mels").set_value(80).run()
    at.button(key="transpose_npy").click().run()         # the better fix: read it as (n_mels, time)
    assert not errors(at), errors(at)
    assert at.session_state["invert_input"].mel.shape == (80, 862)
    assert not at.button(key="run").disabled


def test_a_mel_file_with_more_bands_than_any_filterbank_is_refused_without_a_button():
    at = open_page("invert", query={"n_mels": "80"})
    upload_mel(at, np.ones((20000, 3), np.float32))
    assert any("20000 mel bands" in e and "at most 16384" in e for e in errors(at)), errors(at)
    assert not [b for b in at.button if b.key == "adopt_n_mels"]
    assert at.slider(key="n_mels").value == 80


@pytest.mark.slow
@pytest.mark.parametrize("field", sorted(f for f in RANGES if f in Settings.__dataclass_fields__))
def test_every_setting_at_both_ends_of_its_range_runs_every_page(field):
    for end in (end for end in RANGES[field] if end is not None):
        at = open_page(query={field: str(end)})
        for page in PAGES[1:]:
            at.switch_page(f"pages/{page}.py").run()
            assert not at.exception, (field, end, page, [e.value for e in at.exception])


@pytest.mark.slow
@pytest.mark.parametrize("field", ["power", "method", "compression"])
def test_every_choice_of_the_mel_reading_and_sound_settings_runs_every_page(field):
    from invmel_core.app.settings import CHOICES

    for choice in CHOICES[field]:
        at = open_page(query={field: f"{choice:g}" if isinstance(choice, float) else choice})
        assert getattr(at.session_state["_settings_ok"], field) == choice
        for page in PAGES[1:]:
            at.switch_page(f"pages/{page}.py").run()
            assert not at.exception, (field, choice, page, [e.value for e in at.exception])
