import numpy as np
import pytest

from invmel_core import InputError, InverseMelScale


@pytest.mark.parametrize("kwargs,match", [
    (dict(n_stft=1), "n_stft must be >= 2"),
    (dict(n_stft="201"), "n_stft must be an integer"),
    (dict(n_mels=0), "n_mels must be >= 1"),
    (dict(sample_rate=-16000), "sample_rate must be > 0"),
    (dict(f_min=8000.0, f_max=4000.0), "f_min must be below f_max"),
    (dict(f_min=-5.0), "f_min must be >= 0"),
    (dict(f_max=float("nan")), "f_max must be finite"),
    (dict(max_iter=0), "max_iter must be >= 1"),
    (dict(max_iter=10.5), "max_iter must be an integer"),
    (dict(tolerance_loss=-1e-5), "tolerance_loss must be >= 0"),
    (dict(tolerance_change=float("inf")), "tolerance_change must be finite"),
    (dict(sgdargs={"lr": -0.1}), "sgdargs lr must be >= 0"),
    (dict(sgdargs={"lr": 0.1, "momentum": -0.9}), "sgdargs momentum must be >= 0"),
    (dict(sgdargs={"learning_rate": 0.1}), "sgdargs has unknown keys"),
    (dict(sgdargs=[0.1, 0.9]), "sgdargs must be a dict"),
    (dict(norm="l1"), "norm must be"),
    (dict(mel_type="bark"), "mel_type must be one of"),
    (dict(solver="adam"), "solver must be one of"),
    (dict(seed=-1), "seed must be >= 0"),
    (dict(n_mels=True), "n_mels must be an integer"),
])
def test_bad_parameters_raise_input_error_naming_them(kwargs, match):
    params = dict(n_stft=201, n_mels=40, sample_rate=16000)
    params.update(kwargs)
    with pytest.raises(InputError, match=match):
        InverseMelScale(**params)


def test_input_error_is_a_value_error():
    assert issubclass(InputError, ValueError)


def test_mindspore_sgdargs_names_are_accepted():
    t = InverseMelScale(201, 40, sgdargs={"sgd_lr": 0.05, "sgd_momentum": 0.5})
    assert (t.options.lr, t.options.momentum) == (0.05, 0.5)


@pytest.fixture
def transform():
    return InverseMelScale(n_stft=201, n_mels=40, max_iter=2, seed=0)


def test_wrong_n_mels_uses_torchaudio_wording(transform):
    with pytest.raises(InputError, match="Expected an input with 40 mel bins. Found: 64"):
        transform(np.ones((64, 10), np.float32))


def test_transposed_input_is_spotted(transform):
    with pytest.raises(InputError, match="looks transposed"):
        transform(np.ones((10, 40), np.float32))


def test_db_input_says_how_to_undo_the_log(transform):
    db = 10 * np.log10(np.full((40, 10), 1e-3, np.float32))
    with pytest.raises(InputError, match=r"log or dB mel spectrogram.*10 \*\* \(melspec / 10\)"):
        transform(db)


@pytest.mark.parametrize("bad,match", [
    (np.ones(40, np.float32), "at least 2 dimensions"),
    (np.full((40, 5), np.nan, np.float32), "NaN or infinite"),
    (np.full((40, 5), np.inf, np.float32), "NaN or infinite"),
    (np.ones((40, 0), np.float32), "zero frames"),
    (np.ones((40, 5), np.complex64), "complex"),
    (np.array([["a"] * 5] * 40), "numeric array"),
])
def test_bad_arrays(transform, bad, match):
    with pytest.raises(InputError, match=match):
        transform(bad)


def test_accepts_lists_and_float64_returns_float32(transform):
    out = transform(np.ones((40, 3)).tolist())
    assert out.shape == (201, 3) and out.dtype == np.float32 and (out >= 0).all()


def test_repr_round_trips_the_settings():
    t = InverseMelScale(257, 64, 22050, 20.0, 8000.0, norm="slaney", mel_type="slaney", seed=7)
    assert "n_stft=257" in repr(t) and "mel_type='slaney'" in repr(t) and "seed=7" in repr(t)


def test_torchaudio_spelling_mel_scale_gives_the_same_transform_as_mel_type():
    mel = np.random.default_rng(3).random((40, 7), dtype=np.float32)
    by_torchaudio = InverseMelScale(201, 40, 16000, mel_scale="slaney", norm="slaney", solver="nnls")
    by_mindspore = InverseMelScale(201, 40, 16000, mel_type="slaney", norm="slaney", solver="nnls")
    assert by_torchaudio.fb == by_mindspore.fb
    np.testing.assert_array_equal(by_torchaudio(mel), by_mindspore(mel))


def test_mel_scale_and_mel_type_that_disagree_are_refused_naming_both():
    with pytest.raises(InputError, match="mel_scale.*mel_type"):
        InverseMelScale(201, 40, mel_scale="htk", mel_type="slaney", solver="nnls")


def test_a_torchaudio_21_driver_means_least_squares_unless_a_solver_is_named():
    mel = np.random.default_rng(4).random((40, 5), dtype=np.float32)
    ported = InverseMelScale(201, 40, 16000, driver="gels")
    assert ported.solver.name == "lstsq" and "minimum-norm" in ported.driver_note
    np.testing.assert_array_equal(ported(mel), InverseMelScale(201, 40, 16000, solver="lstsq")(mel))
    assert InverseMelScale(201, 40, 16000, driver="gelsd", solver="nnls").solver.name == "nnls"
    assert InverseMelScale(201, 40, 16000).solver.name == "sgd" and InverseMelScale(201, 40).driver_note is None


@pytest.mark.parametrize("driver", ["qr", "GELS", 3, ""])
def test_an_unknown_driver_is_refused_with_the_four_names(driver):
    with pytest.raises(InputError, match="gels, gelsy, gelsd, gelss"):
        InverseMelScale(201, 40, driver=driver)
