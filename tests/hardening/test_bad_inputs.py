"""Every bad input raises InputError, quickly, with a message a person can act on; odd but
valid inputs load correctly. The corpus is written by tests/bad_inputs.py at test time."""

import io
import pickle
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile

from bad_inputs import Payload, case_names, make_corpus
from invmel_core import InputError, InverseMelScale, load_audio, load_melspec

HANG_BOUND_S = 2.0
LOADERS = {"audio": load_audio, "melspec": load_melspec}

ERROR_CASES = [name for name, outcome, _ in case_names() if outcome == "error"]
OK_CASES = [name for name, outcome, _ in case_names() if outcome == "ok"]


@pytest.fixture(scope="session")
def marker(tmp_path_factory):
    return tmp_path_factory.mktemp("payload") / "PAYLOAD_RAN"


@pytest.fixture(scope="session")
def corpus(tmp_path_factory, marker):
    return {c.name: c for c in make_corpus(tmp_path_factory.mktemp("corpus"), marker)}


def as_source(path: Path, kind: str):
    """The same input as a path, as bytes, or as an upload-like file object left at its end
    (Streamlit re-runs hand over the same, already read, UploadedFile)."""
    if kind == "path" or not path.is_file():
        return path
    data = path.read_bytes()
    if kind == "bytes":
        return data
    upload = io.BytesIO(data)
    upload.name = path.name
    upload.seek(0, io.SEEK_END)
    return upload


def load(case, kind="path"):
    return LOADERS[case.loader](as_source(case.path, kind), **case.kwargs)


@pytest.mark.parametrize("kind", ["path", "bytes", "upload"])
@pytest.mark.parametrize("name", ERROR_CASES)
def test_bad_input_raises_input_error(corpus, marker, name, kind):
    case = corpus[name]
    with pytest.raises(InputError) as info:
        load(case, kind)
    message = str(info.value)
    assert type(info.value) is InputError
    assert info.match(case.match), message
    assert "Traceback" not in message and len(message) > 25
    assert not marker.exists(), f"{name}: a pickle payload ran"


@pytest.mark.slow
def test_every_bad_input_is_refused_within_the_bound(corpus):
    """The promise is a refusal within HANG_BOUND_S, whatever the file claims (a wall-clock
    bound, so it is checked where timings mean something: the slow tests, run by CI)."""
    too_slow = {}
    for name in ERROR_CASES:
        for kind in ("path", "bytes", "upload"):
            start = time.perf_counter()
            with pytest.raises(InputError):
                load(corpus[name], kind)
            elapsed = time.perf_counter() - start
            if elapsed >= HANG_BOUND_S:
                too_slow[f"{name} ({kind})"] = round(elapsed, 2)
    assert not too_slow, too_slow


REFUSAL_PEAK_MIB = 16  # the largest corpus file is 2 MiB; a refusal reads headers, not data


def test_every_refusal_takes_little_memory(corpus):
    """Headers are read before data: refusing a file that claims terabytes, a zip bomb or a
    4 GiB npy header costs about what the file itself does (tracemalloc sees numpy's and
    Python's allocations)."""
    heavy = {}
    for name in ERROR_CASES:
        tracemalloc.start()
        try:
            with pytest.raises(InputError):
                load(corpus[name], "bytes")
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        size = corpus[name].path.stat().st_size if corpus[name].path.is_file() else 0
        if peak > REFUSAL_PEAK_MIB * 2**20 + 2 * size:
            heavy[name] = round(peak / 2**20, 1)
    assert not heavy, heavy


@pytest.mark.parametrize("kind", ["path", "bytes", "upload"])
@pytest.mark.parametrize("name", OK_CASES)
def test_odd_but_valid_input_loads(corpus, name, kind):
    case = corpus[name]
    if case.loader == "audio":
        samples, rate = load(case, kind)
        assert samples.dtype == np.float32 and samples.ndim == 1 and samples.size > 0
        assert np.isfinite(samples).all()
        assert rate == case.rate
        if case.expected is not None:
            np.testing.assert_allclose(samples, case.expected, atol=case.atol, rtol=0)
        else:  # lossy codec: the 0.5-amplitude tone's RMS survives (0.354)
            assert abs(samples.size - case.rate) < 0.1 * case.rate
            assert 0.3 < np.sqrt(np.mean(samples**2)) < 0.4
    else:
        mel = load(case, kind)
        assert mel.dtype == np.float32
        np.testing.assert_array_equal(mel, case.expected)


def test_the_pickle_payload_would_run_if_unpickled(corpus, tmp_path):
    """Guards the guard: the refusal tests above mean something only if the payload is live."""
    live = tmp_path / "ran"
    np.save(tmp_path / "p.npy", np.array([Payload(live)], dtype=object), allow_pickle=True)
    np.load(tmp_path / "p.npy", allow_pickle=True)
    assert live.exists()
    assert pickle.loads(pickle.dumps(Payload(tmp_path / "ran2"))) is not None
    assert (tmp_path / "ran2").exists()


def test_pickled_inputs_never_reach_the_unpickler(corpus, marker, monkeypatch):
    calls = []
    monkeypatch.setattr(pickle, "loads", lambda *a, **k: calls.append(a) or None)
    monkeypatch.setattr(pickle, "load", lambda *a, **k: calls.append(a) or None)
    for name in ["pickled object array", "pickled object in .npz", "plain pickle named .npy"]:
        with pytest.raises(InputError):
            load(corpus[name])
    assert calls == [] and not marker.exists()


def test_long_file_is_rejected_before_decoding(corpus, monkeypatch):
    reads = []
    original = soundfile.SoundFile.read
    monkeypatch.setattr(soundfile.SoundFile, "read", lambda self, *a, **k: reads.append(1) or original(self, *a, **k))
    for name in ["16-minute WAV", "16-minute FLAC"]:
        with pytest.raises(InputError, match="INVMEL_MAX_DURATION_S"):
            load(corpus[name])
    assert reads == []
    samples, rate = load_audio(corpus["16-minute WAV"].path, max_duration=20 * 60)
    assert samples.size == 16 * 60 * rate and reads


def test_duration_cap_is_configurable_by_environment(corpus, monkeypatch):
    monkeypatch.setenv("INVMEL_MAX_DURATION_S", "1000")
    samples, rate = load(corpus["16-minute WAV"])
    assert samples.size / rate == 960.0
    monkeypatch.setenv("INVMEL_MAX_DURATION_S", "0.25")
    with pytest.raises(InputError, match="lasts 0.5 s, longer than the limit of 0.25 s"):
        load(corpus["16-bit"])
    monkeypatch.setenv("INVMEL_MAX_DURATION_S", "lots")
    with pytest.raises(InputError, match="INVMEL_MAX_DURATION_S='lots' is not a number"):
        load(corpus["16-bit"])


def test_memory_cap_is_configurable_by_environment(corpus, monkeypatch):
    monkeypatch.setenv("INVMEL_MAX_SOLVE_MB", "0.001")
    with pytest.raises(InputError, match=r"more than the limit of 0 MiB \(set by INVMEL_MAX_SOLVE_MB\)"):
        load(corpus["float32"])  # the 40 x 9 mel needs ~4 KiB
    with pytest.raises(InputError, match="INVMEL_MAX_SOLVE_MB"):
        load(corpus["16-bit"])
    monkeypatch.setenv("INVMEL_MAX_SOLVE_MB", "5")
    inv = InverseMelScale(n_stft=1025, n_mels=40, max_iter=1)
    with pytest.raises(InputError, match=r"hop_length.*n_fft.*INVMEL_MAX_SOLVE_MB"):
        inv(np.ones((40, 1000), np.float32))  # 1025 x 1000 x 40 B = 39 MiB > 5 MiB
    inv(np.ones((40, 10), np.float32))  # 0.4 MiB fits


def test_non_seekable_stream_is_read(corpus):
    class Pipe:  # read() only, like a socket or a pipe
        def __init__(self, data):
            self._data = data

        def read(self, size=-1):
            size = len(self._data) if size is None or size < 0 else size
            data, self._data = self._data[:size], self._data[size:]
            return data

    samples, rate = load_audio(Pipe(corpus["16-bit"].path.read_bytes()))
    assert samples.size == 4000 and rate == 8000
    with pytest.raises(InputError, match="binary mode"):
        load_audio(io.StringIO("RIFF"))


@pytest.mark.parametrize("source", [None, 3.5, ["a.wav"], {"path": "a.wav"}])
def test_wrong_source_types(source):
    for loader in LOADERS.values():
        with pytest.raises(InputError, match="path, bytes or a binary file object"):
            loader(source)


# Bad arrays and parameters handed to InverseMelScale directly.
BAD_MELSPECS = {
    "NaN": (np.full((40, 5), np.nan, np.float32), r"NaN or infinite"),
    "inf": (np.full((40, 5), np.inf), r"NaN or infinite"),
    "dB values": (np.full((40, 5), -30.0), r"log or dB"),
    "wrong n_mels": (np.ones((80, 5)), r"Expected an input with 40 mel bins\. Found: 80"),
    "1-D": (np.ones(40), r"at least 2 dimensions"),
    "0-D": (np.float32(3), r"at least 2 dimensions"),
    "zero frames": (np.ones((40, 0)), r"zero frames"),
    "empty batch": (np.ones((0, 40, 5)), r"empty"),
    "object array": (np.array([[object()] * 5] * 40), r"numeric array"),
    "strings": (np.full((40, 5), "x"), r"numeric array"),
    "complex": (np.ones((40, 5), np.complex64), r"complex"),
    "None": (None, r"numeric array"),
    "ragged list": ([[1.0, 2.0], [3.0]], r"numeric array|could not convert"),
}


@pytest.mark.parametrize("name", list(BAD_MELSPECS))
def test_inverse_mel_scale_rejects_bad_arrays(name):
    melspec, match = BAD_MELSPECS[name]
    inv = InverseMelScale(n_stft=201, n_mels=40, max_iter=3, seed=0)
    start = time.perf_counter()
    with pytest.raises(InputError, match=match):
        inv(melspec)
    assert time.perf_counter() - start < HANG_BOUND_S


@pytest.mark.parametrize("kwargs, match", [
    (dict(n_stft=10**9, n_mels=128), r"filterbank of 1000000000 x 128.*Lower n_stft"),
    (dict(n_stft=100_001, n_mels=4), None),  # fits; the solve below does not
])
def test_inverse_mel_scale_refuses_what_would_not_fit(kwargs, match):
    start = time.perf_counter()
    if match:
        with pytest.raises(InputError, match=match):
            InverseMelScale(**kwargs, sample_rate=16000)
    else:
        inv = InverseMelScale(**kwargs, sample_rate=16000, max_iter=1)
        with pytest.raises(InputError, match=r"100001 x 10000 linear spectrogram.*hop_length"):
            next(inv.iterate(np.ones((4, 10_000), np.float32)))
    assert time.perf_counter() - start < HANG_BOUND_S
