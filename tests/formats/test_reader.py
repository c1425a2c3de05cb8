"""The one reader of a user's mel file (invmel_core.formats.reader): orientation, compression
policy, and the same linear mel whichever door the file comes through."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from invmel_core import FORMATS, InputError, load_audio, mel_from_audio
from invmel_core.app.mel_input import read_mel as app_read_mel
from invmel_core.app.settings import Settings, format_values
from invmel_core.formats.reader import orient_mel, read_mel
from invmel_core.pipeline.render import RenderOptions, load

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def hifigan_mel() -> np.ndarray:
    samples, _ = load_audio(ROOT / "assets" / "speech_short.wav", 22050)
    return mel_from_audio(samples[: 22050 * 2], "hifigan")   # (80, frames), ln, clamped at 1e-5


@pytest.fixture(scope="module")
def whisper_mel() -> np.ndarray:
    samples, _ = load_audio(ROOT / "assets" / "speech_short.wav")   # speech, read as 16 kHz samples
    return mel_from_audio(samples[: 16000 * 3], "whisper")


@pytest.mark.parametrize("shape, n_mels, transposed", [
    ((80, 300), 80, False), ((300, 80), 80, True), ((300, 80), None, True), ((80, 300), None, False),
    ((128, 33), None, False), ((33, 128), None, True), ((7, 5), 5, True),
])
def test_the_mel_axis_is_the_one_with_n_mels_or_else_a_presets_band_count(shape, n_mels, transposed):
    arr = np.ones(shape, np.float32)
    oriented, flipped, note = orient_mel(arr, n_mels)
    assert flipped is transposed
    assert oriented.shape == (shape[::-1] if transposed else shape)
    assert ("transposed" in note) is transposed


@pytest.mark.parametrize("shape", [(80, 80), (80, 128), (128, 80)])
def test_both_axes_looking_like_bands_is_flagged_as_ambiguous(shape):
    oriented, flipped, note = orient_mel(np.ones(shape), None)
    assert not flipped and oriented.shape == shape and note.startswith("warning:") and "give n_mels" in note


def test_more_bands_than_frames_with_no_preset_says_how_to_read_it_transposed():
    _, flipped, note = orient_mel(np.ones((86, 33)), None)
    assert not flipped and "more bands than frames" in note


def test_neither_axis_with_n_mels_is_refused_naming_both():
    with pytest.raises(InputError, match=r"has 23 mel bands \(shape \(23, 9\)\) but n_mels is 20"):
        orient_mel(np.ones((23, 9)), 20)


def test_the_stated_orientation_wins_over_the_rule():
    arr = np.arange(6.0).reshape(2, 3)
    assert orient_mel(arr, 3, "stored")[0].shape == (2, 3)
    assert orient_mel(arr, None, "transposed")[0].shape == (3, 2)
    with pytest.raises(InputError, match="orientation must be one of"):
        read_mel(arr, orientation="sideways")


def test_a_format_reads_its_own_values_with_its_clamp(hifigan_mel):
    reading = read_mel(hifigan_mel.T, format="hifigan")
    assert reading.transposed and reading.source == "format hifigan" and reading.compression.kind == "ln"
    np.testing.assert_allclose(reading.mel, np.exp(hifigan_mel), rtol=1e-5)
    assert reading.floored_fraction > 0


def test_values_that_contradict_the_format_are_refused_when_strict_and_noted_when_not(whisper_mel):
    """A Whisper mel handed over as HiFi-GAN's: the command lines stop (nobody watches a batch);
    the app reads it as the values say and says so."""
    with pytest.raises(InputError, match="look .*not ln as format 'hifigan'"):
        read_mel(whisper_mel, format="hifigan", n_mels=80, strict=True)
    lenient = read_mel(whisper_mel, format="hifigan", n_mels=80, strict=False)
    assert lenient.compression.kind == "whisper" and lenient.source == "detected"
    assert any("not ln as format 'hifigan'" in note for note in lenient.notes)


def test_a_guessed_compression_is_refused_when_strict_and_noted_when_not():
    guessed = -np.linspace(1, 3, 80 * 20).reshape(80, 20).astype(np.float32)   # a log? which one?
    with pytest.raises(InputError, match="cannot tell how .* compressed"):
        read_mel(guessed, strict=True)
    reading = read_mel(guessed, strict=False)
    assert reading.detected.confidence == "low" and any("low confidence" in n for n in reading.notes)
    assert read_mel(guessed, compression="ln").source == "chosen"


def test_the_app_and_the_command_line_read_a_file_to_the_same_linear_mel(tmp_path, hifigan_mel):
    """One reader: the same model file, the same settings, the same numbers through both doors."""
    path = tmp_path / "model_out.npy"
    np.save(path, hifigan_mel.T)                      # stored (time, n_mels), as many models save it
    by_cli = load(path, RenderOptions(format="hifigan").checked())
    settings = Settings.checked(**format_values("hifigan"))
    by_app = app_read_mel(np.ascontiguousarray(hifigan_mel), settings)   # the page orients, then reads
    np.testing.assert_array_equal(by_cli.mel, by_app.mel)
    assert by_cli.compression == by_app.compression
    assert FORMATS["hifigan"].n_mels == by_cli.mel.shape[-2]
