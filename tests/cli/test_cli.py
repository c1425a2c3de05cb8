"""``python -m invmel_core``: outputs, options wired to the library, progress, clean errors."""

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile

from invmel_core import SOLVERS, InverseMelScale, MelFilterbank, load_audio, mel_spectrogram, spectrogram
from invmel_core.cli import invert as cli
from invmel_core.inverse.solvers import default_solver
from invmel_core.dsp.metrics import log_spectral_distance, mel_residual, spectral_convergence

ROOT = Path(__file__).resolve().parents[2]
SPEECH = ROOT / "assets" / "speech_10s.wav"
CHIRP = ROOT / "assets" / "chirp.wav"


def metric(stdout: str, name: str) -> float:
    return float(re.search(rf"{name}[^:]*: ([-0-9.e+]+)", stdout).group(1))


@pytest.mark.slow
def test_cli_inverts_the_committed_speech_sample(tmp_path):
    """The end-to-end run in a fresh process, with the default solver and all three outputs."""
    done = subprocess.run([sys.executable, "-m", "invmel_core", str(SPEECH), "-o", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    spec = np.load(tmp_path / "speech_10s.linear.npy", allow_pickle=False)
    assert spec.shape == (1025, 431) and spec.dtype == np.float32 and spec.min() >= 0
    sound, rate = soundfile.read(tmp_path / "speech_10s.wav")
    assert rate == 22050 and sound.shape == (220500,) and 0.001 < np.abs(sound).max() <= 1
    assert (tmp_path / "speech_10s.comparison.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # The printed metrics are those of the written result, recomputed here from scratch.
    y, _ = load_audio(SPEECH)
    truth = spectrogram(y, 2048, 512)
    fb = MelFilterbank(1025, 0.0, None, 128, 22050, compat=SOLVERS[default_solver()].compat)
    residual = mel_residual(spec, mel_spectrogram(truth, fb), fb)
    assert metric(done.stdout, "mel residual") == pytest.approx(residual, rel=1e-3)
    sc = spectral_convergence(spec, truth, power=2)
    assert metric(done.stdout, "spectral convergence") == pytest.approx(sc, rel=1e-3)
    lsd = log_spectral_distance(spec, truth, power=2)
    assert metric(done.stdout, "log-spectral distance") == pytest.approx(lsd, abs=0.01)
    # measured with nnls: residual 1e-5, SC 0.27, LSD 5.8 dB; sgd (1000 steps): 0.049, 0.33, 21.6 dB
    assert residual < (1e-3 if default_solver() == "nnls" else 0.1) and sc < 0.5


def test_options_reach_the_library(tmp_path, capsys):
    args = ["--n-fft", "512", "--hop-length", "200", "--n-mels", "40", "--f-min", "50", "--f-max", "7000",
            "--norm", "slaney", "--mel-type", "slaney", "--solver", "sgd", "--max-iter", "7", "--seed", "3",
            "--lr", "0.05", "--momentum", "0.5", "--sample-rate", "16000", "--npy"]
    assert cli.main([str(CHIRP), "-o", str(tmp_path), *args]) == 0
    got = np.load(tmp_path / "chirp.linear.npy")
    y, rate = load_audio(CHIRP, sample_rate=16000)
    inv = InverseMelScale(257, 40, 16000, 50.0, 7000.0, max_iter=7, sgdargs={"lr": 0.05, "momentum": 0.5},
                          norm="slaney", mel_type="slaney", solver="sgd", seed=3)
    expected = inv(mel_spectrogram(spectrogram(y, 512, 200), inv.fb))
    np.testing.assert_array_equal(got, expected)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chirp.linear.npy"]
    assert "wrote" in capsys.readouterr().out


def test_mel_spectrogram_input(tmp_path, capsys):
    fb = MelFilterbank(513, 0.0, None, 64, 16000)
    y, _ = load_audio(CHIRP, sample_rate=16000)
    mel = mel_spectrogram(spectrogram(y, 1024, 256), fb)
    batch = np.stack([mel, 0.5 * mel])
    np.save(tmp_path / "tts.npy", batch)
    status = cli.main([str(tmp_path / "tts.npy"), "-o", str(tmp_path / "out"), "--n-fft", "1024",
                       "--hop-length", "256", "--wav", "--npy", "--png", "--max-iter", "300"])
    err = capsys.readouterr().err
    assert status == 0
    assert "assuming the mel spectrogram was made at 22050 Hz" in err and "first item only" in err
    spec = np.load(tmp_path / "out" / "tts.linear.npy")
    assert spec.shape == (2, 513, mel.shape[1])
    sound, rate = soundfile.read(tmp_path / "out" / "tts.wav")
    assert rate == 22050 and sound.size == 256 * (mel.shape[1] - 1)
    assert (tmp_path / "out" / "tts.comparison.png").read_bytes()[:4] == b"\x89PNG"


def test_progress_lines_and_quiet(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(cli, "PROGRESS_PERIOD_S", 0.0)  # report every yielded iterate
    common = [str(CHIRP), "-o", str(tmp_path), "--npy", "--solver", "sgd", "--max-iter", "300",
              "--n-fft", "256"]
    assert cli.main(common) == 0
    err = capsys.readouterr().err
    steps = [int(s) for s in re.findall(r"step\s+(\d+)/300\s+loss", err)]
    assert len(steps) >= 10 and steps == sorted(steps)
    assert "sgd: 300 steps (max_iter)" in err
    assert cli.main(common + ["-q"]) == 0
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("make_input, extra, match", [
    (lambda d: d / "nope.wav", [], "does not exist"),
    (lambda d: _write(d / "db.npy", lambda p: np.save(p, -np.ones((80, 4)))), [], "cannot tell how .* compressed"),
    (lambda d: _write(d / "db.npy", lambda p: np.save(p, -np.ones((80, 4)))), ["--compression", "linear"],
     "log or dB"),
    (lambda d: _write(d / "obj.npy", lambda p: np.save(p, np.array([{}], dtype=object), allow_pickle=True)),
     [], "Python objects"),
    (lambda d: _write(d / "junk.mp3", lambda p: p.write_bytes(b"\x00" * 999)), [], "supported audio format"),
    (lambda d: CHIRP, ["--max-duration", "1"], "lasts 3 s, longer than the limit of 1 s"),
    (lambda d: CHIRP, ["--f-min", "9000", "--f-max", "100"], "f_min must be below f_max"),
    (lambda d: CHIRP, ["--n-fft", "1"], "n_fft must be >= 2"),
    (lambda d: CHIRP, ["--max-iter", "0"], "max_iter must be >= 1"),
    (lambda d: _write(d / "m.npy", lambda p: np.save(p, np.ones((80, 4)))), ["--n-mels", "128"],
     "80 mel bands .* n_mels is 128"),
])
def test_bad_input_is_one_line_and_status_2(tmp_path, capsys, make_input, extra, match):
    status = cli.main([str(make_input(tmp_path)), "-o", str(tmp_path / "out"), *extra])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2
    assert err[-1].startswith("invmel: error: ") and re.search(match, err[-1]), err
    assert not any("Traceback" in line for line in err)
    assert not (tmp_path / "out").exists()


def _write(path: Path, writer) -> Path:
    writer(path)
    return path


def test_bad_input_in_a_fresh_process_has_no_traceback(tmp_path):
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF\xff\xff\xff\xffWAVEfmt ")
    done = subprocess.run([sys.executable, "-m", "invmel_core", str(bad), "-o", str(tmp_path / "out")],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("invmel: error: "), done.stderr
    assert list(tmp_path.iterdir()) == [bad]


def test_unwritable_outdir_is_status_1(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert cli.main([str(CHIRP), "-o", str(blocker / "sub"), "--npy", "--n-fft", "256", "-q"]) == 1
    assert capsys.readouterr().err.startswith("invmel: error: cannot write")


def test_solver_choices_come_from_the_registry(capsys):
    assert cli.main(["x.wav", "--solver", "not-a-solver"]) == 2
    err = capsys.readouterr().err
    assert "solver must be one of" in err and all(repr(name) in err for name in SOLVERS)
    assert default_solver() == ("nnls" if "nnls" in SOLVERS else "sgd")
    cli.build_parser().print_help()
    shown = " ".join(capsys.readouterr().out.split())   # argparse wraps lines
    assert all(f"{name}: " in shown for name in SOLVERS) and ".;" not in shown


def test_a_models_mel_with_its_format(tmp_path, capsys):
    """A HiFi-GAN-style ln-mel, stored transposed (T, 80), with --format hifigan: read as stored,
    its settings checked, and the sound's mel close to the input's (the joint method)."""
    from invmel_core import FORMATS, mel_from_audio

    y, rate = load_audio(ROOT / "assets" / "speech_short.wav", 22050)
    stored = mel_from_audio(y, "hifigan")
    np.save(tmp_path / "tts.npy", stored.T)
    assert cli.main([str(tmp_path / "tts.npy"), "--format", "hifigan", "-o", str(tmp_path / "out")]) == 0
    captured = capsys.readouterr()
    assert "(time, n_mels) = 359 x 80: read transposed" in captured.err
    assert re.search(r"settings check: fits \(residual [0-9.e-]+\)", captured.out)
    remel = float(re.search(r"its mel is ([0-9.e-]+) from the input's", captured.err).group(1))
    assert remel < 0.03  # the joint method (cascade: ~0.07)
    sound, sr = soundfile.read(tmp_path / "out" / "tts.wav")
    fmt = FORMATS["hifigan"]
    assert sr == 22050 and sound.size == fmt.hop_length * stored.shape[1]   # "same" frames: hop each, in time


def test_a_models_mel_without_settings_takes_the_format_its_values_fit(tmp_path, capsys):
    """A HiFi-GAN mel given with no settings is rendered as HiFi-GAN's (8.1 s, not 16 s at the
    default hop), and the command says so; it used to write a WAV twice too long."""
    from invmel_core import FORMATS, mel_from_audio

    y, _ = load_audio(ROOT / "assets" / "speech_short.wav", 22050)
    stored = mel_from_audio(y, "hifigan")
    np.save(tmp_path / "tts.npy", stored)
    assert cli.main([str(tmp_path / "tts.npy"), "-o", str(tmp_path / "out"), "--wav"]) == 0
    captured = capsys.readouterr()
    assert "no settings given: using format 'hifigan'" in captured.err and "Pass --format" in captured.err
    sound, rate = soundfile.read(tmp_path / "out" / "tts.wav")
    assert rate == 22050 and sound.size == FORMATS["hifigan"].hop_length * stored.shape[1]
    assert abs(sound.size / rate - y.size / 22050) < 0.05


def test_a_mel_whose_values_leave_the_duration_open_is_refused_saying_what_to_pass(tmp_path, capsys, monkeypatch):
    """Two presets the values fit equally that give other durations (here HiFi-GAN's settings at
    16 kHz beside its own): nothing is written, the error lists both with their durations."""
    from dataclasses import replace

    from invmel_core import FORMATS, mel_from_audio
    from invmel_core.formats import ranking

    monkeypatch.setattr(ranking, "FORMATS", {**FORMATS, "hifigan-16k": replace(FORMATS["hifigan"], sample_rate=16000,
                                                                                 f_max=7600.0)})
    y, _ = load_audio(ROOT / "assets" / "speech_short.wav", 22050)
    np.save(tmp_path / "tts.npy", mel_from_audio(y[:22050], "hifigan"))
    assert cli.main([str(tmp_path / "tts.npy"), "-o", str(tmp_path / "out"), "--wav"]) == 2
    err = capsys.readouterr().err
    assert "different durations" in err and "hifigan (1.00 s)" in err and "hifigan-16k (1.38 s)" in err
    assert "--format NAME" in err and not (tmp_path / "out").exists()


def test_wrong_settings_are_ruled_out(tmp_path, capsys):
    from invmel_core import mel_from_audio

    y, _ = load_audio(ROOT / "assets" / "speech_short.wav", 22050)
    np.save(tmp_path / "tts.npy", mel_from_audio(y, "hifigan"))
    args = [str(tmp_path / "tts.npy"), "-o", str(tmp_path / "out"), "--format", "hifigan", "--n-fft", "512",
            "--npy", "-q"]
    assert cli.main(args) == 0
    assert "settings check: ruled out" in capsys.readouterr().out


def _db(y):
    import librosa

    return librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=22050), ref=np.max)


@pytest.mark.parametrize("name, make", [
    ("dB shifted to be positive", lambda y: _db(y) + 100),
    ("dB normalised to [0, 1]", lambda y: (_db(y) - _db(y).min()) / (_db(y).max() - _db(y).min())),
    ("Tacotron's clipped dB", lambda y: np.clip((_db(y) + 100) / 100, 0, 1)),
])
def test_values_that_only_look_linear_are_said_to(tmp_path, capsys, name, make):
    """Non-negative values that are a compressed mel in disguise are not
    inverted without a word; the CLI says what it sees."""
    y, _ = load_audio(ROOT / "assets" / "speech_short.wav", 22050)
    np.save(tmp_path / "odd.npy", make(y).astype(np.float32))
    assert cli.main([str(tmp_path / "odd.npy"), "-o", str(tmp_path / "out"), "--npy", "--max-iter", "5"]) == 0
    err = capsys.readouterr().err
    assert "compression: linear (low confidence)" in err and ("too even" in err or "normalised" in err), err
