"""check_fit and rank_settings on generated cases: the right settings fit, too-coarse or wrongly
scaled ones are ruled out (with a certified bound), and settings the values cannot tell apart
are reported as such, never as a confident wrong answer."""

from pathlib import Path

import librosa
import numpy as np
import pytest
import scipy.optimize

from invmel_core import InputError, load_audio
from invmel_core.formats.fit import EXACT_RULED_OUT, FIT_RESIDUAL, MODEL_RULED_OUT, check_fit, orient
from invmel_core.formats.ranking import candidate_formats, rank_settings, ranking_summary
from invmel_core.formats.presets import FORMATS, format_spectrogram, mel_from_audio

ASSETS = Path(__file__).resolve().parents[2] / "assets"


def settings(name, **changes):
    """check_fit's keywords for a preset, with some changed."""
    fmt = FORMATS[name]
    out = dict(sample_rate=fmt.sample_rate, n_fft=fmt.n_fft, f_min=fmt.f_min, f_max=fmt.f_max,
               mel_type=fmt.mel_type, norm=fmt.norm, compat=fmt.compat)
    out.update(changes)
    return out


@pytest.fixture(scope="module")
def mels():
    """Mel spectrograms of 4.2 s of speech as each preset's pipeline makes them."""
    cache = {}

    def of(name):
        if name not in cache:
            fmt = FORMATS[name]
            y = load_audio(ASSETS / "speech_short.wav", sample_rate=fmt.sample_rate)[0]
            cache[name] = mel_from_audio(y, fmt)
        return cache[name]
    return of


@pytest.mark.filterwarnings("ignore:At least one mel filterbank has all zero values")
@pytest.mark.parametrize("name", sorted(FORMATS))
def test_every_preset_fits_its_own_output(name, mels):
    result = check_fit(mels(name), **settings(name))
    assert result.verdict == "fits" and result.consistent, result.why
    assert result.frame_residual <= FIT_RESIDUAL and result.residual_lower <= result.residual
    assert result.n_frames > 0 and "fits" in result.why


@pytest.mark.parametrize("name, change, why", [
    ("hifigan", dict(n_fft=512), "n_fft halved: fewer bins than the low filters need"),
    ("hifigan", dict(mel_type="htk"), "wrong mel scale"),
    ("whisper", dict(n_fft=200), "n_fft halved"),
    ("whisper", dict(mel_type="htk"), "wrong mel scale"),
    ("whisper", dict(f_max=7600.0), "wrong f_max"),
    ("whisper", dict(sample_rate=22050), "wrong sample rate"),
    ("librosa", dict(n_fft=1024), "n_fft halved"),
    ("vocos", dict(n_fft=512), "n_fft halved"),
])
def test_wrong_settings_are_ruled_out_with_a_certificate(name, change, why, mels):
    # A linear mel shows no clamp floor, so nothing says it is a pipeline's: say so.
    exact = True if FORMATS[name].compression == "linear" else None
    result = check_fit(mels(name), **settings(name, **change), exact=exact)
    assert result.verdict == "ruled out", (why, result.why)
    assert result.frame_residual_lower >= EXACT_RULED_OUT and result.residual >= result.residual_lower
    assert "certified" in result.why


@pytest.mark.parametrize("change", [dict(norm=None), dict(f_max=None), dict(n_fft=2048), dict(f_min=80.0),
                                    dict(sample_rate=16000)])
def test_settings_with_more_bins_than_bands_fit_hifigan_too(change, mels):
    """The identifiability limit: 513 bins under 80 wide-enough filters can reproduce the mel
    of many other settings exactly, so these cannot be told from the right ones."""
    assert check_fit(mels("hifigan"), **settings("hifigan", **change)).verdict == "fits"


def test_sample_rate_and_n_fft_trade_off_exactly(mels):
    """Doubling both leaves every bin below f_max at the same frequency: the same fit."""
    right = check_fit(mels("hifigan"), **settings("hifigan"), max_iter=200)
    doubled = check_fit(mels("hifigan"), **settings("hifigan", sample_rate=44100, n_fft=2048), max_iter=200)
    assert doubled.verdict == right.verdict == "fits"
    assert doubled.residual == pytest.approx(right.residual, rel=1e-3)


def test_norm_rescales_bands_and_fits_identically_on_whisper(mels):
    """With Whisper's tight low bands the norm still only rescales each band: same verdict."""
    slaney = check_fit(mels("whisper"), **settings("whisper"))
    plain = check_fit(mels("whisper"), **settings("whisper", norm=None))
    assert slaney.verdict == plain.verdict == "fits"


def test_unknown_provenance_is_not_ruled_out_at_the_exact_bar(mels):
    result = check_fit(mels("librosa"), **settings("librosa", n_fft=1024))
    assert EXACT_RULED_OUT < result.frame_residual_lower < MODEL_RULED_OUT
    assert result.verdict == "cannot tell" and "exact=True" in result.why


def test_db_bases_are_both_tried(mels):
    power = mels("librosa").astype(np.float64)
    y = load_audio(ASSETS / "speech_short.wav", sample_rate=22050)[0]
    magnitude = mel_from_audio(y, FORMATS["librosa"].replace(power=1.0))  # a mel of |X|
    magnitude_db = librosa.amplitude_to_db(magnitude, ref=np.max)
    result = check_fit(magnitude_db, **settings("librosa"))
    assert result.verdict == "fits" and result.compression.db_factor == 20
    assert dict((label, verdict) for label, verdict in
                ((r[0], "fits" if r[1] <= FIT_RESIDUAL else "no") for r in result.readings)) == {
        "10·log10 (dB)": "no", "20·log10 (dB)": "fits"}
    power_db = librosa.power_to_db(power, ref=np.max)
    result = check_fit(power_db, **settings("librosa"))
    assert result.verdict == "fits" and result.compression.db_factor == 10
    assert "Several readings fit" in result.why


def test_floorless_log_base_is_found_by_the_fit(mels):
    """ESPnet's log10 mel has no floor to read the base from; the fit tells ln from log10."""
    stored = mels("espnet")
    result = check_fit(stored, **settings("espnet"))
    assert result.verdict == "fits" and result.compression.kind == "log10", result.readings
    assert [r[0] for r in result.readings][:2] == ["natural log", "log10"]


def test_transposed_input_is_recognised(mels):
    stored = mels("hifigan")
    result = check_fit(stored.T, **settings("hifigan"), n_mels=80)
    assert result.transposed and result.verdict == "fits"
    rows = rank_settings(stored.T, {"hifigan": FORMATS["hifigan"]})
    assert rows[0].result.transposed and rows[0].verdict == "fits"
    assert rows[0].duration == pytest.approx(stored.shape[1] * 256 / 22050)
    with pytest.raises(InputError, match="n_mels is 64"):
        orient(stored, 64)


def test_a_misfit_in_a_few_frames_is_not_hidden(mels):
    """Ten frames of a Slaney-made mel among 350 HTK ones: the whole-array check sees them."""
    fmt = FORMATS["hifigan"].replace(mel_type="htk")
    y = load_audio(ASSETS / "speech_short.wav", sample_rate=22050)[0]
    mixed = mel_from_audio(y, fmt)
    mixed[:, 100:110] = mels("hifigan")[:, 100:110]
    htk = settings("hifigan", mel_type="htk")
    assert check_fit(mixed[:, :90], **htk).verdict == "fits"
    result = check_fit(mixed, **htk)
    assert result.verdict == "ruled out" and result.frame_residual_lower > EXACT_RULED_OUT


def test_float16_storage_fits_within_its_rounding(mels):
    stored = mels("hifigan").astype(np.float16)
    right = check_fit(stored, **settings("hifigan"))
    assert right.verdict == "fits" and right.exact and right.rounding_bound > 1e-4
    assert check_fit(stored, **settings("hifigan", n_fft=512)).verdict == "ruled out"


@pytest.mark.parametrize("name, sigma, compression", [
    ("hifigan", 0.05, "auto"), ("hifigan", 0.3, "auto"), ("hifigan", 0.6, "auto"), ("whisper", 0.02, "auto"),
    ("whisper", 0.1, "auto"), ("hifigan", 0.6, "format"), ("whisper", 0.075, "format")])
def test_a_models_mel_is_never_ruled_out_with_the_right_settings(name, sigma, compression, mels):
    """Log-domain noise like a model's error (up to 0.7 nats an entry): the right settings may no
    longer fit exactly, but they are not ruled out; the values are not taken for exact output."""
    stored = mels(name).astype(np.float64)
    noisy = stored + np.random.default_rng(0).normal(0, sigma, stored.shape)
    how = FORMATS[name] if compression == "format" else compression
    result = check_fit(noisy.astype(np.float32), **settings(name), compression=how,
                       exact=False if compression == "format" else None)
    assert not result.exact and result.verdict != "ruled out", result.why
    if result.verdict == "cannot tell":
        assert "model" in result.why


def test_too_coarse_is_ruled_out_even_for_a_models_mel(mels):
    noisy = mels("whisper") + np.random.default_rng(0).normal(0, 0.05, mels("whisper").shape)
    result = check_fit(noisy.astype(np.float32), **settings("whisper", n_fft=200))
    assert result.verdict == "ruled out" and result.frame_residual_lower >= MODEL_RULED_OUT


def test_the_certificate_is_sound_against_scipy_nnls(mels):
    """On frames small enough for scipy's exact NNLS, its optimum lies between our bounds."""
    fmt = FORMATS["whisper"].replace(n_fft=200)  # too coarse: a positive optimum
    stored = mels("whisper")[:, 200:230]
    linear = 10.0 ** (4.0 * stored.astype(np.float64) - 4.0)
    keep = linear.min(axis=0) > 10 ** (4 * stored.min() - 4) * 1.01  # frames with no floored entry
    linear = linear[:, keep]
    matchable = fmt.filterbank.banded.matchable  # empty filters are left out of both statistics
    dense = fmt.filterbank.dense.T.astype(np.float64)[matchable]
    residual_sq, relatives = 0.0, []
    for frame in linear[matchable].T:
        scale = frame.max()
        _, rnorm = scipy.optimize.nnls(dense, frame / scale)
        residual_sq += (rnorm * scale) ** 2
        relatives.append(rnorm / np.linalg.norm(frame / scale))
    optimum = float(np.sqrt(residual_sq / np.sum(linear[matchable] ** 2)))  # the mel residual: Frobenius over all frames
    frame_optimum = float(np.sqrt(np.mean(np.square(relatives))))  # the verdict's statistic
    for steps in (20, 600):
        result = check_fit(linear, **settings("whisper", n_fft=200), compression="linear", exact=True,
                           max_iter=steps)
        assert result.residual_lower <= optimum * (1 + 1e-3) and result.residual >= optimum * (1 - 1e-3)
        assert (result.frame_residual_lower <= frame_optimum * (1 + 1e-3)
                and result.frame_residual >= frame_optimum * (1 - 1e-3))
    assert result.verdict == "ruled out" and result.frame_residual <= 2 * result.frame_residual_lower


def test_silence_and_fully_floored_frames_fit_trivially():
    zeros = check_fit(np.zeros((80, 20)), **settings("hifigan"), compression="linear")
    assert zeros.verdict == "fits" and zeros.n_frames == 0
    floored = check_fit(np.full((80, 20), np.log(1e-5), np.float32), **settings("hifigan"))
    assert floored.verdict == "fits" and floored.floored_fraction == 1.0


def test_bad_arguments_are_named(mels):
    with pytest.raises(InputError, match="2 dimensions"):
        check_fit(np.ones(80), **settings("hifigan"))
    with pytest.raises(InputError, match="n_fft"):
        check_fit(mels("hifigan"), **settings("hifigan", n_fft=0))
    with pytest.raises(InputError, match="f_min"):
        check_fit(mels("hifigan"), **settings("hifigan", f_min=9000.0))
    with pytest.raises(InputError, match="max_iter"):
        check_fit(mels("hifigan"), **settings("hifigan"), max_iter=0)
    with pytest.raises(InputError, match="MelFormat"):
        rank_settings(mels("hifigan"), {"x": dict(n_fft=1024)})
    with pytest.raises(InputError, match="no preset has 7"):
        rank_settings(np.ones((7, 9)))


def test_ranking_of_a_hifigan_mel(mels):
    stored = mels("hifigan")
    candidates = {k: v for k, v in candidate_formats(80).items() if k.split(",")[0] in ("hifigan", "whisper")}
    rows = rank_settings(stored, candidates)
    verdicts = {row.name: row.verdict for row in rows}
    assert verdicts["hifigan"] == verdicts["hifigan, norm None"] == verdicts["hifigan, power"] == "fits"
    assert verdicts["hifigan, n_fft 512"] == verdicts["hifigan, htk mels"] == verdicts["whisper"] == "ruled out"
    assert [row.verdict for row in rows] == sorted((row.verdict for row in rows),
                                                   key=["fits", "cannot tell", "ruled out"].index)
    by_name = {row.name: row for row in rows}
    assert by_name["hifigan, power"].result is by_name["hifigan"].result  # same filterbank: one solve
    assert rows[0].name == "hifigan" and not rows[0].note
    assert "stores whisper" in by_name["whisper"].note
    summary = ranking_summary(rows)
    assert "cannot tell them apart" in summary and "Ruled out" in summary and "hifigan, n_fft 512" in summary


def test_ranking_of_a_transposed_whisper_mel(mels):
    rows = rank_settings(mels("whisper").T)
    fits = [row.name for row in rows if row.verdict == "fits"]
    assert "whisper" in fits and all(row.result.transposed for row in rows)
    assert {"whisper, htk mels", "whisper, n_fft 200", "hifigan"} <= {row.name for row in rows if row.verdict == "ruled out"}
    assert by_duration(rows, "whisper") == pytest.approx(mels("whisper").shape[1] * 160 / 16000)


def by_duration(rows, name):
    return next(row.duration for row in rows if row.name == name)


def test_spectrogram_recovered_with_the_fitted_settings_reproduces_the_mel(mels):
    """What "fits" promises: a non-negative spectrum exists; the frame-by-frame truth is one."""
    fmt = FORMATS["hifigan"]
    y = load_audio(ASSETS / "speech_short.wav", sample_rate=22050)[0]
    truth = format_spectrogram(y, fmt)
    mel = fmt.filterbank.banded.project(truth)
    assert check_fit(mel, **settings("hifigan"), compression="linear").residual <= FIT_RESIDUAL


@pytest.mark.parametrize("steps", [1, 3, 20])
def test_the_lower_bound_is_zero_for_a_consistent_mel_at_any_step(steps, mels):
    """Its optimum is ~0, so any valid lower bound is too, however early the solve stops."""
    result = check_fit(mels("hifigan"), **settings("hifigan"), max_iter=steps)
    assert result.residual_lower <= 1e-6 < result.residual
