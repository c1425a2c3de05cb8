"""One inversion end to end, as the app runs it."""

import numpy as np
import pytest

from invmel_core import InputError, comparison, pipeline, stft
from invmel_core.audio import rms
from invmel_core.settings import Settings

SETTINGS = Settings.checked(sample_rate=8000, n_fft=256, n_mels=24, solver="sgd", max_iter=30)


def tone(seconds=0.5, freq=440.0, amplitude=0.3):
    t = np.arange(int(seconds * SETTINGS.sample_rate)) / SETTINGS.sample_rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_start_solve_runs_the_settings_solver_to_its_budget():
    fb = SETTINGS.filterbank()
    mel = stft.mel_spectrogram(stft.spectrogram(tone(), SETTINGS.n_fft, SETTINGS.hop), fb)
    transform, live = pipeline.start_solve(mel, SETTINGS)
    assert transform.solver.name == "sgd" and transform.options.max_iter == 30
    while not live.done:
        live.advance(1.0)
    assert live.steps[-1] == 30 and live.reason == "max_iter"
    assert np.array_equal(live.latest.spec, transform(mel))     # same answer as a direct call


def test_start_solve_refuses_a_solve_over_the_memory_limit(monkeypatch):
    monkeypatch.setenv("INVMEL_MAX_SOLVE_MB", "1")
    with pytest.raises(InputError, match="INVMEL_MAX_SOLVE_MB"):
        pipeline.start_solve(np.ones((24, 20000), np.float32), SETTINGS)


def test_start_solve_refuses_a_mel_with_the_wrong_number_of_bands():
    with pytest.raises(InputError, match="24 mel bins"):
        pipeline.start_solve(np.ones((40, 10), np.float32), SETTINGS)


def test_score_has_original_metrics_only_with_an_original():
    fb = SETTINGS.filterbank()
    spec = stft.spectrogram(tone(), SETTINGS.n_fft, SETTINGS.hop)
    mel = stft.mel_spectrogram(spec, fb)
    perfect = pipeline.score(spec, mel, fb, spec)
    assert perfect.mel_residual < 1e-5 and perfect.spectral_convergence == 0.0
    assert perfect.log_spectral_distance_db == 0.0
    blind = pipeline.score(spec, mel, fb)
    assert blind.spectral_convergence is None and blind.log_spectral_distance_db is None


def test_resynthesis_matches_loudness_and_keeps_silence_silent():
    y = tone(amplitude=0.05)
    spec = stft.spectrogram(y, SETTINGS.n_fft, SETTINGS.hop)
    heard = pipeline.resynthesize(spec * 100.0, SETTINGS, reference=y)   # 40 dB too loud in
    assert heard.size == y.size
    assert rms(heard) == pytest.approx(rms(y), rel=1e-3)
    silent = pipeline.resynthesize(np.zeros_like(spec), SETTINGS, reference=y)
    assert not np.any(silent)
    unreferenced = pipeline.resynthesize(spec, SETTINGS)
    assert rms(unreferenced) == pytest.approx(pipeline.PLAYBACK_RMS, rel=1e-3)


def test_run_solver_records_the_residual_curve_and_respects_the_time_limit():
    fb = SETTINGS.filterbank()
    spec = stft.spectrogram(tone(), SETTINGS.n_fft, SETTINGS.hop)
    mel = stft.mel_spectrogram(spec, fb)
    run = comparison.run_solver(mel, SETTINGS.replace(max_iter=200), time_limit=60.0, original=spec)
    assert run.solver == "sgd" and run.steps == 200 and run.reason == "max_iter"
    assert len(run.times) == len(run.residuals) == 200 // 4 and run.times == sorted(run.times)
    assert run.residuals[-1] < run.residuals[0]                  # it converges
    assert run.residuals[-1] == pytest.approx(run.scores.mel_residual, rel=1e-4)
    assert run.scores.spectral_convergence is not None

    ticks = iter(range(10**6))                                    # a clock that advances 1 s per call
    slow = comparison.run_solver(mel, SETTINGS.replace(max_iter=10**6), time_limit=3.0, clock=lambda: next(ticks))
    assert slow.reason == "time_limit" and slow.seconds == 3.0 and len(slow.residuals) == 3


def test_run_solver_refuses_a_bad_time_limit():
    with pytest.raises(InputError, match="time_limit"):
        comparison.run_solver(np.ones((24, 3), np.float32), SETTINGS, time_limit=0)


def test_score_uses_the_same_mel_residual_as_the_metrics_module():
    from invmel_core.metrics import mel_residual

    fb = SETTINGS.filterbank()
    rng = np.random.default_rng(0)
    spec = rng.random((SETTINGS.n_stft, 30), dtype=np.float32)
    mel = stft.mel_spectrogram(spec, fb) * 1.1
    assert pipeline.score(spec, mel, fb).mel_residual == pytest.approx(mel_residual(spec, mel, fb), rel=1e-5)


def test_resynthesis_of_the_beginning_only():
    y = tone(seconds=2.0)
    spec = stft.spectrogram(y, SETTINGS.n_fft, SETTINGS.hop)
    part = pipeline.resynthesize(spec, SETTINGS, reference=y, max_seconds=0.5)
    assert part.size == SETTINGS.sample_rate // 2
    assert rms(part) == pytest.approx(rms(y[: part.size]), rel=1e-3)
