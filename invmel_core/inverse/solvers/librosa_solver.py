"""librosa's ``feature.inverse.mel_to_stft``, called as is, on chunks of frames.

librosa solves the same non-negative least squares with scipy's L-BFGS-B, started from
the clipped pseudo-inverse solution, on its own frequency grid (bins up to
``sample_rate / 2``). Its objective is the *mean* squared error over the frames it is given
and its stopping rule is L-BFGS-B's default, both absolute: on quiet inputs it stops at
once, on loud ones it crawls. L-BFGS-B keeps ``n_stft`` correction pairs, so its memory is
about ``16 * n_stft**2`` bytes per frame solved together (:func:`memory_estimate`).

So this solver calls ``mel_to_stft`` on consecutive chunks of frames (:func:`chunk_frames`):
as many as librosa itself would solve together (``librosa.util.nnls`` splits its input into
blocks of ``2**18 // (batch * n_mels * 4)`` frames) when that fits the memory limit
(``INVMEL_MAX_SOLVE_MB``), else as many as fit, and never fewer than 32. It yields an
:class:`Iterate` after each chunk (``step`` = chunks done, ``loss`` = the relative mel
residual ``||fb.T @ X - M|| / ||M||`` over the non-empty filters, frames not yet solved
holding librosa's starting point, the clipped pseudo-inverse), so a caller sees progress
and can stop between chunks.

**Where the result differs from one call of** ``mel_to_stft``. An input that fits in one
chunk (up to 32 frames always; at 128 mels and the default limit, 512 frames — librosa's own
block — up to n_fft 1024 and about 110 frames at n_fft 2048) is one call: the result is
librosa's, bit for bit. A longer input is several calls: each chunk's L-BFGS-B stops by its
own rule, and because the objective is a mean over the chunk's frames, a smaller chunk has
a larger gradient and stops later, at a smaller residual. Measured on the 4.2 s speech
sample at n_fft 1024 (128 HTK mels), three chunks (``INVMEL_MAX_SOLVE_MB=600``) against
librosa's one call: estimates 6 % apart (relative L2, power), mel residual 1.0e-4 against
3.3e-4, spectral convergence 0.203 against 0.213, and about twice the time — so chunks are
as large as the limit allows.

Inputs larger than a couple of fixture-sized chunks are solved in a child Python process
(on POSIX systems), so that closing the generator (the app's Stop) ends a chunk that may
take minutes at once, and L-BFGS-B's memory and interpreter lock are never the caller's;
the generator yields the unchanged estimate every :data:`HEARTBEAT_S` seconds while a chunk
is solved, so a caller can keep its display (and elapsed time) up to date. Arrays travel as
``.npy`` bytes over the child's stdin/stdout (no pickles).

``mel_to_stft(M, power=p)`` returns ``nnls(...) ** (1 / p)``; this solver calls it with
``power=1`` so that, like every solver here, it returns a spectrogram of the same power
as the mel input (take the square root yourself for librosa's default ``power=2``).
``n_fft`` is ``2 * (n_stft - 1)``; the mel parameters come from the filterbank. The options
(``max_iter``, tolerances, ``sgdargs``, ``seed``) are not used: ``mel_to_stft`` has no such
parameters. The last iterate's reason is ``"converged"`` (L-BFGS-B's own rule).
"""

from __future__ import annotations

import io
import os
import select
import subprocess
import sys
from pathlib import Path

import numpy as np

from invmel_core.errors import InputError
from invmel_core.limits import BYTES_PER_ELEMENT, MIB, estimate_solve_bytes, max_solve_mb
from invmel_core.dsp.metrics import mel_residual
from invmel_core.inverse.solvers.base import CONVERGED, Iterate, SolverOptions, SolverSpec, register

MIN_CHUNK = 32            # frames: never fewer (the reference fixtures are 32 frames: one call)
HEARTBEAT_S = 0.1         # a chunk in the child process reports this often that it is still going
IN_PROCESS_ELEMENTS = 16_384  # batch * n_stft * time up to which chunks are solved in this process
CHILD_NICE = 10           # the child steps back in CPU priority, like invmel_core.app.offload's workers


def librosa_arguments(fb) -> dict:
    """The keyword arguments of ``librosa.feature.inverse.mel_to_stft`` (besides the input
    and ``power``) that rebuild ``fb``.

    Examples
    --------
    >>> from invmel_core import MelFilterbank
    >>> librosa_arguments(MelFilterbank(201, 0.0, None, 40, 16000, compat="librosa"))
    {'sr': 16000.0, 'n_fft': 400, 'fmin': 0.0, 'fmax': 8000.0, 'htk': True, 'norm': None}
    """
    return dict(sr=fb.sample_rate, n_fft=2 * (fb.n_freqs - 1), fmin=fb.f_min, fmax=fb.f_max,
                htk=fb.mel_type == "htk", norm=fb.norm)


def librosa_block(batch: int, n_mels: int) -> int:
    """Frames ``librosa.util.nnls`` solves together: ``2**18 // (batch * n_mels * 4)``.

    >>> librosa_block(1, 128)
    512
    """
    return max(1, 2**18 // (int(batch) * int(n_mels) * 4))


def _workspace(batch: int, n_stft: int, frames: int) -> int:
    """Peak bytes of one L-BFGS-B solve of ``frames`` frames together: ``m = n_stft``
    correction pairs of ``n = batch * n_stft * frames`` unknowns (``2 m n`` float64), its
    ``m x m`` matrices, and ~1 KiB per unknown for bounds, float64 copies and gradients
    (measured with tracemalloc: 117 B inside scipy, ~350 B more around it)."""
    unknowns = int(batch) * int(n_stft) * int(frames)
    return 8 * (2 * int(n_stft) * unknowns + 11 * int(n_stft) ** 2) + 1024 * unknowns


def chunk_frames(batch: int, n_stft: int, n_mels: int, time: int, limit_mb: float | None = None) -> int:
    """Frames per ``mel_to_stft`` call: librosa's own block (:func:`librosa_block`) if its
    memory fits ``limit_mb`` (default ``INVMEL_MAX_SOLVE_MB``), else as many as fit, never
    fewer than :data:`MIN_CHUNK` nor more than ``time``.

    >>> chunk_frames(1, 1025, 128, 180, limit_mb=2048)   # n_fft 2048: 2 chunks of 4.2 s
    114
    >>> chunk_frames(1, 513, 128, 360, limit_mb=2048)    # n_fft 1024: librosa's one call
    360
    """
    limit = (max_solve_mb() if limit_mb is None else float(limit_mb)) * MIB
    rest = estimate_solve_bytes(batch, n_stft, n_mels, time)   # output, filterbank, mel input
    per_frame = _workspace(batch, n_stft, 1) - _workspace(batch, n_stft, 0)
    fits = int((limit - rest - _workspace(batch, n_stft, 0)) // per_frame)
    frames = min(librosa_block(batch, n_mels), max(fits, MIN_CHUNK))
    return max(1, min(frames, int(time)))


def memory_estimate(batch: int, n_stft: int, n_mels: int, time: int) -> int:
    """Peak memory of this solver: one chunk's L-BFGS-B (:func:`chunk_frames`) and the output.

    Quadratic in ``n_stft`` (``m = n_stft`` correction pairs); the chunks keep it within the
    memory limit whenever :data:`MIN_CHUNK` frames fit. Pages are touched as iterations
    accumulate, so a long solve does reach it.

    >>> round(memory_estimate(1, 1025, 128, 431) / 2**30, 2)  # GiB: 10 s of speech, n_fft 2048
    1.98
    """
    frames = chunk_frames(batch, n_stft, n_mels, time)
    return _workspace(batch, n_stft, frames) + BYTES_PER_ELEMENT * int(batch) * int(n_stft) * int(time)


# seconds_estimate's fit: seconds per frame = SECONDS_SCALE * n_stft ** SECONDS_POWER.
SECONDS_SCALE, SECONDS_POWER = 1.7e-10, 3.5


def seconds_estimate(batch: int, n_stft: int, n_mels: int, time: int) -> float:
    """A rough time for the whole solve, in seconds (what the app says before Run).

    scipy's L-BFGS-B goes through its whole workspace (``2 * n_stft`` float64 columns of
    ``batch * n_stft * frames``) at every iteration, and needs more iterations for more
    bins, so the time per frame grows like ``n_stft ** 3.5``. Fitted to the bundled speech
    (the loudest sample) on the shared 2-CPU machine this project is built on (load 4-8):
    0.03-0.1 s a frame at n_stft 257, 0.2-0.7 s at 513, 5-7.5 s at 1025
    (docs/app-benchmarks.md). The stopping rule is absolute, so quiet inputs finish sooner
    and loud ones later: expect a factor of two either way.

    >>> round(seconds_estimate(1, 513, 128, 360))       # 4.2 s of speech at n_fft 1024
    187
    >>> round(seconds_estimate(1, 1025, 128, 180) / 60)  # the same at n_fft 2048: minutes
    18
    """
    return SECONDS_SCALE * int(batch) * int(time) * float(n_stft) ** SECONDS_POWER


def _solve_chunks_here(melspec, kwargs, chunks):
    import librosa  # heavy (numba); only when this solver runs

    for start, stop in chunks:
        yield librosa.feature.inverse.mel_to_stft(melspec[..., start:stop], power=1.0, **kwargs)


def _write_array(stream, array: np.ndarray) -> None:
    """An array as its length (8 bytes) and its .npy bytes (pipes cannot seek: no tofile)."""
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(array), allow_pickle=False)
    stream.write(len(buf.getvalue()).to_bytes(8, "little") + buf.getvalue())
    stream.flush()


def _read_array(stream) -> np.ndarray:
    size = int.from_bytes(stream.read(8), "little")
    data = stream.read(size)
    if len(data) != size:
        raise EOFError("the stream ended inside an array")
    return np.load(io.BytesIO(data), allow_pickle=False)


def _child_main() -> None:
    """The child process: read the mel_to_stft arguments (JSON, one line), then solve each
    chunk it is sent on stdin and write back the result (``b"A"`` + .npy) or the error
    (``b"E"`` + length + text); an empty read ends it. No pickles either way."""
    import json
    import warnings

    try:
        os.nice(CHILD_NICE)
    except OSError:
        pass
    warnings.simplefilter("ignore")   # the transform already gave its warnings
    import librosa

    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    kwargs = json.loads(stdin.readline())
    while stdin.peek(1):
        chunk = _read_array(stdin)
        try:
            result = librosa.feature.inverse.mel_to_stft(chunk, power=1.0, **kwargs)
        except Exception as exc:  # raised in the parent, as a call would
            text = f"{type(exc).__name__}: {exc}".encode()
            stdout.write(b"E" + len(text).to_bytes(4, "little") + text)
        else:
            stdout.write(b"A")
            _write_array(stdout, result)
        stdout.flush()


_DIED = ("the librosa solver's process ended unexpectedly (killed for memory?); try a smaller n_fft or a "
         "shorter input, or the 'nnls' solver")


class _ChildSolver:
    """A child Python process that solves chunks (started with ``python -c``, so no caller's
    script is imported again in it); :meth:`close` kills it, and a chunk under way with it."""

    def __init__(self, kwargs: dict):
        import json

        root = str(Path(__file__).resolve().parents[2])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
        self.process = subprocess.Popen(
            [sys.executable, "-c", "from invmel_core.inverse.solvers.librosa_solver import _child_main; _child_main()"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        self.process.stdin.write(json.dumps(kwargs).encode() + b"\n")

    def solve(self, chunk: np.ndarray):
        """Send a chunk; then yield None every HEARTBEAT_S while it is solved, and its result."""
        try:
            _write_array(self.process.stdin, chunk)
        except BrokenPipeError:
            raise InputError(_DIED) from None
        out = self.process.stdout
        while not select.select([out], [], [], HEARTBEAT_S)[0]:
            yield None
        tag = out.read(1)
        if tag == b"A":
            try:
                yield _read_array(out)
            except EOFError:
                raise InputError(_DIED) from None
        elif tag == b"E":
            raise InputError("librosa's mel_to_stft failed: " + out.read(int.from_bytes(out.read(4), "little")).decode())
        else:
            raise InputError(_DIED)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for pipe in (self.process.stdin, self.process.stdout):
            try:
                pipe.close()
            except OSError:   # a kill can leave unflushed input behind
                pass


def run(melspec: np.ndarray, fb, options: SolverOptions, every: int = 1):
    import librosa

    melspec = np.asarray(melspec, np.float32)
    batch, n_mels, time = melspec.shape
    frames = chunk_frames(batch, fb.n_freqs, n_mels, time)
    chunks = [(start, min(start + frames, time)) for start in range(0, time, frames)]
    kwargs = librosa_arguments(fb)
    # librosa's starting point for the frames not solved yet (shown while the chunks run).
    basis = librosa.filters.mel(n_mels=n_mels, dtype=np.float32, **kwargs)
    spec = np.clip(np.einsum("fm,...mt->...ft", np.linalg.pinv(basis), melspec), 0, None).astype(np.float32)
    small = batch * fb.n_freqs * time <= IN_PROCESS_ELEMENTS
    child = None if small or os.name != "posix" else _ChildSolver(kwargs)
    try:
        loss = mel_residual(spec, melspec, fb)
        solved = _solve_chunks_here(melspec, kwargs, chunks) if child is None else None
        for done, (start, stop) in enumerate(chunks, start=1):
            if child is None:
                part = next(solved)
            else:
                for part in child.solve(melspec[..., start:stop]):
                    if part is None:
                        yield Iterate(done - 1, loss, spec)     # still solving this chunk
            spec = spec.copy()                                  # never change a yielded array
            spec[..., start:stop] = part
            loss = mel_residual(spec, melspec, fb)
            last = done == len(chunks)
            yield Iterate(done, loss, spec, last, CONVERGED if last else None)
    finally:
        if child is not None:
            child.close()


SPEC = register(SolverSpec(
    name="librosa",
    run=run,
    compat="librosa",
    summary=("librosa.feature.inverse.mel_to_stft (power=1): non-negative least squares by "
             "L-BFGS-B with an absolute stopping rule, on librosa's frequency grid, in chunks of "
             "frames that fit the memory limit. Slow on long or loud inputs; max_iter and the "
             "tolerances are not used."),
    uses=frozenset(),
    memory_estimate=memory_estimate,
    seconds_estimate=seconds_estimate,
))
