"""Solvers for ``fb.T @ X ~= M, X >= 0``, each a generator of :class:`Iterate`.

Importing this package registers every solver in :data:`SOLVERS`.
"""

from invmel_core.inverse.solvers.base import (SOLVERS, Iterate, SolverChoice, SolverOptions, SolverSpec,
                                            default_solver, get_solver, register)
from invmel_core.inverse.solvers import torch_sgd  # noqa: F401  (registration)
from invmel_core.inverse.solvers import mindspore_gd
from invmel_core.inverse.solvers import librosa_solver  # noqa: F401  (registration)
from invmel_core.inverse.solvers import lstsq
from invmel_core.inverse.solvers import nnls

__all__ = ["SOLVERS", "Iterate", "SolverChoice", "SolverOptions", "SolverSpec", "default_solver", "get_solver",
           "register"]
