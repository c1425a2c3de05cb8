"""One inversion end to end, as the app runs it."""

import numpy as np
import pytest

from invmel_core import InputError
from invmel_core.app import comparison
from invmel_core.app import workflow as pipeline
from invmel_core.dsp import stft
from invmel_core.io.audio import rms
from invmel_core.app.settings import Settings

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
    perfect = pipeline.score(spec, mel, fb, spec, power=2.0)
    assert perfect.mel_residual < 1e-5 and perfect.spectral_convergence == 0.0
    assert perfect.log_spectral_distance_db == 0.0
    blind = pipeline.score(spec, mel, fb, power=2.0)
    assert blind.spectral_convergence is None and blind.log_spectral_distance_db is None


def test_resynthesis_keeps_the_level_the_mel_implies_below_clipping_and_silence_silent():
    """The app's sound has the level its spectrogram implies (as the command line's): a quiet
    tone sounds as quiet as it was, one 40 dB too loud is brought down just below clipping."""
    y = tone(amplitude=0.05)
    spec = stft.spectrogram(y, SETTINGS.n_fft, SETTINGS.hop)
    cascade = SETTINGS.replace(method="cascade")
    heard = pipeline.to_audio(spec, cascade, reference=y)
    assert heard.size == y.size
    assert rms(heard) == pytest.approx(rms(y), rel=0.05)
    loud = pipeline.to_audio(spec * 1e4, cascade, reference=y)          # 40 dB too loud in (power)
    assert np.max(np.abs(loud)) == pytest.approx(0.99, rel=1e-6)
    silent = pipeline.to_audio(np.zeros_like(spec), cascade, reference=y)
    assert not np.any(silent)


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
    from invmel_core.dsp.metrics import mel_residual

    fb = SETTINGS.filterbank()
    rng = np.random.default_rng(0)
    spec = rng.random((SETTINGS.n_stft, 30), dtype=np.float32)
    mel = stft.mel_spectrogram(spec, fb) * 1.1
    assert pipeline.score(spec, mel, fb, power=2.0).mel_residual == pytest.approx(mel_residual(spec, mel, fb),
                                                                                  rel=1e-5)


def test_compare_scores_a_magnitude_estimate_as_magnitude():
    magnitude = SETTINGS.replace(power=1.0, solver="nnls", max_iter=50)
    fb = magnitude.filterbank()
    spec = stft.spectrogram(tone(), magnitude.n_fft, magnitude.hop, power=1.0)
    mel = stft.mel_spectrogram(spec, fb)
    run = comparison.run_solver(mel, magnitude, time_limit=60.0, original=spec)
    want = pipeline.score(run.estimate, mel, fb, spec, power=1.0)
    assert run.scores.spectral_convergence == pytest.approx(want.spectral_convergence, rel=1e-6)
    assert run.scores.log_spectral_distance_db == pytest.approx(want.log_spectral_distance_db, rel=1e-6)


def test_resynthesis_of_the_beginning_only():
    y = tone(seconds=2.0)
    spec = stft.spectrogram(y, SETTINGS.n_fft, SETTINGS.hop)
    mel = stft.mel_spectrogram(spec, SETTINGS.filterbank())
    for settings in (SETTINGS.replace(method="cascade"), SETTINGS.replace(n_iter=10)):
        part = pipeline.to_audio(spec, settings, reference=y, mel=mel, max_seconds=0.5)
        assert part.size == SETTINGS.sample_rate // 2
        assert rms(part) == pytest.approx(rms(y[: part.size]), rel=0.05)


# ------------------------------------------------------------------ the joint sound, power

def chirp(seconds=1.0, rate=8000):
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * (200 + 1500 * t) * t)).astype(np.float32)


def test_the_joint_method_is_mel_to_audio_of_the_mel_and_the_cascade_is_griffin_lim_of_the_estimate():
    from invmel_core import mel_to_audio
    from invmel_core.dsp import phase
    from invmel_core.pipeline.sound import set_loudness

    y = chirp()
    settings = SETTINGS.replace(n_iter=12)
    spec, mel = pipeline.analyse(y, settings.filterbank(), settings.n_fft, settings.hop)
    estimate = np.random.default_rng(0).random(spec.shape, dtype=np.float32)   # an estimate unlike the truth
    joint = pipeline.to_audio(estimate, settings, y, mel=mel)
    want = mel_to_audio(mel, sample_rate=8000, n_fft=256, hop_length=64, n_iter=12, length=y.size, seed=0)
    np.testing.assert_allclose(joint, set_loudness(want), rtol=1e-6)           # the estimate plays no part
    cascade = pipeline.to_audio(estimate, settings.replace(method="cascade"), y)
    want = phase.griffinlim(estimate, 256, 64, n_iter=12, seed=0, length=y.size)
    np.testing.assert_allclose(cascade, set_loudness(want), rtol=1e-6)
    with pytest.raises(InputError, match="joint method makes sound from the mel spectrogram"):
        pipeline.to_audio(estimate, settings)
    with pytest.raises(InputError, match="cascade method makes sound from the solver's estimate"):
        pipeline.to_audio(None, settings.replace(method="cascade"), mel=mel)


def test_a_magnitude_mel_is_heard_as_magnitudes():
    """power=1 (HiFi-GAN's mels): read as power, the sound's mel is far from the input's."""
    from invmel_core.dsp.metrics import audio_mel_residual

    y = chirp()
    settings = SETTINGS.replace(power=1.0, n_iter=60)
    fb = settings.filterbank()
    spec, mel = pipeline.analyse(y, fb, settings.n_fft, settings.hop, power=1.0)
    np.testing.assert_allclose(spec, stft.spectrogram(y, 256, 64, power=1.0))
    right = pipeline.to_audio(None, settings, y, mel=mel)
    wrong = pipeline.to_audio(None, settings.replace(power=2.0), y, mel=mel)
    remel = lambda s: audio_mel_residual(s, mel, fb, n_fft=256, hop_length=64, power=1.0)  # noqa: E731
    assert remel(right) < 0.1 and remel(wrong) > 3 * remel(right), (remel(right), remel(wrong))


def test_progress_of_a_worker_reaches_the_page_through_a_file():
    progress = pipeline.ProgressFile()
    try:
        assert progress.read() == (0, 0)
        y = chirp(0.3)
        spec, mel = pipeline.analyse(y, SETTINGS.filterbank(), SETTINGS.n_fft, SETTINGS.hop)
        wav = pipeline.reporting(progress.path, pipeline.to_wav, None, SETTINGS.replace(n_iter=9), mel=mel)
        assert wav[:4] == b"RIFF" and progress.read() == (9, 9)
    finally:
        progress.close()
    assert progress.read() == (0, 0)          # gone: a reader after the end sees nothing, and does not fail


def test_finish_checks_a_mel_files_settings_and_says_they_do_not_fit():
    from invmel_core import FORMATS, mel_from_audio
    from invmel_core.app.mel_input import read_mel
    from invmel_core.app.settings import format_values

    y = chirp(1.0, 22050)
    stored = mel_from_audio(y, FORMATS["hifigan"])
    right = Settings.checked(**format_values("hifigan"), solver="nnls", max_iter=200)
    for settings, verdict in ((right, "fits"), (right.replace(n_fft=512), "ruled out")):
        reading = read_mel(stored, settings)
        problem = pipeline.Problem("model mel", reading.mel, stored=stored, compression=reading.compression)
        transform, live = pipeline.start_solve(problem.mel, settings)
        while not live.done:
            live.advance(1.0)
        result = pipeline.finish(live, transform, settings, problem)
        assert result.fit.verdict == verdict and result.png[:4] == b"\x89PNG"
    audio_input = pipeline.Problem("tone", reading.mel[:, :5])
    transform, live = pipeline.start_solve(audio_input.mel, right)
    while not live.done:
        live.advance(1.0)
    assert pipeline.finish(live, transform, right, audio_input).fit is None    # nothing stored to check


def test_smaller_n_fft_costs_scale_the_hop_and_take_less_time():
    settings = Settings.checked(solver="librosa", n_fft=2048, hop_length=512)
    full = pipeline.solve_cost(settings, stft.stft_frames(220_500, 2048, 512))
    costs = pipeline.smaller_n_fft_costs(settings, 220_500)
    assert [n_fft for n_fft, _ in costs] == [1024, 512]
    assert full.seconds > costs[0][1].seconds > costs[1][1].seconds
    assert costs[0][1] == pipeline.solve_cost(settings.replace(n_fft=1024, hop_length=256),
                                              stft.stft_frames(220_500, 1024, 256))
    assert pipeline.smaller_n_fft_costs(settings.replace(n_fft=512, hop_length=128), 220_500) == []
