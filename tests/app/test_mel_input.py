"""invmel_core.app.mel_input: a model's mel file as the app reads it (compression, fit, ranking)."""

import numpy as np
import pytest

from invmel_core import FORMATS, InputError, mel_from_audio
from invmel_core.app.mel_input import YOURS, rank_fits, read_mel, settings_fit
from invmel_core.app.settings import Settings, format_values


def sweep(rate: int, seconds: float = 1.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (0.4 * np.sin(2 * np.pi * (150 + 2500 * t) * t)).astype(np.float32)


HIFIGAN = Settings.checked(**format_values("hifigan"))


def test_the_settings_on_screen_are_ranked_with_the_presets_without_a_spurious_note():
    stored = mel_from_audio(sweep(22050), "hifigan")
    ranking = rank_fits(stored, HIFIGAN.replace(n_fft=512))
    rows = {row.name: row for row in ranking.rows}
    assert rows[YOURS].verdict == "ruled out" and rows[f"{YOURS}, n_fft 1024"].verdict == "fits"
    assert rows[YOURS].note == "" and rows[YOURS].settings["n_fft"] == 512
    assert rows["hifigan"].verdict == "fits" and rows["hifigan"].compression == "auto"   # ln: nothing left open
    assert not any(row.name.startswith(YOURS) for row in ranking.rows if row.note)
    # n_mels matching neither axis: the presets only.
    assert not any(row.name.startswith(YOURS) for row in rank_fits(stored, Settings.checked()).rows)


def test_a_mel_no_preset_has_is_ranked_on_the_settings_alone_or_refused_with_advice():
    settings = Settings.checked(sample_rate=16000, n_fft=512, n_mels=64)
    fb = settings.filterbank()
    stored = np.log(np.maximum(fb.banded.project(np.random.default_rng(0).random((257, 30), np.float32)), 1e-5))
    ranking = rank_fits(stored, settings)
    assert ranking.rows[0].name == YOURS and ranking.rows[0].verdict == "fits"
    with pytest.raises(InputError, match="no preset has 64 or 30 mel bands, nor does n_mels"):
        rank_fits(stored, settings.replace(n_mels=40))


def test_db_of_either_base_is_settled_by_the_fitting_reading():
    stored = mel_from_audio(sweep(22050), "librosa-db")
    rows = {row.name: row for row in rank_fits(stored, Settings.checked()).rows}
    assert rows["librosa-db"].verdict == "fits" and rows["librosa-db"].compression == "db10"
    chosen = rank_fits(stored, Settings.checked(compression="db20")).rows
    assert {row.compression for row in chosen} == {"db20"}                       # the user's choice stays


def test_readings_that_give_no_usable_mel_are_refused_naming_the_compression():
    with pytest.raises(InputError, match="beyond float32"):
        read_mel(np.full((8, 4), 120.0, np.float32), Settings.checked(compression="ln"))
    with pytest.raises(InputError, match="read as linear"):
        read_mel(-np.ones((8, 4), np.float32), Settings.checked(compression="linear"))


def test_settings_fit_is_check_fit_on_the_solvers_grid():
    stored = mel_from_audio(sweep(22050), FORMATS["hifigan"])
    reading = read_mel(stored, HIFIGAN)
    assert settings_fit(stored, HIFIGAN, reading.compression).verdict == "fits"
    assert settings_fit(stored, HIFIGAN.replace(n_fft=512), reading.compression).verdict == "ruled out"
