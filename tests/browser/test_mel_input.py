"""Issues 9.4 and 10.3-10.4 in a real browser: a model's mel on the Invert page (a HiFi-GAN-style
ln mel of the bundled short speech, as stored and transposed), its format, "Which settings fit?"
and one click to adopt a candidate, the joint sound made with its progress shown and played,
and "Where the sound is lost" for an audio input.

The mel is made with ``invmel_core.mel_from_audio(samples, "hifigan")`` from
assets/speech_short.wav at 22050 Hz: 80 x 359, ln(max(mel, 1e-5)).
"""

import re
import time

import numpy as np
import pytest

from browser.harness import ASSETS, key, open_app, screenshot, visible_errors, wait_for_app_run
from browser.test_invert import choose_source, play, upload, wait_for_result

FRAMES = 359                       # 4.2 s at hop 256
SECONDS = FRAMES * 256 / 22050     # 4.17 s


@pytest.fixture(scope="module")
def hifigan_mel():
    from invmel_core import load_audio, mel_from_audio

    samples, _ = load_audio(ASSETS / "speech_short.wav", 22050)
    mel = mel_from_audio(samples, "hifigan")
    assert mel.shape == (80, FRAMES) and mel.min() == pytest.approx(np.log(1e-5))
    return mel


def saved(tmp_path, array, name):
    path = tmp_path / name
    np.save(path, array)
    return path


def choose_option(page, widget_key: str, text: str) -> None:
    """Pick the option of selectbox ``widget_key`` whose label starts with ``text`` (streamlit
    1.67 draws a selectbox as a react-aria combo box)."""
    key(page, widget_key).locator("input[role='combobox']").click()
    page.get_by_role("option", name=re.compile("^" + re.escape(text))).first.click()
    wait_for_app_run(page)


def input_column_errors(page):
    """st.error boxes (not the info and warning boxes) in the input column."""
    column = page.locator("[data-testid='stColumn']").filter(has=key(page, "source")).first
    return column.locator("[data-testid='stAlertContentError']")


def number_value(page, widget_key: str) -> str:
    return key(page, widget_key).locator("input").input_value()


def main_text(page) -> str:
    return page.locator("[data-testid='stMain']").inner_text()


def test_a_hifigan_ln_mel_with_its_format_inverts_and_its_joint_sound_plays(page, tmp_path, hifigan_mel):
    # Many iterations, so the sound takes long enough to watch its progress bar.
    open_app(page, "/invert?n_iter=1000")
    choose_source(page, "Mel spectrogram (.npy)")
    upload(page, "npy", saved(tmp_path, hifigan_mel, "hifigan_mel.npy"))
    proposal = key(page, "proposal")     # read, not refused: the format its values fit, proposed at once
    proposal.wait_for(state="visible")
    assert "This looks like a" in proposal.inner_text() and input_column_errors(page).count() == 0
    assert "80 mel bands but n_mels is 128" in main_text(page)
    choose_option(page, "mel_format", "hifigan")
    assert input_column_errors(page).count() == 0
    # The preset set the sidebar (through the settings store: no widget error anywhere).
    assert (number_value(page, "sample_rate"), number_value(page, "n_fft"), number_value(page, "hop_length"),
            number_value(page, "f_max")) == ("22050", "1024", "256", "8000.00")
    assert key(page, "n_mels_box").locator("input").input_value() == "80"
    assert "power=1" in page.url and "mel_type=slaney" in page.url
    reading = key(page, "mel_reading").inner_text()
    print("mel reading:", reading)
    assert "natural log" in reading and "ln(1e-5)" in reading and "high confidence" in reading
    assert f"{FRAMES} × hop 256 / 22050 Hz = {SECONDS:.2f} s" in reading
    screenshot(page, "mel_input_hifigan_format")

    key(page, "run").locator("button").click()
    key(page, "result_metrics").wait_for(state="visible", timeout=120_000)
    # The sound is made after the figure, in a worker, with its progress on screen.
    seen = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and key(page, "result_audio").locator("audio").count() == 0:
        bar = page.locator("[data-testid='stProgress']")
        if bar.count():
            found = re.search(r"Making the sound \(joint\): step (\d+) of 1000", bar.first.inner_text())
            if found and (not seen or int(found.group(1)) != seen[-1]):
                seen.append(int(found.group(1)))
                if len(seen) == 2:
                    key(page, "result_audio").scroll_into_view_if_needed()
                    screenshot(page, "mel_input_sound_progress", full=False)
        page.wait_for_timeout(50)
    wait_for_result(page)
    print("progress readings:", seen)
    assert len(seen) >= 2 and seen == sorted(seen) and seen[-1] > seen[0], seen
    fit = key(page, "result_fit").inner_text()
    assert "These settings fit the values" in fit, fit
    players = key(page, "result_audio").locator("audio")
    assert players.count() == 1                                   # no original for a model's mel
    label = key(page, "result_audio").inner_text()
    assert "joint" in label and "1000 iterations" in label and "level the mel implies" in label, label
    state = play(players.first)
    print("joint playback:", state)
    assert state["paused"] is False and state["advanced"] > 0.3, state
    assert abs(state["duration"] - (FRAMES - 1) * 256 / 22050) < 0.05, state
    assert visible_errors(page) == [] and page.watch.errors == [], page.watch.errors
    screenshot(page, "mel_input_result")


def test_a_transposed_mel_at_the_defaults_is_set_right_by_one_click_in_which_settings_fit(page, tmp_path,
                                                                                          hifigan_mel):
    open_app(page, "/invert")
    choose_source(page, "Mel spectrogram (.npy)")
    upload(page, "npy", saved(tmp_path, hifigan_mel.T, "hifigan_mel_T.npy"))          # (359, 80)
    proposal = key(page, "proposal")   # the format the values fit, proposed at once, not a red error
    proposal.wait_for(state="visible")
    assert "This looks like a" in proposal.inner_text() and "stored as (time, n_mels)" in proposal.inner_text()
    assert input_column_errors(page).count() == 0
    assert "Or, if it holds (time, n_mels), it has 80 mel bands" in main_text(page)
    assert key(page, "transpose_adopt_npy").is_visible()
    key(page, "fit_run").locator("button").click()
    key(page, "fit_verdict").wait_for(state="visible", timeout=120_000)
    wait_for_app_run(page)
    verdict = key(page, "fit_verdict").inner_text()
    assert " fit" in verdict and "ruled out" in verdict, verdict
    key(page, "fit_details").locator("summary").first.click()   # the why and the chart, on demand
    key(page, "fit_chart").locator(".vega-embed").first.wait_for(state="visible", timeout=30_000)
    summary = key(page, "fit_summary").inner_text()
    print("fit summary:", summary[:400])
    assert "cannot tell them apart" in summary and "Ruled out:" in summary
    first = key(page, "fit_panel").locator("[data-testid='stMarkdownContainer']").filter(
        has_text=re.compile(r"· fits ·")).first.inner_text()
    assert first.startswith(("hifigan", "tacotron2")) and "stored transposed" in first, first
    key(page, "fit_panel").scroll_into_view_if_needed()
    screenshot(page, "mel_input_which_settings_fit")
    key(page, "fit_use_0").locator("button").first.click()
    wait_for_app_run(page)
    assert input_column_errors(page).count() == 0
    assert "80 mel bands × 359 frames" in key(page, "mel_reading").inner_text()
    assert number_value(page, "n_fft") == "1024" and key(page, "n_mels_box").locator("input").input_value() == "80"
    assert "set in the sidebar, the file read as (time, n_mels)" in main_text(page)
    shown = key(page, "mel_format").locator("input").input_value()
    assert "hifigan" in shown or "tacotron2" in shown, shown
    assert not key(page, "run").locator("button").is_disabled()
    assert visible_errors(page) == []
    screenshot(page, "mel_input_adopted")


def test_where_the_sound_is_lost_plays_four_renditions_side_by_side(page):
    open_app(page, "/invert?n_fft=512&n_mels=40&sample=speech_short")
    key(page, "oracle_run").locator("button").click()
    key(page, "oracle_players").wait_for(state="visible", timeout=120_000)
    wait_for_app_run(page)
    players = key(page, "oracle_players").locator("audio")
    assert players.count() == 4
    text = key(page, "oracle_players").inner_text()
    for label in ("Original", "True magnitude + estimated phase", "Mel-inverted magnitude + true phase",
                  "Mel-inverted magnitude + estimated phase"):
        assert label in text, text
    assert "Only the phase is missing here" in text and "Only the detail inside each mel band" in text
    # st.dataframe draws on a canvas; its cells are mirrored in a hidden accessible table.
    table = key(page, "oracle_scores")
    table.locator("td").first.wait_for(state="attached")
    cells = [c.strip() for c in table.locator("td").all_text_contents()]
    print("oracle table:", cells)
    assert cells[:5] == ["Original", "0", "0", "0", "1"], cells       # the original against itself
    assert len(cells) == 4 * 5
    state = play(players.nth(3))
    assert state["paused"] is False and state["advanced"] > 0.3, state
    assert abs(state["duration"] - 4.2) < 0.1, state
    assert visible_errors(page) == []
    key(page, "oracle").scroll_into_view_if_needed()
    screenshot(page, "invert_where_the_sound_is_lost")
