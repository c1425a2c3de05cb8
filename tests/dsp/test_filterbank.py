import warnings

import numpy as np
import pytest

from fixture_data import load_fixture
from invmel_core import EmptyFilterWarning, InputError, MelFilterbank, bin_frequencies, melscale_fbanks

FRAMEWORK_FILES = [("fbanks_ta20.npz", "torchaudio"), ("fbanks_ta29.npz", "torchaudio"),
                   ("fbanks_mindspore.npz", "mindspore")]
VARIANTS = [(norm, scale) for norm in ("none", "slaney") for scale in ("htk", "slaney")]


@pytest.mark.parametrize("filename,compat", FRAMEWORK_FILES)
def test_every_fixture_filterbank_matches(filename, compat, fb_grid):
    ref = load_fixture(filename)
    checked = 0
    for i, (n_freqs, n_mels, sr, f_min, f_max) in enumerate(fb_grid):
        for norm, scale in VARIANTS:
            expected = ref[f"fb{i}_{norm}_{scale}"]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", EmptyFilterWarning)
                got = melscale_fbanks(n_freqs, f_min, f_max, n_mels, sr, norm, scale, compat)
            assert got.shape == expected.shape and got.dtype == np.float32
            # 1e-4 of the filterbank's maximum; an all-zero reference must come out all zero.
            tol = 1e-4 * expected.max() if expected.max() > 0 else 0.0
            assert np.abs(got - expected).max() <= tol, (i, norm, scale)
            checked += 1
    assert checked == 48


def test_empty_filter_warning_matches_torchaudio(fb_grid):
    ref = load_fixture("fbanks_ta20.npz")
    warned_somewhere = False
    for i, (n_freqs, n_mels, sr, f_min, f_max) in enumerate(fb_grid):
        for norm, scale in VARIANTS:
            expected = bool(ref[f"fb{i}_{norm}_{scale}_warned"])
            warned_somewhere |= expected
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                melscale_fbanks(n_freqs, f_min, f_max, n_mels, sr, norm, scale)
            got = any(issubclass(w.category, EmptyFilterWarning) for w in caught)
            assert got == expected, (i, norm, scale)
    assert warned_somewhere  # the grid does exercise the warning


def test_warning_names_n_mels_and_n_freqs_and_empty_filters_are_exposed():
    with pytest.warns(EmptyFilterWarning, match=r"`n_mels` \(128\).*`n_freqs` \(201\)"):
        melscale_fbanks(201, 0.0, 8000.0, 128, 16000)
    fb = MelFilterbank(201, 0.0, 8000.0, 128, 16000)
    assert fb.empty.size > 0
    assert np.all(fb.dense[:, fb.empty] == 0)
    others = np.setdiff1d(np.arange(128), fb.empty)
    assert np.all(fb.dense[:, others].max(axis=0) > 0)


def test_grids_differ_only_for_odd_rates():
    np.testing.assert_array_equal(bin_frequencies(201, 16000, "torchaudio"),
                                  bin_frequencies(201, 16000, "mindspore"))
    ta, ms = bin_frequencies(129, 11025, "torchaudio"), bin_frequencies(129, 11025, "mindspore")
    assert ta[-1] == 5512.0 and ms[-1] == 5512.5


def test_librosa_compat_matches_librosa_fixture():
    ref = load_fixture("librosa.npz")
    fb = MelFilterbank(201, 0.0, 8000.0, 40, 16000, None, "htk", "librosa")
    np.testing.assert_allclose(fb.dense.T, ref["sgd_htk_librosa_fb"], atol=1e-4 * ref["sgd_htk_librosa_fb"].max())
    fb = MelFilterbank(257, 20.0, 8000.0, 64, 22050, "slaney", "slaney", "librosa")
    expected = ref["sgd_slaney_librosa_fb"]
    np.testing.assert_allclose(fb.dense.T, expected, atol=1e-4 * expected.max())


@pytest.mark.parametrize("args", [(1025, 0.0, None, 128, 22050, None, "htk"),
                                  (513, 30.0, 11000.0, 229, 44100, "slaney", "slaney"),
                                  (201, 0.0, 8000.0, 128, 16000, None, "htk")])
def test_banded_form(args):
    fb = MelFilterbank(*args)
    band = fb.banded
    dense = fb.dense.astype(np.float64)
    assert ((dense != 0).sum(axis=1) <= 2).all()      # each bin in at most two filters: banded
    assert band.fb.nnz <= 2 * fb.n_freqs
    # starts/stops delimit exactly the non-zero bins of each filter.
    support = np.zeros(dense.shape, bool)
    for m, (a, b) in enumerate(zip(band.starts, band.stops)):
        support[a:b, m] = True
    np.testing.assert_array_equal(support, dense != 0)
    np.testing.assert_array_equal(band.matchable, dense.max(axis=0) > 0)
    rng = np.random.default_rng(0)
    x = rng.random((fb.n_freqs, 7), dtype=np.float32)
    m = rng.random((fb.n_mels, 7), dtype=np.float32)
    np.testing.assert_allclose(band.project(x), fb.dense.T @ x, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(band.adjoint(m), fb.dense @ m, rtol=1e-5, atol=1e-6)
    # The NNLS solver's scaled copies: descent = diag(1 / (fb fb.T 1)) fb, whose diagonal
    # bounds the Hessian fb fb.T (so the unit step is safe), and spread = fb diag(1 / (G 1)),
    # G = fb.T fb: each mel value spread over its filter in proportion to the weights.
    d = dense @ dense.sum(axis=0)
    np.testing.assert_allclose(band.descent.toarray(), dense / np.where(d > 0, d, 1)[:, None], rtol=1e-5, atol=1e-9)
    hessian = dense @ dense.T
    assert np.linalg.eigvalsh(hessian - np.diag(d)).max() <= 1e-6 * d.max()
    g1 = dense.T @ dense.sum(axis=1)
    np.testing.assert_allclose(band.spread.toarray(), dense / np.where(g1 > 0, g1, 1)[None, :], rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize("kwargs,match", [
    (dict(n_freqs=1), "n_freqs must be >= 2"),
    (dict(n_freqs=2.5), "n_freqs must be an integer"),
    (dict(n_freqs="201"), "n_freqs must be an integer"),
    (dict(n_mels=0), "n_mels must be >= 1"),
    (dict(sample_rate=0), "sample_rate must be > 0"),
    (dict(sample_rate=float("nan")), "sample_rate must be finite"),
    (dict(f_min=-1.0), "f_min must be >= 0"),
    (dict(f_min=9000.0), "f_min must be below f_max"),
    (dict(f_max=float("inf")), "f_max must be finite"),
    (dict(norm="l2"), "norm must be None, 'none' or 'slaney'"),
    (dict(mel_type="mfcc"), "mel_type must be one of"),
    (dict(compat="tensorflow"), "compat must be one of"),
])
def test_bad_parameters_name_themselves(kwargs, match):
    params = dict(n_freqs=201, f_min=0.0, f_max=8000.0, n_mels=40, sample_rate=16000)
    params.update(kwargs)
    with pytest.raises(InputError, match=match):
        MelFilterbank(**params)


def test_filterbank_is_hashable_and_read_only():
    a, b = MelFilterbank(201, 0.0, None, 40, 16000), MelFilterbank(201, 0, 8000, 40, 16000.0)
    assert a == b and hash(a) == hash(b)
    with pytest.raises(ValueError):
        a.dense[0, 0] = 1.0
