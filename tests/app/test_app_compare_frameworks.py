"""The Compare solvers and Frameworks pages through AppTest."""

import numpy as np
import pytest

from invmel_core import SOLVERS
from invmel_core.app.codegen import generate
from invmel_core.app.settings import Settings
from app_support import errors, open_page


@pytest.mark.slow
def test_compare_runs_every_chosen_solver_on_the_same_input():
    at = open_page("compare")
    at.number_input(key="sample_rate").set_value(16000)
    at.number_input(key="n_fft").set_value(512)
    at.slider(key="n_mels").set_value(40)
    at.number_input(key="max_iter").set_value(100)
    at.number_input(key="compare_time_limit").set_value(2.0)
    at.multiselect(key="compare_solvers").set_value(["sgd", "mindspore"]).run()
    at.button(key="compare_run").click().run()
    assert not at.exception and not errors(at), errors(at)
    runs = at.session_state["compare_result"]["of"].runs
    assert [r.solver for r in runs] == ["sgd", "mindspore"]
    table = at.dataframe[0].value
    assert list(table["solver"]) == ["sgd", "mindspore"]
    assert list(table["steps"]) == [r.steps for r in runs]
    assert all(0 < r.scores.mel_residual < 1 for r in runs)
    # Each curve is the relative mel residual along the run, ending at the reported one.
    for r in runs:
        assert len(r.times) == len(r.residuals) > 1
        assert np.isclose(r.residuals[-1], r.scores.mel_residual, rtol=1e-3)
    assert at.session_state["compare_result"]["png"][:4] == b"\x89PNG"


def test_compare_offers_every_registered_solver_and_needs_one():
    at = open_page("compare")
    assert set(at.multiselect(key="compare_solvers").options) == set(SOLVERS)
    at.multiselect(key="compare_solvers").set_value([]).run()
    assert at.button(key="compare_run").disabled


def test_frameworks_page_reproduces_both_documented_outputs():
    at = open_page("frameworks")
    assert not errors(at)
    codes = [c.value for c in at.code]
    assert codes[0] == "[[0.7576, 0.4031],\n [0.2793, 0.7347]]"
    assert codes[1] == "[[0.5508, 0.0707],\n [0.7081, 0.8399]]"
    marks = [m.value for m in at.markdown if "documented output" in m.value]
    assert len(marks) == 2 and all(m.startswith("✓ matches") for m in marks), marks
    at.number_input(key="fw_seed_torch").set_value(2).run()
    assert at.code[0].value != codes[0]                       # another seed, another "answer"


def test_frameworks_code_follows_the_sidebar_settings():
    at = open_page("frameworks")
    at.number_input(key="n_fft").set_value(400)
    at.slider(key="n_mels").set_value(80)
    at.radio(key="mel_type").set_value("slaney").run()
    settings = at.session_state["_settings_ok"]
    assert settings == Settings.checked(n_fft=400, n_mels=80, mel_type="slaney")
    shown = [c.value for c in at.code][2:]
    assert shown[3].rstrip("\n") == generate(settings, "librosa").rstrip("\n")
    assert any("n_stft=201, n_mels=80" in code for code in shown)


# ------------------------------------------------------------------ Compare: Stop, Resume, the players

def small_compare(at, solvers, max_iter=100, time_limit=2.0):
    at.number_input(key="sample_rate").set_value(16000)
    at.number_input(key="n_fft").set_value(512)
    at.slider(key="n_mels").set_value(40)
    at.number_input(key="max_iter").set_value(max_iter)
    at.number_input(key="compare_time_limit").set_value(time_limit)
    at.multiselect(key="compare_solvers").set_value(solvers).run()
    assert not at.exception
    return at


@pytest.mark.slow
def test_compare_has_a_player_per_solver():
    import io

    import soundfile

    at = small_compare(open_page("compare"), ["lstsq", "nnls"])
    at.button(key="compare_run").click().run()
    assert not at.exception and not errors(at), errors(at)
    result = at.session_state["compare_result"]
    players = [a for a in at.get("audio")]
    # The input's, one per solver (Griffin-Lim on its estimate), and the joint method's for reference.
    assert len(players) == 1 + len(result["of"].runs) + 1 == 4
    wavs = result["wavs"][("cascade", 32)]
    assert all(soundfile.info(io.BytesIO(w)).duration == pytest.approx(4.2, abs=0.05) for w in wavs)
    assert wavs[0] != wavs[1]                                         # each solver is heard
    joint = result["wavs"][("joint", 150)]
    assert soundfile.info(io.BytesIO(joint)).duration == pytest.approx(4.2, abs=0.05) and joint not in wavs
    at.number_input(key="n_iter").set_value(4).run()             # the one sound setting, here too
    assert {("cascade", 4), ("joint", 4)} <= set(at.session_state["compare_result"]["wavs"]) and not at.exception


@pytest.mark.slow
def test_compare_stop_keeps_what_ran_and_skips_the_rest(monkeypatch):
    from pages import _widgets

    monkeypatch.setattr(_widgets, "PAGE_RUN_BUDGET_S", 2.0)
    at = small_compare(open_page("compare"), ["sgd", "nnls"], max_iter=10_000_000, time_limit=600.0)
    at.button(key="compare_run").click().run()                       # 2 s into SGD's 600
    comparison = at.session_state["compare_live"]
    assert not comparison.done and comparison.current == "sgd"
    assert not at.button(key="compare_stop").disabled
    at.button(key="compare_stop").click().run()
    assert comparison.done
    runs = at.session_state["compare_result"]["of"].runs
    assert [(r.solver, r.reason) for r in runs] == [("sgd", "stopped")]
    assert runs[0].scores.mel_residual > 0 and len(at.get("audio")) == 3        # input, sgd, joint
    assert at.button(key="compare_stop").disabled


def test_frameworks_code_goes_on_to_audio_with_the_sound_settings():
    at = open_page("frameworks", query={"power": "1", "method": "cascade", "n_iter": "48"})
    settings = at.session_state["_settings_ok"]
    assert (settings.power, settings.method, settings.n_iter) == (1.0, "cascade", 48)
    shown = [c.value.rstrip("\n") for c in at.code][2:]
    assert shown == [generate(settings, target).rstrip("\n") for target in
                     ("torchaudio_sgd", "torchaudio", "mindspore", "librosa", "invmel_core")]
    assert all("reconstruction.wav" in code for code in shown)
    assert "GriffinLim(n_fft=2048, hop_length=512, power=1.0," in shown[0] and "n_iter=48" in shown[0]
    assert "griffinlim(spec, n_fft=2048, hop_length=512, power=1.0, n_iter=48, seed=0)" in shown[4]
    assert any("reconstruction.wav" in m.value and "Griffin-Lim" in m.value for m in at.markdown)
