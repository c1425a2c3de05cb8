"""Settings: validation naming the field, URL round trips, never-raising parsing of links."""

import json

import pytest

from invmel_core import SOLVERS, InputError
from invmel_core.settings import SAMPLES, Settings, default_solver, sample_path


def test_defaults_are_valid_and_resolve_derived_values():
    s = Settings.checked()
    assert s.solver == default_solver() and s.solver in SOLVERS
    assert (s.n_stft, s.hop, s.nyquist) == (1025, 512, 11025.0)
    assert s.filterbank().dense.shape == (1025, 128)
    assert Settings.checked(hop_length=100, f_max=8000.0).hop == 100
    assert Settings.checked(sample_rate=11025).nyquist == 5512.0     # torchaudio's sample_rate // 2


@pytest.mark.parametrize("field,value,message", [
    ("n_mels", 0, "n_mels must be between"),
    ("n_fft", 1, "n_fft must be between"),
    ("sample_rate", 22050.5, "sample_rate must be an integer"),
    ("f_min", -1.0, "f_min must be between"),
    ("norm", "l2", "norm must be"),
    ("mel_type", "bark", "mel_type must be one of"),
    ("solver", "adam", "solver must be one of"),
    ("tolerance_loss", float("nan"), "tolerance_loss must be finite"),
    ("seed", -3, "seed must be between"),
    ("sample", "podcast", "sample must be one of"),
])
def test_bad_fields_raise_input_error_naming_them(field, value, message):
    with pytest.raises(InputError, match=message):
        Settings.checked(**{field: value})


def test_fields_that_do_not_fit_together_are_refused():
    with pytest.raises(InputError, match="f_min must be below f_max"):
        Settings.checked(f_min=5000.0, f_max=4000.0)
    with pytest.raises(InputError, match="unknown settings"):
        Settings.checked(n_mel=40)


def test_query_round_trip_keeps_every_field():
    s = Settings.checked(sample_rate=16000, n_fft=400, hop_length=160, n_mels=80, f_min=20.0, f_max=7600.0,
                         norm="slaney", mel_type="slaney", solver="mindspore", max_iter=250,
                         tolerance_loss=1e-7, tolerance_change=0.0, lr=0.05, momentum=0.5, seed=3, sample="chirp")
    query = s.to_query()
    assert all(isinstance(v, str) for v in query.values())
    back, notices = Settings.from_mapping(query)
    assert notices == [] and back == s
    assert Settings.checked().to_query() == {}                      # defaults keep the URL clean


def test_bad_values_in_a_link_fall_back_with_notices():
    s, notices = Settings.from_mapping({"n_mels": "many", "seed": "1.5", "norm": "l1", "n_fft": "1024",
                                         "unknown": "x"})
    assert (s.n_mels, s.seed, s.norm, s.n_fft) == (128, 0, None, 1024)
    assert len(notices) == 3
    assert "n_mels" in notices[0] and "'many'" in notices[0]


def test_a_contradictory_range_in_a_link_falls_back_to_the_default_range():
    s, notices = Settings.from_mapping({"f_min": "9000", "f_max": "8000", "n_mels": "40"})
    assert (s.f_min, s.f_max, s.n_mels) == (0.0, None, 40)
    assert any("f_min must be below f_max" in n for n in notices)


def test_repeated_url_keys_use_the_last_value():
    s, notices = Settings.from_mapping({"n_mels": ["40", "64"]})
    assert s.n_mels == 64 and not notices


def test_json_has_every_field_and_the_derived_ones():
    data = json.loads(Settings.checked(n_fft=400).to_json())
    assert data["n_stft"] == 201 and data["hop"] == 100 and data["n_fft"] == 400
    assert set(Settings.__dataclass_fields__) <= set(data)


def test_every_bundled_sample_exists():
    for name in SAMPLES:
        assert sample_path(name).is_file()
