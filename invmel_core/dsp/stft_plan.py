"""Frame geometry of the STFT: frame counts and lengths, the window, and :class:`STFTPlan` (one
geometry validated once; forward, inverse and exact adjoint in float32 ``scipy.fft`` blocks).

Griffin-Lim and the joint mel -> audio method run both transforms hundreds of times on one
plan without re-checking anything; :mod:`invmel_core.dsp.stft` holds the public one-shot
functions (``stft``, ``istft``, ``spectrogram``) built on it.
"""

from __future__ import annotations

import os
from functools import cached_property

import numpy as np
import scipy.fft

from invmel_core import limits
from invmel_core.errors import InputError

CHUNK_SAMPLES = 1 << 20
NOLA_FLOOR = 1e-11  # torch.istft's bound on the window envelope
def fft_workers() -> int:
    """Threads for ``scipy.fft``: the CPUs this process may run on, at most 4."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, 4))
def stft_window(n_fft: int, win_length: int | None = None) -> np.ndarray:
    """torch's window for ``torch.stft``: a periodic Hann of ``win_length``, zero-padded
    on both sides to ``n_fft`` (left pad ``(n_fft - win_length) // 2``).
    >>> stft_window(4)
    array([0. , 0.5, 1. , 0.5], dtype=float32)
    >>> stft_window(6, 4)
    array([0. , 0. , 0.5, 1. , 0.5, 0. ], dtype=float32)
    """
    win_length = n_fft if win_length is None else win_length
    if win_length == 1:
        hann = np.ones(1)  # torch.hann_window(1) is [1.]
    else:
        hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(win_length) / win_length)
    left = (n_fft - win_length) // 2
    return np.pad(hann, (left, n_fft - win_length - left)).astype(np.float32)
def stft_frames(n_samples: int, n_fft: int, hop_length: int) -> int:
    """Frames of a centred STFT of ``n_samples`` samples (signals of at most ``n_fft // 2``
    samples count as ``n_fft // 2 + 1``: they are zero-padded, see :func:`spectrogram`).
    >>> stft_frames(22050, 1024, 256), stft_frames(1, 1024, 256)
    (87, 3)
    """
    pad = n_fft // 2
    return 1 + (max(int(n_samples), pad + 1) + 2 * pad - n_fft) // hop_length
def istft_length(n_frames: int, n_fft: int, hop_length: int) -> int:
    """What ``torch.istft`` makes of ``n_frames`` centred frames: ``hop_length * (n_frames - 1)``,
    plus 1 for an odd ``n_fft`` (0 or less when the frames are too few for any signal).
    >>> istft_length(87, 1024, 256), istft_length(87, 1023, 256)
    (22016, 22017)
    """
    return (n_frames - 1) * hop_length + n_fft % 2
def signal_length(n_frames: int, n_fft: int, hop_length: int, preferred: int | None = None) -> int:
    """A signal length whose centred STFT has exactly ``n_frames`` frames: ``preferred`` if it
    has, else what ``torch.istft`` makes of ``n_frames`` frames, ``hop_length * (n_frames - 1)``
    (plus 1 for an odd ``n_fft``), or the shortest length that has that many frames.
    Raises :class:`InputError` when no signal has ``n_frames`` frames: a signal is at least
    ``n_fft // 2 + 1`` samples long (reflect padding), so it has at least
    ``stft_frames(1, n_fft, hop_length)`` frames.
    >>> signal_length(87, 1024, 256), signal_length(87, 1024, 256, preferred=22050)
    (22016, 22050)
    >>> signal_length(1, 1024, 256)
    Traceback (most recent call last):
    ...
    invmel_core.errors.InputError: 1 frame(s) are too few for n_fft=1024 and hop_length=256: ...
    """
    if preferred is not None and stft_frames(preferred, n_fft, hop_length) == n_frames:
        return preferred
    pad = n_fft // 2
    shortest = istft_length(n_frames, n_fft, hop_length)  # stft_frames is n_frames from here ...
    longest = shortest + hop_length - 1  # ... to here
    if longest <= pad:
        fewest = stft_frames(1, n_fft, hop_length)
        raise InputError(
            f"{n_frames} frame(s) are too few for n_fft={n_fft} and hop_length={hop_length}: reflect "
            f"padding needs a signal of more than n_fft // 2 = {pad} samples, which has at least "
            f"{fewest} frames. Give at least {fewest} frames, or use a smaller n_fft"
        )
    return max(shortest, pad + 1)
FRAMINGS = ("center", "same")
PAD_MODES = ("reflect", "constant")
def frame_padding(n_fft: int, hop_length: int, framing: str = "center") -> int:
    """Samples padded on each side before framing: ``n_fft // 2`` for centred frames
    (torch, librosa: frame ``t`` centred on sample ``t * hop_length``), ``(n_fft - hop_length)
    // 2`` for ``"same"`` framing (HiFi-GAN, BigVGAN pad by hand and frame with
    ``center=False``: frame ``t`` centred on ``t * hop_length + hop_length / 2``).
    >>> frame_padding(1024, 256), frame_padding(1024, 256, "same")
    (512, 384)
    """
    return n_fft // 2 if framing == "center" else (n_fft - hop_length) // 2
def shortest_signal(n_fft: int, pad: int, pad_mode: str) -> int:
    """The shortest signal a plan frames: reflect padding needs ``pad + 1`` samples (shorter
    ones are zero-extended to that, as :func:`spectrogram` does), zero padding ``n_fft - 2 pad``
    for one frame."""
    return pad + 1 if pad_mode == "reflect" else max(1, n_fft - 2 * pad)
def framed_count(n_samples: int, n_fft: int, hop_length: int, pad: int, pad_mode: str = "reflect",
                 drop_last_frame: bool = False) -> int:
    """Frames of ``n_samples`` padded by ``pad`` on each side (``drop_last_frame``: Whisper
    drops the last). With ``pad = n_fft // 2`` and reflect padding this is :func:`stft_frames`.
    >>> framed_count(22050, 1024, 256, 384), framed_count(480000, 400, 160, 200, drop_last_frame=True)
    (86, 3000)
    """
    n = max(int(n_samples), shortest_signal(n_fft, pad, pad_mode))
    return 1 + (n + 2 * pad - n_fft) // hop_length - int(drop_last_frame)
def framed_length(n_frames: int, n_fft: int, hop_length: int, pad: int, drop_last_frame: bool = False) -> int:
    """The shortest signal that makes ``n_frames`` frames (before any dropped):
    ``hop_length * (n_frames - 1) + n_fft - 2 pad``, e.g. ``hop_length * n_frames`` for
    ``"same"`` framing and for Whisper's.
    >>> framed_length(87, 1024, 256, 512), framed_length(86, 1024, 256, 384), framed_length(3000, 400, 160, 200, True)
    (22016, 22016, 480000)
    """
    return (n_frames - 1 + int(drop_last_frame)) * hop_length + n_fft - 2 * pad
class STFTPlan:
    """One frame geometry: the forward and inverse STFT of signals of ``length`` samples
    cut into ``n_frames`` frames. Parameters are trusted (the public functions check them).
    Coefficients are **time-major**, ``(n_frames, n_fft // 2 + 1)`` complex64 (each frame's
    FFT is a contiguous row); :func:`stft` and :func:`istft` transpose to torch's layout.
    ``n_frames`` may differ from :func:`stft_frames` of ``length`` only for :meth:`inverse`
    (``torch.istft(..., length=...)`` trims or zero-pads), or be fewer (the last frames
    dropped, as Whisper does).

    ``pad`` (default ``n_fft // 2``: centred frames) samples are added on each side before
    framing, mirrored (``pad_mode="reflect"``, torch's) or zeros (``"constant"``, librosa's
    ``stft`` default): frame ``t`` reads padded samples ``t * hop_length`` on, so sample ``n``
    of :meth:`inverse`'s output lines up with sample ``n`` of :meth:`forward`'s input for every
    framing (:func:`frame_padding`).
    Examples
    --------
    >>> plan = STFTPlan(256, 64, 256, n_frames=stft_frames(1000, 256, 64), length=1000)
    >>> y = np.random.default_rng(0).standard_normal(1000).astype(np.float32)
    >>> coeffs = plan.forward(y)
    >>> coeffs.shape, coeffs.dtype
    ((16, 129), dtype('complex64'))
    >>> float(np.abs(plan.inverse(coeffs) - y).max()) < 1e-5
    True
    """
    def __init__(self, n_fft: int, hop_length: int, win_length: int, *, n_frames: int, length: int,
                 allow_gaps: bool = False, pad: int | None = None, pad_mode: str = "reflect"):
        self.n_fft, self.hop_length, self.win_length = n_fft, hop_length, win_length
        self.n_frames, self.length = n_frames, length
        self.allow_gaps = allow_gaps
        self.n_freqs = n_fft // 2 + 1
        self.pad = n_fft // 2 if pad is None else pad
        self.pad_mode = pad_mode
        self.window = stft_window(n_fft, win_length)
        self.workers = fft_workers()
        self.block_frames = max(1, CHUNK_SAMPLES // n_fft)
        self._pieces = -(-n_fft // hop_length)  # hop-long pieces of one frame
    def blocks(self, samples: np.ndarray):
        """``(start, stop, coefficients)`` for each block of frames of float32 ``samples``:
        the rfft of frames ``start:stop`` as complex64 ``(stop - start, n_freqs)``."""
        y = samples
        shortest = shortest_signal(self.n_fft, self.pad, self.pad_mode)
        if y.size < shortest:  # torch's reflect padding needs more than pad samples
            y = np.pad(y, (0, shortest - y.size))
        padded = np.pad(y, self.pad, mode=self.pad_mode)
        frames = np.lib.stride_tricks.sliding_window_view(padded, self.n_fft)[::self.hop_length][:self.n_frames]
        for start in range(0, self.n_frames, self.block_frames):
            block = frames[start:start + self.block_frames] * self.window
            yield start, start + block.shape[0], scipy.fft.rfft(block, axis=-1, workers=self.workers)
    def forward(self, samples: np.ndarray) -> np.ndarray:
        """STFT of float32 ``samples`` (``(length,)``): complex64 ``(n_frames, n_freqs)``."""
        if self.n_frames <= self.block_frames:  # one block: its result is the answer, no copy
            return next(self.blocks(samples))[2]
        out = np.empty((self.n_frames, self.n_freqs), np.complex64)
        for start, stop, coeffs in self.blocks(samples):
            out[start:stop] = coeffs
        return out
    def _overlap_add(self, out2d: np.ndarray, frames: np.ndarray, first: int) -> None:
        """Add ``frames`` (rows of ``n_fft``) starting at frame ``first`` into ``out2d``, the
        padded signal as rows of ``hop_length`` samples: one vector add per hop-long piece."""
        hop, count = self.hop_length, frames.shape[0]
        for piece in range(self._pieces):
            width = min(hop, self.n_fft - piece * hop)
            out2d[first + piece:first + piece + count, :width] += frames[:, piece * hop:piece * hop + width]
    @cached_property
    def inverse_envelope(self) -> np.ndarray:
        """``1 / sum of squared windows`` at each output sample (0 past the last frame).
        Raises :class:`InputError` if some output sample is covered by no window (the frames
        do not overlap enough to be inverted; ``torch.istft`` refuses the same), unless the
        plan was made with ``allow_gaps``: then those samples come out 0 (``librosa.istft``)."""
        envelope = np.zeros((self.n_frames + self._pieces, self.hop_length), np.float32)
        squared = self.window**2
        for piece in range(self._pieces):  # every frame adds the same piece: broadcast it
            width = min(self.hop_length, self.n_fft - piece * self.hop_length)
            envelope[piece:piece + self.n_frames, :width] += squared[piece * self.hop_length:][:width]
        covered = (self.n_frames - 1) * self.hop_length + self.n_fft - self.pad
        kept = envelope.reshape(-1)[self.pad:self.pad + min(self.length, covered)]
        if kept.size and kept.min() <= NOLA_FLOOR and not self.allow_gaps:
            raise InputError(
                f"hop_length={self.hop_length} leaves samples that no window covers (win_length="
                f"{self.win_length}, and a Hann window is 0 at its ends), so the inverse STFT cannot "
                "recover them; use a hop_length below win_length (e.g. win_length // 4)"
            )
        inverse = np.zeros(self.length, np.float32)
        covered = kept > NOLA_FLOOR
        inverse[:kept.size][covered] = 1.0 / kept[covered]
        return inverse
    def inverse(self, coeffs: np.ndarray) -> np.ndarray:
        """Inverse STFT of complex ``(n_frames, n_freqs)`` coefficients: float32 ``(length,)``
        (windowed overlap-add divided by the summed squared windows, as ``torch.istft``)."""
        out2d = np.zeros((self.n_frames + self._pieces, self.hop_length), np.float32)
        for start in range(0, self.n_frames, self.block_frames):
            frames = scipy.fft.irfft(coeffs[start:start + self.block_frames], n=self.n_fft, axis=-1,
                                     workers=self.workers)
            frames *= self.window
            self._overlap_add(out2d, frames, start)
        kept = out2d.reshape(-1)[self.pad:self.pad + self.length]
        out = np.zeros(self.length, np.float32)
        out[:kept.size] = kept
        out *= self.inverse_envelope
        return out
    def adjoint(self, coeffs: np.ndarray) -> np.ndarray:
        """The adjoint of :meth:`forward` (``<forward(x), C> = <x, adjoint(C)>``, real inner
        product): what a gradient with respect to the samples needs. Unlike :meth:`inverse`
        it does not divide by the window envelope, and it folds what the frames read from the
        reflect padding back onto the samples it mirrors (zero padding reads nothing)."""
        out2d = np.zeros((self.n_frames + self._pieces, self.hop_length), np.float32)
        alternating = np.float32(0.5) * (-1.0) ** np.arange(self.n_fft, dtype=np.float32)
        for start in range(0, self.n_frames, self.block_frames):
            block = coeffs[start:start + self.block_frames]
            frames = scipy.fft.irfft(block, n=self.n_fft, axis=-1, workers=self.workers)
            frames *= np.float32(self.n_fft / 2)
            # n_fft / 2 * irfft counts DC and Nyquist half as much as the other bins: add the
            # other halves (the real parts: the adjoint's imaginary parts there drop out)
            frames += np.float32(0.5) * block[:, :1].real
            if self.n_fft % 2 == 0:
                frames += block[:, -1:].real * alternating
            frames *= self.window
            self._overlap_add(out2d, frames, start)
        padded = out2d.reshape(-1)
        signal = max(self.length, shortest_signal(self.n_fft, self.pad, self.pad_mode))
        pad = self.pad
        y = np.zeros(signal, np.float32)
        kept = padded[pad:pad + signal]
        y[:kept.size] = kept
        if self.pad_mode == "reflect" and pad:
            y[1:pad + 1] += padded[pad - 1::-1]  # the left padding mirrors y[1], y[2], ...
            right = padded[pad + signal:pad + signal + pad]  # mirrors y[signal - 2], y[signal - 3], ...
            y[signal - 1 - right.size:signal - 1] += right[::-1]
        return y[:self.length]
    def memory_bytes(self) -> int:
        """Peak bytes of one :meth:`forward` or :meth:`inverse`: the coefficients, the padded
        signal and overlap-add buffers, the envelope and one block of frames."""
        coeffs = self.n_frames * self.n_freqs * 8
        signal = (self.n_frames + self._pieces) * self.hop_length * 4 * 2 + (self.length + self.n_fft) * 4 * 3
        block = min(self.block_frames, self.n_frames) * (self.n_fft * 4 * 2 + self.n_freqs * 8)
        return coeffs + signal + block
def _plan_for(n_frames: int, length: int, n_fft: int, hop_length: int, win_length: int) -> STFTPlan:
    plan = STFTPlan(n_fft, hop_length, win_length, n_frames=n_frames, length=length)
    limits.check_memory(
        plan.memory_bytes(), f"an STFT of {n_frames:,} frames x {plan.n_freqs} bins",
        "Use a larger hop_length, a smaller n_fft or a shorter excerpt.",
    )
    return plan
