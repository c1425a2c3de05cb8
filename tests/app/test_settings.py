"""Settings: validation naming the field, URL round trips, never-raising parsing of links."""

import json

import pytest

from invmel_core import SOLVERS, InputError
from invmel_core.app.settings import SAMPLES, Settings, sample_path
from invmel_core.inverse.solvers import default_solver


def test_defaults_are_valid_and_resolve_derived_values():
    s = Settings.checked()
    assert s.solver == default_solver() and s.solver in SOLVERS
    assert (s.n_stft, s.hop, s.nyquist) == (1025, 512, 11025.0)
    assert s.filterbank().dense.shape == (1025, 128)
    assert Settings.checked(hop_length=100, f_max=8000.0).hop == 100
    assert Settings.checked(sample_rate=11025).nyquist == 5512.0     # torchaudio's sample_rate // 2


@pytest.mark.parametrize("field,value,message", [
    ("n_mels", 0, "n_mels must be >= 1"),
    ("n_fft", 1, "n_fft must be >= 2"),
    ("sample_rate", 22050.5, "sample_rate must be an integer"),
    ("f_min", -1.0, "f_min must be >= 0"),
    ("norm", "l2", "norm must be"),
    ("mel_type", "bark", "mel_type must be one of"),
    ("solver", "adam", "solver must be one of"),
    ("tolerance_loss", float("nan"), "tolerance_loss must be finite"),
    ("seed", -3, "seed must be >= 0"),
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


# ------------------------------------------------------------------ issues 9.4 and 10.3: power, compression, sound

def test_power_compression_and_sound_round_trip_through_a_link():
    s = Settings.checked(power=1, compression="ln", method="cascade", n_iter=64)
    assert (s.power, s.compression, s.method, s.n_iter, s.sound_iterations) == (1.0, "ln", "cascade", 64, 64)
    query = s.to_query()
    assert query == {"power": "1", "compression": "ln", "method": "cascade", "n_iter": "64"}
    back, notices = Settings.from_mapping(query)
    assert notices == [] and back == s
    # n_iter None is "the method's default", and a link can say so.
    assert Settings.from_mapping({"n_iter": "none", "method": "cascade"})[0].sound_iterations == 32
    assert json.loads(Settings.checked().to_json())["sound_iterations"] == 150


@pytest.mark.parametrize("field,value,message", [
    ("power", 5, "power must be at most 4"), ("power", 0, "power must be > 0"), ("power", "two", "power must be a number"),
    ("method", "magic", "method must be one of"), ("compression", "mp3", "compression must be one of"),
    ("n_iter", 0, "n_iter must be >= 1"),
])
def test_bad_sound_and_mel_reading_fields_are_refused_naming_them(field, value, message):
    with pytest.raises(InputError, match=message):
        Settings.checked(**{field: value})
    s, notices = Settings.from_mapping({field: str(value)})
    assert getattr(s, field) == getattr(Settings.checked(), field) and field in notices[0]


def test_a_format_sets_every_field_it_fixes_and_is_recognised_back():
    from invmel_core import FORMATS
    from invmel_core.app.settings import format_values, matching_formats

    for name, fmt in FORMATS.items():
        s = Settings.checked(**format_values(name))
        assert (s.sample_rate, s.n_fft, s.hop, s.n_mels, s.power) == (
            fmt.sample_rate, fmt.n_fft, fmt.hop_length, fmt.n_mels, fmt.power)
        assert s.filterbank("librosa").dense.shape == fmt.filterbank.dense.shape
        assert name in matching_formats(s)
    hifigan = Settings.checked(**format_values("hifigan"))
    assert matching_formats(hifigan.replace(n_fft=2048)) == []      # one field off: custom
    assert matching_formats(hifigan.replace(power=2.0)) == []
    # f_max None is Nyquist: Whisper's 8000 Hz at 16 kHz is the same filterbank.
    assert "whisper" in matching_formats(Settings.checked(**{**format_values("whisper"), "f_max": None}))
    with pytest.raises(InputError, match="format must be"):
        format_values("wavenet")
