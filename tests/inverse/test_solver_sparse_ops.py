"""add_product (out += A @ X in place) agrees with scipy's public product, on both paths."""

import numpy as np
import pytest
import scipy.sparse

from invmel_core import MelFilterbank
from invmel_core.inverse.solvers import sparse_ops


@pytest.mark.parametrize("use_kernel", [True, False])
def test_add_product_matches_the_public_product(use_kernel, monkeypatch):
    if not use_kernel:
        monkeypatch.setattr(sparse_ops, "_KERNEL", None)
    else:
        assert sparse_ops._KERNEL is not None, "scipy's kernel failed its self-check: the fallback is in use"
    fb = MelFilterbank(513, 30.0, None, 80, 22050)
    matrix = scipy.sparse.csr_array(fb.dense)
    rng = np.random.default_rng(0)
    mel = rng.standard_normal((80, 37)).astype(np.float32)
    out = rng.standard_normal((513, 37)).astype(np.float32)
    expected = out + matrix @ mel
    sparse_ops.add_product(matrix, mel, out)
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-6)


def test_add_product_falls_back_for_other_layouts():
    matrix = scipy.sparse.csr_array(np.eye(3, dtype=np.float32))
    dense = np.asfortranarray(np.arange(6, dtype=np.float32).reshape(3, 2))
    out = np.zeros((3, 2), np.float32)
    sparse_ops.add_product(matrix, dense, out)
    np.testing.assert_array_equal(out, dense)


def test_add_product_rejects_mismatched_shapes():
    matrix = scipy.sparse.csr_array(np.eye(3, dtype=np.float32))
    with pytest.raises(ValueError, match="do not fit"):
        sparse_ops.add_product(matrix, np.zeros((3, 2), np.float32), np.zeros((3, 4), np.float32))
