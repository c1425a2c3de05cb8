"""The Invert page in a lecture (user study items 7 and 11): a finished solve replayed at a chosen
pace, step by step or scrubbed, the loss curve marking the shown step; Stop that says it is
stopping before the slow work; a reload mid-run that says what it lost; a solve paused by
leaving the page that says why; solver options that stay open while one is changed."""

import json
import time

import numpy as np
import pytest

from invmel_core.app import charts
from invmel_core.app.live import LiveSolve, thinnest
from invmel_core.inverse.solvers import Iterate
from pages import _inversion, _widgets
from app_support import open_page, run_until_result, warnings
from test_app_invert import small


def vega_specs(at) -> list[dict]:
    return [json.loads(el.proto.spec) for el in at.get("vega_lite_chart")]


def image_protos(at) -> list[str]:
    """Every image element of the page, as its proto's text (captions included)."""
    found = []

    def walk(node):
        for child in getattr(node, "children", {}).values():
            if getattr(child, "type", None) in ("imgs", "image"):
                found.append(str(child.proto))
            walk(child)

    walk(at._tree)
    return found


def marked_step(at) -> int | None:
    """The step the replay's loss chart marks (its marker layer), or None."""
    for spec in vega_specs(at):
        for layer in spec.get("layer", []):
            if "layer" in layer and layer.get("data", {}).get("values"):
                return layer["data"]["values"][0]["step"]
    return None


def test_live_solve_keeps_log_spaced_bounded_snapshots_and_every_loss():
    spec = np.ones((1, 600, 3000), dtype=np.float32)       # bigger than the screen: pooled
    iterates = (Iterate(step=i, loss=1.0 / (i + 1), spec=spec, done=i == 999, reason="max_iter" if i == 999 else None)
                for i in range(1000))
    live = LiveSolve(iterates, max_snapshots=20)
    while not live.done:
        live.advance(10.0)
    steps = [s for s, _ in live.snapshots]
    assert len(live.losses) == 1000, "every loss value is kept"
    assert len(steps) == 20 and steps[0] == 0 and steps[-1] == 999
    assert sum(s < 100 for s in steps) >= 10, f"log-spaced: most snapshots early, got {steps}"
    assert all(snap.shape[0] <= 256 and snap.shape[1] <= 960 for _, snap in live.snapshots)
    assert live.snapshot_bytes() <= 20 * 256 * 960 * 2
    assert np.allclose(live.snapshot_spec(-1), 1.0, rtol=0.01)
    # A long input: the replay's memory stays bounded by dropping snapshots, ends kept.
    wide = np.ones((1, 1025, 20000), dtype=np.float32)
    live = LiveSolve((Iterate(step=i, loss=1.0, spec=wide, done=i == 99, reason="max_iter" if i == 99 else None)
                      for i in range(100)))
    while not live.done:
        live.advance(10.0)
    assert live.snapshot_bytes() <= 12 * 2**20 and live.snapshots[0][0] == 0 and live.snapshots[-1][0] == 99
    assert thinnest(np.array([0, 1, 2, 3, 1000])) in (1, 2)


def test_loss_chart_marks_the_shown_step():
    spec = charts.loss_chart([0, 10, 20, 30], [1.0, 0.5, 0.2, 0.1], mark_step=19)
    assert spec["layer"][1]["data"]["values"] == [{"step": 20, "loss": 0.2}]
    assert "layer" not in charts.loss_chart([0, 10], [1.0, 0.5])


def test_a_finished_solve_replays_at_a_pace_steps_and_scrubs_in_step_with_the_loss_curve():
    at = small(open_page("invert"), max_iter=200)
    at.button(key="run").click().run()
    run_until_result(at)
    at.run()
    live = at.session_state["invert_live"]
    steps = [s for s, _ in live.snapshots]
    assert len(steps) >= 10
    slider = at.select_slider(key="replay_step")
    assert slider.value == steps[-1], "a finished solve is shown at its end"
    assert marked_step(at) == steps[-1]
    # Scrub back: the loss chart's marker and the picture's caption follow.
    at.select_slider(key="replay_step").set_value(steps[3]).run()
    assert marked_step(at) == steps[3]
    assert any(f"step {steps[3]:,} (snapshot 4 of {len(steps)})" in text for text in image_protos(at)), \
        image_protos(at)
    # One step on, one back.
    at.button(key="replay_next").click().run()
    assert at.select_slider(key="replay_step").value == steps[4] and marked_step(at) == steps[4]
    at.button(key="replay_back").click().run()
    assert at.select_slider(key="replay_step").value == steps[3]
    # Play at 8 snapshots a second: each run after 1/8 s shows the next one; Pause holds it.
    at.select_slider(key="replay_speed").set_value(8.0).run()
    at.button(key="replay_play").click().run()
    assert at.session_state["replay_playing"] and at.button(key="replay_pause")
    shown = []
    for _ in range(3):
        time.sleep(0.15)
        at.run()
        shown.append(at.select_slider(key="replay_step").value)
    assert shown == steps[4:7], (shown, steps)
    assert marked_step(at) == steps[6]
    at.button(key="replay_pause").click().run()
    time.sleep(0.15)
    at.run()
    assert at.select_slider(key="replay_step").value == steps[6] and not at.session_state["replay_playing"]
    assert at.button(key="replay_play")


def test_stop_says_it_is_stopping_before_the_slow_work(monkeypatch):
    monkeypatch.setattr(_widgets, "PAGE_RUN_BUDGET_S", 1.0)
    at = small(open_page("invert"), max_iter=10_000_000)
    at.button(key="run").click().run()

    def slow_work(live):
        raise RuntimeError("the slow part")

    monkeypatch.setattr(_inversion, "finish", slow_work)
    at.button(key="stop").click().run()
    lines = [m.value for m in at.markdown]
    assert any(line.startswith("**stopping** — stopped at step") and "making its sound" in line for line in lines), \
        lines[-5:]
    assert not any("running" in line for line in lines)


def test_the_run_after_a_result_says_the_sound_is_being_made(monkeypatch):
    from pages import _result

    at = small(open_page("invert"), max_iter=60)
    at.button(key="run").click().run()
    shown = {}
    real = _result.show_result

    def watch(*args, **kwargs):
        shown["line"] = [m.value for m in at.markdown]
        return real(*args, **kwargs)

    # The first run with a result: the status slot, drawn before the result section, says so.
    for _ in range(20):
        if "invert_result" in at.session_state:
            break
        at.run()
    live = at.session_state["invert_live"]
    at.session_state[_inversion.SOUND_PENDING] = live
    monkeypatch.setattr(_result, "show_result", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("slow sound")))
    at.run()
    assert any("making the sound" in m.value for m in at.markdown), [m.value for m in at.markdown][-4:]


def test_a_reload_mid_run_says_the_run_and_the_upload_are_gone(monkeypatch):
    monkeypatch.setattr(_widgets, "PAGE_RUN_BUDGET_S", 1.0)
    at = small(open_page("invert"), max_iter=10_000_000)
    at.button(key="run").click().run()
    assert at.query_params.get("solving") in ("1", ["1"]), dict(at.query_params)
    query = {k: (v[0] if isinstance(v, list) else v) for k, v in at.query_params.items()}
    at.button(key="stop").click().run()
    run_until_result(at)
    at.run()
    assert "solving" not in at.query_params, "a finished solve is not marked"
    # A reload: a new session from the same link (its first run says so, whichever page it opens).
    again = open_page(None, query=query)
    said = warnings(again)
    assert any("reloaded" in w and "gone" in w and "Run" in w for w in said), said
    assert not any("Ignored" in w for w in said), said
    again.switch_page("pages/invert.py").run()
    assert again.number_input(key="n_fft").value == 512, "the settings came back from the link"


def test_leaving_the_page_pauses_the_solve_and_says_why(monkeypatch):
    monkeypatch.setattr(_widgets, "PAGE_RUN_BUDGET_S", 1.0)
    at = small(open_page("invert"), max_iter=10_000_000)
    at.button(key="run").click().run()
    live = at.session_state["invert_live"]
    at.switch_page("pages/home.py").run()
    assert live.paused
    at.switch_page("pages/invert.py").run()
    lines = [m.value for m in at.markdown]
    assert any("paused** because you left the page; Resume continues" in line for line in lines), lines[-5:]
    assert at.button(key="resume")
    at.button(key="resume").click().run()
    assert not any("left the page" in m.value for m in at.markdown)
    at.button(key="stop").click().run()


def test_changing_a_solver_option_keeps_the_options_open():
    at = open_page("invert")
    options = [e for e in at.expander if e.label == "Solver options"]
    assert len(options) == 1 and not options[0].proto.expanded
    label = options[0].label
    at.number_input(key="max_iter").set_value(321).run()
    options = [e for e in at.expander if e.label == "Solver options"]
    assert options[0].label == label, "a new label would be a new, folded expander"
    assert options[0].proto.expanded, "it stays open after an option is changed"
    at.number_input(key="max_iter").set_value(400).run()
    options = [e for e in at.expander if e.label == "Solver options"]
    assert options[0].label == label and options[0].proto.expanded


@pytest.mark.parametrize("chart", [charts.mel_curve_chart(11025.0, mark_hz=1000.0),
                                   charts.filter_spacing_chart(0.0, 11025.0, 40, 86.1),
                                   charts.loss_chart([0, 10, 1000], [1e6, 1e3, 1.0])])
def test_charts_stay_legible_in_a_narrow_column(chart):
    """Projected at 150 % or on a phone a column is 250-400 CSS px: a title in one long line is
    cut with an ellipsis (Vega-Lite's limit), ticks collide, a legend beside the plot squeezes it."""
    title = chart["title"]
    assert isinstance(title, dict) and title.get("limit") == 0 and len(title["text"]) <= 30, title

    def axes(spec):
        for layer in [spec, *spec.get("layer", [])]:
            yield from axes(layer) if layer is not spec and "layer" in layer else ()
            for channel in ("x", "y"):
                encoding = layer.get("encoding", {}).get(channel)
                if encoding and encoding.get("title") is not None:
                    yield encoding

    found = list(axes(chart))
    assert found
    for encoding in found:
        axis = encoding.get("axis", {})
        assert axis.get("labelOverlap") and axis.get("tickCount", 99) <= 5, encoding
    for encoding in chart.get("layer", [chart])[0].get("encoding", {}).values():
        if isinstance(encoding, dict) and "legend" in encoding and encoding["legend"]:
            assert encoding["legend"]["orient"] == "top"


def test_result_figure_text_is_sized_against_the_image_width():
    from invmel_core.figures import plots

    rng = np.random.default_rng(0)
    spec = rng.random((257, 100)).astype(np.float32)
    for fig in (plots.comparison_figure(spec, spec * 0.5, 16000, 128),
                plots.comparison_figure(None, spec, 16000, 128, mel=spec[:40], freq_axis="mel")):
        # Shown 360 CSS px wide on a phone, its smallest text is still ~10 px.
        assert plots.smallest_text_ratio(fig) * 360 >= 9.5, plots.smallest_text_ratio(fig)
