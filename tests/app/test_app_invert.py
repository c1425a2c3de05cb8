"""The Invert page through AppTest: every source, a live solve, Pause/Resume/Stop, results,
and bad inputs that show an error next to the input while the last result stays."""

import numpy as np
import pytest

from invmel_core import MelFilterbank
from invmel_core.app import offload
from pages import _inversion, _widgets
from app_support import (errors, metric, npy_bytes, open_page, run_until_result, shown_sound, upload_mel, warnings,
                         wav_bytes)


def small(at, **extra):
    """Settings that make each solve take a fraction of a second."""
    at.number_input(key="sample_rate").set_value(extra.pop("sample_rate", 16000))
    at.number_input(key="n_fft").set_value(extra.pop("n_fft", 512))
    at.slider(key="n_mels").set_value(extra.pop("n_mels", 40))
    at.selectbox(key="solver").set_value(extra.pop("solver", "sgd"))
    at.number_input(key="max_iter").set_value(extra.pop("max_iter", 60))
    assert not extra
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_bundled_sample_runs_to_a_scored_result_with_downloads():
    at = small(open_page("invert"))
    assert at.radio(key="source").value == "sample"
    before = dict(offload.stats)
    at.button(key="run").click().run()
    run_until_result(at)
    # The figure and the sound were made in a worker process (none died: the app's main
    # module must not re-run in a worker).
    assert offload.stats["in_workers"] > before["in_workers"]
    assert offload.stats["inline_fallbacks"] == before["inline_fallbacks"]
    result = at.session_state["invert_result"]
    assert result.steps == 60 and result.reason == "max_iter"
    # The metric shows the same mel residual the core computes.
    assert metric(at, "mel residual") == f"{result.scores.mel_residual:.3g}"
    assert 0 < result.scores.mel_residual < 1
    assert result.scores.spectral_convergence > 0
    keys = {d.key for d in at.download_button}
    assert keys == {"dl_spec_npy", "dl_mel_npy", "dl_wav", "dl_png", "dl_json"}
    assert result.png[:8] == b"\x89PNG\r\n\x1a\n"
    sound = shown_sound(at)
    assert sound.wav[:4] == b"RIFF" and (sound.method, sound.iterations) == ("joint", 150)   # the default
    assert result.estimate.shape == (257, result.problem.mel.shape[1])
    assert not errors(at)


def test_upload_audio_through_the_file_uploader():
    at = small(open_page("invert"))
    at.radio(key="source").set_value("upload").run()
    at.file_uploader(key="upload").upload("tone.wav", wav_bytes(), "audio/wav")
    at.run()
    assert not errors(at), errors(at)
    at.button(key="run").click().run()
    run_until_result(at)
    result = at.session_state["invert_result"]
    assert result.problem.label == "tone.wav"
    assert result.problem.mel.shape[0] == 40


def test_microphone_recording_is_inverted():
    at = small(open_page("invert"))
    at.radio(key="source").set_value("mic").run()
    at.audio_input(key="mic").set_value(("recording.wav", wav_bytes(seconds=0.3), "audio/wav"))
    at.run()
    assert not errors(at), errors(at)
    at.button(key="run").click().run()
    run_until_result(at)
    assert at.session_state["invert_result"].problem.label == "recording"


def test_uploaded_mel_spectrogram_is_inverted_without_an_original():
    fb = MelFilterbank(257, 0.0, None, 40, 16000)
    spec = np.random.default_rng(0).random((257, 12), dtype=np.float32)
    at = small(open_page("invert"))
    upload_mel(at, fb.dense.T @ spec, "mel.npy")
    assert not errors(at), errors(at)
    at.button(key="run").click().run()
    run_until_result(at)
    result = at.session_state["invert_result"]
    assert result.scores.spectral_convergence is None      # no original to compare with
    assert metric(at, "spectral convergence") == "—"
    sound = shown_sound(at)
    assert sound.original_wav is None and sound.wav[:4] == b"RIFF"


@pytest.mark.parametrize("name,content,expected", [
    ("corrupt.wav", b"RIFF\x10\x00\x00\x00WAVEfmt garbage", "could not read 'corrupt.wav' as audio: it starts "
                                                         "like a wav file, but its header is damaged"),
    ("notes.wav", b"just some text, not audio at all", "could not read 'notes.wav' as audio: its contents are "
                                                       "not in any supported audio format"),
])
@pytest.mark.slow
def test_bad_audio_shows_an_error_and_keeps_the_last_result(name, content, expected):
    at = small(open_page("invert"))
    at.button(key="run").click().run()
    run_until_result(at)
    kept = at.session_state["invert_result"]
    at.radio(key="source").set_value("upload").run()
    at.file_uploader(key="upload").upload(name, content, "audio/wav")
    at.run()
    assert not at.exception
    assert any(expected in e.lower() for e in errors(at)), errors(at)
    assert at.session_state["invert_result"] is kept            # the result stays on screen
    assert metric(at, "mel residual")
    assert at.button(key="run").disabled                       # nothing to run on


@pytest.mark.parametrize("array,allow_pickle,expected", [
    (np.array([{"evil": 1}], dtype=object), True, "pickle"),
    (np.full((40, 5), np.nan, np.float32), False, "nan"),
    (np.ones((80, 5), np.float32), False, "n_mels"),
])
def test_bad_mel_files_show_an_error_next_to_the_input(array, allow_pickle, expected):
    at = small(open_page("invert"))
    at.radio(key="source").set_value("npy").run()
    at.file_uploader(key="npy").upload("bad.npy", npy_bytes(array, allow_pickle=allow_pickle))
    at.run()
    assert not at.exception
    assert any(expected in e.lower() for e in errors(at)), errors(at)


@pytest.mark.slow
def test_pause_resume_and_stop_keep_the_latest_iterate(monkeypatch):
    # A page run drives a solve until it ends; here each run stops after 2 s, as if the user
    # had clicked something, so the test can click Pause and Stop mid-way.
    monkeypatch.setattr(_widgets, "PAGE_RUN_BUDGET_S", 2.0)
    at = small(open_page("invert"), max_iter=10_000_000)
    at.button(key="run").click().run()            # one page run: 2 s of solving
    live = at.session_state["invert_live"]
    assert not live.done and live.steps, "the page run advanced the solver"
    at.button(key="pause").click().run()
    paused_at = live.steps[-1]
    at.run()
    assert live.paused and live.steps[-1] == paused_at, "a paused solve does not advance"
    assert at.button(key="resume")
    at.button(key="stop").click().run()
    assert live.done and live.reason == "stopped"
    result = at.session_state["invert_result"]
    assert result.reason == "stopped" and result.steps == paused_at
    assert metric(at, "steps") == f"{paused_at:,}"
    assert at.button(key="stop").disabled


def test_empty_filters_are_warned_about_on_the_invert_page():
    at = small(open_page("invert"), n_mels=128)
    assert any("mel filters are empty" in w for w in warnings(at)), warnings(at)
    at.slider(key="n_mels").set_value(40).run()
    assert not any("empty" in w for w in warnings(at))


def test_settings_from_the_url_reach_the_solver_and_back():
    at = open_page("invert", query={"n_mels": "64", "solver": "sgd", "seed": "3"})
    assert at.slider(key="n_mels").value == 64
    assert at.selectbox(key="solver").value == "sgd"
    assert at.number_input(key="seed").value == 3
    at.slider(key="n_mels").set_value(80).run()
    assert at.query_params["n_mels"] == ["80"] or at.query_params["n_mels"] == "80"


def test_a_mel_file_with_other_n_mels_offers_to_adopt_it():
    fb = MelFilterbank(257, 0.0, None, 64, 16000)
    mel = fb.dense.T @ np.random.default_rng(0).random((257, 10), dtype=np.float32)
    at = small(open_page("invert"))                                # n_mels 40
    upload_mel(at, mel, "mel64.npy")
    assert any("64 mel bands but n_mels is 40" in e for e in errors(at)), errors(at)
    at.button(key="adopt_n_mels").click().run()
    assert at.slider(key="n_mels").value == 64
    assert not errors(at)
    assert not at.button(key="run").disabled


def test_an_upload_survives_a_page_switch_and_follows_the_sample_rate():
    at = small(open_page("invert"))
    at.radio(key="source").set_value("upload").run()
    at.file_uploader(key="upload").upload("tone.wav", wav_bytes(seconds=1.0), "audio/wav")
    at.run()
    first = at.session_state["invert_input"]
    assert first.samples.size == 16000
    at.switch_page("pages/mel_scales.py").run()
    at.number_input(key="sample_rate").set_value(8000).run()
    at.switch_page("pages/invert.py").run()
    assert not errors(at), errors(at)
    again = at.session_state["invert_input"]
    assert again.label == "tone.wav" and again.samples.size == 8000   # decoded again at 8 kHz
    assert any("loaded earlier" in c.value for c in at.caption)


@pytest.mark.slow
def test_long_audio_is_computed_in_full_and_plays_an_excerpt():
    import io

    import soundfile

    at = small(open_page("invert"), max_iter=5)
    rate = 16000
    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    soundfile.write(buf, 0.1 * rng.standard_normal(45 * rate), rate, format="WAV", subtype="PCM_16")
    at.radio(key="source").set_value("upload").run()
    at.file_uploader(key="upload").upload("long.wav", buf.getvalue(), "audio/wav")
    at.run()
    at.button(key="run").click().run()
    run_until_result(at)
    result = at.session_state["invert_result"]
    assert result.estimate.shape[1] == 1 + 45 * rate // 128      # computed at full resolution
    sound = shown_sound(at)
    assert sound.excerpt
    assert abs(soundfile.info(io.BytesIO(result.full_wav("joint", None))).duration - 45.0) < 0.01  # made on download
    played = soundfile.info(io.BytesIO(sound.wav))
    assert abs(played.duration - 30.0) < 0.01
    assert abs(soundfile.info(io.BytesIO(sound.original_wav)).duration - 30.0) < 0.01
    assert any("first 30 s" in c.value for c in at.caption)


# ------------------------------------------------------------------ the Invert page's actions, status and wording

@pytest.mark.slow
def test_result_figure_on_a_log_or_mel_axis_and_a_frequency_band():
    at = small(open_page("invert"), solver="nnls")
    at.button(key="run").click().run()
    run_until_result(at)
    result = at.session_state["invert_result"]
    linear = at.image[-1].proto.imgs[0].url
    assert at.radio(key="result_freq_axis").value == "linear"
    at.radio(key="result_freq_axis").set_value("log").run()
    assert not at.exception
    views = at.session_state["_result_views"]
    png = views[("figure", "log", (0.0, result.top_hz))]
    assert png[:4] == b"\x89PNG" and png != result.png
    at.select_slider(key="result_band").set_range("100 Hz", "2 kHz")
    at.run()
    assert ("figure", "log", (100.0, 2000.0)) in at.session_state["_result_views"]
    assert at.image[-1].proto.imgs[0].url != linear


@pytest.mark.slow
def test_closed_form_solver_has_no_loss_chart():
    at = small(open_page("invert"), solver="lstsq")
    at.button(key="run").click().run()
    run_until_result(at)
    at.run()
    assert not at.get("vega_lite_chart"), "a loss 'curve' of one point was drawn"
    assert any("no loss curve" in c.value for c in at.caption)


@pytest.mark.slow
def test_iterative_solver_shows_elapsed_time_in_the_status(monkeypatch):
    monkeypatch.setattr(_widgets, "PAGE_RUN_BUDGET_S", 1.0)
    at = small(open_page("invert"), max_iter=10_000_000)
    at.button(key="run").click().run()
    status = [m.value for m in at.markdown if "step" in m.value and "elapsed" in m.value]
    assert status and "running" in status[0], [m.value for m in at.markdown][-6:]
    at.button(key="stop").click().run()


@pytest.mark.slow
def test_streamlit_stop_holds_the_solve_as_interrupted_until_resume(monkeypatch):
    """Streamlit's toolbar Stop raises StopException at the next redraw; the solve must not
    stay 'running' with Pause enabled, nor go on by itself: it waits for Resume or Run."""
    from streamlit.runtime.scriptrunner_utils.exceptions import StopException

    draws = {"n": 0}
    real_draw = _inversion.draw_live

    def draw_then_stop(*args):
        draws["n"] += 1
        if draws["n"] == 3:
            raise StopException()
        return real_draw(*args)

    monkeypatch.setattr(_inversion, "draw_live", draw_then_stop)
    at = small(open_page("invert"), max_iter=10_000_000)
    at.button(key="run").click().run()
    live = at.session_state["invert_live"]
    held = live.steps[-1]
    assert live.paused and not live.done
    at.run()                                                     # any later run: held, and says so
    assert live.steps[-1] == held, "the solve went on by itself"
    assert any("interrupted" in m.value for m in at.markdown), [m.value for m in at.markdown][-5:]
    assert any("Streamlit's Stop" in c.value for c in at.caption)
    assert at.button(key="resume") and not at.button(key="stop").disabled
    monkeypatch.setattr(_widgets, "PAGE_RUN_BUDGET_S", 1.0)
    at.button(key="resume").click().run()
    assert live.steps[-1] > held and not live.paused
    at.button(key="stop").click().run()
    assert live.reason == "stopped" and at.session_state["invert_result"].reason == "stopped"


def test_mel_input_has_no_original_loudness_and_the_sound_settings_are_exposed():
    from invmel_core.app import workflow as pipeline

    fb = MelFilterbank(257, 0.0, None, 40, 16000)
    spec = np.random.default_rng(0).random((257, 12), dtype=np.float32)
    at = small(open_page("invert"), solver="nnls")
    upload_mel(at, fb.dense.T @ spec, "mel.npy")
    at.button(key="run").click().run()
    run_until_result(at)
    labels = " ".join(m.value for m in at.markdown)
    assert "same loudness as the original" not in labels and "original's loudness" not in labels
    assert "level the mel implies" in labels and "joint" in labels and "150 iterations" in labels
    result = at.session_state["invert_result"]
    default = shown_sound(at)
    at.number_input(key="n_iter").set_value(8).run()
    assert not at.exception
    sound = shown_sound(at)
    assert (sound.method, sound.iterations) == ("joint", 8)
    assert sound.wav == pipeline.to_wav(None, result.settings.replace(n_iter=8), mel=result.problem.mel)
    assert sound.wav != default.wav
    assert "8 iterations" in " ".join(m.value for m in at.markdown)
    assert at.query_params["n_iter"] in ("8", ["8"])          # shareable, like every setting
    at.radio(key="method").set_value("cascade").run()               # Griffin-Lim on the solver's estimate
    sound = shown_sound(at)
    assert (sound.method, sound.iterations) == ("cascade", 8)
    assert sound.wav == pipeline.to_wav(result.estimate, result.settings.replace(method="cascade", n_iter=8))
    assert at.query_params["method"] in ("cascade", ["cascade"])
    at.number_input(key="n_iter").set_value(None).run()        # empty: the method's default
    assert shown_sound(at).iterations == 32 and "n_iter" not in at.query_params


@pytest.mark.slow
def test_audio_input_reconstruction_is_labelled_with_the_original_loudness():
    at = small(open_page("invert"), solver="nnls")
    at.button(key="run").click().run()
    run_until_result(at)
    labels = " ".join(m.value for m in at.markdown)
    assert "as the original's" in labels and "dBFS" not in labels


# ------------------------------------------------------------------ where the sound is lost

@pytest.mark.slow
def test_where_the_sound_is_lost_plays_four_renditions_with_their_scores():
    at = small(open_page("invert"), solver="nnls")
    assert at.session_state["_settings_ok"].method == "joint"
    at.button(key="oracle_run").click().run()
    assert not at.exception and not errors(at), errors(at)
    rows = at.session_state["_oracle"]["rows"]
    assert [row.key for row in rows] == ["original", "true_magnitude", "true_phase", "estimated"]
    original, true_magnitude, true_phase, estimated = (row.scores for row in rows)
    assert original["re_mel"] == 0 and original["estoi"] == pytest.approx(1.0)
    # Each reconstruction loses something; the true phase keeps the mel closest... to the detail lost.
    assert all(row.scores["re_mel"] > 0 and row.scores["estoi"] < 1 for row in rows[1:])
    assert all(row.wav[:4] == b"RIFF" for row in rows)
    players = [a for a in at.get("audio")]
    assert len(players) == 1 + 4                                  # the input's, then the four
    captions = " ".join(c.value for c in at.caption)
    assert all(row.lesson in captions for row in rows)
    table = at.dataframe[-1].value
    assert list(table["ESTOI"]) == pytest.approx([row.scores["estoi"] for row in rows])
    assert list(table["re-mel"]) == pytest.approx([row.scores["re_mel"] for row in rows])
    # Another setting: the rows stay, marked as of the earlier settings, until asked again.
    at.slider(key="n_mels").set_value(64).run()
    assert any("press the button again" in c.value for c in at.caption)


def test_where_the_sound_is_lost_is_for_audio_inputs_only():
    fb = MelFilterbank(257, 0.0, None, 40, 16000)
    at = small(open_page("invert"))
    upload_mel(at, fb.dense.T @ np.ones((257, 8), np.float32), "mel.npy")
    assert not [b for b in at.button if b.key == "oracle_run"]
