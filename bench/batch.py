"""Batch rendering: files per minute, peak memory per worker, and what the Dask path costs.

    python -m bench.batch            # 100 ten-second mel spectrograms
    python -m bench.batch --quick    # 12 of them

The mel spectrograms are made from the bundled clips (the 10 s speech clip, shifted, with
the chirp, the chord or the short speech clip mixed in), in a HiFi-GAN-like format:
22050 Hz, n_fft 1024, hop 256, 80 Slaney mel bands up to 8 kHz, magnitude (power 1). Each
is rendered to a WAV by ``--method`` (default: the command line's default, the joint
method of ``mel_to_audio``, 150 iterations; ``cascade``: nnls, then 32 Griffin-Lim iterations) with
one local worker process, with one per CPU, and on a ``dask.distributed`` LocalCluster of
one single-threaded worker process per CPU (its start-up is reported, not counted), with
Dask's default worker environment and without its ``MALLOC_TRIM_THRESHOLD_``. Every
configuration renders the same files into its own folder, and the WAVs are checked to be
byte-identical. Prints a table; the numbers go to docs/batch.md.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
import hashlib
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from invmel_core import load_audio
from invmel_core.dsp import stft
from invmel_core.batch.plan import RenderOptions, run
from invmel_core.inverse.solvers.columns import available_cores

ASSETS = Path(__file__).resolve().parent.parent / "assets"
SECONDS = 10.0
OPTIONS = RenderOptions(sample_rate=22050, n_fft=1024, hop_length=256, power=1.0, n_mels=80,
                        f_max=8000.0, norm="slaney", mel_type="slaney")


def make_mels(folder: Path, count: int) -> None:
    """``count`` ten-second mel spectrograms in ten sub-folders of ``folder``."""
    speech, rate = load_audio(ASSETS / "speech_10s.wav")
    others = [load_audio(ASSETS / f"{name}.wav")[0] for name in ("chirp", "chord", "speech_short")]
    n = int(SECONDS * rate)
    options = OPTIONS.checked()
    fb = options.filterbank(options.n_mels, rate)
    for i in range(count):
        other = np.resize(others[i % 3], n)  # repeated to ten seconds
        y = 0.7 * np.roll(np.resize(speech, n), i * 2205) + 0.3 * np.roll(other, i * 997)
        y = (0.9 * y / np.abs(y).max()).astype(np.float32)
        mel = stft.mel_spectrogram(stft.spectrogram(y, options.n_fft, options.hop_length, power=1.0), fb)
        path = folder / f"set{i % 10}" / f"clip{i:03d}.npy"
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, mel)


def measure(name: str, src: Path, out: Path, options: RenderOptions, **where) -> dict:
    start = time.perf_counter()
    records = run(src, out, options, **where)
    wall = time.perf_counter() - start
    failed = [r for r in records if r.status != "done"]
    if failed:
        raise SystemExit(f"{name}: {len(failed)} files failed, first: {failed[0].error}")
    peaks = {}
    for r in records:
        peaks[r.worker] = max(peaks.get(r.worker, 0.0), r.peak_rss_mb)
    return {
        "name": name, "files": len(records), "wall": wall, "per_min": 60 * len(records) / wall,
        "median_file": statistics.median(r.seconds for r in records),
        "median_cpu": statistics.median(r.cpu_seconds for r in records),
        "workers": len(peaks), "peak_mb": max(peaks.values()),
        "remel": statistics.median(r.remel_residual for r in records),
        "wavs": {p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
                 for p in sorted(out.rglob("*.wav"))},
    }


def measure_dask(name: str, src: Path, out: Path, options: RenderOptions, workers: int,
                 untrimmed: bool) -> tuple[dict, float]:
    """``measure`` on a LocalCluster of ``workers`` single-threaded processes. ``untrimmed``:
    without the ``MALLOC_TRIM_THRESHOLD_`` Dask's nannies give their workers by default."""
    import dask
    from distributed import LocalCluster

    environment = dict(os.environ)  # the nannies set MALLOC_TRIM_THRESHOLD_ etc. in this process
    config = {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None} if untrimmed else {}
    try:
        started = time.perf_counter()
        with dask.config.set(config), LocalCluster(
                host="127.0.0.1", n_workers=workers, threads_per_worker=1, processes=True,
                dashboard_address=None, silence_logs=40) as cluster:
            startup = time.perf_counter() - started
            return measure(name, src, out, options, scheduler=cluster.scheduler_address), startup
    finally:
        os.environ.clear()
        os.environ.update(environment)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="12 files instead of 100")
    parser.add_argument("--files", type=int, default=None, help="number of mel spectrograms")
    parser.add_argument("--no-dask", action="store_true", help="skip the LocalCluster runs")
    parser.add_argument("--method", choices=["joint", "cascade"], default="joint", help="mel to audio (default: joint)")
    args = parser.parse_args(argv)
    options = replace(OPTIONS, method=args.method)
    count = args.files or (12 if args.quick else 100)
    cpus = available_cores()
    print(f"{count} mel spectrograms of {SECONDS:g} s (80 x 862), method {args.method}, CPUs: {cpus}, "
          f"load average before: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory(prefix="invmel-bench-batch-") as tmp:
        src = Path(tmp) / "mels"
        make_mels(src, count)
        rows = [measure("local, 1 worker", src, Path(tmp) / "one", options, workers=1)]
        rows.append(measure(f"local, {cpus} workers", src, Path(tmp) / "local", options, workers=cpus))
        if not args.no_dask:
            for untrimmed in (False, True):
                name = f"Dask LocalCluster, {cpus} workers" + (", no malloc trim" if untrimmed else "")
                row, startup = measure_dask(name, src, Path(tmp) / f"dask{int(untrimmed)}", options, cpus, untrimmed)
                rows.append(row)
                print(f"{name}: start-up {startup:.1f} s (not counted)")
    print(f"\n{'configuration':<45} {'files':>5} {'wall s':>7} {'files/min':>9} {'wall s/file':>11} "
          f"{'CPU s/file':>10} {'peak MiB/worker':>15} {'re-mel':>6}")
    for row in rows:
        print(f"{row['name']:<45} {row['files']:>5} {row['wall']:>7.1f} {row['per_min']:>9.1f} "
              f"{row['median_file']:>11.2f} {row['median_cpu']:>10.2f} {row['peak_mb']:>15.0f} {row['remel']:>6.3f}")
    local = rows[1]
    print(f"\n(per file: medians) speed-up of {cpus} local workers over 1: {rows[0]['wall'] / local['wall']:.2f}x")
    for dask in rows[2:]:
        print(f"{dask['name']} vs local processes: wall {dask['wall'] / local['wall']:.2f}x, "
              f"CPU per file {dask['median_cpu'] / local['median_cpu']:.2f}x")
    identical = all(row["wavs"] == rows[0]["wavs"] for row in rows)
    print(f"WAVs byte-identical across configurations: {identical}; load average after: {os.getloadavg()[0]:.2f}")
    if not identical:
        raise SystemExit("outputs differ between configurations")


if __name__ == "__main__":
    main()
