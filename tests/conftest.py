"""Session fixtures shared by the tests (helpers to import live in fixture_data.py and
app_support.py, not here)."""


import functools

import pytest

from fixture_data import filterbank_grid, load_fixture


# Doctests that start worker processes or take seconds: slow, like the tests that do.
SLOW_DOCTESTS = {"invmel_core.app.offload"}


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


@pytest.fixture(scope="session", autouse=True)
def _scan_streamlit_components_once():
    """Every new ``AppTest`` scans all installed distributions for Streamlit components
    (about 0.3 s with a few hundred installed; a few hundred AppTests per run). The installed
    set does not change during a test run, so the scan runs once."""
    try:
        from streamlit.components.v2 import manifest_scanner
    except ImportError:  # an older or newer Streamlit without the scanner: nothing to save
        yield
        return
    scan = manifest_scanner.scan_component_manifests
    manifest_scanner.scan_component_manifests = functools.cache(scan)
    yield
    manifest_scanner.scan_component_manifests = scan
