import numpy as np
import pytest

from invmel_core import InputError, hz_to_mel, mel_to_hz


def test_htk_formula():
    f = np.array([0.0, 100.0, 700.0, 4000.0, 22050.0])
    np.testing.assert_allclose(hz_to_mel(f, "htk"), 2595.0 * np.log10(1.0 + f / 700.0))


def test_slaney_is_linear_below_1khz_and_log_above():
    f = np.array([0.0, 200.0, 999.0])
    np.testing.assert_allclose(hz_to_mel(f, "slaney"), f * 3.0 / 200.0)
    # Every factor 6.4 above 1 kHz adds 27 mels.
    np.testing.assert_allclose(hz_to_mel(6400.0, "slaney") - hz_to_mel(1000.0, "slaney"), 27.0)


def test_slaney_matches_librosa():
    librosa = pytest.importorskip("librosa")
    f = np.linspace(0, 24000, 1001)
    np.testing.assert_allclose(hz_to_mel(f, "slaney"), librosa.hz_to_mel(f, htk=False), rtol=1e-12)
    np.testing.assert_allclose(hz_to_mel(f, "htk"), librosa.hz_to_mel(f, htk=True), rtol=1e-12)


@pytest.mark.parametrize("mel_type", ["htk", "slaney"])
def test_round_trip(mel_type):
    f = np.linspace(0, 48000, 4097)
    np.testing.assert_allclose(mel_to_hz(hz_to_mel(f, mel_type), mel_type), f, rtol=1e-12, atol=1e-9)


def test_scalars_stay_scalars():
    assert isinstance(hz_to_mel(440.0), float)
    assert isinstance(mel_to_hz(10.0, "slaney"), float)


def test_unknown_mel_type_names_the_choices():
    with pytest.raises(InputError, match="mel_type must be one of"):
        hz_to_mel(100.0, "bark")
