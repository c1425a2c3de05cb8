"""Reference outputs of the real libraries (copied from ../shared/fixtures into tests/fixtures,
see its README) and the reference cases the parity tests share. Imported by the tests; the
pytest fixtures built on them are in conftest.py."""

import json
from pathlib import Path

import numpy as np

FIXTURES = Path(__file__).parent / "fixtures"


def load_fixture(name: str):
    """A reference file copied from ../shared/fixtures (see tests/fixtures/README.md)."""
    return np.load(FIXTURES / name)


def filterbank_grid() -> list[tuple]:
    """The 12 filterbank settings (n_freqs, n_mels, sample_rate, f_min, f_max) of the fixtures."""
    meta = json.loads((FIXTURES / "meta_ta20.json").read_text())
    return [tuple(row) for row in meta["grid"]]


# The two reference cases of the fixtures' README.
CASES = {
    "sgd_htk": dict(n_stft=201, n_mels=40, sample_rate=16000, sgdargs={"lr": 0.1, "momentum": 0.9},
                    seed=0, input="mel_htk_201_40"),
    "sgd_slaney": dict(n_stft=257, n_mels=64, sample_rate=22050, f_min=20.0, f_max=8000.0,
                       mel_type="slaney", norm="slaney", sgdargs={"lr": 0.05, "momentum": 0.5},
                       seed=7, input="mel_slaney_257_64"),
}


def case_kwargs(case: str, **overrides):
    kwargs = {k: v for k, v in CASES[case].items() if k != "input"}
    kwargs.update(overrides)
    return kwargs


def rel_err(actual, expected) -> float:
    """max |actual - expected| / max |expected| (the parity measure of the issues)."""
    expected = np.asarray(expected, dtype=np.float64)
    return float(np.abs(np.asarray(actual, np.float64) - expected).max() / np.abs(expected).max())
