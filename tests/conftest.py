"""Session fixtures shared by the tests (helpers to import live in fixture_data.py and
app_support.py, not here)."""


import pytest

from fixture_data import filterbank_grid, load_fixture


# Doctests that start worker processes or take seconds: slow, like the tests that do.
SLOW_DOCTESTS = {"invmel_core.offload"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.name in SLOW_DOCTESTS:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def fb_grid():
    """The 12 filterbank settings (n_freqs, n_mels, sample_rate, f_min, f_max) of the fixtures."""
    return filterbank_grid()


@pytest.fixture(scope="session")
def mel_inputs():
    return load_fixture("mel_inputs.npz")
