"""``python -m invmel_core batch``: discovery, mirrored outputs, failures, resume, determinism."""

import csv
import json
import os
import pickle
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile

from invmel_core import InputError
from invmel_core.batch import plan as batch
from invmel_core.cli import batch as batch_cli
from invmel_core.dsp import stft
from invmel_core.batch.plan import MANIFEST_NAME, SUMMARY_NAME, RenderOptions, discover, run
from invmel_core.batch.one_file import TEMP_SUFFIX

ROOT = Path(__file__).resolve().parents[2]
RATE, N_FFT, HOP, N_MELS = 8000, 256, 64, 20
OPTIONS = RenderOptions(n_fft=N_FFT, hop_length=HOP, sample_rate=RATE, n_mels=N_MELS, n_iter=8)
CLI_OPTIONS = ["--n-fft", str(N_FFT), "--hop-length", str(HOP), "--sample-rate", str(RATE),
               "--n-mels", str(N_MELS), "--n-iter", "8", "-q"]
FB = OPTIONS.checked().filterbank(N_MELS, RATE)


def tone(freq: float, seconds: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (0.5 * np.sin(2 * np.pi * freq * t) * np.hanning(t.size)).astype(np.float32)


def tone_mel(freq: float, seconds: float = 0.5) -> np.ndarray:
    return stft.mel_spectrogram(stft.spectrogram(tone(freq, seconds), N_FFT, HOP), FB)


def make_mels(folder: Path, names, seconds: float = 0.5) -> None:
    for i, name in enumerate(names):
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, tone_mel(300 + 150 * i, seconds))


def summary(outdir: Path) -> dict:
    with open(outdir / SUMMARY_NAME, newline="") as fp:
        return {row["input"]: row for row in csv.DictReader(fp)}


def statuses(records) -> dict:
    return {r.input: r.status for r in records}


def final_files(outdir: Path) -> set:
    """Outputs under their final names (not the manifest, the summary or temporaries)."""
    return {p.relative_to(outdir).as_posix() for p in outdir.rglob("*")
            if p.is_file() and p.suffix in (".wav", ".npy") and not p.name.endswith(TEMP_SUFFIX)}


def temporaries(outdir: Path) -> list:
    return [p for p in outdir.rglob(f"*{TEMP_SUFFIX}")]


def test_a_nested_folder_is_mirrored_and_the_numbers_are_those_of_the_outputs(tmp_path):
    src = tmp_path / "in"
    make_mels(src, ["a.npy", "x/b.npy", "x/y/c.npy"])
    np.savez(src / "x" / "y" / "d.npz", mel=tone_mel(1000))
    soundfile.write(src / "x" / "e.wav", tone(700), RATE, subtype="PCM_16")
    make_mels(src, [".hidden/f.npy", "x/.g.npy"])  # hidden: not inputs
    (src / "x" / "notes.txt").write_text("not an input")
    records = run(src, tmp_path / "out", OPTIONS, workers=0)
    assert statuses(records) == {name: "done" for name in ["a.npy", "x/b.npy", "x/e.wav", "x/y/c.npy", "x/y/d.npz"]}
    out = tmp_path / "out"
    assert final_files(out) == {"a.wav", "x/b.wav", "x/e.wav", "x/y/c.wav", "x/y/d.wav"}
    rows = summary(out)
    assert list(rows) == ["a.npy", "x/b.npy", "x/e.wav", "x/y/c.npy", "x/y/d.npz"]
    for name, row in rows.items():
        sound, rate = soundfile.read(out / row["outputs"], dtype="float32")
        mel = {"npy": lambda: np.load(src / name), "npz": lambda: np.load(src / name)["mel"],
               "wav": lambda: tone_mel(700)}[name[-3:]]()
        # the WAV has the input's frames, and the summary's re-mel residual is the WAV's
        assert rate == RATE and 1 + sound.size // HOP == mel.shape[-1] == int(row["frames"])
        remel = stft.mel_spectrogram(stft.spectrogram(sound, N_FFT, HOP), FB)
        measured = np.linalg.norm(remel - mel) / np.linalg.norm(mel)
        assert float(row["remel_residual"]) == pytest.approx(measured, rel=0.02, abs=1e-3)
        assert 0 < measured < 0.2, name  # 8 steps of the joint method on a tone
        assert row["steps"] == "" and float(row["seconds"]) > 0  # the joint method needs no solve
    # the sound file keeps its length
    assert soundfile.info(out / "x" / "e.wav").frames == tone(700).size
    manifest = [json.loads(line) for line in (out / MANIFEST_NAME).read_text().splitlines()]
    assert sorted(r["input"] for r in manifest) == sorted(rows)


def test_the_cascade_solves_and_reports_the_solver(tmp_path):
    make_mels(tmp_path / "in", ["a.npy"])
    options = replace(OPTIONS, method="cascade", write_npy=True)
    records = run(tmp_path / "in", tmp_path / "out", options, workers=0)
    assert statuses(records) == {"a.npy": "done"}
    row = summary(tmp_path / "out")["a.npy"]
    assert int(row["steps"]) > 0 and row["stop_reason"]
    spec = np.load(tmp_path / "out" / "a.linear.npy")
    assert spec.shape == (N_FFT // 2 + 1, tone_mel(440).shape[-1])
    assert 0 < float(row["remel_residual"]) < 0.5  # 8 Griffin-Lim iterations on the NNLS magnitude


def test_compressed_mels_are_read_as_stored(tmp_path):
    """A model's ln mel and a dB mel: the compression is read off the values and undone."""
    src = tmp_path / "in"
    src.mkdir()
    linear = tone_mel(500)
    np.save(src / "ln.npy", np.log(np.maximum(linear, 1e-5)))
    np.save(src / "db.npy", 10 * np.log10(np.maximum(linear, 1e-10)))
    records = run(src, tmp_path / "out", OPTIONS, workers=0)
    assert statuses(records) == {"db.npy": "done", "ln.npy": "done"}
    rows = summary(tmp_path / "out")
    assert "compression: ln" in rows["ln.npy"]["notes"] and "compression: db" in rows["db.npy"]["notes"]
    for name in rows:
        sound, _ = soundfile.read(tmp_path / "out" / rows[name]["outputs"], dtype="float32")
        remel = stft.mel_spectrogram(stft.spectrogram(sound, N_FFT, HOP), FB)
        assert np.linalg.norm(remel - linear) / np.linalg.norm(linear) < 0.2, name


def test_globs_lists_and_single_files_name_inputs_relative_to_their_root(tmp_path):
    make_mels(tmp_path / "data", ["s1/a.npy", "s1/b.npy", "s2/c.npy"])
    root, files = discover(str(tmp_path / "data" / "**" / "*.npy"))
    assert root == tmp_path / "data"
    assert [f.relative_to(root).as_posix() for f in files] == ["s1/a.npy", "s1/b.npy", "s2/c.npy"]
    listing = tmp_path / "data" / "list.txt"
    listing.write_text("# test set\ns2/c.npy|a transcript\n\n s1/a.npy \n")
    root, files = discover(listing)
    assert root == tmp_path / "data" and [f.name for f in files] == ["c.npy", "a.npy"]
    assert discover(tmp_path / "data" / "s1" / "b.npy") == (tmp_path / "data" / "s1", [tmp_path / "data" / "s1" / "b.npy"])
    records = run(listing, tmp_path / "out", OPTIONS, workers=0)
    assert statuses(records) == {"s2/c.npy": "done", "s1/a.npy": "done"}
    assert final_files(tmp_path / "out") == {"s1/a.wav", "s2/c.wav"}


def write_corrupt_files(folder: Path) -> dict:
    """Bad inputs, each with a word its error message must contain."""
    np.save(folder / "nan.npy", np.full((N_MELS, 9), np.nan, np.float32))
    (folder / "pickle.npy").write_bytes(pickle.dumps({"mel": [1, 2, 3]}))
    np.save(folder / "truncated.npy", tone_mel(500))
    data = (folder / "truncated.npy").read_bytes()
    (folder / "truncated.npy").write_bytes(data[:len(data) // 2])
    (folder / "garbage.wav").write_bytes(np.random.default_rng(0).bytes(5000))
    np.save(folder / "batch3d.npy", np.stack([tone_mel(400), tone_mel(600)]))
    np.save(folder / "positive.npy", np.ones((N_MELS + 3, 9), np.float32))
    return {"nan.npy": "NaN", "pickle.npy": "pickle", "truncated.npy": "truncated",
            "garbage.wav": "audio", "batch3d.npy": "batch of 2", "positive.npy": "mel bands"}


def test_a_corrupt_file_is_recorded_and_the_others_are_done(tmp_path, capsys):
    src = tmp_path / "in"
    make_mels(src, ["good1.npy", "sub/good2.npy"])
    expected = write_corrupt_files(src)
    status = batch_cli.main([str(src), "-o", str(tmp_path / "out"), "--workers", "0", *CLI_OPTIONS])
    assert status == batch_cli.EXIT_FAILED_FILES
    rows = summary(tmp_path / "out")
    assert {name: row["status"] for name, row in rows.items()} == {
        "good1.npy": "done", "sub/good2.npy": "done", **{name: "failed" for name in expected}}
    for name, word in expected.items():
        assert word in rows[name]["error"], rows[name]["error"]
        assert "unexpected" not in rows[name]["error"]  # each is a known bad input, not a crash
    assert final_files(tmp_path / "out") == {"good1.wav", "sub/good2.wav"}
    captured = capsys.readouterr()
    assert captured.err.count("invmel: failed:") == len(expected)  # reported even with -q
    assert "2 rendered, 0 skipped (done before), 6 failed" in captured.out


def test_what_a_rerun_redoes(tmp_path):
    """Finished files are skipped; changed settings, a changed input or a lost output are redone."""
    src, out = tmp_path / "in", tmp_path / "out"
    make_mels(src, ["a.npy", "b.npy", "c.npy"])
    run(src, out, OPTIONS, workers=0)
    first = {name: (out / name).read_bytes() for name in ["a.wav", "b.wav", "c.wav"]}
    assert set(statuses(run(src, out, OPTIONS, workers=0)).values()) == {"skipped"}
    with open(out / MANIFEST_NAME, "a") as fp:
        fp.write('{"input": "a.npy", "status": "do')  # a run killed while writing its manifest
    assert set(statuses(run(src, out, OPTIONS, workers=0)).values()) == {"skipped"}

    changed = replace(OPTIONS, n_iter=9)
    assert set(statuses(run(src, out, changed, workers=0)).values()) == {"done"}
    assert all((out / name).read_bytes() != data for name, data in first.items())
    assert set(statuses(run(src, out, changed, workers=0)).values()) == {"skipped"}

    np.save(src / "b.npy", tone_mel(2000))  # new content (size equal, time later)
    os.utime(src / "b.npy", ns=(time.time_ns(), time.time_ns() + 10**9))
    (out / "c.wav").unlink()
    assert statuses(run(src, out, changed, workers=0)) == {"a.npy": "skipped", "b.npy": "done", "c.npy": "done"}
    # the summary keeps the skipped file's numbers from the run that made it
    assert summary(out)["a.npy"]["status"] == "skipped" and float(summary(out)["a.npy"]["remel_residual"]) > 0
    assert len((out / MANIFEST_NAME).read_text().splitlines()) == 3 + 2  # appended as files finish
    assert set(statuses(run(src, out, changed, workers=0)).values()) == {"skipped"}
    assert len((out / MANIFEST_NAME).read_text().splitlines()) == 3  # compacted at the start of a run


def rendered_samples(seconds: float) -> int:
    """Samples of the WAV rendered from a ``tone_mel(_, seconds)``: (frames - 1) x hop."""
    return (int(seconds * RATE) // HOP) * HOP


def worker_pid(record) -> int:
    return int(record.worker.rsplit(":", 1)[1])


def test_a_killed_worker_costs_only_its_file_and_a_rerun_finishes(tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    names = [f"s{i % 2}/m{i}.npy" for i in range(6)]
    make_mels(src, names, seconds=2.0)  # ~0.1 s each, so the kill lands mid-file
    options = replace(OPTIONS, n_iter=32)
    killed = []

    def kill_a_worker(record):
        if not killed:  # that worker was just handed its next file
            killed.append(worker_pid(record))
            os.kill(killed[0], signal.SIGKILL)

    records = run(src, out, options, workers=2, on_record=kill_a_worker)
    failed = [r for r in records if r.status == "failed"]
    assert len(failed) == 1 and "killed by SIGKILL" in failed[0].error, [r.error for r in records]
    assert sum(r.status == "done" for r in records) == 5
    for name in final_files(out):  # nothing half-written under a final name
        assert soundfile.info(out / name).frames == rendered_samples(2.0)
    rerun = run(src, out, options, workers=0)
    assert statuses(rerun) == {r.input: "done" if r.status == "failed" else "skipped" for r in records}
    assert final_files(out) == {n.replace(".npy", ".wav") for n in names} and not temporaries(out)


@pytest.mark.slow
def test_a_run_killed_halfway_resumes_where_it_stopped(tmp_path):
    """The whole batch (main process and worker) is killed with SIGKILL mid-run."""
    src, out = tmp_path / "in", tmp_path / "out"
    names = [f"m{i}.npy" for i in range(8)]
    make_mels(src, names, seconds=2.0)
    command = [sys.executable, "-m", "invmel_core", "batch", str(src), "-o", str(out), "--workers", "1",
               *CLI_OPTIONS, "--n-iter", "32"]
    process = subprocess.Popen(command, cwd=ROOT, start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    manifest, deadline = out / MANIFEST_NAME, time.monotonic() + 60
    while process.poll() is None and time.monotonic() < deadline and not (
            manifest.exists() and manifest.stat().st_size > 0):  # a first file recorded done
        time.sleep(0.01)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert manifest.stat().st_size > 0, process.stderr.read().decode()
    written = final_files(out)
    assert 0 < len(written) < len(names), "the run was not stopped halfway"
    for name in written:  # complete, never half-written
        assert soundfile.info(out / name).frames == rendered_samples(2.0)
    assert batch_cli.main([str(src), "-o", str(out), "--workers", "0", *CLI_OPTIONS, "--n-iter", "32"]) == 0
    rows = summary(out)
    recorded = {r["input"] for r in rows.values() if r["status"] == "skipped"}
    assert recorded and {n.replace(".npy", ".wav") for n in recorded} <= written
    assert all(rows[n]["status"] == "done" for n in names if n not in recorded)
    assert final_files(out) == {n.replace(".npy", ".wav") for n in names} and not temporaries(out)


def render_bytes(outdir: Path) -> dict:
    return {name: (outdir / name).read_bytes() for name in sorted(final_files(outdir))}


def test_outputs_do_not_depend_on_the_worker_count(tmp_path):
    src = tmp_path / "in"
    make_mels(src, [f"d{i % 3}/m{i}.npy" for i in range(6)])
    options = replace(OPTIONS, write_npy=True)
    run(src, tmp_path / "inline", options, workers=0)
    run(src, tmp_path / "two", options, workers=2)
    inline = render_bytes(tmp_path / "inline")
    assert len(inline) == 12 and inline == render_bytes(tmp_path / "two")


def test_one_batch_at_a_time_writes_to_an_outdir(tmp_path):
    make_mels(tmp_path / "in", ["a.npy"])
    first = batch.plan(tmp_path / "in", tmp_path / "out", OPTIONS.checked())
    with pytest.raises(InputError, match="another batch is writing"):
        batch.plan(tmp_path / "in", tmp_path / "out", OPTIONS.checked())
    first.manifest.close()
    assert statuses(run(tmp_path / "in", tmp_path / "out", OPTIONS, workers=0)) == {"a.npy": "done"}


@pytest.mark.slow
def test_outputs_are_identical_on_a_dask_local_cluster(tmp_path, monkeypatch, capsys):
    distributed = pytest.importorskip("distributed")
    from invmel_core.batch import pool as batch_pool

    monkeypatch.setattr(batch_pool, "CONNECT_TIMEOUT_S", 1)
    argv = [str(tmp_path), "-o", str(tmp_path / "never"), "--scheduler", "tcp://127.0.0.1:1", *CLI_OPTIONS]
    assert batch_cli.main(argv) == batch_cli.EXIT_BAD_ARGUMENTS
    assert "cannot reach the Dask scheduler at 'tcp://127.0.0.1:1'" in capsys.readouterr().err
    src = tmp_path / "in"
    make_mels(src, [f"d{i % 2}/m{i}.npy" for i in range(6)])
    write_corrupt_files(src)
    local = run(src, tmp_path / "local", OPTIONS, workers=2)
    environment = dict(os.environ)  # a LocalCluster's nannies set OMP_NUM_THREADS etc. in this process
    try:
        with distributed.LocalCluster(host="127.0.0.1", n_workers=2, threads_per_worker=1, processes=True,
                                      dashboard_address=None) as cluster:
            argv = [str(src), "-o", str(tmp_path / "dask"), "--scheduler", cluster.scheduler_address, *CLI_OPTIONS]
            assert batch_cli.main(argv) == batch_cli.EXIT_FAILED_FILES  # the corrupt files
    finally:
        os.environ.clear()
        os.environ.update(environment)
    on_dask = summary(tmp_path / "dask")
    assert {name: row["status"] for name, row in on_dask.items()} == statuses(local)
    assert list(statuses(local).values()).count("done") == 6
    assert [row["error"] for row in on_dask.values()] == [r.error for r in local]
    assert render_bytes(tmp_path / "dask") == render_bytes(tmp_path / "local")
    assert "MALLOC_TRIM_THRESHOLD_=65536" in capsys.readouterr().err  # Dask's default, costly here


BAD_ARGUMENTS = {
    "n_iter": (["--n-iter", "0"], "n_iter must be >= 1"),
    "format": (["--format", "hifigan", "--f-min", "9000"], "f_min must be below f_max"),
    "sample_rate": (["--sample-rate", "0"], "sample_rate"),
    "n_fft": (["--n-fft", "0"], "n_fft"),
    "f_max": (["--f-min", "5000", "--f-max", "4000"], "f_min must be below f_max"),
    "lr": (["--solver", "sgd", "--lr", "-1"], "lr"),
    "power": (["--power", "-1"], "power"),
    "solver": (["--max-iter", "0"], "max_iter"),
    "workers": (["--workers", "-1"], "--workers"),
    "workers_and_scheduler": (["--workers", "2", "--scheduler", "tcp://127.0.0.1:1"], "exclude each other"),
    "missing": (["--input", "missing"], "does not exist"),
    "empty_folder": (["--input", "empty"], "names no mel"),
    "outdir_is_input": (["--outdir", "in"], "is the input folder"),
    "outdir_is_a_file": (["--outdir", "in/a.npy"], "is a file"),
    "collision": (["--input", "clash"], "would both be written"),
}


@pytest.mark.parametrize("case", sorted(BAD_ARGUMENTS))
def test_bad_arguments_fail_before_any_file_is_rendered(tmp_path, capsys, case):
    make_mels(tmp_path / "in", ["a.npy", "b/c.npy"])
    (tmp_path / "empty").mkdir()
    make_mels(tmp_path / "clash", ["a.npy"])
    soundfile.write(tmp_path / "clash" / "a.wav", tone(500), RATE)
    extra, message = BAD_ARGUMENTS[case]
    values = {"--input": "in", "--outdir": "out"}
    args = []
    for flag, value in zip(extra[::2], extra[1::2]):
        if flag in values:
            values[flag] = value
        else:
            args += [flag, value]
    argv = [str(tmp_path / values["--input"]), "-o", str(tmp_path / values["--outdir"]), *CLI_OPTIONS, *args]
    before = sorted(tmp_path.rglob("*"))
    assert batch_cli.main(argv) == batch_cli.EXIT_BAD_ARGUMENTS
    err = capsys.readouterr().err
    assert err.startswith("invmel: error:") and message in err and "Traceback" not in err
    assert sorted(tmp_path.rglob("*")) == before  # nothing written, not even OUTDIR


@pytest.mark.slow
def test_the_local_path_shows_progress_and_never_imports_dask(tmp_path):
    make_mels(tmp_path / "in", ["a.npy", "b.npy"])
    code = ("import sys; from invmel_core.cli.batch import main; status = main(sys.argv[1:]); "
            "assert not {'dask', 'distributed'} & set(sys.modules), 'dask was imported'; sys.exit(status)")
    args = [a for a in CLI_OPTIONS if a != "-q"]
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "in"), "-o", str(tmp_path / "out"),
                           "--workers", "2", *args], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "2 rendered, 0 skipped" in done.stdout
    assert "2 inputs: 2 to render" in done.stderr and "2/2" in done.stderr and "file/s" in done.stderr
