"""What the app says is true: one mel residual everywhere (a certified bound never above what the
solve reached), empty filters blamed on their real cause, a mel input's result that explains
only what it shows, a preset's clamp that contradicts the values said aloud, mel values beside
Hz, and the polish of labels and plurals (user study: a lecturer, a TTS engineer, a student)."""

from __future__ import annotations

import json
import math
import re
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

from invmel_core import FORMATS, load_audio, mel_from_audio
from invmel_core.app.settings import ASSETS
from invmel_core.dsp.filterbank import MelFilterbank
from invmel_core.dsp.scales import hz_to_mel
from invmel_core.inverse.oracle import oracle_view
from app_support import errors, metric, open_page, run_until_result, upload_mel, warnings

pytestmark = pytest.mark.filterwarnings("ignore:At least one mel filterbank has all zero values")


@lru_cache(maxsize=None)
def short_mel(name: str, seconds: float = 1.5) -> np.ndarray:
    """``seconds`` of the bundled speech as preset ``name`` stores it."""
    fmt = FORMATS[name]
    samples, _ = load_audio(ASSETS / "speech_short.wav", fmt.sample_rate)
    return mel_from_audio(samples[: int(seconds * fmt.sample_rate)], fmt)


def captions(at) -> str:
    return " ".join(c.value for c in at.caption)


def numbers(text: str) -> list[float]:
    return [float(x) for x in re.findall(r"\d+(?:\.\d+)?(?:e-?\d+)?", text)]


def test_a_ruled_out_mel_input_shows_one_mel_residual_and_no_error_map():
    """Item 3 and 6: hifigan values with f_max 20000 Hz (above Nyquist at 22050 Hz). The solve's
    mel residual and the verdict's 'at least' are the same quantity, the bound below it (also as
    printed); the result explains no error map and the estimate's dB are its own peak's."""
    at = upload_mel(open_page("invert", query={"solver": "nnls", "n_iter": "8"}), short_mel("hifigan"))
    at.selectbox(key="mel_format").set_value("hifigan").run()
    at.number_input(key="f_max").set_value(20000.0).run()
    assert not errors(at), errors(at)
    at.button(key="run").click().run()
    run_until_result(at)
    at.run()
    result = at.session_state["invert_result"]
    fit = result.fit
    assert fit.verdict == "ruled out", fit.why
    assert fit.residual_lower <= result.scores.mel_residual
    shown = float(metric(at, "mel residual"))
    verdict = next(w for w in warnings(at) if "No spectrogram fits" in w)
    at_least = float(re.search(r"mel residual of at least ([0-9.e-]+)", verdict).group(1))
    assert at_least <= shown, (verdict, shown)
    assert "the solve above reached" in verdict
    # Empty filters above Nyquist are blamed on f_max, with the fix that works.
    said = " ".join(warnings(at)) + " " + fit.why
    assert "above Nyquist" in said and "Lower f_max to at most 11025 Hz" in said
    text = captions(at)
    assert "Red in the error map" not in text and "no error map" in text
    assert "its own peak" in text


def test_a_vocoder_mel_under_a_preset_with_another_clamp_says_so():
    """Item 6: vocos values (clamped at 1e-7) fit bigvgan-24k's filterbank, whose clamp is 1e-5:
    the ranking's row and the result's verdict say the clamp contradicts the values."""
    at = upload_mel(open_page("invert", query={"solver": "nnls"}), short_mel("vocos", 1.0))
    at.selectbox(key="mel_format").set_value("bigvgan-24k").run()
    assert not errors(at), errors(at)
    at.button(key="fit_run").click().run()
    rows = at.session_state["_fit_ranking"]["ranking"].rows
    bigvgan = next(row for row in rows if row.name == "bigvgan-24k")
    assert bigvgan.verdict == "fits" and "clamp" in bigvgan.note and "1e-05" in bigvgan.note
    table = next(df.value for df in at.dataframe if "note" in df.value.columns)
    assert bigvgan.note in list(table["note"])
    at.button(key="run").click().run()
    run_until_result(at)
    at.run()
    assert any("clamp does not match the values" in w for w in warnings(at)), warnings(at)


# ------------------------------------------------------------------ item 4: empty filters, their real cause

def test_empty_filters_are_explained_by_each_cause():
    from invmel_core.dsp.empty_filters import explain_empty

    above = MelFilterbank(513, 0.0, 20000.0, 80, 22050)                 # f_max above Nyquist
    assert [c.kind for c in above.empty_causes()] == ["above_nyquist"]
    text = explain_empty(above)
    assert "above Nyquist" in text and "Lower f_max to at most 11025 Hz" in text
    assert "n_fft" in text and "cannot fix" in text                     # the advice that cannot help, said so
    narrow = MelFilterbank(201, 0.0, None, 128, 16000)                 # too many mels for the bins
    assert [c.kind for c in narrow.empty_causes()] == ["too_narrow"]
    assert "Lower n_mels, raise n_fft" in explain_empty(narrow) and "Nyquist" not in explain_empty(narrow)
    both = MelFilterbank(257, 0.0, 20000.0, 128, 22050)
    assert [c.kind for c in both.empty_causes()] == ["above_nyquist", "too_narrow"]
    assert explain_empty(MelFilterbank(201, 0.0, None, 40, 16000)) == ""
    # The torchaudio-style warning too: its n_mels/n_freqs advice only where it applies.
    with pytest.warns(UserWarning, match="above Nyquist") as caught:
        above.warn_if_empty()
    assert "`n_mels`" not in str(caught[0].message)


@pytest.mark.parametrize("page", ["mel_scales", "invert"])
def test_f_max_above_nyquist_is_blamed_on_f_max_on_the_pages(page):
    """Sample rate 22050, f_max 20000: the empty filters above 11 kHz were blamed on narrow
    triangles 'near the bottom', with advice (n_mels, f_min, n_fft) that cannot fix them."""
    at = open_page(page, query={"sample_rate": "22050", "n_fft": "1024", "n_mels": "80", "f_max": "20000"})
    shown = [w for w in warnings(at) if "mel filters are empty" in w]
    assert shown, warnings(at)
    assert "above Nyquist" in shown[0] and "Lower f_max to at most 11025 Hz" in shown[0]
    assert "Near the bottom" not in shown[0] and "too narrow" not in shown[0]
    if page == "mel_scales":
        assert "above the Nyquist frequency" in captions(at)


# ------------------------------------------------------------------ item 9: mels beside Hz; the oracle's re-mel

def chart_specs(at) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("vega_lite_chart")]


def test_the_filter_table_and_the_filterbank_chart_give_mels_beside_hz():
    at = open_page("mel_scales", query={"n_mels": "40", "mel_type": "htk"})
    table = next(df.value for df in at.dataframe if "centre (Hz)" in df.value.columns)
    columns = list(table.columns)
    assert columns.index("centre (HTK mel)") == columns.index("centre (Hz)") + 1
    np.testing.assert_allclose(table["centre (HTK mel)"], hz_to_mel(table["centre (Hz)"].to_numpy(), "htk"),
                               atol=0.01)
    spec = chart_specs(at)[2]                                            # the filterbank
    top = [layer["encoding"]["x"]["axis"] for layer in spec["layer"]
           if isinstance(layer["encoding"]["x"].get("axis"), dict)]
    assert top and top[0]["orient"] == "top" and "HTK mel" in top[0]["title"]
    expr = top[0]["labelExpr"]                                          # Vega's Hz -> mel, checked in Python
    inner = expr[len("format("):expr.rindex(",")].replace("datum.value", "hz").replace("log(", "math.log(")
    for hz in (0.0, 700.0, 4000.0):
        assert eval(inner.replace("LN10", "math.log(10)"), {"math": math, "hz": hz}) == pytest.approx(
            hz_to_mel(hz, "htk"))
    tooltip = [t["field"] for layer in spec["layer"] for t in layer["encoding"].get("tooltip", [])]
    assert {"lower_mel", "centre_mel", "upper_mel"} <= set(tooltip)


def test_the_true_phase_re_mel_is_explained_where_it_is_shown():
    """'mel magnitude + true phase' shows a larger re-mel than 'both lost' with the joint
    method. That is right (the pair is an inconsistent STFT; the joint method minimises the
    re-mel), and the table's caption says why."""
    from invmel_core.inverse.oracle import REMEL_NOTE

    y = load_audio(ASSETS / "speech_short.wav", 16000)[0][8000:24000]   # 1 s of speech
    rows = {row.key: row.scores for row in oracle_view(y, sample_rate=16000, n_fft=512, n_mels=64, hop_length=128,
                                                       n_iter=60)}
    assert rows["true_phase"]["re_mel"] > rows["estimated"]["re_mel"]
    assert rows["true_phase"]["spectral_convergence"] < rows["estimated"]["spectral_convergence"]
    source = (Path(__file__).resolve().parents[2] / "pages" / "_oracle.py").read_text()
    assert "REMEL_NOTE" in source and "inconsistent" not in REMEL_NOTE and "no signal has" in REMEL_NOTE


# ------------------------------------------------------------------ item 12: polish

def test_the_options_line_names_only_what_the_solver_uses():
    """The expander keeps one label (a new label would fold it); the line under it names only the
    options the chosen solver reads."""
    at = open_page("invert", query={"solver": "nnls"})
    line = next(c.value for c in at.caption if c.value.startswith("Options in use"))
    assert "max_iter" in line and "tolerance_loss" in line
    assert "lr" not in line and "momentum" not in line and "seed" not in line
    at = open_page("invert", query={"solver": "lstsq"})
    assert any(c.value == "Options in use: 'lstsq' uses none of them." for c in at.caption)


def test_the_iterations_placeholder_is_short_enough_for_its_column():
    at = open_page("compare")                                   # the sound's options, as beside the result
    box = at.number_input(key="n_iter")
    assert box.proto.placeholder == "150 (default)" or len(box.proto.placeholder) <= 14, box.proto.placeholder


def test_one_filter_is_singular():
    at = open_page("mel_scales", query={"n_mels": "1"})
    text = " ".join(m.value for m in at.markdown) + " " + captions(at)
    assert "1 HTK filter**" in text and "1 HTK filters" not in text
    assert "1 mel from" in text and "1 mels" not in text


def test_a_23_digit_n_mels_is_echoed_as_given():
    digits = "12345678901234567890123"
    at = open_page(query={"n_mels": digits})                   # the notice shows on the page the link opens
    notice = [w for w in warnings(at) if "n_mels" in w and "Ignored" in w]
    assert notice and digits in notice[0] and "741440" not in notice[0], notice


def test_the_cli_solver_help_has_one_sentence_per_solver():
    from invmel_core.cli.invert import build_parser

    solver = next(a for a in build_parser()._actions if "--solver" in a.option_strings)
    assert ".;" not in solver.help and ";." not in solver.help
    assert all(f" {name}: " in solver.help for name in ("librosa", "lstsq", "nnls", "sgd"))


def test_the_frameworks_page_says_how_long_the_librosa_snippet_takes():
    """At n_fft 2048 librosa's snippet runs for tens of minutes on 10 s of audio: warned."""
    at = open_page("frameworks", query={"n_fft": "2048", "sample_rate": "22050"})
    slow = [w for w in warnings(at) if "mel_to_stft" in w]
    assert slow and " min" in slow[0] and "n_fft 512" in slow[0], warnings(at)
    at = open_page("frameworks", query={"n_fft": "256", "sample_rate": "16000"})
    assert not [w for w in warnings(at) if "mel_to_stft" in w]
    assert "mel_to_stft" in captions(at)
