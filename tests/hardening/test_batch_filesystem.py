"""The batch against the file system and the network as they are (docs/batch.md, docs/limits.md):

1. the search: symbolic-link loops, links to folders, unreadable folders, OUTDIR reached
   through a link, lists with a byte-order mark, a file that is no list;
2. the bookkeeping: names that are not UTF-8, a summary path that is a folder, a full disk,
   manifest lines that are JSON but no record, names near the file system's limit;
3. Dask addresses that are not a scheduler's, and worker counts beyond the CPUs.

Every refusal is one line, within HANG_BOUND_S, and loses nothing already written.
"""

import contextlib
import csv
import errno
import http.server
import json
import os
import signal
import socket
import struct
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from invmel_core import InputError
from invmel_core.batch import manifest as batch_manifest, one_file, plan as batch, pool as batch_pool, scheduler
from invmel_core.batch.one_file import TEMP_SUFFIX
from invmel_core.batch.plan import MANIFEST_NAME, SUMMARY_NAME, RenderOptions, find_inputs, run
from invmel_core.cli import batch as batch_cli
from invmel_core.dsp import stft

RATE, N_FFT, HOP, N_MELS = 8000, 256, 64, 20
OPTIONS = RenderOptions(n_fft=N_FFT, hop_length=HOP, sample_rate=RATE, n_mels=N_MELS, n_iter=4)
CLI_OPTIONS = ["--n-fft", str(N_FFT), "--hop-length", str(HOP), "--sample-rate", str(RATE),
               "--n-mels", str(N_MELS), "--n-iter", "4", "-q", "--workers", "0"]
FB = OPTIONS.checked().filterbank(N_MELS, RATE)
HANG_BOUND_S = 2.0


def tone_mel(freq: float, seconds: float = 0.1) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    sound = (0.5 * np.sin(2 * np.pi * freq * t) * np.hanning(t.size)).astype(np.float32)
    return stft.mel_spectrogram(stft.spectrogram(sound, N_FFT, HOP), FB)


def make_mels(folder: Path, names) -> None:
    for i, name in enumerate(names):
        path = Path(folder, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, tone_mel(300 + 150 * i))


def relative(found) -> list:
    return [p.relative_to(found.root).as_posix() for p in found.files]


def summary(outdir: Path) -> dict:
    with open(outdir / SUMMARY_NAME, newline="", encoding="utf-8") as fp:
        return {row["input"]: row for row in csv.DictReader(fp)}


def wavs(outdir: Path) -> set:
    return {p.relative_to(outdir).as_posix() for p in outdir.rglob("*.wav") if p.is_file()}


@contextlib.contextmanager
def time_limit(seconds: float):
    """Fail (not hang) if the block takes longer than ``seconds``: the old walk never ended."""
    def expired(*_):
        raise TimeoutError(f"took more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def cli(argv, capsys):
    start = time.perf_counter()
    status = batch_cli.main([str(a) for a in argv])
    elapsed = time.perf_counter() - start
    captured = capsys.readouterr()
    return status, captured.out, captured.err, elapsed


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("invmel: error:"), err
    assert "Traceback" not in err
    return lines[0]


# --------------------------------------------------------------------------- 1. the search


@pytest.mark.parametrize("as_glob", [False, True], ids=["folder", "glob"])
def test_symlink_loops_visit_every_file_once(tmp_path, as_glob):
    src = tmp_path / "in"
    make_mels(src, ["a.npy", "sub/b.npy", "sub/deep/c.npy"])
    (src / "self").symlink_to(".")  # one loop
    (src / "sub" / "up").symlink_to("..")  # two more, crossing
    (src / "sub" / "deep" / "top").symlink_to("../..")
    with time_limit(5):
        found = find_inputs(str(src / "**" / "*.npy") if as_glob else src)
    assert relative(found) == ["a.npy", "sub/b.npy", "sub/deep/c.npy"]
    reasons = {Path(where).name: why for where, why, unreadable in found.passed_over if not unreadable}
    assert set(reasons) == {"self", "up", "top"} and all("already searched" in why for why in reasons.values())


def test_a_loop_outside_the_input_folder_is_walked_once(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    make_mels(elsewhere, ["x.npy"])
    (elsewhere / "again").symlink_to(".")  # a loop wholly outside INPUT
    (elsewhere / "back").symlink_to(tmp_path / "in")  # and one back into it
    make_mels(tmp_path / "in", ["a.npy"])
    (tmp_path / "in" / "ext").symlink_to(elsewhere)
    (tmp_path / "in" / "ext2").symlink_to(elsewhere)  # a second link to the same folder
    with time_limit(5):
        found = find_inputs(tmp_path / "in")
    assert relative(found) == ["a.npy", "ext/x.npy"]
    assert {Path(p).name for p, _, _ in found.passed_over} == {"again", "back", "ext2"}


def test_linked_folders_and_files_follow_the_stated_rule(tmp_path):
    """Links to folders outside INPUT are followed (outputs under the link's name); links to
    what INPUT holds anyway are not, and are said so; a file is rendered once."""
    make_mels(tmp_path / "shared", ["s.npy"])
    src = tmp_path / "in"
    make_mels(src, ["real/r.npy", "z.npy"])
    (src / "a_link").symlink_to(src / "real")  # sorts before the real folder
    (src / "shared").symlink_to(tmp_path / "shared")
    (src / "b.npy").symlink_to(src / "z.npy")  # a second name for z.npy
    (src / "hidden_target").symlink_to(src / ".cache")
    make_mels(src, [".cache/h.npy"])
    records = run(src, tmp_path / "out", OPTIONS, workers=0)
    assert [r.input for r in records] == ["z.npy", "hidden_target/h.npy", "real/r.npy", "shared/s.npy"]
    assert wavs(tmp_path / "out") == {"z.wav", "hidden_target/h.wav", "real/r.wav", "shared/s.wav"}
    rows = summary(tmp_path / "out")
    assert rows[str(src / "a_link")]["status"] == "not followed"
    assert "the same file as" in rows[str(src / "b.npy")]["error"]


def test_many_links_not_followed_are_counted_past_a_few_lines(tmp_path, capsys):
    make_mels(tmp_path / "in", ["real/a.npy"])
    for i in range(batch_cli.MAX_LISTED + 5):
        (tmp_path / "in" / f"link{i:02d}").symlink_to(tmp_path / "in" / "real")
    status, out, err, _ = cli([tmp_path / "in", "-o", tmp_path / "out", *CLI_OPTIONS], capsys)
    assert status == 0 and f"{batch_cli.MAX_LISTED + 5} not followed" in out
    assert err.count("invmel: not followed:") == batch_cli.MAX_LISTED + 1 and "5 more, listed in the summary" in err
    assert sum(row["status"] == "not followed" for row in summary(tmp_path / "out").values()) == batch_cli.MAX_LISTED + 5


def test_an_unreadable_folder_is_reported_counted_and_fails_the_run(tmp_path, capsys, monkeypatch):
    src = tmp_path / "in"
    make_mels(src, ["a.npy", "locked/b.npy", "open/c.npy"])
    (src / "broken.npy").symlink_to(tmp_path / "gone.npy")
    real_scandir = os.scandir

    def scandir(path="."):  # root cannot be kept out by chmod 000, so the listing fails instead
        if Path(os.fsdecode(path)) == src / "locked":
            raise PermissionError(errno.EACCES, "Permission denied", os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    status, out, err, _ = cli([src, "-o", tmp_path / "out", *CLI_OPTIONS], capsys)
    assert status == batch_cli.EXIT_FAILED_FILES  # not 0: two inputs were not rendered
    assert f"invmel: unreadable: {src / 'locked'}: cannot list this folder: Permission denied" in err
    assert f"invmel: unreadable: {src / 'broken.npy'}" in err and "broken link" in err
    assert "2 rendered, 0 skipped (done before), 0 failed, 2 unreadable" in out
    rows = summary(tmp_path / "out")
    assert rows[str(src / "locked")]["status"] == "unreadable"
    assert wavs(tmp_path / "out") == {"a.wav", "open/c.wav"}


def test_nothing_readable_names_the_unreadable(tmp_path, capsys, monkeypatch):
    src = tmp_path / "in"
    make_mels(src, ["locked/b.npy"])
    real_scandir = os.scandir
    monkeypatch.setattr(os, "scandir", lambda path=".": (_ for _ in ()).throw(PermissionError(13, "Permission denied"))
                        if Path(os.fsdecode(path)) == src / "locked" else real_scandir(path))
    status, _, err, _ = cli([src, "-o", tmp_path / "out", *CLI_OPTIONS], capsys)
    assert status == batch_cli.EXIT_BAD_ARGUMENTS
    assert "1 unreadable" in one_error_line(err.replace(f"invmel: unreadable: {src / 'locked'}: cannot list "
                                                        "this folder: Permission denied\n", ""))


@pytest.mark.parametrize("how", ["link_to_outdir", "outdir_inside_input", "glob"])
def test_outputs_are_never_read_back_as_inputs(tmp_path, capsys, how):
    src, out = tmp_path / "in", tmp_path / "out"
    make_mels(src, ["a.npy"])
    argv_input = src
    if how == "link_to_outdir":
        (src / "out").symlink_to(out)  # OUTDIR reached from INPUT by a link
        out.mkdir()
    elif how == "outdir_inside_input":
        out = src / "wavs"
        (src / "again").symlink_to(out, target_is_directory=True)
    else:
        (src / "out").symlink_to(out)
        out.mkdir()
        argv_input = str(src / "**" / "*")
    for _ in range(3):
        status, _, _, _ = cli([argv_input, "-o", out, "--npy", *CLI_OPTIONS], capsys)
        assert status == 0
    assert wavs(out) == {"a.wav"} and list(summary(out))[:1] == ["a.npy"]
    assert summary(out)["a.npy"]["status"] == "skipped"


def test_list_entries_inside_outdir_are_passed_over(tmp_path):
    make_mels(tmp_path / "in", ["a.npy"])
    run(tmp_path / "in", tmp_path / "in" / "wavs", OPTIONS, workers=0)
    listing = tmp_path / "in" / "list.txt"
    listing.write_text("a.npy\nwavs/a.wav\n")
    found = find_inputs(listing, tmp_path / "in" / "wavs")
    assert relative(found) == ["a.npy"] and "--outdir" in found.passed_over[0][1]


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16"])
def test_a_list_with_a_byte_order_mark_reads_its_first_path(tmp_path, encoding):
    make_mels(tmp_path / "in", ["a.npy", "b.npy"])
    listing = tmp_path / "in" / "list.txt"
    listing.write_bytes("a.npy|first line\r\nb.npy\r\n".encode(encoding))  # both start with a byte-order mark
    records = run(listing, tmp_path / "out", OPTIONS, workers=0)
    assert {r.input: r.status for r in records} == {"a.npy": "done", "b.npy": "done"}


@pytest.mark.parametrize("kind", ["csv_mel", "numbers", "prose", "nul"])
def test_an_input_that_is_no_list_of_paths_is_one_line(tmp_path, capsys, kind):
    path = tmp_path / {"csv_mel": "mel.csv", "numbers": "mel.txt", "prose": "README", "nul": "blob"}[kind]
    mel = tone_mel(440)
    if kind == "csv_mel":
        np.savetxt(path, mel, delimiter=",")
    elif kind == "numbers":
        np.savetxt(path, mel)
    elif kind == "prose":
        path.write_text("This folder holds the mels of speaker 1.\nAsk Ana about the rest.\n")
    else:
        path.write_bytes(b"abc\x00def\n")
    status, _, err, elapsed = cli([path, "-o", tmp_path / "out", *CLI_OPTIONS], capsys)
    assert status == batch_cli.EXIT_BAD_ARGUMENTS and elapsed < HANG_BOUND_S
    line = one_error_line(err)
    assert "nor a text file listing paths" in line
    assert ("binary data" if kind == "nul" else "names an existing file") in line
    assert len(line) < 600 and not (tmp_path / "out").exists()


def test_a_list_with_some_missing_paths_renders_the_rest_and_fails_those(tmp_path):
    make_mels(tmp_path / "in", ["a.npy"])
    listing = tmp_path / "in" / "list.txt"
    listing.write_text("a.npy\nmissing.npy\n")
    records = run(listing, tmp_path / "out", OPTIONS, workers=0)
    assert {r.input: r.status for r in records} == {"a.npy": "done", "missing.npy": "failed"}


# --------------------------------------------------------------------------- 2. the bookkeeping


def test_a_name_that_is_not_utf8_is_rendered_summarised_and_resumed(tmp_path, capsys):
    src = tmp_path / "in"
    src.mkdir()
    name = os.fsdecode(b"caf\xe9.npy")
    np.save(src / name, tone_mel(440))
    make_mels(src, ["plain.npy"])
    status, out, err, _ = cli([src, "-o", tmp_path / "out", *CLI_OPTIONS], capsys)
    assert status == 0, err
    assert "2 rendered" in out and "Traceback" not in err
    assert (tmp_path / "out" / os.fsdecode(b"caf\xe9.wav")).is_file()
    rows = summary(tmp_path / "out")  # the summary is UTF-8, the name's byte escaped
    assert rows["caf\\xe9.npy"]["status"] == "done" and rows["caf\\xe9.npy"]["outputs"] == "caf\\xe9.wav"
    status, out, _, _ = cli([src, "-o", tmp_path / "out", *CLI_OPTIONS], capsys)
    assert status == 0 and "0 rendered, 2 skipped" in out


@pytest.mark.parametrize("name", [SUMMARY_NAME, MANIFEST_NAME])
def test_a_bookkeeping_path_that_is_a_folder_is_refused_before_rendering(tmp_path, capsys, name):
    make_mels(tmp_path / "in", ["a.npy", "b.npy"])
    out = tmp_path / "out"
    run(tmp_path / "in", out, OPTIONS, workers=0)
    (out / "a.wav").unlink()
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    (out / name).unlink()
    (out / name).mkdir()
    status, _, err, elapsed = cli([tmp_path / "in", "-o", out, *CLI_OPTIONS], capsys)
    assert status == batch_cli.EXIT_BAD_ARGUMENTS and elapsed < HANG_BOUND_S
    assert name in one_error_line(err) and "move it away" in err
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == {
        p: data for p, data in before.items() if p.name != name}  # nothing written, nothing lost


class FullDisk:
    """An unbuffered file whose writes fail with ENOSPC once ``room`` bytes are written."""

    def __init__(self, real, room: int):
        self.real, self.room = real, room

    def write(self, data):
        if len(data) > self.room:
            written = self.real.write(data[:self.room])  # a line cut by the full disk
            self.room = 0
            if not written:
                raise OSError(errno.ENOSPC, "No space left on device")
            return written
        self.room -= len(data)
        return self.real.write(data)

    def close(self):
        self.real.close()


def test_a_full_disk_stops_the_run_in_one_line_and_a_rerun_resumes(tmp_path, capsys, monkeypatch):
    src, out = tmp_path / "in", tmp_path / "out"
    make_mels(src, [f"m{i}.npy" for i in range(5)])
    real_open = open

    def manifest_open(path, mode="r", *args, **kwargs):
        file = real_open(path, mode, *args, **kwargs)
        return FullDisk(file, room=1) if mode == "ab" and Path(path).name == MANIFEST_NAME else file

    monkeypatch.setattr(batch_manifest, "open", manifest_open, raising=False)
    status, out_text, err, _ = cli([src, "-o", out, *CLI_OPTIONS], capsys)
    assert status == batch_cli.EXIT_FAILED_FILES
    line = one_error_line(err)
    assert "No space left on device" in line and "rerun the same command to resume" in line
    assert "1 rendered" in out_text  # it stopped at the first file it could not record
    kept = wavs(out)
    assert kept == {"m0.wav"} and not list(out.rglob(f"*{TEMP_SUFFIX}"))
    assert summary(out)["m0.npy"]["status"] == "done"  # the summary was still written
    monkeypatch.setattr(batch_manifest, "open", real_open, raising=False)
    status, out_text, _, _ = cli([src, "-o", out, *CLI_OPTIONS], capsys)
    assert status == 0 and "5 rendered" in out_text  # the cut manifest line is ignored
    assert wavs(out) == {f"m{i}.wav" for i in range(5)}


def test_a_disk_that_fills_while_rendering_stops_the_run(tmp_path, capsys, monkeypatch):
    src, out = tmp_path / "in", tmp_path / "out"
    make_mels(src, [f"m{i}.npy" for i in range(4)])
    real_write = one_file.write_atomic

    def full_after_one(path, data):
        if Path(path).name != "m0.wav":
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(path, data)

    monkeypatch.setattr(one_file, "write_atomic", full_after_one)
    status, out_text, err, _ = cli([src, "-o", out, *CLI_OPTIONS], capsys)
    assert status == batch_cli.EXIT_FAILED_FILES and "Traceback" not in err
    assert err.count("\n") == 2 and "invmel: failed: m1.npy: the disk is full" in err
    assert "the disk is full (writing the outputs of 'm1.npy'); stopped" in err.splitlines()[-1]
    assert "1 rendered, 0 skipped (done before), 1 failed" in out_text  # m2, m3 never started
    assert wavs(out) == {"m0.wav"}
    monkeypatch.setattr(one_file, "write_atomic", real_write)
    status, out_text, _, _ = cli([src, "-o", out, *CLI_OPTIONS], capsys)
    assert status == 0 and "3 rendered, 1 skipped" in out_text


def test_a_summary_that_cannot_be_written_is_one_line_and_the_wavs_are_kept(tmp_path, capsys, monkeypatch):
    src, out = tmp_path / "in", tmp_path / "out"
    make_mels(src, ["a.npy", "b.npy"])
    real_write = batch.write_atomic

    def full(path, data):
        if Path(path).name == SUMMARY_NAME:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(path, data)

    monkeypatch.setattr(batch, "write_atomic", full)
    status, out_text, err, _ = cli([src, "-o", out, *CLI_OPTIONS], capsys)
    assert status == batch_cli.EXIT_FAILED_FILES
    assert "cannot write the summary" in one_error_line(err) and "2 rendered" in out_text
    monkeypatch.setattr(batch, "write_atomic", real_write)
    status, out_text, _, _ = cli([src, "-o", out, *CLI_OPTIONS], capsys)
    assert status == 0 and "0 rendered, 2 skipped" in out_text  # the manifest had them


GARBAGE_LINES = ["12", "null", "[1, 2, 3]", '"a.npy"', "true", "{}", '{"input": 5, "status": "done"}',
                 '{"input": "a.npy", "status": "done", "outputs": [1, 2]}',
                 '{"input": "a.npy", "status": "done", "outputs": null}',
                 '{"input": "a.npy", "status": "done", "outputs": {"a.wav": "big"}}',
                 '{"input": "a.npy", "status": "done", "size": "12"}',
                 '{"input": "a.npy", "status": "done", "size": true}',
                 "[" * 100_000 + "]" * 100_000, "\udcff", '{"input": "a.npy"']


def test_manifest_lines_that_are_no_records_are_ignored(tmp_path, capsys):
    src, out = tmp_path / "in", tmp_path / "out"
    make_mels(src, ["a.npy", "b.npy"])
    run(src, out, OPTIONS, workers=0)
    good = (out / MANIFEST_NAME).read_text().splitlines()
    b_line = next(line for line in good if json.loads(line)["input"] == "b.npy")
    with open(out / MANIFEST_NAME, "w", encoding="utf-8", errors="surrogateescape") as fp:
        fp.write("\n".join(GARBAGE_LINES + [b_line]) + "\n")
    status, out_text, err, _ = cli([src, "-o", out, *CLI_OPTIONS], capsys)
    assert status == 0 and "Traceback" not in err
    assert "1 rendered, 1 skipped" in out_text  # a.npy redone, b.npy's record kept
    assert len((out / MANIFEST_NAME).read_text().splitlines()) == 2


def test_a_name_near_the_file_systems_limit_renders(tmp_path):
    stem = "n" * 240  # 244 bytes with .npy; the old temporary name was 264
    make_mels(tmp_path / "in", [stem + ".npy"])
    records = run(tmp_path / "in", tmp_path / "out", OPTIONS, workers=0)
    assert [r.status for r in records] == ["done"], records[0].error
    assert wavs(tmp_path / "out") == {stem + ".wav"}


def test_stale_temporaries_of_a_killed_run_are_removed(tmp_path):
    make_mels(tmp_path / "in", ["a.npy"])
    (tmp_path / "out").mkdir()
    stale = tmp_path / "out" / f"{one_file.temp_prefix('a.wav')}123-abcdef01{TEMP_SUFFIX}"
    stale.write_bytes(b"half")
    other = tmp_path / "out" / f"{one_file.temp_prefix('z.wav')}123-abcdef01{TEMP_SUFFIX}"
    other.write_bytes(b"not ours to remove")
    run(tmp_path / "in", tmp_path / "out", OPTIONS, workers=0)
    assert not stale.exists() and other.exists() and len(one_file.temp_prefix("x" * 250)) < 30


# --------------------------------------------------------------------------- 3. Dask addresses, workers


@pytest.mark.parametrize("address", ["not a url", "http://127.0.0.1:8786", "ucx://127.0.0.1:8786",
                                     "inproc://127.0.0.1/1", "tcp://127.0.0.1:99999", "tcp://127.0.0.1:0",
                                     "tcp://user@127.0.0.1:8786", "tcp://127.0.0.1:8786/path", ""])
def test_scheduler_addresses_that_are_none_are_refused_at_once(tmp_path, capsys, address):
    make_mels(tmp_path / "in", ["a.npy"])
    argv = [tmp_path / "in", "-o", tmp_path / "out", "--scheduler", address, *CLI_OPTIONS[:-2]]
    status, _, err, elapsed = cli(argv, capsys)
    assert status == batch_cli.EXIT_BAD_ARGUMENTS and elapsed < HANG_BOUND_S
    assert "--scheduler" in one_error_line(err) and "tcp://HOST:8786" in err
    assert not (tmp_path / "out").exists()


@contextlib.contextmanager
def silent_listener():
    """A loopback TCP port that accepts connections and never says a word."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        accepted, stop = [], threading.Event()

        def accept():
            server.settimeout(0.1)
            while not stop.is_set():
                with contextlib.suppress(OSError):
                    accepted.append(server.accept()[0])

        thread = threading.Thread(target=accept, daemon=True)
        thread.start()
        try:
            yield server.getsockname()[1]
        finally:
            stop.set()
            thread.join(2)
            for conn in accepted:
                conn.close()


@contextlib.contextmanager
def web_server():
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(2)


@pytest.fixture
def short_probe(monkeypatch):
    """The probe's wait cut to 0.5 s, so that a loaded machine cannot push a refusal past the bound;
    the default leaves 0.5 s of the 2 s bound for the rest."""
    assert scheduler.PROBE_TIMEOUT_S <= HANG_BOUND_S - 0.5
    monkeypatch.setattr(scheduler, "PROBE_TIMEOUT_S", 0.5)


@pytest.mark.parametrize("server", [silent_listener, web_server], ids=["silent", "http"])
def test_a_tcp_address_where_no_scheduler_speaks_is_refused_within_the_bound(tmp_path, capsys, server, short_probe):
    make_mels(tmp_path / "in", ["a.npy"])
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "kept.wav").write_bytes(b"earlier work")
    with server() as port, time_limit(10):
        argv = [tmp_path / "in", "-o", tmp_path / "out", "--scheduler", f"tcp://127.0.0.1:{port}", *CLI_OPTIONS[:-2]]
        status, _, err, elapsed = cli(argv, capsys)
    assert status == batch_cli.EXIT_BAD_ARGUMENTS and elapsed < HANG_BOUND_S
    assert "not a Dask scheduler" in one_error_line(err)
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["kept.wav"]


@pytest.mark.parametrize("server", [silent_listener, web_server], ids=["silent", "http"])
def test_a_tls_address_where_no_tls_server_answers_is_refused_within_the_bound(server, short_probe):
    with server() as port, time_limit(10):
        start = time.perf_counter()
        with pytest.raises(InputError, match="does not speak TLS"):
            batch_pool.DaskPool(f"tls://127.0.0.1:{port}")
        assert time.perf_counter() - start < HANG_BOUND_S


def test_an_address_that_greets_like_a_scheduler_passes_the_probe():
    """A listener that sends what a scheduler sends first (an 8-byte frame length) passes; by the
    name localhost too, which may resolve to ::1 before 127.0.0.1."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(4)
        port = server.getsockname()[1]

        def greet():
            for _ in range(2):
                conn, _ = server.accept()
                with conn, contextlib.suppress(OSError):  # the probe resets what it does not read
                    conn.sendall(struct.pack("Q", 120) + b"x" * 120)
                    conn.recv(1)

        thread = threading.Thread(target=greet, daemon=True)
        thread.start()
        assert batch_pool.probe_scheduler(f"127.0.0.1:{port}") == f"tcp://127.0.0.1:{port}"
        assert batch_pool.probe_scheduler(f"tcp://localhost:{port}") == f"tcp://localhost:{port}"
        thread.join(2)


def test_nothing_listening_is_refused_at_once(capsys):
    with socket.socket() as probe:  # a port that was free a moment ago
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    start = time.perf_counter()
    with pytest.raises(InputError, match="cannot reach the Dask scheduler"):
        batch_pool.probe_scheduler(f"tcp://127.0.0.1:{port}")
    assert time.perf_counter() - start < HANG_BOUND_S


def test_a_client_that_fails_to_connect_is_closed_quietly(monkeypatch):
    distributed = pytest.importorskip("distributed")
    closed = []

    class Failing(distributed.Client):
        def __init__(self, *args, **kwargs):
            raise OSError("handshake failed")

        def close(self, *args, **kwargs):
            closed.append(True)

    monkeypatch.setattr(distributed, "Client", Failing)
    with pytest.raises(OSError, match="handshake failed"):
        batch_pool._connect("tcp://127.0.0.1:8786")
    assert closed == [True]


def test_the_worker_count_is_capped_and_said(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(batch_pool, "available_cores", lambda: 2)
    pool = batch_pool.open_pool(10_000)
    assert isinstance(pool, batch_pool.LocalPool) and pool.workers == 8
    assert "--workers 10000" in pool.notes[0] and "using 8" in pool.notes[0]
    assert batch_pool.open_pool(8).notes == () and batch_pool.open_pool(8).workers == 8
    make_mels(tmp_path / "in", ["a.npy"])
    monkeypatch.setattr(batch_pool.LocalPool, "imap_unordered",
                        lambda self, tasks, options: (one_file.render_one(t, options) for t in tasks))
    argv = [tmp_path / "in", "-o", tmp_path / "out", *CLI_OPTIONS[:-2], "--workers", "10000"]
    status, _, err, _ = cli(argv, capsys)
    assert status == 0 and "invmel: note: --workers 10000 is more than 4 per CPU (2 CPUs here): using 8" in err
