"""Invert many minutes of audio with ``solver="nnls"`` in a fresh process; print one JSON line.

    python -m bench.long_audio --minutes 10

The parent (:mod:`bench.solvers`) runs this as a subprocess so that the peak resident
memory (``VmHWM``) is the solve's own: interpreter, numpy, scipy, the mel input and the
solver, nothing left over from earlier measurements. The audio is the benchmark's speech
clip repeated; its mel spectrogram is computed first, then the STFT arrays are freed, and
the reported peak is the maximum over the whole process (so it also bounds the STFT).
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import time
from pathlib import Path

import numpy as np

from invmel_core import InverseMelScale, MelFilterbank, load_audio, spectrogram
from invmel_core.dsp.metrics import mel_residual

SPEECH = Path(__file__).resolve().parent.parent / "assets" / "speech_10s.wav"


def max_rss_mib() -> float:
    """Peak resident memory of this process so far, MiB.

    Linux's ``VmHWM`` (the high-water mark of this program's memory map). Not
    ``getrusage().ru_maxrss``: Linux carries that over from the parent across fork and exec,
    so a child of a process that once held gigabytes would report them.
    """
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # not Linux: KiB or bytes


def long_melspec(minutes: float, n_fft: int = 2048, hop_length: int = 512, n_mels: int = 128):
    """The mel power spectrogram of ``minutes`` of the speech clip repeated, and its rate."""
    clip, rate = load_audio(SPEECH)
    repeats = int(np.ceil(minutes * 60 * rate / clip.size))
    samples = np.tile(clip, repeats)[: int(minutes * 60 * rate)]
    spec = spectrogram(samples, n_fft=n_fft, hop_length=hop_length, power=2.0)
    del samples
    fb = MelFilterbank(n_fft // 2 + 1, 0.0, None, n_mels, rate)
    melspec = np.ascontiguousarray(fb.banded.project(spec), dtype=np.float32)
    return melspec, rate


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    args = parser.parse_args(argv)
    melspec, rate = long_melspec(args.minutes)
    gc.collect()
    before = max_rss_mib()
    inverse = InverseMelScale(1025, 128, rate, solver="nnls")
    start = time.perf_counter()
    *_, last = inverse.iterate(melspec, every=10**9)
    seconds = time.perf_counter() - start
    peak = max_rss_mib()  # before the float64 check below, which is not part of the solve
    print(json.dumps({
        "minutes": args.minutes,
        "frames": int(melspec.shape[1]),
        "seconds": seconds,
        "steps": last.step,
        "reason": last.reason,
        "loss": last.loss,
        "mel_residual": mel_residual(last.spec, melspec, inverse.fb),
        "max_rss_mib_before_solve": before,
        "max_rss_mib": peak,
    }))


if __name__ == "__main__":
    main()
