"""The result's downloads are named after the input (three results downloaded in a row do not
overwrite each other) and parameters.json records what reproduces the result."""

from __future__ import annotations

import numpy as np

from app_support import open_page, run_until_result, upload_mel
from invmel_core import FORMATS, mel_from_audio
from invmel_core.app.downloads import file_names, input_stem, parameters


def test_names_follow_the_input_as_the_command_lines_do():
    assert file_names(input_stem("mel spectrogram model_out.npy")) == {
        "spec": "model_out.linear.npy", "mel": "model_out.mel.npy", "wav": "model_out.wav",
        "png": "model_out.comparison.png", "json": "model_out.parameters.json"}
    assert input_stem("speech_short.wav") == "speech_short" and input_stem("recording") == "recording"
    assert input_stem("mel spectrogram ../../etc/pass wd?.npy") == "pass_wd"     # never a path, never odd
    assert input_stem("mel spectrogram ?.npy") == "reconstruction" and input_stem("mel spectrogram .npy") == "npy"


def test_parameters_record_the_format_the_reading_and_the_sound_and_no_stray_sample():
    t = np.arange(22050) / 22050
    stored = mel_from_audio((0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), "hifigan")
    at = upload_mel(open_page("invert", query={"solver": "nnls", "n_iter": "8"}), stored, "model_out.npy")
    at.selectbox(key="mel_format").set_value("hifigan").run()
    at.button(key="run").click().run()
    run_until_result(at)
    result = at.session_state["invert_result"]
    report = parameters(result, result.settings)
    assert report["format"] == "hifigan" and "sample" not in report["settings"]
    assert report["compression_read"]["setting"] == "ln" and report["compression_read"]["floor"] < -11
    assert report["sound"] == {"method": "joint", "iterations": 8, "seed": 0, "fidelity": "exact",
                               "loudness": "natural"}
    assert report["solve"]["solver"] == "nnls" and report["settings_fit"]["verdict"] == "fits"


def test_a_bundled_sample_keeps_its_name_in_the_parameters():
    at = open_page("invert", query={"sample_rate": "16000", "n_fft": "512", "n_mels": "40", "solver": "nnls",
                                    "max_iter": "60", "n_iter": "4"})
    at.button(key="run").click().run()
    run_until_result(at)
    result = at.session_state["invert_result"]
    report = parameters(result, result.settings)
    assert report["settings"]["sample"] == result.settings.sample and report["compression_read"] is None
    assert report["format"] is None or report["format"] in FORMATS
