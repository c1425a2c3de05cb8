"""Solvers for ``fb.T @ X ~= M, X >= 0``, each a generator of :class:`Iterate`.

Importing this package registers every solver in :data:`SOLVERS`.
"""

from .base import SOLVERS, Iterate, SolverChoice, SolverOptions, SolverSpec, default_solver, get_solver, register
from . import torch_sgd, mindspore_gd  # noqa: F401  (registration)
from . import librosa_solver, lstsq, nnls  # noqa: F401  (registration)

__all__ = ["SOLVERS", "Iterate", "SolverChoice", "SolverOptions", "SolverSpec", "default_solver", "get_solver",
           "register"]
