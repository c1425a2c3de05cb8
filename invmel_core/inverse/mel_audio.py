"""Mel spectrogram to audio: a signal whose mel spectrogram matches, magnitude and phase found together.

``method="cascade"`` is what ``librosa.feature.inverse.mel_to_audio`` does: invert the mel
(the project's NNLS solver), then Griffin-Lim on that fixed magnitude. The NNLS magnitude is
smooth inside each mel band, and no signal has it as its STFT magnitude, so Griffin-Lim ends
on a compromise whose mel spectrogram is some 7-13 % off the input (and sounds "phasey").

``method="joint"`` (the default) looks for the signal itself. Its ``n_iter`` steps each cost
about one forward and one inverse STFT, in three stages:

1. a few steps (:data:`WARMUP_STEPS`) of fast Griffin-Lim from the NNLS magnitude and a
   random phase, where the magnitude imposed at each step is the *current* estimate's, pulled
   back onto the mel constraint by :class:`MelProjection` (so the detail inside each band is
   whatever makes the spectrogram consistent, and only the band energies are held);
2. a fresh phase from that magnitude's gradients (:func:`invmel_core.dsp.phase.phase_from_gradients`,
   Prusa 2017), then most of the steps as in 1;
3. the last third polishing the samples directly: L-BFGS on the re-mel error
   ``||fb.T @ |STFT(y)| ** power - melspec||^2`` (:func:`polish`), the very number the
   benchmark reports, which Griffin-Lim only lowers indirectly.

Measured on the bundled clips (``python -m bench.audio``, docs/benchmarks.md): re-mel error
0.2-2.5 % against librosa's 8-13 %.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from invmel_core import limits
from invmel_core.errors import InputError
from invmel_core.dsp.filterbank import BandedFilterbank, MelFilterbank
from invmel_core.dsp.phase import (LOOP_BYTES_PER_COEFFICIENT, PGHI_BLOCK_FRAMES, check_iterations, check_length,
                                 extend_frames, fast_griffinlim, fit_length, griffinlim_on_plan, initial_phase,
                                 natural_length, phase_from_gradients, working_plan)
from invmel_core.inverse.solvers import get_solver
from invmel_core.dsp.stft_plan import FRAMINGS, PAD_MODES, STFTPlan, frame_padding
from invmel_core.inverse.mel_polish import LBFGS_MEMORY, MelError, polish  # noqa: F401 (mel_audio's API)
from invmel_core.inverse.mel_fidelity import LogMelError, check_fidelity, soften
from invmel_core.inverse.mel_settings import DEFAULT, resolve
from invmel_core.inverse.transform import InverseMelScale
from invmel_core.validation import (check_choice, check_flag, check_melspec, check_melspec_shape, check_power,
                                    check_power_undone, check_seed, check_stft_params, numeric_array)

METHODS = ("joint", "cascade")
# Steps when n_iter is None. joint: where every bundled clip is under 3 % re-mel error
# (docs/benchmarks.md); cascade: librosa's default.
DEFAULT_ITERATIONS = {"joint": 150, "cascade": 32}
WARMUP_STEPS = 5  # joint stage 1: enough for the magnitude to show its partials (5 beat 0, 2, 10, 20, 40)
POLISH_SHARE = 1 / 3  # joint stage 3's share of the steps (a third beat none and two thirds)
RESTART_FROM_GRADIENTS = True  # joint stage 2's phase restart (bench/audio.py --ablation turns stages off)
# Tikhonov weight of the gain solve, relative to each frame's largest diagonal entry: keeps
# a band the current estimate leaves silent from asking for an unbounded gain.
GAIN_REGULARISATION = 1e-3


def _solve_tridiagonal(off: np.ndarray, diag: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Solve the symmetric tridiagonal systems ``(n, time)``, one per column, in place of
    ``rhs`` (Thomas algorithm; stable without pivoting for positive definite matrices).
    ``off[j]`` couples rows ``j`` and ``j + 1``.

    >>> diag = np.array([[4.0], [4.0], [4.0]], np.float32); off = np.array([[1.0], [1.0]], np.float32)
    >>> x = _solve_tridiagonal(off, diag.copy(), np.array([[5.0], [6.0], [5.0]], np.float32))
    >>> x.ravel().round(6).tolist()
    [1.0, 1.0, 1.0]
    """
    n = diag.shape[0]
    ratio = np.empty_like(off)  # the upper factor's off-diagonal, off[j] / pivot[j]
    for j in range(n - 1):
        np.divide(off[j], diag[j], out=ratio[j])
        diag[j + 1] -= off[j] * ratio[j]
        rhs[j + 1] -= ratio[j] * rhs[j]
    rhs[n - 1] /= diag[n - 1]
    for j in range(n - 2, -1, -1):
        rhs[j] -= off[j] * rhs[j + 1]
        rhs[j] /= diag[j]
    return rhs


class MelProjection:
    """Pull a magnitude spectrogram back onto ``fb.T @ X ** power = melspec``, keeping its detail.

    The new spectrogram is the old one times a gain that varies smoothly across the bins:
    ``X' ** power = X ** power * (1 + fb @ mu)``, one multiplier ``mu`` per mel band and frame.
    The mel constraint is linear in ``mu``: ``(fb.T @ diag(X ** power) @ fb) mu = melspec -
    fb.T @ X ** power``, a tridiagonal system per frame (a bin lies under at most two adjacent
    filters). Where the estimate already has the right band energies the gain is 1; peaks
    and valleys inside a band are scaled together, so the harmonics Griffin-Lim found stay.
    This is the projection of ``X ** power`` onto the constraint in the metric weighted by
    ``1 / X ** power``; the gain is clipped at 0, and is 0 on bins no filter sees.

    Parameters
    ----------
    fb : MelFilterbank
        The filterbank of ``melspec``.
    melspec : np.ndarray
        float32 ``(n_mels, time)``, of the given ``power``.
    power : float
        The exponent of ``melspec`` (1 magnitude, 2 power).
    soft : bool
        Impose only part of the correction (:func:`~invmel_core.inverse.mel_fidelity.soften`).

    Examples
    --------
    >>> fb = MelFilterbank(129, 0.0, None, 16, 8000)
    >>> rng = np.random.default_rng(0)
    >>> target = fb.banded.project(rng.random((129, 5), dtype=np.float32))
    >>> project = MelProjection(fb, target, power=1.0)
    >>> pulled = project(rng.random((5, 129), dtype=np.float32))  # time-major
    >>> bool(np.abs(fb.banded.project(pulled.T) - target).max() < 0.05 * target.max())
    True
    """

    def __init__(self, fb: MelFilterbank, melspec: np.ndarray, power: float, soft: bool = False):
        dense = fb.dense.astype(np.float64)
        n_mels = fb.n_mels
        # One sparse product gives fb.T @ P, the diagonal sum(P * fb**2) and the off-diagonal
        # sum(P * fb[:, j] * fb[:, j + 1]) of fb.T @ diag(P) @ fb, for P of each frame.
        self._stacked = BandedFilterbank(np.hstack([dense, dense**2, dense[:, :-1] * dense[:, 1:]]))
        self._fb = fb.banded
        self._rows = (slice(0, n_mels), slice(n_mels, 2 * n_mels), slice(2 * n_mels, 3 * n_mels - 1))
        # Rows of empty filters (no bin under them) are left alone: no gain can match them.
        self._target = np.where(self._fb.matchable[:, None], melspec, 0).astype(np.float32)
        # Bins no filter sees (below f_min, above f_max): the mel says nothing of them and a gain
        # of 1 would let Griffin-Lim's momentum pile energy up there (measured: the 8-11 kHz
        # band of a plucked chord grew to 6 times the original's peak); they get 0, as in the
        # NNLS start and the cascade.
        self._unseen = np.flatnonzero(~np.asarray(fb.dense).any(axis=1))
        self.power, self.soft = power, soft

    def __call__(self, magnitude: np.ndarray) -> np.ndarray:
        """``magnitude`` (float32 ``(time, n_freqs)``, time-major; not modified) pulled onto the
        constraint, as a new array of the same shape."""
        spec = magnitude.copy() if self.power == 1 else magnitude ** np.float32(self.power)
        stacked = self._stacked.project(spec.T)
        projected, diag, off = (stacked[rows] for rows in self._rows)
        residual = np.subtract(self._target, projected, out=projected)
        diag += GAIN_REGULARISATION * diag.max(axis=0) + np.float32(np.finfo(np.float32).tiny)
        multipliers = _solve_tridiagonal(off, diag, residual)
        gain = self._fb.adjoint(multipliers)
        gain += 1.0
        np.maximum(gain, 0.0, out=gain)
        gain[self._unseen] = 0.0
        if self.soft:
            soften(gain)
        spec *= gain.T
        return spec if self.power == 1 else np.power(spec, np.float32(1.0 / self.power), out=spec)

    @property
    def target(self) -> np.ndarray:
        """The mel spectrogram held to, with empty filters' rows set to 0 (nothing matches them)."""
        return self._target

    @staticmethod
    def memory_bytes(n_frames: int, n_freqs: int, n_mels: int) -> int:
        """Temporaries of one call: the powered copy, its transpose, the gain and the products."""
        return n_frames * (n_freqs * 4 * 3 + n_mels * 4 * 6)


def _joint(plan: STFTPlan, fb: MelFilterbank, mel: np.ndarray, power: float, magnitude: np.ndarray,
           n_iter: int, seed: int | None, progress: Callable[[int, int], None] | None,
           fidelity: str = "exact") -> np.ndarray:
    """The joint method's three stages on one item (see the module's text): samples."""
    warmup = min(WARMUP_STEPS, n_iter // 10)
    polished = int(n_iter * POLISH_SHARE)
    done = [0]  # steps reported so far

    def report(offset):
        def step(count, *_):
            done[0] = offset + count
            if progress is not None:
                progress(done[0], n_iter)
        return step

    project = MelProjection(fb, mel, power, soft=fidelity == "soft")
    start = initial_phase(plan, "random", seed)
    coeffs = fast_griffinlim(plan, start * magnitude, warmup, project, progress=report(0))
    if RESTART_FROM_GRADIENTS:
        if warmup:  # the magnitude now shows partials the smooth NNLS one did not have
            magnitude = project(np.abs(plan.forward(plan.inverse(coeffs))))
        coeffs = phase_from_gradients(magnitude, plan, start)
        coeffs *= magnitude
    coeffs = fast_griffinlim(plan, coeffs, n_iter - warmup - polished, project, progress=report(warmup))
    error = (MelError if fidelity == "exact" else LogMelError)(plan, fb, project.target, power)
    samples = polish(error, plan.inverse(coeffs), polished,
                     progress=report(n_iter - polished))
    if done[0] < n_iter:  # the polish stopped early (nothing left to gain)
        report(n_iter)(0)
    return samples


def _melspec_n_mels(melspec) -> int:
    shape = np.shape(melspec)
    return shape[-2] if len(shape) >= 2 else 1  # check_melspec reports a wrong shape


def mel_to_audio(melspec, *, sample_rate: float = DEFAULT, n_fft: int = DEFAULT, hop_length: int | None = DEFAULT,
                 win_length: int | None = DEFAULT, power: float = DEFAULT, f_min: float = DEFAULT,
                 f_max: float | None = DEFAULT, mel_type: str = DEFAULT, norm: str | None = DEFAULT,
                 method: str = "joint", n_iter: int | None = None, length: int | None = None,
                 seed: int | None = 0, progress: Callable[[int, int], None] | None = None,
                 format=None, framing: str = DEFAULT, pad_mode: str = DEFAULT, drop_last_frame: bool = DEFAULT,
                 compat: str = DEFAULT, fidelity: str = "exact") -> np.ndarray:
    """Audio from a mel spectrogram.

    Parameters
    ----------
    melspec : array_like
        Mel spectrogram ``(..., n_mels, time)``, power (``power=2``) or magnitude
        (``power=1``), made with a periodic Hann STFT framed as below (default torch's, as
        :func:`invmel_core.dsp.stft.spectrogram`: centred, reflect padding) and the filterbank
        below. Linear: not a log/dB one (undo a format's compression first,
        :mod:`invmel_core.formats.compression`).
    format : MelFormat, str or None
        A :class:`~invmel_core.formats.presets.MelFormat` or a preset's name (``"hifigan"``,
        ``"whisper"``, ...): every keyword below that it has as a field and that is not given
        is the format's (its compression is not undone). None: the defaults below.
    sample_rate : float
        Sample rate in Hz (required without ``format``).
    n_fft, hop_length, win_length
        The STFT's (``n_fft`` required without ``format``); ``hop_length=None`` is
        ``win_length // 2``, ``win_length=None`` is ``n_fft``.
    power : float
        The exponent of the mel spectrogram's magnitudes (default 2).
    f_min, f_max, mel_type, norm, compat
        The filterbank, as :class:`~invmel_core.dsp.filterbank.MelFilterbank` (defaults 0,
        Nyquist, "htk", None, "torchaudio").
    framing, pad_mode, drop_last_frame
        How the mel's frames were cut, as :class:`~invmel_core.formats.presets.MelFormat`:
        ``framing="center"`` (default; frame ``t`` centred on sample ``t * hop_length``,
        ``n_fft // 2`` padded each side) or ``"same"`` (HiFi-GAN, BigVGAN: ``(n_fft -
        hop_length) // 2`` padded, not centred); the padding ``"reflect"`` (default, torch's)
        or ``"constant"`` (zeros, librosa's); ``drop_last_frame`` (default False) True when
        the STFT's last frame was dropped (Whisper). The inverse runs on that very frame
        geometry, so the output is in time with the sound the mel was made of, edges included.
    method : {"joint", "cascade"}
        ``"joint"``: magnitude and phase together (see the module's text); ``"cascade"``: the
        NNLS magnitude, then Griffin-Lim on it, as ``librosa.feature.inverse.mel_to_audio``.
    n_iter : int or None
        Steps, at most 10000, each about one forward and one inverse STFT (Griffin-Lim
        iterations, and for the joint method its polish's evaluations too); None: 150 for
        joint, 32 for cascade (librosa's default).
    length : int or None
        Output samples (e.g. the original's, however short or long): trimmed or zero-padded.
        None gives what the inverse STFT makes of the frames,
        :func:`~invmel_core.dsp.phase.natural_length` (``hop_length * (time - 1)`` centred,
        ``hop_length * time`` for "same" framing and Whisper's; one hop for one frame).
    fidelity : {"exact", "soft"}
        How closely the joint method holds ``melspec`` (:mod:`invmel_core.inverse.mel_fidelity`):
        ``"exact"`` (default; the mel of a sound, best when it is one), or ``"soft"`` for a
        predicted mel (a TTS model's, not the mel of any signal): a partial projection and a
        log-mel polish, which keep the sound consistent rather than matching every error.
        ``method="cascade"`` takes ``"exact"`` only.
    seed : int or None
        Seed of the random initial phase: the same seed gives the same samples. None: fresh.
    progress : callable or None
        Called as ``progress(step, n_iter)`` after every iteration (of each item of a batch).

    Returns
    -------
    np.ndarray
        float32 ``(..., length)``.

    Raises
    ------
    InputError
        A bad parameter, a mel spectrogram that is not one (wrong shape, NaN, negative
        values), or more memory than ``$INVMEL_MAX_SOLVE_MB``. Nothing is computed before
        everything is checked. Short inputs work: frames too few for any signal (reflect
        padding) are run with the last one repeated and the output cut; samples no window
        covers (``hop_length`` past ``win_length``) come out 0.

    See Also
    --------
    InverseMelScale : the linear spectrogram alone
    griffinlim : phase from a magnitude
    oracle_view : where the sound is lost

    Examples
    --------
    >>> from invmel_core.dsp.stft import spectrogram
    >>> y = np.sin(np.arange(8000) * 0.2).astype(np.float32)
    >>> fb = MelFilterbank(257, 0.0, None, 40, 16000)
    >>> mel = fb.banded.project(spectrogram(y, 512, 128))
    >>> out = mel_to_audio(mel, sample_rate=16000, n_fft=512, hop_length=128, n_iter=20, length=y.size)
    >>> out.shape, out.dtype
    ((8000,), dtype('float32'))
    """
    (sample_rate, n_fft, hop_length, win_length, power, f_min, f_max, mel_type, norm, compat, framing, pad_mode,
     drop_last_frame) = resolve(format, dict(
        sample_rate=sample_rate, n_fft=n_fft, hop_length=hop_length, win_length=win_length, power=power,
        f_min=f_min, f_max=f_max, mel_type=mel_type, norm=norm, compat=compat, framing=framing,
        pad_mode=pad_mode, drop_last_frame=drop_last_frame)).values()
    framing, pad_mode = check_choice("framing", framing, FRAMINGS), check_choice("pad_mode", pad_mode, PAD_MODES)
    drop_last_frame = check_flag("drop_last_frame", drop_last_frame)
    n_fft, hop_length, win_length = check_stft_params(n_fft, hop_length, win_length)
    if framing == "same" and hop_length > n_fft:
        raise InputError(f"framing='same' pads (n_fft - hop_length) // 2 samples each side: hop_length must be "
                         f"at most n_fft={n_fft}, got {hop_length}")
    power = check_power(power)
    method = check_choice("method", method, METHODS)
    fidelity = check_fidelity(fidelity)
    if fidelity != "exact" and method != "joint":
        raise InputError(f"fidelity={fidelity!r} applies to method='joint' only (the cascade holds no mel "
                         f"constraint to relax); got method={method!r}")
    n_iter = DEFAULT_ITERATIONS[method] if n_iter is None else check_iterations(n_iter)
    seed = check_seed(seed)
    limits.check_synthesis(n_fft, hop_length, win_length, power, progress)  # power, window, progress: before any work
    n_freqs = n_fft // 2 + 1
    melspec = numeric_array(melspec, "melspec")  # ragged lists, tensors: InputError, before np.shape
    limits.check_filterbank_memory(n_freqs, _melspec_n_mels(melspec))
    length = check_length(length)
    shape = check_melspec_shape(melspec, _melspec_n_mels(melspec)).shape  # the memory, before the values are copied
    check_memory(int(np.prod(shape[:-2])), shape[-2], shape[-1], n_fft, hop_length, win_length, length)
    mel = check_melspec(melspec, _melspec_n_mels(melspec))
    fb = MelFilterbank(n_freqs, f_min, f_max, mel.shape[-2], sample_rate, norm, mel_type, compat)
    with np.errstate(over="ignore"):  # a tiny power makes magnitudes of the mel's values overflow
        check_power_undone(np.float32(mel.max(initial=0.0)) ** np.float32(1 / power), power, "melspec")
    n_frames = mel.shape[-1]
    framed = dict(pad=frame_padding(n_fft, hop_length, framing), pad_mode=pad_mode, drop_last_frame=drop_last_frame)
    natural = natural_length(n_frames, n_fft, hop_length, pad=framed["pad"], drop_last_frame=drop_last_frame)
    items = mel.reshape(-1, fb.n_mels, n_frames)
    out_length = length or natural
    plan = check_memory(items.shape[0], fb.n_mels, n_frames, n_fft, hop_length, win_length, length, **framed)
    inverse_mel = InverseMelScale(n_freqs, fb.n_mels, fb.sample_rate, fb.f_min, fb.f_max, norm=fb.norm,
                                  mel_type=fb.mel_type, solver="nnls")
    out = np.empty((items.shape[0], out_length), np.float32)
    for index, item in enumerate(items):
        item = extend_frames(item, plan.n_frames)  # too few frames for any signal: the last repeated
        magnitude = inverse_mel(item).T  # (time, n_freqs) of the mel's power
        magnitude = np.ascontiguousarray(magnitude if power == 1 else magnitude ** np.float32(1 / power))
        if method == "joint":
            samples = _joint(plan, fb, item, power, magnitude, n_iter, seed, progress, fidelity)
        else:
            samples = griffinlim_on_plan(plan, magnitude, n_iter, seed, progress=progress)
        out[index] = fit_length(samples[:natural] if length is None else samples, out_length)
    return out.reshape(mel.shape[:-2] + (out_length,))


def check_memory(items: int, n_mels: int, n_frames: int, n_fft: int, hop_length: int, win_length: int,
                 length: int | None, *, pad: int | None = None, pad_mode: str = "reflect",
                 drop_last_frame: bool = False) -> STFTPlan:
    """Raise :class:`InputError` before a :func:`mel_to_audio` that would exceed the memory
    cap (callers may check before other work, e.g. a solve); returns the working plan.
    Parameters as :func:`mel_to_audio` checked them (``pad``: :func:`frame_padding` of its framing)."""
    plan = working_plan(n_frames, n_fft, hop_length, win_length, length, pad=pad, pad_mode=pad_mode,
                        drop_last_frame=drop_last_frame)
    out_length = length or natural_length(n_frames, n_fft, hop_length, pad=pad, drop_last_frame=drop_last_frame)
    limits.check_memory(
        mel_to_audio_bytes(plan, n_mels) + (items + 1) * out_length * 4,
        f"mel_to_audio of {items} x {n_frames} frames with n_fft={n_fft} into {out_length:,} samples each",
        "Use a shorter excerpt (fewer frames), a larger hop_length, a smaller n_fft or a smaller length.",
    )
    return plan


def mel_to_audio_bytes(plan: STFTPlan, n_mels: int) -> int:
    """Estimated peak memory of :func:`mel_to_audio` on one item (checked against tracemalloc
    in tests/test_mel_audio.py): the STFT's temporaries and the NNLS magnitude throughout, plus
    the largest of the NNLS solve, the Griffin-Lim loop (its arrays and the projection's
    temporaries), the phase integration (a block's Python lists, ~256 bytes a coefficient)
    and the polish (L-BFGS pairs and one evaluation's arrays)."""
    coefficients = plan.n_frames * plan.n_freqs
    nnls = limits.estimate_solve_bytes(1, plan.n_freqs, n_mels, plan.n_frames, get_solver("nnls"))
    loop = coefficients * LOOP_BYTES_PER_COEFFICIENT + MelProjection.memory_bytes(plan.n_frames, plan.n_freqs, n_mels)
    phase = coefficients * 24 + min(plan.n_frames, PGHI_BLOCK_FRAMES + 3) * plan.n_freqs * 256
    samples = plan.length * 4 * (2 * LBFGS_MEMORY + 8) + coefficients * 4 * 5
    filterbanks = plan.n_freqs * n_mels * 8 * 3 * 6  # MelProjection's stacked banded filterbank
    return coefficients * 4 * 2 + plan.memory_bytes() + filterbanks + max(nnls, loop, phase, samples)
