"""The command line: every value is checked before anything is read, solved or
written (class 4); short inputs give sound (class 1); memory is estimated before the STFT,
the solve and Griffin-Lim (class 2); divergence is explained (class 5); and every file of the
bad-input corpus is one line and status 2."""

import re
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile

from bad_inputs import case_names, make_corpus
from invmel_core.cli import invert as cli
from invmel_core.pipeline import render, sound

ROOT = Path(__file__).resolve().parents[2]
CHIRP = ROOT / "assets" / "chirp.wav"
HANG_BOUND_S = 2.0


@pytest.fixture
def no_work(monkeypatch):
    """Fail the test if the solve, the STFT or Griffin-Lim starts."""
    def forbidden(*args, **kwargs):
        raise AssertionError("work started before the input was refused")

    monkeypatch.setattr(cli, "solve", forbidden)
    monkeypatch.setattr(render.stft, "spectrogram", forbidden)
    monkeypatch.setattr(sound, "mel_to_audio", forbidden)
    monkeypatch.setattr(sound.phase, "griffinlim", forbidden)


def run_cli(args, capsys):
    start = time.perf_counter()
    status = cli.main([str(a) for a in args])
    elapsed = time.perf_counter() - start
    captured = capsys.readouterr()
    return status, captured.out, captured.err.strip().splitlines(), elapsed


def assert_refused(status, err, elapsed, outdir: Path, match: str):
    assert status == 2, err
    assert err and err[-1].startswith("invmel: error: ") and re.search(match, err[-1]), err
    assert not any("Traceback" in line for line in err)
    assert not outdir.exists()
    assert elapsed < HANG_BOUND_S


@pytest.fixture
def mel_file(tmp_path):
    path = tmp_path / "mel.npy"
    np.save(path, np.random.default_rng(0).random((80, 20), dtype=np.float32))
    return path


# Class 4: every value, up front, named as the API names it.
BAD_OPTIONS = [
    (["--sample-rate", "0"], r"sample_rate must be >= 1, got 0"),
    (["--sample-rate", "-22050"], r"sample_rate must be >= 1"),
    (["--sample-rate", "3000000000"], r"sample_rate must be at most 768000 Hz"),
    (["--n-mels", "0"], r"n_mels must be >= 1, got 0"),
    (["--n-mels", "-3"], r"n_mels must be >= 1"),
    (["--n-fft", "1"], r"n_fft must be >= 2"),
    (["--n-fft", "300000"], r"n_fft must be at most 262144"),
    (["--hop-length", "0"], r"hop_length must be >= 1"),
    (["--hop-length", "2000000"], r"hop_length must be at most"),
    (["--power", "0"], r"power must be > 0"),
    (["--power", "nan"], r"power must be finite"),
    (["--f-min", "-1"], r"f_min must be >= 0"),
    (["--f-max", "0"], r"f_max must be > 0"),
    (["--f-max", "inf"], r"f_max must be finite"),
    (["--max-iter", "0"], r"max_iter must be >= 1"),
    (["--tolerance-loss", "-1"], r"tolerance_loss must be >= 0"),
    (["--tolerance-change", "nan"], r"tolerance_change must be finite"),
    (["--lr", "nan"], r"lr must be finite"),
    (["--lr", "-0.1"], r"lr must be >= 0"),
    (["--momentum=-inf"], r"momentum must be finite"),
    (["--seed", "4294967296"], r"seed must be at most 4294967295"),
    (["--seed", "-1"], r"seed must be >= 0"),
    (["--n-iter", "0"], r"n_iter must be >= 1"),
    (["--n-iter", "1000000"], r"n_iter must be at most 10000"),
    (["--max-duration", "0"], r"max_duration must be > 0"),
    (["--max-duration", "nan"], r"max_duration must be finite"),
]


@pytest.mark.parametrize("options, match", BAD_OPTIONS, ids=[" ".join(o) for o, _ in BAD_OPTIONS])
@pytest.mark.parametrize("kind", ["audio", "mel"])
def test_bad_values_are_refused_before_any_work(tmp_path, capsys, no_work, mel_file, kind, options, match):
    source = CHIRP if kind == "audio" else mel_file
    status, _, err, elapsed = run_cli([source, "-o", tmp_path / "out", *options], capsys)
    assert_refused(status, err, elapsed, tmp_path / "out", match)


def test_a_mel_without_sample_rate_says_what_it_assumes(tmp_path, capsys, mel_file):
    status, _, err, _ = run_cli([mel_file, "-o", tmp_path / "out", "--npy", "--max-iter", "5", "--n-fft", "2048"],
                                capsys)   # some settings, not the sample rate
    assert status == 0 and any("assuming the mel spectrogram was made at 22050 Hz" in line for line in err)


@pytest.mark.parametrize("target", ["file", "file/sub"])
def test_an_output_directory_that_cannot_be_made_is_found_before_the_solve(tmp_path, capsys, no_work, target):
    (tmp_path / "file").write_text("")
    status, _, err, elapsed = run_cli([CHIRP, "-o", tmp_path / target], capsys)
    assert status == 1 and err[-1].startswith("invmel: error: cannot write") and elapsed < HANG_BOUND_S


# Class 2: memory estimated before the work that would need it.


def test_griffinlim_too_large_is_refused_before_the_solve(tmp_path, capsys, no_work, monkeypatch):
    monkeypatch.setenv("INVMEL_MAX_SOLVE_MB", "64")
    path = tmp_path / "tiny.npy"  # 10 KB of mel, a hop of 2**20: 9 GiB of sound
    np.save(path, np.ones((8, 300), np.float32))
    status, _, err, elapsed = run_cli([path, "-o", tmp_path / "out", "--n-fft", "16", "--hop-length", str(2**20),
                                       "--n-mels", "8"], capsys)
    assert_refused(status, err, elapsed, tmp_path / "out", r"mel_to_audio of 1 x 300 frames .* 313,524,224 samples")


def test_griffinlim_is_not_checked_when_no_wav_is_wanted(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("INVMEL_MAX_SOLVE_MB", "64")
    path = tmp_path / "tiny.npy"
    np.save(path, np.ones((8, 300), np.float32))
    status, _, err, _ = run_cli([path, "-o", tmp_path / "out", "--n-fft", "16", "--hop-length", str(2**20),
                                 "--n-mels", "8", "--npy", "--max-iter", "3"], capsys)
    assert status == 0, err


def test_a_solve_too_large_is_refused_before_the_stft(tmp_path, capsys, no_work, monkeypatch):
    monkeypatch.setenv("INVMEL_MAX_SOLVE_MB", "256")  # chirp at hop 1: 66,151 frames x 1025 bins
    status, _, err, elapsed = run_cli([CHIRP, "-o", tmp_path / "out", "--hop-length", "1"], capsys)
    assert_refused(status, err, elapsed, tmp_path / "out", r"1025 x 66151 linear spectrogram.*hop_length")


# Class 1: short inputs give sound of the right length.


@pytest.mark.parametrize("n", [1, pytest.param(300, marks=pytest.mark.slow), 512,
                               pytest.param(700, marks=pytest.mark.slow), 1023])
def test_short_clips_give_a_wav_of_their_length(tmp_path, capsys, n):
    path = tmp_path / "short.wav"
    soundfile.write(path, (0.3 * np.cos(np.arange(n) * 0.05)).astype(np.float32), 22050)
    status, _, err, _ = run_cli([path, "-o", tmp_path / "out", "--max-iter", "20", "-q"], capsys)
    assert status == 0, err
    sound, rate = soundfile.read(tmp_path / "out" / "short.wav")
    assert rate == 22050 and sound.shape == (n,)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "short.comparison.png", "short.linear.npy", "short.wav"]


@pytest.mark.parametrize("frames", [1, 2])
def test_a_one_frame_mel_gives_one_hop_of_sound(tmp_path, capsys, frames):
    path = tmp_path / "one.npy"
    np.save(path, np.random.default_rng(0).random((128, frames), dtype=np.float32))
    status, _, err, _ = run_cli([path, "-o", tmp_path / "out", "--wav", "--max-iter", "20", "-q"], capsys)
    assert status == 0, err
    sound, _ = soundfile.read(tmp_path / "out" / "one.wav")
    assert sound.shape == (512,)


def test_nothing_is_written_when_an_output_fails(tmp_path, capsys, monkeypatch):
    """The outputs are made in memory first: a failure in the last leaves no partial set."""
    def broken(*args, **kwargs):
        raise cli.InputError("the figure failed")

    monkeypatch.setattr(cli, "comparison_png", broken)
    status, _, err, _ = run_cli([CHIRP, "-o", tmp_path / "out", "--n-fft", "256", "--max-iter", "5"], capsys)
    assert status == 2 and "the figure failed" in err[-1]
    assert not (tmp_path / "out").exists()


# Class 5: divergence is explained, not blamed on the input.


@pytest.mark.parametrize("options", [["--lr", "1e30"], ["--momentum", "2"]])
def test_sgd_divergence_is_explained(tmp_path, capsys, options):
    status, out, err, _ = run_cli([CHIRP, "-o", tmp_path / "out", "--n-fft", "256", "--solver", "sgd",
                                   "--max-iter", "300", "--npy", *options], capsys)
    assert status == 0
    text = "\n".join(err)
    assert "(diverged)" in text and "note: The solver diverged" in text and "Lower lr" in text
    spec = np.load(tmp_path / "out" / "chirp.linear.npy")
    assert np.isfinite(spec).all()


# Every file of the corpus, through the command line.

_ERRORS = [name for name, outcome, has_kwargs in case_names() if outcome == "error" and not has_kwargs]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    directory = tmp_path_factory.mktemp("cli_corpus")
    return {c.name: c for c in make_corpus(directory / "corpus", directory / "marker")}


@pytest.mark.parametrize("name", _ERRORS)
def test_every_bad_file_is_one_line_and_status_2(tmp_path, capsys, corpus, name):
    case = corpus[name]
    status, _, err, elapsed = run_cli([case.path, "-o", tmp_path / "out", "-q"], capsys)
    assert status == 2, err
    assert len(err) == 1 and err[0].startswith("invmel: error: "), err
    assert elapsed < HANG_BOUND_S and not (tmp_path / "out").exists()
