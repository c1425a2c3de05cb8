"""check_fit's numbers are the mel residual everywhere: its certified lower bound never exceeds
the mel residual (:func:`invmel_core.dsp.metrics.mel_residual`) a solver reaches on the same
linear mel, on random cases and on real ones with wrong settings (empty filters above Nyquist,
floors, several readings); a check that has not converged at its defaults goes on, or says it
ran out of iterations."""

from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

from invmel_core import load_audio
from invmel_core.app.mel_input import settings_fit
from invmel_core.app.settings import Settings
from invmel_core.dsp import metrics
from invmel_core.dsp.filterbank import MelFilterbank
from invmel_core.formats.compression import resolve_compression, stored_values, undo_compression
from invmel_core.formats.fit import check_fit
from invmel_core.formats.presets import FORMATS, MelFormat, mel_from_audio
from invmel_core.inverse.transform import InverseMelScale

ASSETS = Path(__file__).resolve().parents[2] / "assets"
pytestmark = pytest.mark.filterwarnings("ignore:At least one mel filterbank has all zero values")


@lru_cache(maxsize=None)
def sound(sample_rate: int, name: str = "speech_short.wav", seconds: float = 1.5) -> np.ndarray:
    samples = load_audio(ASSETS / name, sample_rate=sample_rate)[0]
    return samples[: int(seconds * sample_rate)]


@lru_cache(maxsize=None)
def stored_mel(name: str) -> np.ndarray:
    """1.5 s of speech as the preset ``name`` stores it."""
    fmt = FORMATS[name]
    return mel_from_audio(sound(fmt.sample_rate), fmt)


def nnls_residual(linear: np.ndarray, fb: MelFilterbank) -> float:
    """The mel residual the project's NNLS solver reaches, as the app and the CLI report it."""
    inverse = InverseMelScale(fb.n_freqs, fb.n_mels, fb.sample_rate, fb.f_min, fb.f_max, norm=fb.norm,
                              mel_type=fb.mel_type, solver="nnls")
    return metrics.mel_residual(inverse(linear.astype(np.float32)), linear, fb)


def bound_and_solver(stored, fb: MelFilterbank, compression):
    """check_fit on ``stored`` read as one concrete ``compression``, and the NNLS solver's mel
    residual on the same linear mel."""
    values, rounding = stored_values(stored)
    reading = resolve_compression(values, rounding, compression).readings()[0]
    linear, _ = undo_compression(stored, reading)
    result = check_fit(stored, sample_rate=fb.sample_rate, n_fft=2 * (fb.n_freqs - 1), f_min=fb.f_min,
                       f_max=fb.f_max, mel_type=fb.mel_type, norm=fb.norm, compression=reading)
    return result, nnls_residual(linear, fb)


@pytest.mark.parametrize("seed", range(6))
def test_the_bound_is_below_the_solvers_residual_on_random_mels(seed):
    """Random settings, random non-negative mels (some consistent with other settings, some not
    at all): the certified bound is at most what the solver reaches, the residual reached at
    least the bound."""
    rng = np.random.default_rng(seed)
    sample_rate = int(rng.choice([8000, 16000, 22050]))
    n_fft = int(rng.choice([128, 256, 512]))
    n_mels = int(rng.integers(8, 64))
    f_max = float(rng.choice([sample_rate / 2, 0.7 * sample_rate]))  # sometimes above Nyquist: empty filters
    fb = MelFilterbank(n_fft // 2 + 1, 0.0, f_max, n_mels, sample_rate, rng.choice([None, "slaney"]),
                       str(rng.choice(["htk", "slaney"])))
    frames = 40
    loudness = 10.0 ** rng.uniform(-3, 1, frames)  # frames of very different loudness weigh differently
    if seed % 2:
        mel = rng.gamma(0.5, 1.0, (n_mels, frames)) * loudness
    else:
        other = MelFilterbank(n_fft + 1, 0.0, None, n_mels, sample_rate)  # finer bins, another grid
        mel = other.dense.T @ (rng.gamma(0.3, 1.0, (other.n_freqs, frames)) * loudness)
    mel = mel.astype(np.float32)
    result = check_fit(mel, sample_rate=sample_rate, n_fft=n_fft, f_max=f_max, mel_type=fb.mel_type, norm=fb.norm,
                       compression="linear")
    reached = nnls_residual(mel, fb)
    assert result.residual_lower <= reached * (1 + 1e-4) + 1e-7, (result.residual_lower, reached)
    assert result.residual_lower <= result.residual


@pytest.mark.parametrize("source, changes, compression", [
    ("whisper", dict(mel_type="htk"), "format"),                 # old: bound 0.215 > solver 0.201
    ("hifigan", dict(f_max=20000.0), "auto"),                    # old: 0.0121 > 0.0092 (empties)
    ("hifigan", dict(n_fft=512), "auto"),                        # a detected reading with alternatives
])
def test_the_bound_is_below_the_solvers_residual_on_real_mels_with_wrong_settings(source, changes, compression):
    fmt = FORMATS[source]
    stored = stored_mel(source)
    wrong = fmt.replace(**changes) if "f_max" not in changes or changes["f_max"] <= fmt.sample_rate / 2 else None
    fb = MelFilterbank(((changes.get("n_fft", fmt.n_fft)) // 2) + 1, fmt.f_min, changes.get("f_max", fmt.f_max),
                       fmt.n_mels, fmt.sample_rate, changes.get("norm", fmt.norm),
                       changes.get("mel_type", fmt.mel_type), fmt.compat)
    assert wrong is None or wrong.filterbank == fb
    result, reached = bound_and_solver(stored, fb, fmt if compression == "format" else "auto")
    assert result.verdict != "fits"
    assert result.residual_lower <= reached * (1 + 1e-4), (result.residual_lower, reached, result.why)


def test_the_apps_fit_of_a_solve_uses_the_reading_the_solver_inverted():
    """settings_fit with the Compression read_mel used checks that reading only: its bound is of
    the very mel the solver inverted."""
    stored = stored_mel("hifigan")
    values, rounding = stored_values(stored)
    detected = resolve_compression(values, rounding, "auto")
    settings = Settings.checked(sample_rate=22050, n_fft=512, hop_length=256, n_mels=80, f_max=20000.0,
                                mel_type="slaney", norm="slaney", power=1.0, solver="nnls")
    fit = settings_fit(stored, settings, detected)
    assert len(fit.readings) == 1 and fit.compression == detected.readings()[0]
    linear, _ = undo_compression(stored, detected)
    assert fit.residual_lower <= nnls_residual(linear, settings.filterbank()) * (1 + 1e-4)
    assert fit.verdict == "ruled out" and "above Nyquist" in fit.why and "lower f_max" in fit.why.lower()


@lru_cache(maxsize=None)
def plucked_pipeline_mel() -> np.ndarray:
    """An exact pipeline mel: 16 kHz, n_fft 512, 64 HTK mels, power, a plucked sound."""
    fmt = MelFormat(16000, 512, 128, 64, mel_type="htk", norm=None, power=2.0)
    return mel_from_audio(sound(16000, "pluck_melody.wav", seconds=3.0), fmt)


def test_an_exact_mel_fits_its_true_settings_at_the_defaults_and_a_check_cut_short_says_so():
    """At 600 steps the check stood at 2.5e-4, 'cannot tell' (as if the values could not tell);
    at its defaults it goes on while it improves, and a cap says it was a cap."""
    result = check_fit(plucked_pipeline_mel(), sample_rate=16000, n_fft=512, n_mels=64)
    assert result.verdict == "fits", result.why
    assert not result.ran_out and result.iterations > 600
    capped = check_fit(plucked_pipeline_mel(), sample_rate=16000, n_fft=512, n_mels=64, max_iter=600)
    assert capped.verdict == "cannot tell" and capped.ran_out
    assert "ran out of iterations" in capped.why and "more iterations" in capped.why
