"""Formats: every preset reproduces its pipeline (written out here with librosa, independently of
invmel_core.formats.presets), compressions are detected and undone, and doubtful inputs are called doubtful."""

import dataclasses
from pathlib import Path

import librosa
import numpy as np
import pytest

from invmel_core import InputError, load_audio, spectrogram
from invmel_core.formats.compression import Compression, detect_compression, undo_compression
from invmel_core.formats.presets import (FORMATS, MelFormat, compress, format_spectrogram, get_format,
                                       mel_from_audio)

ASSETS = Path(__file__).resolve().parents[2] / "assets"


@pytest.fixture(scope="module")
def speech():
    """4.2 s of speech at every preset's sample rate."""
    cache = {}

    def at(rate):
        if rate not in cache:
            cache[rate] = load_audio(ASSETS / "speech_short.wav", sample_rate=rate)[0]
        return cache[rate]
    return at


# --------------------------------------------------------------------------- the pipelines, written out


def reference_mel(y, fmt: MelFormat) -> tuple[np.ndarray, np.ndarray]:
    """What each project's code computes, transcribed from its source with librosa and numpy
    (in float64): ``(linear mel, stored values)``."""
    y = np.asarray(y, np.float64)
    if fmt.framing == "same":  # HiFi-GAN / BigVGAN: reflect-pad (n_fft - hop) / 2, torch.stft(center=False)
        pad = (fmt.n_fft - fmt.hop_length) // 2
        stft = librosa.stft(np.pad(y, pad, mode="reflect"), n_fft=fmt.n_fft, hop_length=fmt.hop_length,
                            win_length=fmt.win_length, window="hann", center=False)
    else:
        stft = librosa.stft(y, n_fft=fmt.n_fft, hop_length=fmt.hop_length, win_length=fmt.win_length,
                            window="hann", center=True, pad_mode=fmt.pad_mode)
    if fmt.drop_last_frame:  # Whisper: stft[..., :-1]
        stft = stft[:, :-1]
    power = np.abs(stft) ** 2
    name = fmt.source.split()[0]
    if name in ("jik876/hifi-gan", "NVIDIA/BigVGAN"):
        spec = np.sqrt(power + 1e-9)
    elif name == "espnet/espnet":
        spec = np.sqrt(np.maximum(power, 1e-10))
    else:
        spec = power ** (fmt.power / 2)
    if fmt.compat == "librosa":
        basis = librosa.filters.mel(sr=fmt.sample_rate, n_fft=fmt.n_fft, n_mels=fmt.n_mels, fmin=fmt.f_min,
                                    fmax=fmt.f_max, htk=fmt.mel_type == "htk", norm=fmt.norm)
    else:  # torchaudio's HTK filterbank without norm is librosa's htk=True, norm=None (even rates)
        assert fmt.mel_type == "htk" and fmt.norm is None
        basis = librosa.filters.mel(sr=fmt.sample_rate, n_fft=fmt.n_fft, n_mels=fmt.n_mels, fmin=fmt.f_min,
                                    fmax=fmt.f_max if fmt.f_max is not None else fmt.sample_rate / 2,
                                    htk=True, norm=None)
    mel = basis.astype(np.float64) @ spec
    if fmt.compression == "ln":  # dynamic_range_compression / safe_log
        return mel, np.log(np.clip(mel, fmt.clamp, None))
    if fmt.compression == "log10":  # ESPnet LogMel(log_base=10)
        return mel, np.log10(np.maximum(mel, 1e-10))
    if fmt.compression == "whisper":
        log_spec = np.log10(np.maximum(mel, 1e-10))
        log_spec = np.maximum(log_spec, log_spec.max() - 8.0)
        return mel, (log_spec + 4.0) / 4.0
    if fmt.compression == "db":
        return mel, librosa.power_to_db(mel, ref=np.max)
    return mel, mel


@pytest.mark.filterwarnings("ignore:Empty filters detected")  # torchaudio's defaults: 128 mels on 201 bins
@pytest.mark.parametrize("name", sorted(FORMATS))
def test_each_preset_reproduces_its_pipeline(name, speech):
    fmt = FORMATS[name]
    y = speech(fmt.sample_rate)
    ours = mel_from_audio(y, name)
    mel, ref = reference_mel(y, fmt)
    assert ours.shape == ref.shape == (fmt.n_mels, fmt.n_frames(y.size))
    # The linear mels agree to float32's window and arithmetic (torch's are float32 too) ...
    linear = fmt.filterbank.banded.project(format_spectrogram(y, fmt))
    assert np.abs(linear - mel).max() <= 2e-6 * mel.max()
    # ... and so do the stored values: exactly where the mel is within 60 dB of its peak (below,
    # float32's rounding of the window shows in the logs), and in the floors.
    loud = mel >= 1e-6 * mel.max() if fmt.power == 2 else mel >= 1e-3 * mel.max()
    tolerance = {"linear": 2e-6 * mel.max(), "db": 2e-4}.get(fmt.compression, 2e-5)
    assert np.abs(ours - ref)[loud].max() <= tolerance
    if fmt.compression != "linear":
        floor = ref.min()
        np.testing.assert_array_equal(ours <= floor + 1e-4 * max(1, abs(floor)), ref <= floor + 1e-4 * max(1, abs(floor)))


@pytest.mark.parametrize("name", [n for n, f in FORMATS.items() if f.framing == "center" and f.pad_mode == "reflect"
                                  and not f.power_offset and not f.power_floor and not f.drop_last_frame])
def test_centred_reflect_formats_use_invmels_stft(name, speech):
    fmt = FORMATS[name]
    y = speech(fmt.sample_rate)
    expected = spectrogram(y, n_fft=fmt.n_fft, hop_length=fmt.hop_length, win_length=fmt.win_length, power=fmt.power)
    np.testing.assert_allclose(format_spectrogram(y, fmt), expected, rtol=1e-5, atol=1e-6 * expected.max())


def test_hifigan_frames_sit_half_a_hop_later_than_centred_ones(speech):
    fmt = FORMATS["hifigan"]
    y = speech(fmt.sample_rate)
    same = format_spectrogram(y, fmt)
    # Frame t of HiFi-GAN's framing is centred on sample t * hop + hop / 2: a centred STFT of
    # the signal advanced by hop / 2 gives the same interior frames.
    centred = format_spectrogram(y[fmt.hop_length // 2:], fmt.replace(framing="center", power_offset=0.0))
    assert same.shape[1] == y.size // fmt.hop_length == FORMATS["tacotron2"].n_frames(y.size) - 1
    interior = slice(4, same.shape[1] - 4)
    np.testing.assert_allclose(np.sqrt(same[:, interior] ** 2 - 1e-9), centred[:, interior], rtol=1e-4,
                               atol=1e-5 * centred.max())
    assert not np.allclose(same[:, interior], format_spectrogram(y, fmt.replace(framing="center"))[:, interior],
                           rtol=1e-2)


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_round_trip_detect_and_undo(name, speech):
    fmt = FORMATS[name]
    y = speech(fmt.sample_rate)
    stored = mel_from_audio(y, fmt)
    truth = fmt.filterbank.banded.project(format_spectrogram(y, fmt)).astype(np.float64)
    found = detect_compression(stored)
    if fmt.compression == "log10" and name == "espnet":
        # ESPnet's amplitude floor keeps its mel above the 1e-10 clamp: no floor to see, so the
        # base is not confidently named, and log10 is among the readings tried.
        assert found.confidence == "low" and "log10" in (found.kind, *found.alternatives)
    else:
        assert found.kind == fmt.compression and found.confidence == "high", found.why
    for how in (fmt, found) if found.kind == fmt.compression else (fmt,):
        linear, floored = undo_compression(stored, how)
        if fmt.compression == "db":  # ref=np.max: the level is lost, the shape is not
            truth_here = truth / truth.max()
        else:
            truth_here = truth
        kept = ~floored
        assert np.abs(linear[kept] - truth_here[kept]).max() <= 1e-5 * truth_here.max()
        assert (linear[floored] >= truth_here[floored] * (1 - 1e-4)).all()  # an upper bound where floored
    if fmt.compression in ("ln", "whisper", "db"):
        assert floored.any()


def test_filterbanks_of_librosa_made_presets_are_librosas():
    for name, fmt in FORMATS.items():
        if fmt.compat != "librosa":
            continue
        basis = librosa.filters.mel(sr=fmt.sample_rate, n_fft=fmt.n_fft, n_mels=fmt.n_mels, fmin=fmt.f_min,
                                    fmax=fmt.f_max, htk=fmt.mel_type == "htk", norm=fmt.norm)
        np.testing.assert_allclose(fmt.filterbank.dense.T, basis, rtol=1e-5, atol=1e-6 * basis.max(), err_msg=name)


def test_formats_are_frozen_hashable_and_cite_their_source():
    assert {"hifigan", "whisper", "whisper-128", "torchaudio", "librosa"} <= set(FORMATS)
    for name, fmt in FORMATS.items():
        assert fmt.source and fmt.description, name
        assert hash(fmt) == hash(fmt.replace())
    with pytest.raises(dataclasses.FrozenInstanceError):
        FORMATS["hifigan"].n_fft = 512
    hifigan = FORMATS["hifigan"]
    assert (hifigan.sample_rate, hifigan.n_fft, hifigan.hop_length, hifigan.n_mels, hifigan.f_max,
            hifigan.mel_type, hifigan.norm, hifigan.power, hifigan.clamp) == (22050, 1024, 256, 80, 8000.0,
                                                                           "slaney", "slaney", 1.0, 1e-5)
    ta = FORMATS["torchaudio"]
    assert (ta.sample_rate, ta.n_fft, ta.hop_length, ta.n_mels, ta.mel_type, ta.norm, ta.power) == (
        16000, 400, 200, 128, "htk", None, 2.0)
    assert get_format("whisper") is FORMATS["whisper"]


@pytest.mark.parametrize("change, word", [
    (dict(compression="log"), "compression"), (dict(framing="valid"), "framing"),
    (dict(win_length=2048), "win_length"), (dict(compression="db"), "db_factor"),
    (dict(compression="ln", clamp=None), "clamp"), (dict(f_min=9000.0), "f_min"),
    (dict(n_fft=0), "n_fft"), (dict(mel_type="bark"), "mel_type"), (dict(pad_mode="wrap"), "pad_mode")])
def test_bad_format_fields_are_named(change, word):
    with pytest.raises(InputError, match=word):
        FORMATS["hifigan"].replace(**change)


def test_bad_inputs_are_named():
    with pytest.raises(InputError, match="format"):
        mel_from_audio(np.zeros(4000), "hifi")
    with pytest.raises(InputError, match="too short"):
        mel_from_audio(np.zeros(100), "hifigan")
    with pytest.raises(InputError, match="mono"):
        mel_from_audio(np.zeros((2, 4000)), "hifigan")
    for bad, word in [(np.array([[np.nan, 1.0]]), "NaN"), (np.zeros((0, 3)), "empty"),
                      (np.array([["a", "b"]]), "numeric"), (np.ones((2, 2), complex), "real")]:
        with pytest.raises(InputError, match=word):
            detect_compression(bad)
    with pytest.raises(InputError, match="compression must be"):
        undo_compression(np.ones((2, 2)), "log2")


# --------------------------------------------------------------------------- detection on generated cases


@pytest.fixture(scope="module")
def power_mel(speech):
    fmt = FORMATS["librosa"]
    return mel_from_audio(speech(fmt.sample_rate), fmt).astype(np.float64)


def test_floors_are_found_exactly(power_mel):
    magnitude = np.sqrt(power_mel) / 100  # so that the quiet entries reach the clamps
    cases = {  # stored values -> (kind, floor, db_factor)
        "ln 1e-5 float32": (np.log(np.maximum(magnitude, 1e-5)).astype(np.float32), ("ln", np.log(1e-5), None)),
        "ln 1e-5 float64": (np.log(np.maximum(magnitude, 1e-5)), ("ln", np.log(1e-5), None)),
        "ln 1e-5 float16": (np.log(np.maximum(magnitude, 1e-5)).astype(np.float16), ("ln", np.log(1e-5), None)),
        "ln 1e-7": (np.log(np.maximum(magnitude / 1e3, 1e-7)).astype(np.float32), ("ln", np.log(1e-7), None)),
        "log10 1e-10": (np.log10(np.maximum(power_mel / 1e8, 1e-10)).astype(np.float32), ("log10", -10.0, None)),
        "dB top_db 80": (librosa.power_to_db(power_mel, ref=np.max), ("db", -80.0, None)),
        "dB amin -100": (librosa.power_to_db(power_mel / 1e8, top_db=None), ("db", -100.0, None)),
        "dB 20log10 amin 1e-10": (20 * np.log10(np.maximum(magnitude / 1e6, 1e-10)), ("db", -200.0, 20)),
    }
    for label, (stored, (kind, floor, factor)) in cases.items():
        found = detect_compression(stored)
        assert (found.kind, found.db_factor, found.confidence, found.exact) == (kind, factor, "high", True), label
        assert found.floor == pytest.approx(floor, abs=0.02), label
        assert f"{abs(floor):.4g}"[:3] in found.why, (label, found.why)  # the number it saw


def test_whisper_is_told_from_its_range(speech):
    stored = mel_from_audio(speech(16000), "whisper")
    found = detect_compression(stored)
    assert found.kind == "whisper" and found.floor == pytest.approx(stored.max() - 2, abs=1e-5)
    assert "exactly 2" in found.why
    # A quiet clip never floored 8 decades down is not called Whisper with confidence
    quiet = stored[:, :40]
    quiet_found = detect_compression(quiet[quiet > quiet.min()].reshape(1, -1))
    assert quiet_found.kind != "whisper" or quiet_found.confidence != "high"


def test_db_base_ambiguity_is_stated(power_mel):
    found = detect_compression(librosa.power_to_db(power_mel, ref=np.max))
    assert found.db_factor is None and "10·log10" in found.why and "20·log10" in found.why
    assert {r.db_factor for r in found.readings()} == {10, 20}


def test_transposition_does_not_change_detection(power_mel):
    stored = np.log(np.maximum(np.sqrt(power_mel), 1e-5)).astype(np.float32)
    assert detect_compression(stored.T) == detect_compression(stored)


def test_a_models_floor_is_approximate_and_not_exact(power_mel):
    rng = np.random.default_rng(0)
    stored = np.log(np.maximum(np.sqrt(power_mel) / 100, 1e-5)) + rng.normal(0, 0.05, power_mel.shape)
    found = detect_compression(stored.astype(np.float32))
    assert (found.kind, found.confidence, found.exact) == ("ln", "medium", False)
    assert found.floor == pytest.approx(np.log(1e-5))
    linear, floored = undo_compression(stored, found)
    assert floored.mean() > 0.01 and linear[floored].min() >= np.float32(1e-5) * (1 - 1e-6)


@pytest.mark.parametrize("label", ["dB + 80", "dB min-max normalised", "log1p", "dB + 100 unfloored"])
def test_compressed_but_non_negative_is_never_called_linear_confidently(label, power_mel):
    db = librosa.power_to_db(power_mel, ref=np.max)
    stored = {"dB + 80": db + 80, "dB min-max normalised": (db - db.min()) / (db.max() - db.min()),
              "log1p": np.log1p(power_mel * 1e3),
              "dB + 100 unfloored": librosa.power_to_db(power_mel, ref=np.max, top_db=None) + 200}[label]
    found = detect_compression(stored)
    assert found.kind == "linear" and found.confidence == "low", found.why
    assert "Undo" in found.why


def test_linear_mels_of_real_sound_are_linear(power_mel, speech):
    for stored in (power_mel, np.sqrt(power_mel), mel_from_audio(speech(16000), "torchaudio")):
        found = detect_compression(stored)
        assert (found.kind, found.confidence) == ("linear", "high"), found.why


def test_standardised_and_floorless_logs_are_low_confidence(power_mel):
    log = np.log(np.sqrt(power_mel) + 1e-3)  # no clamp reached
    standardised = (log - log.mean()) / log.std()
    found = detect_compression(standardised)
    assert found.confidence == "low" and "standardised" in found.why
    for stored, truth in [(np.log(power_mel + 1e-6), "ln"), (np.log10(power_mel + 1e-6), "log10")]:
        found = detect_compression(stored)
        assert found.confidence == "low" and truth in (found.kind, *found.alternatives), found.why


def test_never_a_confident_wrong_answer(power_mel):
    """Every generated case: the kind is right, or the answer says it is unsure."""
    rng = np.random.default_rng(1)
    magnitude = np.sqrt(power_mel)
    cases = []
    for scale in (1e-3, 1.0, 1e3):
        cases += [("linear", power_mel * scale), ("linear", magnitude * scale),
                  ("ln", np.log(np.maximum(magnitude * scale, 1e-5))), ("ln", np.log(power_mel * scale + 1e-9)),
                  ("log10", np.log10(np.maximum(power_mel * scale, 1e-10))), ("log10", np.log10(magnitude * scale + 1e-6)),
                  ("db", librosa.power_to_db(power_mel * scale)), ("db", librosa.amplitude_to_db(magnitude * scale)),
                  ("db", librosa.power_to_db(power_mel * scale, ref=np.max, top_db=60))]
    cases.append(("ln", np.log(np.maximum(magnitude, 1e-5)) + rng.normal(0, 0.2, magnitude.shape)))
    for truth, stored in cases:
        for dtype in (np.float64, np.float32, np.float16):
            with np.errstate(over="ignore"):
                values = stored.astype(dtype)
            if not np.isfinite(values).all():  # float16 overflows: not a storable case
                continue
            found = detect_compression(values)
            assert found.kind == truth or found.confidence == "low" or (
                found.confidence == "medium" and truth in found.alternatives), (truth, dtype, found)


def test_compress_and_undo_are_inverse_above_the_floor():
    mel = np.array([[1e-12, 1e-6, 1e-3, 1.0, 50.0]])
    for name in ("hifigan", "whisper", "espnet", "librosa-db", "vocos"):
        fmt = FORMATS[name]
        linear, floored = undo_compression(compress(mel, fmt), fmt)
        scale = mel.max() if fmt.db_ref == "max" else 1.0
        np.testing.assert_allclose(linear[~floored], (mel / scale)[~floored], rtol=1e-5, err_msg=name)
        assert floored[0, 0], name


def test_readings_of_an_ambiguous_compression():
    unsure = Compression("ln", alternatives=("log10",), confidence="low")
    assert [r.kind for r in unsure.readings()] == ["ln", "log10"]
    assert Compression("db", db_factor=20).readings() == (Compression("db", db_factor=20),)
    assert Compression("whisper").to_linear(1.0) == pytest.approx(1.0)
    assert Compression("db", db_factor=10).to_linear(-30.0) == pytest.approx(1e-3)
