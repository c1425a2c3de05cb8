"""The Invert page in a real browser: a bundled sample and an uploaded WAV are inverted,
the loss falls while the page watches, the spectrogram and metrics appear, the audio plays, the
downloads are what they say; a corrupt upload shows an error next to the uploader while the earlier
result stays on screen.

Inputs are short (assets/speech_short.wav 4.2 s, assets/chirp.wav 3 s) and n_fft is 512 so each
run takes seconds.
"""

import io
import json
import re
import time

import numpy as np

from browser.harness import (ASSETS, key, open_app, screenshot, visible_errors, wait_for_app_run)

STATUS = re.compile(r"(running|paused|finished \((?P<reason>[\w ]+)\)) — step (?P<step>[\d,]+) · "
                    r"loss (?P<loss>[-+.\deE]+|nan|inf)")


def live_status(page):
    """(state word, step, loss) from the live status line, or None before it is drawn."""
    box = key(page, "live_status")
    if box.count() == 0:
        return None
    m = STATUS.search(box.first.inner_text())
    if m is None:
        return None
    return m.group(1), int(m.group("step").replace(",", "")), float(m.group("loss"))


def wait_for_result(page, timeout_s: float = 120.0) -> None:
    key(page, "result_metrics").wait_for(state="visible", timeout=timeout_s * 1000)
    wait_for_app_run(page)


RESULT_METRICS = 5
READ_METRICS_JS = """box => Object.fromEntries([...box.querySelectorAll("[data-testid='stMetric']")].map(m => [
    m.querySelector("[data-testid='stMetricLabel']")?.innerText.trim(),
    m.querySelector("[data-testid='stMetricValue']")?.innerText.trim()]))"""


def metrics(page, timeout_s: float = 30.0) -> dict:
    """{label: value text} of the result's st.metric boxes, read in one snapshot once all are
    drawn: the sound's progress reruns the page, and a box-by-box read could catch the result
    mid-redraw (a CI run once found no "mel residual")."""
    deadline = time.monotonic() + timeout_s
    while True:
        out = key(page, "result_metrics").evaluate(READ_METRICS_JS)
        if len(out) >= RESULT_METRICS and all(out.values()) or time.monotonic() > deadline:
            return out
        page.wait_for_timeout(200)


def image_loaded(locator) -> bool:
    return locator.evaluate("img => img.complete && img.naturalWidth > 0")


def choose_source(page, label: str) -> None:
    key(page, "source").get_by_text(label, exact=True).click()
    wait_for_app_run(page)


def upload(page, widget_key: str, path_or_payload) -> None:
    key(page, widget_key).locator("input[type='file']").set_input_files(path_or_payload)
    wait_for_app_run(page, settle_ms=800)


def input_column_errors(page):
    """st.error boxes in the page's input column (the column that holds the source radio)."""
    column = page.locator("[data-testid='stColumn']").filter(has=key(page, "source")).first
    return column.locator("[data-testid='stAlert']").filter(has_text=re.compile(r"\w"))


def download(page, widget_key: str) -> tuple[str, bytes]:
    with page.expect_download() as info:
        key(page, widget_key).locator("button").click()
    return info.value.suggested_filename, open(info.value.path(), "rb").read()


def play(audio) -> dict:
    """Start an <audio> element and report whether time advances."""
    return audio.evaluate("""async a => {
        await a.play();
        const t0 = a.currentTime;
        await new Promise(r => setTimeout(r, 1200));
        return {paused: a.paused, advanced: a.currentTime - t0, duration: a.duration};
    }""")


def test_sample_run_loss_falls_spectrogram_appears_audio_plays(page):
    open_app(page, "/invert?solver=sgd&max_iter=20000&n_fft=512&n_mels=64")  # ~15 s: several live readings
    assert "speech_short.wav: 4.2 s" in key(page, "source").locator("xpath=..").inner_text() or \
        "speech_short.wav: 4.2 s" in page.locator("[data-testid='stMain']").inner_text()
    key(page, "run").locator("button").click()
    readings, mid_run_shot = [], False
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and key(page, "result_metrics").count() == 0:
        reading = live_status(page)
        if reading is not None and (not readings or reading[1] != readings[-1][1]):
            readings.append(reading)
            if reading[0] == "running" and not mid_run_shot:
                key(page, "live_status").scroll_into_view_if_needed()
                screenshot(page, "invert_mid_run", full=False)
                mid_run_shot = True
        page.wait_for_timeout(100)
    wait_for_result(page)
    final = live_status(page)
    if final[1] != readings[-1][1]:
        readings.append(final)
    print("live readings (state, step, loss):", readings)
    # The page showed the solve in progress, and the loss fell from reading to reading.
    assert any(r[0] == "running" for r in readings), readings
    assert len(readings) >= 3, readings
    steps = [r[1] for r in readings]
    losses = [r[2] for r in readings]
    assert steps == sorted(steps) and len(set(steps)) == len(steps), readings
    assert all(b < a for a, b in zip(losses, losses[1:])), readings
    assert losses[-1] < losses[0] / 10, readings
    assert final == ("finished (max_iter)", 20000, final[2])
    # Loss curve and live spectrogram were drawn.
    key(page, "loss_chart").locator("canvas, svg").first.wait_for(state="visible")
    assert image_loaded(key(page, "live_spec").locator("img").first)
    # The result: metrics, the comparison figure, two players.
    m = metrics(page)
    assert m["steps"] == "20,000", m
    assert float(m["mel residual"]) < 0.1, m
    figure = key(page, "result_figure").locator("img").first
    assert image_loaded(figure)
    assert figure.evaluate("img => img.naturalHeight") > 300
    players = key(page, "result_audio").locator("audio")
    assert players.count() == 2
    state = play(players.nth(1))
    print("reconstruction playback:", state)
    assert state["paused"] is False and state["advanced"] > 0.3, state
    assert abs(state["duration"] - 4.2) < 0.15, state
    assert visible_errors(page) == []
    assert page.watch.errors == [], page.watch.errors
    screenshot(page, "invert_after_run")


def test_downloads_are_what_they_say(page):
    open_app(page, "/invert?solver=nnls&n_fft=512&n_mels=40&sample=chirp")
    key(page, "run").locator("button").click()
    wait_for_result(page)
    name, wav = download(page, "dl_wav")
    assert name.endswith(".wav") and wav[:4] == b"RIFF" and wav[8:12] == b"WAVE"
    name, data = download(page, "dl_spec_npy")
    spec = np.load(io.BytesIO(data))
    assert spec.shape[0] == 257 and spec.min() >= 0, spec.shape
    name, data = download(page, "dl_mel_npy")
    mel = np.load(io.BytesIO(data))
    assert mel.shape == (40, spec.shape[1])
    name, data = download(page, "dl_json")
    report = json.loads(data)
    assert report["settings"]["n_mels"] == 40 and report["settings"]["solver"] == "nnls", report
    name, png = download(page, "dl_png")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def corrupt_wav() -> dict:
    """A file that says RIFF/WAVE and then is not a WAV."""
    payload = b"RIFF" + (10_000).to_bytes(4, "little") + b"WAVEfmt " + bytes(range(256)) * 8
    return {"name": "broken.wav", "mimeType": "audio/wav", "buffer": payload}


def test_upload_then_corrupt_upload_keeps_the_result(page):
    open_app(page, "/invert?solver=nnls&n_fft=512&n_mels=40")
    choose_source(page, "Upload audio")
    upload(page, "upload", ASSETS / "chirp.wav")
    main = page.locator("[data-testid='stMain']")
    assert "chirp.wav: 3.0 s" in main.inner_text()
    key(page, "run").locator("button").click()
    wait_for_result(page)
    before = metrics(page)
    assert before["mel residual"] not in ("", "—"), before
    figure_src = key(page, "result_figure").locator("img").first.get_attribute("src")

    upload(page, "upload", corrupt_wav())
    errors = input_column_errors(page)
    errors.first.wait_for(state="visible")
    text = errors.first.inner_text()
    print("error shown:", text)
    # A message for the user (what is wrong, what to do), not a traceback.
    assert re.search(r"could not read|not a valid|corrupt|malformed", text, re.I), text
    assert "WAV" in text and "Traceback" not in text, text
    # Next to the input: just under the uploader, in the same column.
    up, err = key(page, "upload").bounding_box(), errors.first.bounding_box()
    assert 0 <= err["y"] - (up["y"] + up["height"]) < 150, (up, err)
    assert abs(err["x"] - up["x"]) < 50, (up, err)
    # The earlier result is still on screen, unchanged, and nothing crashed.
    assert metrics(page) == before
    assert key(page, "result_figure").locator("img").first.get_attribute("src") == figure_src
    assert image_loaded(key(page, "result_figure").locator("img").first)
    assert visible_errors(page) == []
    screenshot(page, "invert_error_shown")

    # The page keeps working: back to a bundled sample, run again, a new result.
    choose_source(page, "Bundled sample")
    assert input_column_errors(page).count() == 0
    key(page, "run").locator("button").click()
    page.wait_for_function(
        """src => { const img = document.querySelector('.st-key-result_figure img');
                    return img && img.getAttribute('src') !== src && img.complete; }""",
        arg=figure_src, timeout=120_000)
    wait_for_app_run(page)
    assert "speech_short.wav" in main.inner_text()
    assert visible_errors(page) == []


def test_pause_resume_stop(page):
    open_app(page, "/invert?solver=sgd&max_iter=1000000&n_fft=512&n_mels=40&sample=chirp")
    key(page, "run").locator("button").click()
    page.wait_for_function("() => /running — step [1-9]/.test("
                           "document.querySelector('.st-key-live_status')?.innerText ?? '')")
    key(page, "pause").locator("button").click()
    page.wait_for_function("() => /paused/.test("
                           "document.querySelector('.st-key-live_status')?.innerText ?? '')")
    wait_for_app_run(page)
    paused_at = live_status(page)
    page.wait_for_timeout(1500)
    assert live_status(page) == paused_at, "the solver moved while paused"
    assert key(page, "resume").count() == 1
    key(page, "resume").locator("button").click()
    page.wait_for_function(
        """step => { const m = /running — step ([\\d,]+)/.exec(
                        document.querySelector('.st-key-live_status')?.innerText ?? '');
                     return m && parseInt(m[1].replace(/,/g, '')) > step; }""", arg=paused_at[1])
    key(page, "stop").locator("button").click()
    wait_for_result(page)
    final = live_status(page)
    assert final[0] == "finished (stopped)", final
    assert final[1] < 1_000_000
    assert metrics(page)["steps"] == f"{final[1]:,}"
    assert key(page, "stop").locator("button").is_disabled()


def test_mel_npy_input(page, tmp_path):
    from invmel_core import MelFilterbank, load_audio
    from invmel_core.dsp import stft

    samples, sr = load_audio(ASSETS / "chirp.wav", 22050)
    spec = stft.spectrogram(samples, n_fft=512, hop_length=128)
    fb = MelFilterbank(n_freqs=257, f_min=0.0, f_max=None, n_mels=40, sample_rate=22050)
    mel = stft.mel_spectrogram(spec, fb)
    good, wrong = tmp_path / "chirp_mel40.npy", tmp_path / "chirp_mel24.npy"
    np.save(good, mel)
    np.save(wrong, mel[:24])

    open_app(page, "/invert?solver=nnls&n_fft=512&n_mels=40")
    choose_source(page, "Mel spectrogram (.npy)")
    upload(page, "npy", wrong)
    error = input_column_errors(page)
    error.first.wait_for(state="visible")
    assert "24 mel bands" in error.first.inner_text() and "n_mels" in error.first.inner_text()
    upload(page, "npy", good)
    assert input_column_errors(page).count() == 0
    key(page, "run").locator("button").click()
    wait_for_result(page)
    m = metrics(page)
    assert float(m["mel residual"]) < 0.05, m
    # No original audio for a bare mel spectrogram: only the reconstruction plays, and says at
    # what level (not "the original's loudness": there is none). The sound settings are there:
    # the joint method by default, its iterations empty (= its default, 150).
    assert key(page, "result_audio").locator("audio").count() == 1
    label = key(page, "result_audio").inner_text()
    assert "level the mel implies" in label and "original" not in label.lower(), label
    assert "joint" in label and "150 iterations" in label, label
    box = key(page, "n_iter").locator("input")
    assert box.input_value() == "" and box.get_attribute("placeholder") == "150 (default)"
    assert key(page, "method").locator("input[type='radio']").first.is_checked()
    assert visible_errors(page) == []


def test_microphone_recording_is_inverted(browser, server):
    """st.audio_input with chromium's fake microphone (a periodic beep; see CHROMIUM_ARGS)."""
    ctx = browser.new_context(base_url=server.url, viewport={"width": 1366, "height": 900},
                              permissions=["microphone"])
    ctx.set_default_timeout(120_000)
    page = ctx.new_page()
    try:
        open_app(page, "/invert?solver=nnls&n_fft=512&n_mels=40")
        choose_source(page, "Microphone")
        button = key(page, "mic").locator("[data-testid='stAudioInputActionButton']").first
        assert button.get_attribute("aria-label") == "Record"
        button.click()
        page.wait_for_function("() => document.querySelector("
                               "\".st-key-mic [aria-label='Stop recording']\") !== null")
        page.wait_for_timeout(1500)
        button.click()
        page.get_by_text(re.compile(r"recording: \d+\.\d s")).wait_for()
        wait_for_app_run(page)
        seconds = float(re.search(r"recording: (\d+\.\d) s",
                                  page.locator("[data-testid='stMain']").inner_text()).group(1))
        assert 1.0 <= seconds <= 5.0, seconds
        key(page, "run").locator("button").click()
        wait_for_result(page)
        assert float(metrics(page)["mel residual"]) < 0.05
        assert key(page, "result_audio").locator("audio").count() == 2
        assert visible_errors(page) == []
    finally:
        ctx.close()


# ------------------------------------------------------------------ the Invert page's actions in a browser

def test_live_view_is_above_the_fold_at_1000_px(browser, server):
    """Item 5: at 1366 x 1000 the live view (status, loss curve, spectrogram) is on the first
    screen after Run, without scrolling."""
    ctx = browser.new_context(viewport={"width": 1366, "height": 1000}, base_url=server.url)
    ctx.set_default_timeout(120_000)
    page = ctx.new_page()
    try:
        open_app(page, "/invert?solver=sgd&max_iter=1000000")          # otherwise the defaults
        key(page, "run").locator("button").click()
        key(page, "live_spec").locator("img").first.wait_for(state="visible")
        key(page, "loss_chart").locator(".vega-embed").first.wait_for(state="visible")
        boxes = {name: key(page, name).bounding_box() for name in ("live_status", "loss_chart", "live_spec")}
        print("live view boxes:", boxes)
        for name, box in boxes.items():
            assert box["y"] >= 0 and box["y"] + box["height"] <= 1000, (name, box)
        screenshot(page, "invert_live_above_the_fold", full=False)
        key(page, "stop").locator("button").click()
        wait_for_result(page)
    finally:
        ctx.close()


def status_text(page) -> str:
    return key(page, "live_status").first.inner_text()


def test_streamlit_stop_shows_interrupted_and_resume_goes_on(page):
    """Item 6: Streamlit's toolbar Stop used to freeze the status at 'running' with Pause on."""
    open_app(page, "/invert?solver=sgd&max_iter=1000000&n_fft=512&n_mels=40&sample=chirp")
    key(page, "run").locator("button").click()
    page.wait_for_function("() => /running — step [1-9]/.test("
                           "document.querySelector('.st-key-live_status')?.innerText ?? '')")
    page.locator("[data-testid='stStatusWidget'] button", has_text="Stop").click()
    page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']")
    page.wait_for_timeout(500)
    text = status_text(page)
    print("after Streamlit's Stop:", text)
    assert text.startswith("interrupted — step") and "running" not in text, text
    assert "Resume to go on" in text
    assert key(page, "pause").is_hidden() and key(page, "resume_interrupted").is_visible()
    screenshot(page, "invert_interrupted", full=False)
    held = int(re.search(r"step ([\d,]+)", text).group(1).replace(",", ""))
    key(page, "resume_interrupted").locator("button").click()
    page.wait_for_function(
        """step => { const m = /running — step ([\\d,]+)/.exec(
                        document.querySelector('.st-key-live_status')?.innerText ?? '');
                     return m && parseInt(m[1].replace(/,/g, '')) > step; }""", arg=held)
    key(page, "stop").locator("button").click()
    wait_for_result(page)
    assert live_status(page)[0] == "finished (stopped)"
    assert visible_errors(page) == []


def test_result_on_a_log_axis_shows_the_chord(page):
    """Item 5: a chord's notes sat in one line at the bottom of a linear 0-11 kHz axis."""
    open_app(page, "/invert?solver=nnls&sample=chord")
    key(page, "run").locator("button").click()
    wait_for_result(page)
    figure = key(page, "result_figure").locator("img").first
    linear = figure.get_attribute("src")
    key(page, "result_freq_axis").get_by_text("Log", exact=True).click()
    page.wait_for_function("src => { const img = document.querySelector('.st-key-result_figure img');"
                           "return img && img.getAttribute('src') !== src && img.complete; }", arg=linear)
    wait_for_app_run(page)
    assert image_loaded(key(page, "result_figure").locator("img").first)
    key(page, "result_figure").scroll_into_view_if_needed()
    screenshot(page, "invert_result_log_axis")
    assert visible_errors(page) == []


def test_librosa_at_the_defaults_says_its_cost_shows_time_and_stops_at_once(page):
    """Item 4: refused at the defaults (3.2 GiB), no progress, Stop ignored."""
    open_app(page, "/invert?solver=librosa")
    cost = key(page, "solve_cost").inner_text()
    print("cost before Run:", cost)
    assert "Takes roughly" in cost and "min" in cost and "GiB" in cost and "Quicker: n_fft 1024" in cost
    key(page, "run").locator("button").click()
    page.wait_for_function("() => /running — step 0 · loss [\\d.e+-]+ · [2-9][\\d.]* s elapsed/.test("
                           "document.querySelector('.st-key-live_status')?.innerText ?? '')", timeout=60_000)
    screenshot(page, "invert_librosa_running", full=False)
    key(page, "stop").locator("button").click()
    started = time.monotonic()
    wait_for_result(page)
    print(f"Stop to result: {time.monotonic() - started:.1f} s")
    assert time.monotonic() - started < 60
    assert live_status(page)[0] == "finished (stopped)"
    assert visible_errors(page) == []
