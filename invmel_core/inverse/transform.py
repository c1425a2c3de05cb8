"""``InverseMelScale``: the torchaudio <= 2.0 / MindSpore transform, on any registered solver."""

from __future__ import annotations

from typing import Iterator

import numpy as np

from invmel_core.errors import InputError
from invmel_core.dsp.filterbank import MelFilterbank
from invmel_core.limits import check_solve_memory
from invmel_core.inverse.solvers import Iterate, SolverOptions, get_solver
from invmel_core.validation import check_melspec, check_melspec_shape, check_number, check_seed, shown

_SGDARG_ALIASES = {"lr": "lr", "momentum": "momentum", "sgd_lr": "lr", "sgd_momentum": "momentum"}


def parse_sgdargs(sgdargs) -> tuple[float, float]:
    """``(lr, momentum)`` from torchaudio's ``{"lr", "momentum"}`` or MindSpore's
    ``{"sgd_lr", "sgd_momentum"}``. None gives the frameworks' default (0.1, 0.9); as in
    ``torch.optim.SGD``, a dict without ``momentum`` means momentum 0."""
    if sgdargs is None:
        return 0.1, 0.9
    if not isinstance(sgdargs, dict):
        raise InputError(f"sgdargs must be a dict like {{'lr': 0.1, 'momentum': 0.9}}, got {shown(sgdargs)}")
    unknown = sorted(repr(k) for k in set(sgdargs) - set(_SGDARG_ALIASES))  # keys of any type
    if unknown:
        raise InputError(
            f"sgdargs has unknown keys {', '.join(unknown)}; allowed: 'lr', 'momentum' (torchaudio) "
            "or 'sgd_lr', 'sgd_momentum' (MindSpore)"
        )
    both = [f"{k!r} and {a!r}" for k, a in (("lr", "sgd_lr"), ("momentum", "sgd_momentum")) if k in sgdargs and a in sgdargs]
    if both:
        raise InputError(f"sgdargs gives both {', '.join(both)}: the same setting in torchaudio's and MindSpore's "
                         "spelling; keep one")
    values = {_SGDARG_ALIASES[k]: v for k, v in sgdargs.items()}
    if "lr" not in values:
        raise InputError(f"sgdargs needs a learning rate ('lr' or 'sgd_lr'), got {shown(sgdargs)}")
    lr = check_number("sgdargs lr", values["lr"], minimum=0.0)
    momentum = check_number("sgdargs momentum", values.get("momentum", 0.0), minimum=0.0)
    return lr, momentum


# The largest value a float32 solution may be asked to hold. Each filter's mel value is spread
# over its bins' weights, so the solution reaches at least mel / (the filter's total weight);
# a Slaney-normalised filter 1000 Hz wide weighs ~2e-3 per bin. Audio's mels stay far below
# (int16-scaled samples with n_fft = 2**18 give ~1e25); near float32's top (3.4e38) the
# solvers' arithmetic overflows.
MAX_SOLUTION = 1e30

# A relative mel residual an input made with these settings never stops at (nnls gets to
# ~1e-5 on real audio); above it the input and the settings disagree.
INCONSISTENT_RESIDUAL = 1e-2


LAPACK_DRIVERS = ("gels", "gelsy", "gelsd", "gelss")  # torch.linalg.lstsq's


def _mel_type_alias(mel_type: str, mel_scale: str | None) -> str:
    """``mel_type`` (MindSpore) or ``mel_scale`` (torchaudio >= 0.9): one name, given once."""
    if mel_scale is None:
        return mel_type
    if mel_type != "htk" and mel_type != mel_scale:
        raise InputError(f"mel_scale={shown(mel_scale)} and mel_type={shown(mel_type)} name the same setting "
                         "(torchaudio's and MindSpore's spelling): give one of them")
    return mel_scale


def _driver_note(driver: str | None) -> str | None:
    if driver is None:
        return None
    if driver not in LAPACK_DRIVERS:
        raise InputError(f"driver must be one of {', '.join(LAPACK_DRIVERS)} (torch.linalg.lstsq's), "
                         f"got {shown(driver)}")
    return (f"driver={driver!r} is torchaudio >= 2.1's LAPACK routine; here least squares is always the "
            "minimum-norm solution (gelsd's), which every driver gives when no filter is empty")


class InverseMelScale:
    """Recover a linear-frequency spectrogram from a mel spectrogram.

    The constructor is torchaudio <= 2.0's (MindSpore's, with ``mel_type``), plus the
    keyword-only ``solver`` and ``seed``. It solves ``fb.T @ X ~= melspec, X >= 0``.
    Code written for torchaudio runs unchanged: ``mel_scale=`` (torchaudio >= 0.9's name for
    ``mel_type``) and torchaudio >= 2.1's ``driver=`` are accepted as keywords (see below).

    Parameters
    ----------
    n_stft : int
        Number of linear bins, ``n_fft // 2 + 1``.
    n_mels, sample_rate, f_min, f_max, norm, mel_type
        The mel filterbank, as in :func:`~invmel_core.dsp.filterbank.melscale_fbanks`.
    max_iter, tolerance_loss, tolerance_change, sgdargs
        The iterative solvers' budget and stopping rule, torchaudio's names and defaults.
    solver : str
        A name in :data:`invmel_core.inverse.solvers.SOLVERS`: ``"sgd"`` (torchaudio <= 2.0),
        ``"mindspore"`` (MindSpore), and the solvers added by later modules.
    seed : int or None
        Random start of ``"sgd"``/``"mindspore"``: the one ``torch.manual_seed(seed)`` or
        MindSpore's ``set_seed(seed)`` gives; None draws a fresh start each call.
    mel_scale : {"htk", "slaney"}, optional
        torchaudio's name for ``mel_type``; give one of the two, not both.
    driver : {"gels", "gelsy", "gelsd", "gelss"}, optional
        torchaudio >= 2.1's LAPACK driver. Given, it means "torchaudio >= 2.1", whose solver is
        least squares: ``solver`` then defaults to ``"lstsq"`` (the minimum-norm solution, what
        ``"gelsd"`` gives; the driver itself is not used, and :attr:`driver_note` says so).

    See Also
    --------
    invmel_core.MelFilterbank : the filterbank ``fb``.
    invmel_core.mel_to_audio : from a mel spectrogram straight to sound.
    invmel_core.SOLVERS : the registered solvers and what each reproduces.

    Examples
    --------
    >>> import numpy as np
    >>> t = InverseMelScale(n_stft=2, n_mels=4, seed=1)
    >>> np.round(t(np.array([[1, 1], [0, 0], [1, 1], [1, 1]], np.float32)), 4)
    array([[0.7576, 0.4031],
           [0.2793, 0.7347]], dtype=float32)

    torchaudio >= 2.1 code, as written for it:

    >>> t21 = InverseMelScale(n_stft=201, n_mels=40, sample_rate=16000, mel_scale="slaney", driver="gelsd")
    >>> t21.solver.name, t21.fb.mel_type
    ('lstsq', 'slaney')
    """

    def __init__(
        self,
        n_stft: int,
        n_mels: int = 128,
        sample_rate: float = 16000,
        f_min: float = 0.0,
        f_max: float | None = None,
        max_iter: int = 100000,
        tolerance_loss: float = 1e-5,
        tolerance_change: float = 1e-8,
        sgdargs: dict | None = None,
        norm: str | None = None,
        mel_type: str = "htk",
        *,
        solver: str | None = None,
        seed: int | None = None,
        mel_scale: str | None = None,
        driver: str | None = None,
    ):
        mel_type = _mel_type_alias(mel_type, mel_scale)
        self.driver_note = _driver_note(driver)
        self.solver = get_solver(solver if solver is not None else ("sgd" if driver is None else "lstsq"))
        # Checked here only for its name (the filterbank calls it n_freqs); the filterbank
        # checks the rest, its memory included, before building anything.
        check_number("n_stft", n_stft, integer=True, minimum=2)
        lr, momentum = parse_sgdargs(sgdargs)
        seed = check_seed(seed)
        self.options = SolverOptions(
            max_iter=check_number("max_iter", max_iter, integer=True, minimum=1),
            tolerance_loss=check_number("tolerance_loss", tolerance_loss, minimum=0.0),
            tolerance_change=check_number("tolerance_change", tolerance_change, minimum=0.0),
            lr=lr,
            momentum=momentum,
            seed=seed,
        )
        self.fb = MelFilterbank(n_stft, f_min, f_max, n_mels, sample_rate, norm, mel_type,
                                compat=self.solver.compat)
        self.fb.warn_if_empty()

    n_stft = property(lambda self: self.fb.n_freqs)
    n_mels = property(lambda self: self.fb.n_mels)

    def __repr__(self) -> str:
        fb, o = self.fb, self.options
        return (f"InverseMelScale(n_stft={fb.n_freqs}, n_mels={fb.n_mels}, sample_rate={fb.sample_rate:g}, "
                f"f_min={fb.f_min:g}, f_max={fb.f_max:g}, max_iter={o.max_iter}, "
                f"tolerance_loss={o.tolerance_loss:g}, tolerance_change={o.tolerance_change:g}, "
                f"sgdargs={{'lr': {o.lr:g}, 'momentum': {o.momentum:g}}}, norm={fb.norm!r}, "
                f"mel_type={fb.mel_type!r}, solver={self.solver.name!r}, seed={o.seed!r})")

    def iterate(self, melspec, every: int = 1) -> Iterator[Iterate]:
        """Solve, yielding an :class:`Iterate` every ``every`` steps and always the last.

        ``spec`` in each record has the input's leading dimensions: ``(..., n_stft, time)``.
        The input is checked (and the solve's memory estimated) when this is called, before
        the first step; close the generator (or stop iterating) to stop the solve.
        """
        every = check_number("every", every, integer=True, minimum=1)
        shaped = check_melspec_shape(melspec, self.n_mels)  # the shape first: nothing copied yet
        lead, time = shaped.shape[:-2], shaped.shape[-1]
        check_solve_memory(shaped.size // (self.n_mels * time), self.n_stft, self.n_mels, time, self.solver)
        arr = check_melspec(shaped, self.n_mels)
        batch = arr.reshape(-1, self.n_mels, time)
        self._check_solution_range(batch)
        return self._iterate(batch, lead + (self.n_stft, time), every)

    def _check_solution_range(self, batch: np.ndarray) -> None:
        weights = self.fb.dense.sum(axis=0, dtype=np.float64)
        seen = weights > 0
        if not seen.any():
            return
        needed = float((batch.max(axis=(0, 2))[seen] / weights[seen]).max())
        if needed > MAX_SOLUTION:
            raise InputError(self._overflow_message(batch))

    def _overflow_message(self, batch: np.ndarray) -> str:
        return (f"the solution of this mel spectrogram would not fit float32: its values (up to "
                f"{float(batch.max()):.3g}) divided by the filters' weights reach past {MAX_SOLUTION:.0e}. "
                "Scale the mel spectrogram down (e.g. divide it by its maximum), invert it, and scale "
                "the result back up")

    def _iterate(self, batch: np.ndarray, out_shape: tuple, every: int) -> Iterator[Iterate]:
        for it in self.solver.run(batch, self.fb, self.options, every):
            if not np.isfinite(it.spec).all():  # past MAX_SOLUTION's margin: say so, never hand back inf
                raise InputError(self._overflow_message(batch))
            yield Iterate(it.step, it.loss, it.spec.reshape(out_shape), it.done, it.reason)

    def __call__(self, melspec) -> np.ndarray:
        """The solution: the last iterate's spectrogram, float32 ``(..., n_stft, time)``."""
        last = None
        for last in self.iterate(melspec, every=2**62):
            pass
        return last.spec

    def notes(self, last: Iterate | None = None) -> list[str]:
        """Plain-language remarks on this set-up (and on a finished solve, if given)."""
        fb, out = self.fb, []
        if fb.empty.size == fb.n_mels:
            out.append(
                f"Every one of the {fb.n_mels} mel filters is empty: no STFT bin of the {fb.n_freqs} "
                f"falls inside any triangle, so the mel spectrogram says nothing about the spectrum "
                f"and the result is just the solver's starting point."
            )
        elif fb.empty.size:
            out.append(
                f"{fb.empty.size} of {fb.n_mels} mel filters are empty (no bin inside their triangle); "
                f"their mel values cannot be matched. Lower n_mels or raise n_stft."
            )
        if last is not None and last.reason == "diverged":
            unstable = "momentum" in self.solver.uses and self.options.momentum >= 1
            cause = (f"momentum {self.options.momentum:g} (at least 1 makes every step larger than the "
                     "last; use a value below 1, e.g. 0.9)" if unstable else
                     f"the learning rate ({self.options.lr:g}), too large for this input's level")
            out.append(
                f"The solver diverged after {last.step} steps: its loss blew up because of {cause}. "
                "Lower lr (roughly in proportion to how much louder the input is), or use a "
                "scale-invariant solver such as nnls. The result shown is an iterate from before the "
                "loss blew up, not a solution."
            )
        if (last is not None and last.reason != "diverged" and "momentum" in self.solver.uses
                and self.options.momentum >= 1):
            out.append(
                f"momentum {self.options.momentum:g} is 1 or more, so SGD never settles: each step keeps "
                "all of the last one. Use a value below 1 (torchaudio's default is 0.9)."
            )
        # "converged" (nnls, librosa) means the residual stopped falling; their loss is the
        # relative mel residual. Far above float32 precision, no X >= 0 explains the input.
        if last is not None and last.reason == "converged" and last.loss > INCONSISTENT_RESIDUAL:
            out.append(
                f"No non-negative spectrogram reproduces this mel spectrogram exactly: the best relative "
                f"mel residual is {last.loss:.2g}. Was it made with other settings (n_mels, f_min, f_max, "
                "norm, mel_type, n_fft or sample rate), or is it a magnitude (power=1) or dB spectrogram? "
                "Set them as it was made and run again."
            )
        if (last is not None and last.step <= 1 and last.reason not in ("max_iter", "diverged")
                and self.solver.random_start):
            out.append(
                f"The solver stopped after {last.step} step(s) ({last.reason}), so the output is "
                "essentially its random start. Its tolerances are absolute: on a quiet input the loss "
                "is tiny from the start. Scale the input up, lower tolerance_loss and "
                "tolerance_change, or use a scale-invariant solver."
            )
        return out
