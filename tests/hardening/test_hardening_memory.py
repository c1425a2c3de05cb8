"""The memory cap bounds every capped path. Each estimate checked before
work (``limits.check_memory``) must cover what the work really allocates (tracemalloc
sees numpy's and Python's buffers; a subprocess's peak RSS sees everything), and must not be
absurdly above it, or the cap would refuse what fits."""

import io
import json
import subprocess
import sys
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile

from invmel_core import (InputError, MelFilterbank, griffinlim, load_audio, mel_spectrogram, spectrogram,
                       to_wav_bytes)
from invmel_core import limits

ROOT = Path(__file__).resolve().parents[2]
MIB = 2**20


def estimate_and_peak(monkeypatch, work):
    """``(largest estimate checked, tracemalloc peak)`` of ``work()``."""
    estimates = []
    real = limits.check_memory

    def recording(n_bytes, *args, **kwargs):
        estimates.append(n_bytes)
        return real(n_bytes, *args, **kwargs)

    monkeypatch.setattr(limits, "check_memory", recording)
    work()  # warm up: imports, FFT plans and caches are not the call's memory
    estimates.clear()
    tracemalloc.start()
    try:
        work()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert estimates, "no memory check ran"
    return max(estimates), peak


def assert_covers(estimate, peak, label):
    report = f"{label}: measured {peak / MIB:.1f} MiB, estimated {estimate / MIB:.1f} MiB"
    assert peak <= estimate, report
    assert estimate <= 4 * peak + 4 * MIB, report


rng = np.random.default_rng(0)


@pytest.mark.parametrize("n, n_fft, hop", [
    (220_500, 2048, 512),  # 10 s at 22.05 kHz
    pytest.param(220_500, 2048, 1, marks=pytest.mark.slow),  # the output dominates
    # n_fft at its maximum: the chunk's temporaries dominate (6x under before)
    pytest.param(22_050, 2**18, 256, marks=pytest.mark.slow),
    (100_000, 64, 1),
    (50_000, 255, 7),
])
def test_stft_estimate_covers_its_peak(monkeypatch, n, n_fft, hop):
    y = rng.standard_normal(n).astype(np.float32)
    estimate, peak = estimate_and_peak(monkeypatch, lambda: spectrogram(y, n_fft, hop))
    assert_covers(estimate, peak, f"STFT n={n} n_fft={n_fft} hop={hop}")


@pytest.mark.parametrize("n_fft, hop, frames, length", [
    (2048, 512, 431, None),
    (2048, 512, 431, 220_500),
    (256, 4096, 200, None),  # a hop past the window: the output dominates
    (64, 65536, 20, None),
    (2048, 512, 3, 10**6),  # a length far past the frames: zero padding
    (2048, 512, 1, 700),  # one frame
])
def test_griffinlim_estimate_covers_its_peak(monkeypatch, n_fft, hop, frames, length):
    spec = rng.random((n_fft // 2 + 1, frames), dtype=np.float32)
    estimate, peak = estimate_and_peak(monkeypatch, lambda: griffinlim(spec, n_fft, hop, n_iter=2, length=length))
    assert_covers(estimate, peak, f"Griffin-Lim n_fft={n_fft} hop={hop} frames={frames} length={length}")


def test_mel_projection_and_wav_estimates_cover_their_peaks(monkeypatch):
    fb = MelFilterbank(1025, 0.0, None, 128, 22050)
    spec = rng.random((2, 1025, 800), dtype=np.float32)
    assert_covers(*estimate_and_peak(monkeypatch, lambda: mel_spectrogram(spec, fb)), "mel projection")
    y = rng.standard_normal(1_000_000).astype(np.float64)
    assert_covers(*estimate_and_peak(monkeypatch, lambda: to_wav_bytes(y, 22050)), "WAV bytes")


@pytest.mark.parametrize("n_freqs, n_mels", [(1025, 128), pytest.param(8193, 512, marks=pytest.mark.slow)])
def test_filterbank_estimate_covers_its_peak(monkeypatch, n_freqs, n_mels):
    def build():
        from invmel_core.dsp import filterbank

        filterbank._dense.cache_clear()
        filterbank._banded.cache_clear()
        fb = MelFilterbank(n_freqs, 0.0, None, n_mels, 44100)
        fb.banded, fb.empty  # noqa: B018 - built on first use

    assert_covers(*estimate_and_peak(monkeypatch, build), f"filterbank {n_freqs} x {n_mels}")


@pytest.mark.parametrize("channels", [1, 8, 300])
def test_decoding_estimate_covers_its_peak(monkeypatch, channels):
    buf = io.BytesIO()
    soundfile.write(buf, rng.standard_normal((200_000 // channels, channels)).astype(np.float32) * 0.1, 16000,
                    format="WAV", subtype="FLOAT")
    data = buf.getvalue()
    assert_covers(*estimate_and_peak(monkeypatch, lambda: load_audio(data)), f"decoding {channels} channels")


@pytest.mark.parametrize("work, match", [
    (lambda: spectrogram(np.zeros(10**6, np.float32), 2048, 1), r"an STFT of"),
    (lambda: griffinlim(np.ones((9, 3000), np.float32), 16, 2**16), r"Griffin-Lim making"),
    (lambda: griffinlim(np.ones((129, 4), np.float32), 256, length=10**9), r"Griffin-Lim making"),
    (lambda: MelFilterbank(2**17 + 1, 0.0, None, 2048, 48000), r"mel filterbank of 131073 x 2048"),
    (lambda: mel_spectrogram(np.broadcast_to(np.float32(1), (1025, 10**6)), MelFilterbank(1025, 0, None, 40, 22050)),
     r"mel projection"),
])
def test_refusals_under_a_small_cap_allocate_nothing_large(monkeypatch, work, match):
    monkeypatch.setenv("INVMEL_MAX_SOLVE_MB", "64")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tracemalloc.start()
        try:
            with pytest.raises(InputError, match=match):
                work()
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert peak < 16 * MIB, f"{peak / MIB:.1f} MiB"


_RSS_SCRIPT = r"""
import json, resource, sys
import numpy as np
from invmel_core import griffinlim, spectrogram
griffinlim(np.ones((129, 4), np.float32), 256, 64, n_iter=1)   # imports, FFT plans
spectrogram(np.ones(5000, np.float32), 256, 64)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
kind = sys.argv[1]
if kind == "griffinlim":      # a 20 x 9 spectrogram, a hop of 2**18: 5 M samples out
    griffinlim(np.ones((9, 20), np.float32), 16, 2**18, n_iter=2)
elif kind == "stft":          # 30 s at hop 4: 165,376 frames x 513 bins
    spectrogram(np.random.default_rng(0).standard_normal(661_500).astype(np.float32), 1024, 4)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"growth": after - before}))
"""


@pytest.mark.slow
@pytest.mark.parametrize("kind, estimate", [
    ("griffinlim", limits.estimate_griffinlim_bytes(9, 20, 19 * 2**18)),
    ("stft", 513 * 165_376 * 6 + 663_548 * 4 + 512 * 1024 * 16),
])
def test_peak_rss_stays_within_the_estimate(kind, estimate):
    """What tracemalloc cannot see (FFT work buffers, libraries' C allocations) in a fresh
    process: the peak RSS grows by no more than the estimate checked before the work."""
    done = subprocess.run([sys.executable, "-c", _RSS_SCRIPT, kind], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    growth = json.loads(done.stdout.strip().splitlines()[-1])["growth"]
    assert growth <= estimate, f"{kind}: RSS grew {growth / MIB:.1f} MiB, estimated {estimate / MIB:.1f} MiB"
