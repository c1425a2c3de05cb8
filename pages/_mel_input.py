"""The Invert page's tools for a model's mel file: its format, how its values are read, the
duration its frames imply, and "Which settings fit?" (Streamlit only; the numerics are
invmel_core.app.mel_input's, run in a worker process).

Keys: mel_format (the format's selectbox), compression (how the values are stored), fit_run
(button), containers mel_reading (values, duration), fit_panel (the ranking: fit_summary,
fit_chart, fit_table), and a button fit_use_<i> per candidate that is not ruled out.
A format or a candidate is adopted through pages/_state.adopt (each value checked), never by
writing a widget's key directly.
"""

from __future__ import annotations

import streamlit as st

from invmel_core import FORMATS, InputError
from invmel_core.app import charts
from invmel_core.app.mel_input import YOURS, FitRanking, rank_fits
from invmel_core.formats.compression import COMPRESSIONS
from invmel_core.formats.ranking import FormatChoice, choose_format
from invmel_core.app.settings import FORMAT_FIELDS, Settings, format_values, matching_formats
from pages import _state as session
from pages import _widgets as widgets
from pages._sources import MEL_FILE, LoadedInput, set_transposed

FORMAT = "mel_format"              # the selectbox: "custom" or a preset's name
CUSTOM = "custom"
FIT = "_fit_ranking"               # {"of": (upload key, settings it was run for), "ranking": FitRanking}
DURATIONS = "_mel_durations"       # {upload key: (seconds, hop, sample rate) when first read}
ADOPT_NOTICE = "_adopt_notice"     # what the last adopt did (or could not do), shown once
USE_BUTTONS = 10                   # candidates offered as one-click buttons (not ruled out ones)
SHOWN_BUTTONS = 3                  # of them, shown with the verdict; the rest with the details
COMPRESSION_LABELS = {"linear": "linear (power or magnitude)", "ln": "ln (natural log)", "log10": "log10",
                      "whisper": "Whisper's (log10 + 4) / 4", "db10": "dB of power (10·log10)",
                      "db20": "dB of magnitude (20·log10)"}


# ---------------------------------------------------------------- format

def format_choice(settings: Settings) -> None:
    """The format selectbox (key ``mel_format``) and the compression's (key ``compression``).
    The format shows the preset the settings are (the one chosen, if several are the same
    settings), or "custom"; choosing a preset sets the sidebar's settings and the power."""
    state = st.session_state
    matching = matching_formats(settings)
    chosen = state.get(FORMAT)
    if chosen is None or (chosen != CUSTOM and chosen not in matching):   # what the settings are now
        state[FORMAT] = matching[0] if matching else CUSTOM
    st.selectbox("Format: how the mel was made", [CUSTOM, *FORMATS], key=FORMAT, on_change=_adopt_format,
                 format_func=lambda name: "custom (the sidebar's settings)" if name == CUSTOM
                 else f"{name} — {FORMATS[name].description or FORMATS[name].compression}",
                 help="A preset sets the sample rate, n_fft, hop, n_mels, f_min/f_max, mel scale, norm and power "
                      "its pipeline uses (docs/formats.md cites each project's source).")
    name = state[FORMAT]
    if name != CUSTOM:
        fmt = FORMATS[name]
        st.caption(f"{name}: {fmt.sample_rate} Hz, n_fft {fmt.n_fft}, hop {fmt.hop_length}, {fmt.n_mels} "
                   f"{fmt.mel_type} mels, {fmt.f_min:g}–{fmt.f_max or fmt.sample_rate / 2:g} Hz, norm {fmt.norm}, "
                   f"{'magnitude' if fmt.power == 1 else 'power'}, stored as {fmt.compression}"
                   + (" (frames half a hop later than centred ones)" if fmt.framing == "same" else "") + ".")
    # Here, above any error the reading may raise, so a wrong choice can always be undone.
    st.selectbox("Stored values (compression)", COMPRESSIONS, key="compression",
                 format_func=lambda kind: "auto (read off the values)" if kind == "auto" else COMPRESSION_LABELS[kind],
                 help="How the file's values were made from the linear mel. 'auto' reads it off the values and says "
                      "how sure it is; choose when it cannot tell.")
    notice = state.pop(ADOPT_NOTICE, None)
    if notice:
        st.info(notice, icon=":material/tune:")


def _adopt_format() -> None:
    name = st.session_state.get(FORMAT)
    if name in FORMATS:
        _adopt(format_values(name), "auto", f"Settings of {name} set in the sidebar.")


def _adopt(values: dict, compression: str, done: str) -> None:
    """Set several settings at once (each checked as a link's value would be)."""
    refused = [f"{name}: {reason}" for name, value in {**values, "compression": compression}.items()
               if (reason := session.adopt(name, value))]
    st.session_state[ADOPT_NOTICE] = done if not refused else f"Could not set {'; '.join(refused)}."


# ---------------------------------------------------------------- values and duration

def describe(loaded: LoadedInput, settings: Settings) -> None:
    """The file's shape and implied duration (and how it changed with the settings), how its
    values were read and why, and the power (container ``mel_reading``)."""
    reading = loaded.reading
    frames = loaded.mel.shape[-1]
    seconds = settings.duration(frames)
    with st.container(key="mel_reading"):
        st.markdown(f"{loaded.label}: {widgets.plural(loaded.mel.shape[0], 'mel band')} × "
                    f"{widgets.plural(frames, 'frame')} · {frames} × hop "
                    f"{settings.hop} / {settings.sample_rate} Hz = **{seconds:.2f} s**")
        first = st.session_state.setdefault(DURATIONS, {}).setdefault(
            loaded.source_key, (seconds, settings.hop, settings.sample_rate))
        if abs(first[0] - seconds) > 1e-9:
            st.caption(f"The implied duration changed with the settings: {first[0]:.2f} s at hop {first[1]} and "
                       f"{first[2]} Hz, now {seconds:.2f} s ({seconds / first[0]:.3g}×). The values cannot show the hop "
                       "or the sample rate; the clip's real length can (a doubled duration is the classic sign "
                       "of a wrong hop or sample rate).")
        else:
            st.caption("Frames × hop / sample rate: the values cannot show the hop or the sample rate, but if you "
                       "know how long the clip is, this checks them.")
        _values(reading)
        power = "magnitudes |X|" if settings.power == 1 else "power |X|²"
        st.caption(f"Read as a mel of {power} (Spectrogram, in the sidebar; the values cannot show which).")


def _values(reading) -> None:
    comp, detected = reading.compression, reading.detected
    floor = (f", floored at {comp.floor:.4g} on {100 * reading.floored_fraction:.1f} % of entries (there only "
             "'at most the floor' is known)" if comp.floor is not None and reading.floored_fraction else "")
    if reading.source == "detected":
        st.markdown(f"Values: **{comp.label}**{floor} · read off the values, {detected.confidence} confidence.")
    elif reading.source == "chosen":
        st.markdown(f"Values read as **{comp.label}**{floor} · your choice (they look like {detected.label}, "
                    f"{detected.confidence} confidence).")
    elif detected.kind == comp.kind and detected.confidence != "low":
        st.markdown(f"Values: **{comp.label}**{floor} · read off the values ({detected.confidence} confidence), "
                    f"as {reading.source} stores them (its clamp sets the floor).")
    else:
        st.markdown(f"Values read as **{comp.label}**{floor} · as {reading.source} stores them: the values alone "
                    "do not say.")
    st.caption(f"Why: {detected.why}.")
    for note in reading.notes:
        if not note.startswith("compression:"):   # the line above says it
            st.info(note[0].upper() + note[1:] + ".", icon=":material/info:")
    if detected.confidence == "low" and reading.source == "detected":
        st.warning("The values do not say how they were compressed: this reading is a guess. Choose the "
                   "compression above (or the model's format); 'Which settings fit?' tries each reading.",
                   icon=":material/help:")
    elif detected.kind == "db" and detected.db_factor is None and reading.source == "detected":
        st.info("dB of power (10·log10) and dB of magnitude (20·log10) look the same; read as 10·log10 here. "
                "'Which settings fit?' says which one fits, or choose above.", icon=":material/help:")


# ---------------------------------------------------------------- which settings fit

def fit_panel(settings: Settings) -> None:
    """"Which settings fit?" for the mel file on screen (container ``fit_panel``): a button,
    the ranking (run in a worker), a chart and a table of residuals per candidate with the
    verdicts, and a button to adopt each candidate that is not ruled out."""
    mel_file = st.session_state.get(MEL_FILE)
    if mel_file is None:
        return
    upload, name, stored = mel_file
    wanted = (upload, tuple(getattr(settings, f) for f in FORMAT_FIELDS), settings.compression, settings.solver)
    kept = st.session_state.get(FIT)
    with st.container(key="fit_panel", border=True):
        st.markdown("**Which settings fit?**")
        st.caption("Is there a spectrogram X ≥ 0 whose mel is these values, over every frame? Checked for the "
                   "presets with this many bands, your settings, and the common variants of each (n_fft halved "
                   "and doubled, the other mel scale, norm and power, f_max, f_min); certified both ways.")
        ranking = kept["ranking"] if kept and kept["of"][0] == upload else None
        if st.button("Check again" if ranking else "Check which settings fit", key="fit_run", type="secondary"):
            try:
                ranking = widgets.in_worker(("fit", wanted), f"Checking the candidate settings against {name}",
                                            rank_fits, stored, settings, steps=False)
            except InputError as exc:
                widgets.show_error(exc)
                return
            st.session_state[FIT] = kept = {"of": wanted, "ranking": ranking}
        if ranking is None:
            return
        if kept["of"] != wanted:
            st.caption("(For the settings of an earlier check: check again to include the current ones.)")
        _ranking(ranking, upload)


def verdict_line(rows) -> str:
    """The ranking in one line: which fit (the first few), how many cannot tell, how many are out."""
    by = {verdict: [row.name for row in rows if row.verdict == verdict] for verdict in ("fits", "cannot tell",
                                                                                        "ruled out")}
    fits = by["fits"]
    head = (f"**{len(fits)} fit**: {'; '.join(fits[:4])}{'; …' if len(fits) > 4 else ''}" if fits
            else "**None fits exactly**")
    return (f"{head} · {len(by['cannot tell'])} cannot tell · {len(by['ruled out'])} ruled out. The values cannot "
            "show the hop or the sample rate: the durations can, if you know the clip's length.")


def _ranking(ranking: FitRanking, upload: str) -> None:
    """A short verdict and a button for the best candidates; the why, the chart and every
    candidate on demand (an expander), so the answer is not a wall of text in a half column."""
    rows = ranking.rows
    usable = [(i, row) for i, row in enumerate(rows) if row.verdict != "ruled out"][:USE_BUTTONS]
    with st.container(key="fit_verdict"):
        st.markdown(verdict_line(rows))
        for i, row in usable[:SHOWN_BUTTONS]:
            _use_row(i, row, upload)
    with st.expander(f"Why, and all {len(rows)} candidates", expanded=False, key="fit_details"):
        with st.container(key="fit_summary"):
            st.markdown(ranking.summary)
            st.caption("Among “fits”, residuals mean nothing (each check stops once below 1e-4): the values cannot "
                       "tell these settings apart, and the model's configuration has to. The duration each implies "
                       "can, if you know the clip's length. Power and framing never show in the values "
                       "(docs/formats.md).")
        with st.container(key="fit_chart"):
            st.vega_lite_chart(charts.fit_chart(rows), width="stretch")
        st.caption("Bar: the mel residual reached (the number the result shows); black tick: its certified lower "
                   "bound (no spectrogram does better).")
        for i, row in usable[SHOWN_BUTTONS:]:
            _use_row(i, row, upload)
        with st.container(key="fit_table"):
            st.dataframe({"candidate": [r.name for r in rows], "verdict": [r.verdict for r in rows],
                          "residual": [r.residual for r in rows], "at least": [r.residual_lower for r in rows],
                          "duration (s)": [round(r.duration, 2) for r in rows], "read as": [r.reading for r in rows],
                          "note": [r.note for r in rows]}, hide_index=True, width="stretch",
                         column_config={"residual": st.column_config.NumberColumn(format="%.2g"),
                                        "at least": st.column_config.NumberColumn(format="%.2g")})
        st.caption(f"{len(rows)} candidates checked in {ranking.seconds:.1f} s.")


def _use_row(i: int, row, upload: str) -> None:
    text, button = st.columns([4, 1], vertical_alignment="center")
    text.markdown(f"**{row.name}** · {row.verdict} · {row.residual:.2g} · {row.duration:.2f} s"
                  + (" · stored transposed" if row.transposed else "")
                  + (f" · read as {row.reading}" if row.compression != "auto" else ""))
    if row.note:
        text.caption(row.note)
    button.button("Use", key=f"fit_use_{i}", on_click=_adopt_row, args=(row, upload), width="stretch",
                  help=f"Set the sidebar to {row.name}" + (" and read the file transposed" if row.transposed else ""))


def _adopt_row(row, upload: str) -> None:
    """Take a candidate's settings (and its orientation and reading of the values)."""
    set_transposed(upload, row.transposed)
    st.session_state[FORMAT] = row.name if row.name in FORMATS else None
    label = "your settings" if row.name == YOURS else row.name
    _adopt(row.settings, row.compression, f"Settings of {label} set in the sidebar"
           + (", the file read as (time, n_mels)" if row.transposed else "") + ".")


# ---------------------------------------------------------------- proposed at once

@st.cache_data(max_entries=8, ttl=1800, show_spinner="Reading the values against every preset…")
def _choice(upload: str, _stored) -> tuple[FormatChoice | None, str]:
    """The preset the values fit (:func:`invmel_core.formats.ranking.choose_format`), or why none
    can be proposed; cached per upload."""
    try:
        return choose_format(_stored), ""
    except InputError as exc:
        return None, str(exc)


def propose_format(upload: str, stored) -> bool | str | None:
    """Right after an upload whose bands are not n_mels: the best reading proposed at once (the
    format its values fit, its duration, the orientation), one click to take it (key
    ``propose_use``); "Which settings fit?" stays one click away for the details. True if a
    format was proposed, else why none is (None when no preset has either axis's bands)."""
    choice, why = _choice(upload, stored)
    if choice is None:
        return None if why.startswith("no preset has") else why
    others = f" (so do {', '.join(choice.others)}, with the same duration)" if choice.others else ""
    layout = ", stored as (time, n_mels)" if choice.transposed else ""
    how = "fit" if choice.fits else "cannot rule out (a model's prediction is never exact)"
    with st.container(key="proposal"):
        st.success(f"**This looks like a {choice.name} mel**{layout}: the values {how} its settings{others}; "
                   f"{choice.duration:.2f} s at its hop and sample rate.", icon=":material/auto_awesome:")
        st.button(f"Use {choice.name}", key="propose_use", type="primary", on_click=_use_proposal,
                  args=(choice, upload))
    return True


def _use_proposal(choice: FormatChoice, upload: str) -> None:
    set_transposed(upload, choice.transposed)
    st.session_state[FORMAT] = choice.name
    _adopt(format_values(choice.name), "auto", f"Settings of {choice.name} set in the sidebar"
           + (", the file read as (time, n_mels)." if choice.transposed else "."))
