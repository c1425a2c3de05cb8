"""LiveSolve: time slices, history, pause/resume/stop, and the statistics the app shows."""

import numpy as np
import pytest

from invmel_core import InputError, InverseMelScale, Iterate
from invmel_core.app.live import STOPPED, LiveSolve, report_every


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def ticking(clock, n, step_seconds=0.01, done_reason="max_iter"):
    """n iterates, each taking ``step_seconds`` of the fake clock."""
    for k in range(1, n + 1):
        clock.now += step_seconds
        yield Iterate(k, 1.0 / k, np.full((2, 1), k, np.float32), k == n, done_reason if k == n else None)


def test_advance_stops_at_the_budget_and_keeps_the_history():
    clock = FakeClock()
    live = LiveSolve(ticking(clock, 100), clock=clock)
    assert live.advance(0.05)
    assert live.steps == [1, 2, 3, 4, 5] and live.losses[-1] == pytest.approx(0.2)
    assert live.latest.step == 5 and not live.done
    assert live.solver_seconds == pytest.approx(0.05) and live.slices == 1
    while not live.done:
        live.advance(0.05)
    assert live.reason == "max_iter" and live.steps[-1] == 100
    assert live.slices == 20
    assert not live.advance(0.05)                           # nothing more to do


def test_pause_excludes_time_and_stop_keeps_the_latest_iterate():
    clock = FakeClock()
    live = LiveSolve(ticking(clock, 100), clock=clock)
    live.advance(0.03)
    live.pause()
    assert live.paused and not live.running
    clock.now += 10.0                                       # a long pause
    live.resume()
    clock.now += 0.01                                       # drawing
    live.advance(0.03)
    assert live.wall_seconds() == pytest.approx(0.07)
    assert live.busy_fraction() == pytest.approx(6 / 7)
    assert live.refresh_hz() == pytest.approx(2 / 0.07)
    assert live.steps_per_second() == pytest.approx(6 / 0.07)
    live.stop()
    assert live.done and live.reason == STOPPED and live.latest.step == 6


def test_stop_closes_the_solver_generator():
    inv = InverseMelScale(n_stft=201, n_mels=40, max_iter=10**6, seed=0)
    mel = inv.fb.dense.T @ np.ones((201, 4), np.float32)
    gen = inv.iterate(mel, every=5)
    live = LiveSolve(gen)
    live.advance(0.01)
    live.stop()
    with pytest.raises(StopIteration):
        next(gen)


def test_loss_curve_is_thinned_but_keeps_the_ends():
    clock = FakeClock()
    live = LiveSolve(ticking(clock, 1000), clock=clock)
    live.advance(100.0)
    steps, losses = live.loss_curve(max_points=50)
    assert len(steps) == 50 and steps[0] == 1 and steps[-1] == 1000
    assert losses[-1] == pytest.approx(1e-3)


def test_report_every_grows_with_max_iter_and_is_bounded():
    assert report_every(1) == 1 and report_every(100) == 2
    assert report_every(1000) == 20 and report_every(10**6) == 50
    with pytest.raises(InputError):
        report_every(0)


def test_bad_budget_is_refused():
    live = LiveSolve(iter(()))
    with pytest.raises(InputError, match="budget"):
        live.advance(0)
    assert not live.advance(0.1) and live.done              # an empty solver just ends


def slow_iterates(n=10**6, seconds=0.002):
    """A solver whose steps take real time."""
    import time as _time
    for k in range(1, n + 1):
        _time.sleep(seconds)
        yield Iterate(k, 1.0, np.zeros((1, 1), np.float32))


def test_pause_and_stop_from_another_thread_wait_for_the_running_slice():
    # Streamlit starts a new script thread on a click while the old one may be mid-slice.
    import threading

    live = LiveSolve(slow_iterates())
    worker = threading.Thread(target=live.advance, args=(30.0,))
    worker.start()
    while not live.steps:
        pass
    live.pause()                            # ends the 30 s slice early, then holds it
    paused_at = live.steps[-1]
    worker.join(timeout=5)
    assert not worker.is_alive(), "the slice should end when asked"
    assert live.paused and not live.advance(1.0) and live.steps[-1] == paused_at

    live.resume()
    worker = threading.Thread(target=live.advance, args=(30.0,))
    worker.start()
    while live.steps[-1] == paused_at:
        pass
    live.stop()                             # no "generator already executing"
    worker.join(timeout=5)
    assert not worker.is_alive() and live.reason == STOPPED and not live.paused


def test_slices_lengthen_when_more_solves_are_active_than_cpus():
    from invmel_core.app.live import active_solves, slice_seconds

    clock = FakeClock()
    before = active_solves()
    solves = [LiveSolve(ticking(clock, 100), clock=clock) for _ in range(4)]
    for solve in solves:
        solve.advance(0.01)
    assert active_solves() == before + 4
    assert slice_seconds(0.1, cpus=2) == pytest.approx(0.1 * max(1.0, (before + 4) / 2))
    solves[0].stop()
    assert active_solves() == before + 3                    # a stopped solve no longer counts
    assert active_solves(within=0.0) == 0                    # nor does one idle for a while


def test_frame_pacer_gives_the_solver_what_drawing_leaves():
    from invmel_core.app.live import FramePacer

    pacer = FramePacer(frame=0.2, min_slice=0.05, smoothing=0.5)
    assert pacer.slice() == 0.2                       # nothing drawn yet
    pacer.drawn(0.02)
    assert pacer.slice() == pytest.approx(0.18)
    pacer.drawn(0.10)                                 # a slow redraw: smoothed
    assert pacer.slice() == pytest.approx(0.2 - 0.06)
    for _ in range(20):
        pacer.drawn(1.0)                              # a hopelessly busy server
    assert pacer.slice() == 0.05
    with pytest.raises(InputError):
        FramePacer(frame=0.1, min_slice=0.2)


def test_slices_do_not_overshoot_their_budget_by_a_whole_iterate():
    clock = FakeClock()
    live = LiveSolve(ticking(clock, 10_000, step_seconds=0.03), clock=clock)
    live.advance(0.1)                                 # learns how long an iterate takes
    lengths = []
    for _ in range(10):
        start = clock.now
        live.advance(0.1)
        lengths.append(clock.now - start)
    assert abs(np.mean(lengths) - 0.1) <= 0.015, lengths   # without prediction: 0.12 every time


def test_heavy_work_beyond_the_slots_waits_for_one():
    import os
    import threading

    from invmel_core.app.live import CPU_SLOTS, cpu_slot

    slots = max(1, (os.cpu_count() or 1) - 1)       # one CPU is left to the server's network thread
    assert CPU_SLOTS == slots
    inside, most, lock = [0], [0], threading.Lock()

    def job():
        with cpu_slot():
            with lock:
                inside[0] += 1
                most[0] = max(most[0], inside[0])
            import time as _time
            _time.sleep(0.02)
            with lock:
                inside[0] -= 1

    threads = [threading.Thread(target=job) for _ in range(3 * slots + 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert most[0] == slots
