"""What the app says is true: one mel residual everywhere (a certified bound never above what the
solve reached), empty filters blamed on their real cause, a mel input's result that explains
only what it shows, a preset's clamp that contradicts the values said aloud, mel values beside
Hz, and the polish of labels and plurals (user study: a lecturer, a TTS engineer, a student)."""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np
import pytest

from invmel_core import FORMATS, load_audio, mel_from_audio
from invmel_core.app.settings import ASSETS
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
    at = upload_mel(open_page("invert", query={"solver": "nnls"}), short_mel("hifigan"))
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
