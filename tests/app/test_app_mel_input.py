"""A model's mel file on the Invert page — read as stored, its format,
its compression, the duration it implies, "Which settings fit?", the transposed case, and the
fit verdict with the result."""

from functools import lru_cache

import numpy as np
import pytest

from invmel_core import FORMATS, load_audio, mel_from_audio
from invmel_core.app.settings import ASSETS
from app_support import errors, open_page, run_until_result, shown_sound, upload_mel, warnings


@lru_cache(maxsize=None)
def model_mel(name: str = "hifigan") -> np.ndarray:
    """The mel spectrogram ``name``'s pipeline stores for the bundled short speech (4.2 s)."""
    fmt = FORMATS[name]
    samples, _ = load_audio(ASSETS / "speech_short.wav", fmt.sample_rate)
    return mel_from_audio(samples, fmt)


def sidebar(at) -> dict:
    """The sidebar's settings as the session holds them."""
    s = at.session_state["_settings_ok"]
    return {name: getattr(s, name) for name in ("sample_rate", "n_fft", "hop", "n_mels", "f_min", "f_max",
                                                "mel_type", "norm", "power")}


HIFIGAN = {"sample_rate": 22050, "n_fft": 1024, "hop": 256, "n_mels": 80, "f_min": 0.0, "f_max": 8000.0,
           "mel_type": "slaney", "norm": "slaney", "power": 1.0}


def texts(at) -> str:
    return " ".join([m.value for m in at.markdown] + [c.value for c in at.caption])


def test_a_hifigan_ln_mel_at_the_defaults_is_proposed_its_format_at_once():
    """The 2 a.m. user: an (80, T) ln mel at the default settings (128 mels). The first thing shown
    is not a red n_mels error but the format its values fit, one click from adopting it; the
    mismatch stays as a caption with its own buttons, and "Which settings fit?" one click away."""
    at = upload_mel(open_page("invert"), model_mel())
    assert not errors(at), errors(at)
    proposal = " ".join(s.value for s in at.success)
    assert "This looks like a hifigan mel" in proposal and " s at its hop and sample rate" in proposal
    assert any("80 mel bands but n_mels is 128" in c.value for c in at.caption)
    assert at.button(key="adopt_n_mels").label == "Use n_mels = 80"
    assert at.selectbox(key="mel_format").value == "custom"
    assert at.button(key="fit_run")                       # the panel is there before n_mels matches
    at.button(key="propose_use").click().run()
    assert not errors(at) and sidebar(at) == HIFIGAN and at.selectbox(key="mel_format").value == "hifigan"
    assert at.session_state["invert_input"].mel.shape == (80, model_mel().shape[1])


def test_choosing_the_format_sets_every_setting_and_reads_the_values():
    at = upload_mel(open_page("invert"), model_mel())
    at.selectbox(key="mel_format").set_value("hifigan").run()
    assert not at.exception and not errors(at), errors(at)
    assert sidebar(at) == HIFIGAN
    # The widgets show them too (the store/adopt machinery, no widget error).
    assert at.number_input(key="n_fft").value == 1024 and at.slider(key="n_mels").value == 80
    assert at.radio(key="mel_type").value == "slaney" and at.radio(key="norm").value == "slaney"
    assert at.radio(key="power").value == 1.0 and at.number_input(key="hop_length").value == 256
    loaded = at.session_state["invert_input"]
    assert loaded.reading.compression.kind == "ln" and loaded.reading.source == "format hifigan"  # the values agree: its exact clamp
    np.testing.assert_allclose(loaded.mel, np.exp(model_mel()), rtol=1e-5)       # ln undone
    shown = texts(at)
    assert "natural log" in shown and "ln(1e-5)" in shown and "high confidence" in shown
    assert "359 × hop 256 / 22050 Hz = **4.17 s**" in shown
    assert at.query_params["power"] in ("1", ["1"])                   # shareable
    # One setting off: the format says "custom" (the sidebar is the truth).
    at.number_input(key="n_fft").set_value(2048).run()
    assert at.selectbox(key="mel_format").value == "custom"
    # Tacotron 2 has the same settings (it differs in framing): the choice is kept, not flipped.
    at.selectbox(key="mel_format").set_value("tacotron2").run()
    at.run()
    assert at.selectbox(key="mel_format").value == "tacotron2" and sidebar(at) == HIFIGAN


def test_the_implied_duration_says_when_the_settings_change_it():
    at = upload_mel(open_page("invert"), model_mel())
    at.selectbox(key="mel_format").set_value("hifigan").run()
    at.number_input(key="hop_length").set_value(512).run()          # a wrong hop: twice as long
    shown = texts(at)
    assert "= **8.34 s**" in shown
    assert "changed with the settings: 4.17 s at hop 256 and 22050 Hz, now 8.34 s (2×)" in shown, shown


def test_which_settings_fit_ranks_the_candidates_and_one_click_adopts_one():
    at = upload_mel(open_page("invert"), model_mel())          # the defaults: nothing matches yet
    at.button(key="fit_run").click().run()
    assert not at.exception and [e for e in errors(at) if "n_mels is 128" not in e] == [], errors(at)
    ranking = at.session_state["_fit_ranking"]["ranking"]
    verdicts = {row.name: row.verdict for row in ranking.rows}
    assert verdicts["hifigan"] == "fits" and verdicts["hifigan, n_fft 512"] == "ruled out"
    assert verdicts["hifigan, htk mels"] == "ruled out" and verdicts["whisper"] == "ruled out"
    # Honest about identifiability: many fit, the summary says the values cannot tell them apart.
    assert "cannot tell them apart" in ranking.summary
    assert any("mean nothing" in c.value for c in at.caption)
    chart = at.get("vega_lite_chart")
    assert chart, "no chart of the residuals"
    # A button per candidate that is not ruled out; the first is the best one.
    verdict = " ".join(m.value for m in at.markdown if "cannot tell ·" in m.value)
    assert verdict.startswith("**") and " fit**: " in verdict and "ruled out" in verdict and len(verdict) < 400
    assert at.expander and any("candidates" in e.label for e in at.expander)   # the details, on demand
    use = [b for b in at.button if b.key and b.key.startswith("fit_use_")]
    assert use and all(ranking.rows[int(b.key.rsplit("_", 1)[1])].verdict != "ruled out" for b in use)
    first = ranking.rows[0].name
    assert first in ("hifigan", "tacotron2")
    at.button(key="fit_use_0").click().run()
    assert not at.exception and not errors(at), errors(at)
    assert sidebar(at) == HIFIGAN
    assert at.selectbox(key="mel_format").value == first
    assert any(f"Settings of {first} set" in i.value for i in at.info)
    assert at.session_state["invert_input"].mel.shape == (80, 359)
    assert not at.button(key="run").disabled


def test_a_transposed_model_mel_is_recognised_by_the_ranking_and_by_the_buttons():
    at = upload_mel(open_page("invert"), model_mel().T)            # (359, 80), n_mels 128
    assert any("Or, if it holds (time, n_mels), it has 80 mel bands" in c.value for c in at.caption)
    assert "stored as (time, n_mels)" in " ".join(s.value for s in at.success)
    at.button(key="fit_run").click().run()
    rows = at.session_state["_fit_ranking"]["ranking"].rows
    best = rows[0]
    assert best.verdict == "fits" and best.transposed
    at.button(key="fit_use_0").click().run()
    assert not errors(at), errors(at)
    assert at.session_state["invert_input"].mel.shape == (80, 359) and sidebar(at)["n_mels"] == 80
    # And without the panel: the button that reads it transposed with n_mels = 80.
    at = upload_mel(open_page("invert"), model_mel().T)
    at.button(key="transpose_adopt_npy").click().run()
    assert not errors(at), errors(at)
    assert at.session_state["invert_input"].mel.shape == (80, 359)


@pytest.mark.slow
def test_a_solve_with_settings_that_cannot_fit_warns_with_the_result():
    at = upload_mel(open_page("invert"), model_mel())
    at.selectbox(key="mel_format").set_value("hifigan").run()
    at.number_input(key="n_fft").set_value(512).run()              # too coarse: ruled out (0.16)
    at.button(key="run").click().run()
    run_until_result(at)
    result = at.session_state["invert_result"]
    assert result.fit.verdict == "ruled out" and result.fit.residual_lower > 0.1
    assert any("No spectrogram fits these mel values with these settings" in w for w in warnings(at)), warnings(at)
    # With the right settings the same place says they fit (and that other settings may too).
    at.number_input(key="n_fft").set_value(1024).run()
    at.button(key="run").click().run()
    run_until_result(at)
    at.run()
    result = at.session_state["invert_result"]
    assert result.fit.verdict == "fits"
    assert not any("No spectrogram fits" in w for w in warnings(at))
    assert any("These settings fit the values" in s.value for s in at.success)
    sound = shown_sound(at)
    assert sound.method == "joint" and sound.original_wav is None and sound.wav[:4] == b"RIFF"


def test_a_low_confidence_reading_says_so_and_the_user_chooses_the_compression():
    # log10 without a floor (ESPnet clamps the power before the log): its base cannot be read off.
    linear = np.exp(model_mel())
    noise = 0.01 * np.random.default_rng(0).random(linear.shape, np.float32)
    stored = np.log10(np.maximum(linear, 1e-4)).astype(np.float32) + noise
    at = upload_mel(open_page("invert", query={"n_mels": "80"}), stored)     # custom settings: no format decides
    reading = at.session_state["invert_input"].reading
    assert reading.detected.confidence == "low" and reading.source == "detected"
    assert any("this reading is a guess" in w for w in warnings(at)), warnings(at)
    at.selectbox(key="compression").set_value("log10").run()
    reading = at.session_state["invert_input"].reading
    assert reading.source == "chosen" and reading.compression.kind == "log10"
    assert not any("this reading is a guess" in w for w in warnings(at))
    assert at.query_params["compression"] in ("log10", ["log10"])
    # Read as linear, negative values are an error a person can act on, next to the input; the
    # choice stays on screen above it, so it can be undone.
    at.selectbox(key="compression").set_value("linear").run()
    assert any("read as linear, the values go down to" in e.lower() for e in errors(at)), errors(at)
    at.selectbox(key="compression").set_value("auto").run()
    assert not errors(at) and at.session_state["invert_input"].reading.source == "detected"


def test_a_preset_decides_a_reading_the_values_leave_open():
    """Low confidence (loud frames only: no floor in sight), and the settings are a preset's:
    the values are read as that preset stores them, and the page says so."""
    at = upload_mel(open_page("invert"), model_mel()[:, 150:200])
    at.selectbox(key="mel_format").set_value("hifigan").run()
    reading = at.session_state["invert_input"].reading
    assert reading.detected.confidence == "low"
    assert reading.source == "format hifigan" and reading.compression.kind == "ln"
    assert "as format hifigan stores them" in texts(at)


@pytest.mark.slow
def test_db_of_unknown_base_is_settled_by_the_candidate_adopted():
    at = upload_mel(open_page("invert"), model_mel("librosa-db"))
    at.selectbox(key="mel_format").set_value("librosa").run()
    assert any("10·log10" in i.value and "20·log10" in i.value for i in at.info)
    at.button(key="fit_run").click().run()
    rows = at.session_state["_fit_ranking"]["ranking"].rows
    librosa = next(i for i, row in enumerate(rows) if row.name == "librosa-db")
    assert rows[librosa].verdict == "fits" and rows[librosa].compression == "db10"
    at.button(key=f"fit_use_{librosa}").click().run()
    assert at.selectbox(key="compression").value == "db10"
    assert at.session_state["invert_input"].reading.compression.db_factor == 10


@pytest.mark.slow
def test_an_audio_input_follows_the_power_setting():
    from invmel_core.dsp import stft

    at = open_page("invert", query={"solver": "nnls", "n_fft": "512", "n_mels": "40", "sample_rate": "16000"})
    at.radio(key="power").set_value(1.0).run()
    loaded = at.session_state["invert_input"]
    want = stft.spectrogram(loaded.samples, n_fft=512, hop_length=128, power=1.0)
    np.testing.assert_allclose(loaded.spec, want, rtol=1e-5, atol=1e-7)
    at.button(key="run").click().run()
    run_until_result(at)
    result = at.session_state["invert_result"]
    assert result.settings.power == 1.0 and result.scores.mel_residual < 0.05
    assert shown_sound(at).original_wav is not None


@pytest.mark.parametrize("query", [{"power": "9"}, {"method": "magic"}, {"compression": "pickle"},
                                   {"power": "1", "compression": "db20", "method": "cascade"}])
def test_links_with_the_new_fields_keep_the_page_working(query):
    at = open_page("invert", query=query)
    assert not at.exception
    good = at.session_state["_settings_ok"]
    for name, value in query.items():
        expected = {"power": float(value) if value in ("1", "2") else 2.0}.get(name, value)
        if name != "power" and value not in ("db20", "cascade"):
            expected = {"method": "joint", "compression": "auto"}[name]
        assert getattr(good, name) == expected, (name, getattr(good, name))
