"""Where the sound is lost: an audio input reconstructed four ways, to hear (and score) what
the phase loses apart from what the mel bands lose.

The original; its true STFT magnitude with an estimated phase (all that is lost is the
phase); the magnitude inverted from its mel spectrogram with the true phase (all that is lost
is the detail inside each band); and the mel-inverted magnitude with an estimated phase, what
:func:`invmel_core.inverse.mel_audio.mel_to_audio` makes of a model's mel spectrogram.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from invmel_core import limits
from invmel_core.errors import InputError
from invmel_core.dsp.filterbank import MelFilterbank
from invmel_core.inverse.mel_audio import DEFAULT_ITERATIONS, METHODS, mel_to_audio, mel_to_audio_bytes
from invmel_core.dsp.metrics import (audio_log_spectral_distance, audio_mel_residual, audio_spectral_convergence,
                                   _hz_hint, estoi, stoi_bytes)
from invmel_core.dsp.phase import check_iterations, griffinlim
from invmel_core.dsp.stft_plan import STFTPlan, stft_frames
from invmel_core.inverse.transform import InverseMelScale
from invmel_core.validation import (check_choice, check_power, check_sample_rate, check_samples, check_seed,
                                  check_stft_params, numeric_array)

ORACLE_ROWS = (  # key, label, what comparing it with the original teaches
    ("original", "Original", "The sound the mel spectrogram was made from."),
    ("true_magnitude", "True magnitude + estimated phase",
     "Only the phase is missing here: what is lost is what Griffin-Lim cannot find. "
     "Smeared attacks and a 'phasey' ring are phase errors, not the mel's fault."),
    ("true_phase", "Mel-inverted magnitude + true phase",
     "Only the detail inside each mel band is missing here (the phase is the original's). "
     "A duller or buzzier sound means the bands are too coarse: more mels would help."),
    ("estimated", "Mel-inverted magnitude + estimated phase",
     "What a model's mel spectrogram gives: both losses at once, through mel_to_audio."),
)


# Why "mel-inverted magnitude + true phase" can have a larger re-mel than the joint method's
# sound, which loses both (measured: 0.155 vs 0.019 on speech, while its spectral convergence is
# far better, 0.13 vs 0.35): one sentence, for the table's caption.
REMEL_NOTE = ("The true phase can show the larger re-mel: the mel-inverted magnitude paired with the true phase is an "
              "STFT that no signal has, so turning it into sound and back changes its mel, whereas the joint method "
              "chooses its sound to make the re-mel small (its spectral convergence shows that it is still the "
              "further from the original).")


@dataclass(frozen=True)
class Rendition:
    """One row of :func:`oracle_view`: a signal, what it isolates, and its scores against the
    original (``re_mel``: :func:`~invmel_core.dsp.metrics.audio_mel_residual`; ``spectral_convergence``,
    ``log_spectral_distance_db``; ``estoi``, None when the sound is too short for it)."""

    key: str
    label: str
    lesson: str
    samples: np.ndarray
    scores: dict


def oracle_view(samples, *, sample_rate: int, n_fft: int, n_mels: int, hop_length: int | None = None,
                win_length: int | None = None, power: float = 2.0, f_min: float = 0.0,
                f_max: float | None = None, mel_type: str = "htk", norm: str | None = None,
                method: str = "joint", n_iter: int | None = None, seed: int | None = 0) -> tuple[Rendition, ...]:
    """Where the sound is lost: the original, true magnitude + estimated phase, mel-inverted
    magnitude + true phase, and mel-inverted magnitude + estimated phase (:data:`ORACLE_ROWS`).

    The mel spectrogram is made from ``samples`` with these settings (as
    :func:`mel_to_audio` takes them); the phase is estimated with :func:`mel_to_audio`'s
    ``method`` and ``n_iter``, and for the true magnitude by :func:`~invmel_core.dsp.phase.griffinlim`
    with as many iterations (from phase gradients for the joint method, which starts so too;
    from a random phase for the cascade); the mel-inverted magnitude is the NNLS solver's.
    Every signal has the original's length.

    See Also
    --------
    mel_to_audio : the reconstruction it takes apart

    Examples
    --------
    >>> y = np.sin(np.arange(6000) * 0.2).astype(np.float32)
    >>> rows = oracle_view(y, sample_rate=16000, n_fft=512, n_mels=40, hop_length=128, n_iter=10)
    >>> [(row.key, row.samples.shape, row.scores["estoi"] is None) for row in rows][:2]
    [('original', (6000,), True), ('true_magnitude', (6000,), True)]
    """
    sample_rate = check_sample_rate(sample_rate)
    n_fft, hop_length, win_length = check_stft_params(n_fft, hop_length, win_length)
    power = check_power(power)
    method = check_choice("method", method, METHODS)
    n_iter = DEFAULT_ITERATIONS[method] if n_iter is None else check_iterations(n_iter)
    seed = check_seed(seed)
    limits.check_synthesis(n_fft, hop_length, win_length, power)
    raw = numeric_array(samples, "samples")  # the memory is checked from its size before it is copied
    fb = MelFilterbank(n_fft // 2 + 1, f_min, f_max, n_mels, sample_rate, norm, mel_type)  # checks n_mels, memory
    n_mels = fb.n_mels
    stft_kwargs = dict(n_fft=n_fft, hop_length=hop_length, win_length=win_length)
    size = max(raw.size, 1)
    plan = STFTPlan(n_fft, hop_length, win_length, n_frames=stft_frames(size, n_fft, hop_length), length=size,
                    allow_gaps=True)
    # ESTOI resamples to 10 kHz: a rate given in kHz (sample_rate=16) makes 1000 times the samples
    limits.check_memory(max(2 * mel_to_audio_bytes(plan, n_mels), stoi_bytes(size, sample_rate)),
                        f"the oracle view of {raw.size:,} samples at {sample_rate} Hz",
                        "Use a shorter excerpt." + _hz_hint(sample_rate))
    y = check_samples(raw)
    coeffs = plan.forward(y)
    magnitude = np.abs(coeffs)
    mel = fb.banded.project((magnitude if power == 1 else magnitude ** np.float32(power)).T)
    inverted = InverseMelScale(fb.n_freqs, n_mels, fb.sample_rate, fb.f_min, fb.f_max, norm=fb.norm,
                               mel_type=fb.mel_type, solver="nnls")(mel).T
    coeffs /= np.maximum(magnitude, np.float32(np.finfo(np.float32).tiny))  # the true phase
    coeffs *= inverted if power == 1 else inverted ** np.float32(1 / power)
    signals = {
        "original": y,
        "true_magnitude": griffinlim(magnitude.T, power=1.0, n_iter=n_iter, seed=seed, length=y.size,
                                     init="pghi" if method == "joint" else "random", **stft_kwargs),
        "true_phase": plan.inverse(coeffs),
        "estimated": mel_to_audio(mel, sample_rate=sample_rate, power=power, f_min=fb.f_min, f_max=fb.f_max,
                                  mel_type=fb.mel_type, norm=fb.norm, method=method, n_iter=n_iter,
                                  length=y.size, seed=seed, **stft_kwargs),
    }
    rows = []
    for key, label, lesson in ORACLE_ROWS:
        signal = signals[key]
        try:
            intelligibility = estoi(signal, y, sample_rate)
        except InputError:  # too short, too quiet or digital silence: ESTOI is undefined
            intelligibility = None
        scores = {"re_mel": audio_mel_residual(signal, mel, fb, power=power, **stft_kwargs),
                  "spectral_convergence": audio_spectral_convergence(signal, y, **stft_kwargs),
                  "log_spectral_distance_db": audio_log_spectral_distance(signal, y, **stft_kwargs),
                  "estoi": intelligibility}
        rows.append(Rendition(key, label, lesson, signal, scores))
    return tuple(rows)
