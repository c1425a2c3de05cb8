"""Values the earlier passes let through (issue classes 4-10 of the values pass): compressions
undone to inf, synthesis settings that made NaN, raw exceptions from odd containers, memory
caps with holes, messages that blamed the wrong thing, values accepted silently, and what was
left from before. Each refusal is an ``InputError`` within 2 s whose message names the value
and the fix; the cases go beyond the issue's examples (other dtypes, compressions, overflow
paths, tensor-like failures)."""

import io
import os
import subprocess
import sys
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pytest
from refusals import HANG_BOUND_S, refused

from invmel_core import (
    Compression,
    InputError,
    InverseMelScale,
    check_fit,
    detect_compression,
    hz_to_mel,
    limits,
    load_audio,
    load_melspec,
    mel_to_audio,
    mel_to_hz,
    oracle_view,
    rank_settings,
    undo_compression,
)
from invmel_core.cli import invert as cli
from invmel_core.dsp import metrics
from invmel_core.dsp.filterbank import MelFilterbank
from invmel_core.dsp.stft import spectrogram
from invmel_core.pipeline.render import RenderOptions
from invmel_core.validation import check_samples

ROOT = Path(__file__).resolve().parents[2]
RNG = np.random.default_rng(0)
LN_MEL = np.log(np.maximum(RNG.random((80, 12)), 1e-5)).astype(np.float32)  # an ln mel, floor ln(1e-5)
DB_MEL = (-80 * RNG.random((80, 12))).astype(np.float32)


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def tone_mel(n_fft=512, hop=128, n_mels=40, seconds=0.25, rate=16000):
    t = np.arange(int(rate * seconds)) / rate
    y = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    return MelFilterbank(n_fft // 2 + 1, 0.0, None, n_mels, rate).banded.project(spectrogram(y, n_fft, hop))


def with_value(mel, value, dtype=np.float32):
    out = np.array(mel, dtype=dtype)
    out[3, 4] = value
    return out


# --------------------------------------------------------------------------- 4. undone to inf


@pytest.mark.parametrize("stored, compression, label", [
    (with_value(LN_MEL, 100), "ln", r"natural log is exp\(x\)"),
    (with_value(LN_MEL, 75), "ln", r"natural log"),  # 3.7e32: float32 holds it, no mel of sound does
    (with_value(LN_MEL, 40), "log10", r"log10 is 10 \*\* x"),
    (with_value(DB_MEL, 400), "db10", r"10·log10 \(dB\) is 10 \*\* \(x / 10\)"),
    (with_value(DB_MEL, 800), "db20", r"20·log10"),
    (with_value(DB_MEL / 80, 9), "whisper", r"Whisper's"),
    (with_value(LN_MEL, 100, np.float64), "hifigan", r"natural log"),  # a format's compression
    (with_value(LN_MEL, 3e38, np.float64), "ln", r"= inf in linear units"),
    (with_value(DB_MEL, 1e39, np.float64), "db10", r"= inf"),
])
def test_values_no_compressed_mel_of_sound_can_hold_are_refused_naming_value_and_compression(stored, compression, label):
    message = refused(lambda: undo_compression(stored, compression), label)
    assert "largest value" in message and "compression" in message and "NaN" not in message


@pytest.mark.parametrize("stored, compression", [(np.full((80, 4), -150.0), "auto"), (LN_MEL - 200, "log10"),
                                                 (DB_MEL - 500, "db10"), (np.linspace(-120, -100, 320).reshape(80, 4), "ln")])
def test_values_that_undo_to_below_float32_are_refused_not_made_silence(stored, compression):
    message = refused(lambda: undo_compression(stored, compression), r"below float32's smallest.*would be silence")
    assert "compression" in message


@pytest.mark.parametrize("compression", [Compression("ln", floor=200.0), Compression("db", floor=500.0, db_factor=10),
                                         Compression("whisper", floor=11.0)])
def test_a_floor_that_undoes_to_inf_is_refused_as_the_floor(compression):
    refused(lambda: undo_compression(LN_MEL, compression), r"compression floor \(not a value of it\)")
    refused(lambda: check_fit(LN_MEL, sample_rate=22050, n_fft=1024, compression=compression), r"compression floor")


@pytest.mark.parametrize("value, dtype", [(1e39, np.float64), (1e300, np.float64), (1e39, np.longdouble),
                                          (np.longdouble("1e400"), np.longdouble)])
def test_linear_values_beyond_float32_are_refused_by_auto_not_made_inf(value, dtype):
    stored = with_value(np.abs(LN_MEL), value, dtype)
    if not np.isfinite(np.float64(stored.max())) and np.finfo(np.longdouble).max <= np.finfo(np.float64).max:
        pytest.skip("long double is float64 here")
    refused(lambda: undo_compression(stored, "auto"), r"beyond float(32|64)'s range.*scale it down")
    refused(lambda: check_fit(stored, sample_rate=22050, n_fft=1024), r"beyond float(32|64)'s range")


@pytest.mark.parametrize("call", [
    lambda m: check_fit(m, sample_rate=22050, n_fft=1024, compression="ln"),
    lambda m: check_fit(m, sample_rate=22050, n_fft=1024, compression=Compression("ln")),
    lambda m: rank_settings(m, compression="ln"),
    lambda m: rank_settings(m, ["hifigan"], compression="ln"),
])
def test_fits_refuse_an_overflowing_reading_instead_of_answering_cannot_tell_with_nan(call):
    refused(lambda: call(with_value(LN_MEL, 100)), r"exp\(x\) = 2\.69e\+43")


def test_a_reading_the_values_overflow_is_not_tried_when_another_is_possible():
    stored = np.linspace(-1.0, 35.0, 80 * 12).reshape(80, 12)  # ln: fine; log10: 1e35
    assert detect_compression(stored).alternatives == ("log10",)
    result = check_fit(stored, sample_rate=22050, n_fft=1024)
    assert np.isfinite(result.residual) and [label for label, *_ in result.readings] == ["natural log"]


def test_the_cli_names_the_compression_not_nan_for_an_overflowing_log(tmp_path, capsys):
    path = tmp_path / "mel.npy"
    np.save(path, with_value(LN_MEL, 100))
    status = cli.main([str(path), "-o", str(tmp_path / "out"), "--compression", "ln", "-q"])
    err = capsys.readouterr().err
    assert status == 2 and "natural log" in err and "NaN" not in err and "nan_to_num" not in err
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- 5. NaN audio


@pytest.mark.parametrize("kwargs, match", [
    (dict(win_length=1), r"win_length=1 gives a Hann window with a single non-zero sample.*n_fft=512"),
    (dict(win_length=2), r"win_length=2 .*at least 3"),
    (dict(power=4.5), r"power must be at most 4"),
    (dict(power=100), r"power must be at most 4 .*got 100"),
    (dict(power=1e6), r"power must be at most 4"),
    (dict(method="cascade", win_length=2), r"win_length=2"),
])
def test_mel_to_audio_refuses_settings_that_made_nan_before_any_work(kwargs, match):
    message = refused(lambda: mel_to_audio(tone_mel(), sample_rate=16000, n_fft=512, hop_length=128, n_iter=4,
                                           **kwargs), match)
    assert "scale" not in message.split(";")[0]  # never "scale the spectrogram down" for a window


@pytest.mark.parametrize("kwargs", [dict(win_length=3), dict(win_length=4, power=1.0), dict(power=4.0),
                                    dict(power=0.5, method="cascade"), dict(win_length=3, hop_length=300)])
def test_mel_to_audio_at_the_edges_of_the_allowed_settings_is_finite(kwargs):
    kwargs = {"hop_length": 128, **kwargs}
    power = kwargs.get("power", 2.0)
    mel = tone_mel() ** (power / 2)
    out = mel_to_audio(mel, sample_rate=16000, n_fft=512, n_iter=6, **kwargs)
    assert out.size and np.isfinite(out).all()


@pytest.mark.parametrize("call", [
    lambda: oracle_view(np.ones(4000, np.float32) * 0.1, sample_rate=16000, n_fft=512, n_mels=40, win_length=2),
    lambda: oracle_view(np.ones(4000, np.float32) * 0.1, sample_rate=16000, n_fft=512, n_mels=40, power=10),
    lambda: RenderOptions(win_length=1).checked(),
    lambda: RenderOptions(power=8).checked(),
])
def test_the_oracle_view_and_the_command_lines_refuse_them_too(call):
    refused(call, r"win_length=\d|power must be at most 4")


# --------------------------------------------------------------------------- 6. raw exceptions


class RaisingTensor:
    """A tensor on a GPU, or one needing grad: converting it raises its library's error."""

    def __init__(self, error):
        self.error = error
        self.shape = (80, 10)

    def __array__(self, *args, **kwargs):
        raise self.error


RAGGED = [[1.0, 2.0, 3.0], [1.0, 2.0]]
ODD_INPUTS = [RAGGED, [[[1.0], [2.0, 3.0]]], RaisingTensor(RuntimeError("CUDA tensor: use .cpu()")),
              RaisingTensor(TypeError("can't convert cuda:0 device type tensor")),
              RaisingTensor(ValueError("requires grad"))]


@pytest.mark.parametrize("melspec", ODD_INPUTS, ids=["ragged", "ragged-3d", "runtime", "type", "value"])
@pytest.mark.parametrize("call", [
    lambda m: check_fit(m, sample_rate=16000, n_fft=512),
    lambda m: check_fit(m, sample_rate=16000, n_fft=512, n_mels=80),
    lambda m: rank_settings(m),
    lambda m: mel_to_audio(m, sample_rate=16000, n_fft=512),
    lambda m: undo_compression(m),
    lambda m: detect_compression(m),
], ids=["check_fit", "check_fit-n_mels", "rank_settings", "mel_to_audio", "undo", "detect"])
def test_ragged_lists_and_failing_tensors_are_input_errors(call, melspec):
    refused(lambda: call(melspec), r"melspec must be a numeric array.*np\.asarray")


@pytest.mark.parametrize("compression", [["ln"], np.array(["ln"]), {"ln"}, ("ln",), 5, b"ln", 1.5])
def test_a_compression_that_is_not_one_string_is_named(compression):
    refused(lambda: undo_compression(LN_MEL, compression), r"compression must be 'auto'.*\(one string\)")


def test_rank_settings_takes_a_list_of_format_names_and_refuses_other_candidates():
    mel = np.exp(LN_MEL)
    rows = rank_settings(mel, ["hifigan", "tacotron2"], compression="linear", max_iter=20)
    assert sorted(row.name for row in rows) == ["hifigan", "tacotron2"]
    refused(lambda: rank_settings(mel, ["hifigan", "nope"]), r"unknown formats 'nope'")
    refused(lambda: rank_settings(mel, 5), r"candidates must be None, a dict")
    refused(lambda: rank_settings(mel, [None]), r"unknown formats None")


@pytest.mark.parametrize("progress", [5, "tqdm", [print]])
def test_a_progress_that_cannot_be_called_is_refused_before_work(monkeypatch, progress):
    from invmel_core.inverse import mel_audio

    monkeypatch.setattr(mel_audio, "InverseMelScale", None)  # any work would fail with TypeError
    refused(lambda: mel_to_audio(tone_mel(), sample_rate=16000, n_fft=512, progress=progress),
            r"progress must be None or a function")


@pytest.mark.parametrize("n", [1, 10, 300])
def test_the_oracle_view_of_a_few_samples_has_no_estoi_but_no_axis_error(n):
    rows = oracle_view(np.full(n, 0.1, np.float32), sample_rate=16000, n_fft=512, n_mels=40, n_iter=2)
    assert all(row.scores["estoi"] is None and row.samples.shape == (n,) for row in rows)
    assert all(np.isfinite(row.samples).all() for row in rows)


# --------------------------------------------------------------------------- 7. memory caps


@pytest.mark.parametrize("rate", [16, 22, 44])
def test_a_sample_rate_in_khz_is_refused_before_estoi_resamples_it(rate):
    y = (0.1 * np.sin(np.arange(rate * 1000) * 0.3)).astype(np.float32)
    message = refused(lambda: oracle_view(y, sample_rate=rate, n_fft=64, n_mels=4, n_iter=2),
                      r"INVMEL_MAX_SOLVE_MB")
    assert f"Is sample_rate={rate} in Hz" in message
    refused(lambda: metrics.estoi(y, y, rate), r"\(E\)STOI of .*resampled to 10000 Hz.*INVMEL_MAX_SOLVE_MB")


def _peak_mib(call):
    tracemalloc.start()
    try:
        call()
    except InputError:
        pass
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


@pytest.mark.parametrize("call", [
    lambda m: mel_to_audio(m, sample_rate=16000, n_fft=512),
    lambda m: check_fit(m, sample_rate=16000, n_fft=512),
    lambda m: rank_settings(m),
    lambda m: undo_compression(m),
    lambda m: detect_compression(m),
], ids=["mel_to_audio", "check_fit", "rank_settings", "undo", "detect"])
def test_a_gigabyte_mel_is_refused_from_its_shape_before_it_is_copied(call):
    view = np.broadcast_to(np.float32(0.5), (80, 3_400_000))  # 1.09 GB were it copied
    start = time.perf_counter()
    assert _peak_mib(lambda: refused(lambda: call(view), r"INVMEL_MAX_SOLVE_MB")) < 16
    assert time.perf_counter() - start < HANG_BOUND_S


# --------------------------------------------------------------------------- 8. messages


@pytest.mark.parametrize("n_mels, match", [("80", r"n_mels must be an integer, got '80' \(str\)"),
                                           (True, r"n_mels must be an integer, got True \(bool\)"),
                                           (80.5, r"n_mels must be an integer"), (0, r"n_mels must be >= 1")])
def test_n_mels_of_the_wrong_type_is_named_not_reported_as_no_axis(n_mels, match):
    message = refused(lambda: check_fit(np.exp(LN_MEL), sample_rate=16000, n_fft=512, n_mels=n_mels), match)
    assert "no axis" not in message and "neither" not in message


@pytest.mark.parametrize("name, what", [("mel.pt", "PyTorch"), ("mel.pth", "PyTorch"), ("mel.csv", "text table"),
                                        ("mel.txt", "text table"), ("mel.pkl", "pickle"), ("mel.h5", "HDF5")])
def test_a_mel_in_another_format_is_told_about_npy(tmp_path, name, what):
    path = tmp_path / name
    path.write_bytes(b"0.1,0.2,0.3\n" * 50)
    message = refused(lambda: load_audio(path), r"could not read")
    assert what in message and ".npy" in message and "np.save" in message
    message = refused(lambda: load_melspec(path), r"not a .npy or .npz file")
    assert what in message


def test_an_npz_names_the_member_it_read(tmp_path):
    buf = io.BytesIO()
    np.savez(buf, features=np.full((80, 4), np.nan, np.float32), other=np.ones((80, 4), np.float32))
    message = refused(lambda: load_melspec(buf.getvalue()), r"NaN")
    assert "['features'] (the first of its 2 arrays, none named 'mel'" in message
    buf = io.BytesIO()
    np.savez(buf, mel=-np.ones((80, 4), np.float32))
    refused(lambda: load_melspec(buf.getvalue()), r"\['mel'\] has negative values")


# --------------------------------------------------------------------------- 9. silently accepted


@pytest.mark.parametrize("kwargs, match", [
    (dict(kind="bogus"), r"Compression kind must be one of"),
    (dict(kind="db10"), r"pass the string itself"),
    (dict(kind="db", db_factor=3), r"db_factor must be 10, 20 or None"),
    (dict(kind="db", db_factor=True), r"db_factor"),
    (dict(kind="ln", confidence="sure"), r"confidence must be one of"),
    (dict(kind="ln", exact="False"), r"exact must be True or False"),
    (dict(kind="ln", floor=float("nan")), r"floor must be finite"),
    (dict(kind="ln", alternatives="log10"), r"alternatives must be a tuple"),
])
def test_a_compression_with_invalid_fields_is_refused(kwargs, match):
    refused(lambda: Compression(**kwargs), match)


@pytest.mark.parametrize("exact", ["False", "True", 0, 1, None.__class__])
def test_exact_must_be_a_flag(exact):
    refused(lambda: check_fit(np.exp(LN_MEL), sample_rate=16000, n_fft=512, exact=exact), r"exact must be True or False")
    refused(lambda: rank_settings(np.exp(LN_MEL), ["hifigan"], exact=exact), r"exact must be True or False")


@pytest.mark.parametrize("value", ["False", "no", 0, None])
def test_load_melspec_compressed_must_be_a_flag(value):
    buf = io.BytesIO()
    np.save(buf, LN_MEL)
    refused(lambda: load_melspec(buf.getvalue(), compressed=value), r"compressed must be True or False")


@pytest.mark.parametrize("dtype", ["<f2", ">f2", ">f4", ">f8"])
def test_a_mel_reads_the_same_in_either_byte_order(dtype):
    stored = LN_MEL.astype(dtype)
    native = LN_MEL.astype(np.dtype(dtype).newbyteorder("="))
    assert detect_compression(stored) == detect_compression(native)
    np.testing.assert_array_equal(undo_compression(stored)[0], undo_compression(native)[0])


def test_big_endian_float16_keeps_float16_rounding():
    stored = (np.log(np.maximum(RNG.random((80, 12)), 1e-5))).astype(">f2")
    assert check_fit(stored, sample_rate=22050, n_fft=1024).rounding_bound == \
        check_fit(stored.astype("<f2"), sample_rate=22050, n_fft=1024).rounding_bound


def test_digital_silence_has_no_estoi_not_a_score_near_0():
    rows = oracle_view(np.zeros(16000, np.float32), sample_rate=8000, n_fft=512, n_mels=40, n_iter=2)
    assert [row.scores["estoi"] for row in rows] == [None] * 4
    refused(lambda: metrics.estoi(np.ones(8000, np.float32), np.zeros(8000, np.float32), 8000), r"silent reference")


@pytest.fixture
def no_fit_check(monkeypatch):
    """The settings check and the ranking of presets take seconds and are not what is tested here."""
    monkeypatch.setattr(cli, "fit_lines", lambda loaded, options: [])


def _run_cli(args, capsys):
    status = cli.main([str(a) for a in args])
    return status, capsys.readouterr().err


def test_a_time_major_mel_is_transposed_and_said(tmp_path, capsys, no_fit_check):
    path = tmp_path / "mel.npy"
    np.save(path, tone_mel(1024, 256, 80, seconds=2.0, rate=22050).T[:86])  # (86, 80)
    status, err = _run_cli([path, "-o", tmp_path / "out", "--npy", "--max-iter", "3", "--n-fft", "1024"], capsys)
    assert status == 0 and "read as (time, n_mels) = 86 frames of 80 mels and transposed" in err
    assert np.load(tmp_path / "out" / "mel.linear.npy").shape == (513, 86)


def test_a_square_mel_is_flagged_as_ambiguous_even_when_quiet(tmp_path, capsys, no_fit_check):
    path = tmp_path / "mel.npy"
    np.save(path, tone_mel(1024, 256, 80, seconds=2.0, rate=22050)[:, :80])
    status, err = _run_cli([path, "-o", tmp_path / "out", "--npy", "--max-iter", "3", "--n-fft", "1024", "-q"], capsys)
    assert status == 0 and "square (80 x 80)" in err and "cannot be told" in err


@pytest.mark.parametrize("transform", [lambda db: db + 80, lambda db: (db + 80) / 80], ids=["shifted", "normalised"])
def test_a_shifted_or_normalised_db_mel_is_said_to_look_like_one_even_when_quiet(tmp_path, capsys, no_fit_check, transform):
    mel = tone_mel(1024, 256, 80, seconds=0.3, rate=22050)
    mel = mel + 1e-3 * RNG.random(mel.shape, dtype=np.float32)
    db = 10 * np.log10(np.maximum(mel / mel.max(), 1e-8))
    path = tmp_path / "mel.npy"
    np.save(path, transform(np.maximum(db, -80)).astype(np.float32))
    status, err = _run_cli([path, "-o", tmp_path / "out", "--npy", "--max-iter", "3", "--n-fft", "1024", "-q"], capsys)
    assert "look like a shifted or normalised log/dB mel" in err and "warning: compression: linear (low confidence)" in err and "--compression db10" in err


# --------------------------------------------------------------------------- 10. left from before


@pytest.mark.parametrize("value", ["abc", "1"])  # -5, nan, inf, 0: at first use, below
def test_a_bad_or_small_memory_cap_does_not_break_the_import(value):
    env = {**os.environ, "INVMEL_MAX_SOLVE_MB": value, "PYTHONPATH": str(ROOT)}
    code = ("import invmel_core\n"
            "try:\n    invmel_core.MelFilterbank(1025, 0.0, None, 128, 22050)\n"
            "except invmel_core.InputError as e:\n    print('refused:', e)\n")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert "refused:" in done.stdout and "INVMEL_MAX_SOLVE_MB" in done.stdout


@pytest.mark.parametrize("value", ["abc", "-5", "nan", "inf", "0"])
def test_a_bad_memory_cap_is_one_line_at_first_use(monkeypatch, capsys, tmp_path, value):
    monkeypatch.setenv("INVMEL_MAX_SOLVE_MB", value)
    refused(lambda: limits.check_memory(10, "x", "y"), r"environment variable INVMEL_MAX_SOLVE_MB=")
    status, err = _run_cli([ROOT / "assets" / "chirp.wav", "-o", tmp_path / "out"], capsys)
    assert status == 2 and err.count("\n") == 1 and "INVMEL_MAX_SOLVE_MB" in err


@pytest.mark.parametrize("call, match", [
    (lambda: hz_to_mel(-1000), r"freq must be non-negative"),
    (lambda: hz_to_mel(-1000, "slaney"), r"freq must be non-negative"),
    (lambda: hz_to_mel([0.0, 100.0, -1.0]), r"non-negative.*got -1"),
    (lambda: hz_to_mel(float("nan")), r"freq contains 1 NaN"),
    (lambda: hz_to_mel(np.inf, "slaney"), r"must be finite"),
    (lambda: hz_to_mel("440"), r"freq must be a numeric array"),
    (lambda: mel_to_hz(-5.0), r"mels must be non-negative"),
    (lambda: mel_to_hz([np.nan]), r"NaN"),
])
def test_frequencies_without_a_mel_are_refused_not_nan(call, match):
    refused(call, match)


@pytest.mark.parametrize("call", [metrics.spectral_convergence, metrics.log_spectral_distance])
def test_a_billion_element_comparison_is_refused_before_its_values_are_scanned(call):
    view = np.broadcast_to(np.float32(1.0), (1025, 10**6))
    assert _peak_mib(lambda: refused(lambda: call(view, view, power=2), r"comparing two .*INVMEL_MAX_SOLVE_MB")) < 16


def test_a_billion_frequencies_are_refused_before_their_float64_copy():
    view = np.broadcast_to(np.float32(100.0), (10**9,))
    assert _peak_mib(lambda: refused(lambda: hz_to_mel(view), r"INVMEL_MAX_SOLVE_MB")) < 16


@pytest.mark.parametrize("sgdargs", [{"lr": 0.1, "sgd_lr": 0.2}, {"lr": 0.1, "momentum": 0.9, "sgd_momentum": 0.5},
                                     {"sgd_lr": 0.1, "lr": 0.1}])
def test_both_spellings_of_an_sgd_setting_are_refused(sgdargs):
    refused(lambda: InverseMelScale(201, 40, 16000, solver="sgd", sgdargs=sgdargs), r"sgdargs gives both")


class NoneStream:
    def __init__(self, seekable):
        self._seekable = seekable

    def seekable(self):
        return self._seekable

    def read(self, n=-1):
        return b"" if n == 0 and self._seekable else None


class TextReturningStream(NoneStream):
    def read(self, n=-1):
        return b"" if n == 0 else 12345


@pytest.mark.parametrize("stream, match", [(NoneStream(False), r"read\(\) returned None"),
                                           (TextReturningStream(False), r"returned int, not bytes")])
def test_a_stream_that_gives_no_bytes_is_an_input_error(stream, match):
    refused(lambda: load_audio(stream), match)
    refused(lambda: load_melspec(stream), match)


@pytest.mark.parametrize("samples", [np.array([True, False, True] * 100), np.zeros(50, bool)])
def test_boolean_samples_are_not_audio(samples):
    refused(lambda: check_samples(samples), r"samples must be a real numeric array.*got dtype bool")
    refused(lambda: metrics.estoi(samples, samples, 16000), r"got dtype bool")
    refused(lambda: oracle_view(samples, sample_rate=16000, n_fft=64, n_mels=8), r"got dtype bool")


def test_a_file_named_npy_or_holding_npy_is_read_as_a_mel(tmp_path, capsys, no_fit_check):
    mel = tone_mel(1024, 256, 80, seconds=0.5, rate=22050)
    for name in (".npy", "mel.wav"):  # a dotfile has no suffix; a .npy saved under an audio name
        path = tmp_path / name
        with open(path, "wb") as fp:
            np.save(fp, mel)
        status, err = _run_cli([path, "-o", tmp_path / "out", "--npy", "--max-iter", "3", "--n-fft", "1024"], capsys)
        assert status == 0 and "as audio" not in err, err
