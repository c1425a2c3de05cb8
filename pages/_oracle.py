"""The Invert page's "Where the sound is lost" for an audio input: the original and three
reconstructions that each lose something else, side by side with their scores (Streamlit
only; invmel_core.app.workflow.oracle_sounds makes them, in a worker process, on demand).

Keys: oracle_run (button), containers oracle (the section), oracle_players, oracle_scores.
"""

from __future__ import annotations

import streamlit as st

from invmel_core.app import workflow as pipeline
from invmel_core.inverse.oracle import REMEL_NOTE
from invmel_core.app.settings import Settings
from pages import _widgets as widgets
from pages._sources import LoadedInput

ORACLE = "_oracle"      # {"of": (input digest, settings), "rows": tuple of pipeline.Heard}
SCORE_NAMES = {"re_mel": "re-mel", "spectral_convergence": "spectral convergence",
               "log_spectral_distance_db": "log-spectral distance (dB)", "estoi": "ESTOI"}


def oracle_section(loaded: LoadedInput, settings: Settings) -> None:
    """The section, for an audio input; its four players once the button was pressed."""
    with st.container(key="oracle"):
        st.subheader("Where the sound is lost")
        st.markdown(
            "A mel spectrogram loses two things: the **detail inside each mel band** and the **phase**. Hear each "
            "loss alone: the true magnitude with an estimated phase loses only the phase; the magnitude "
            "inverted from the mel with the true phase loses only the detail; the last loses both, as a "
            "model's mel does.")
        kept = st.session_state.get(ORACLE)
        wanted = (loaded.digest, settings)
        seconds = min(loaded.samples.size / settings.sample_rate, pipeline.ORACLE_SECONDS)
        if st.button(f"Hear where the sound is lost (the first {seconds:.1f} s)", key="oracle_run"):
            rows = widgets.in_worker(("oracle", wanted), "Reconstructing it three ways (NNLS, Griffin-Lim, "
                                     f"{settings.method})", pipeline.oracle_sounds, loaded.samples, settings,
                                     steps=False)
            st.session_state[ORACLE] = kept = {"of": wanted, "rows": rows}
        if not kept or kept["of"][0] != loaded.digest:
            return
        if kept["of"][1] != settings:
            st.caption("(With the settings at the time it was made: press the button again for the current ones.)")
        _renditions(kept["rows"], kept["of"][1])


def _renditions(rows, settings: Settings) -> None:
    with st.container(key="oracle_players"):
        for col, row in zip(st.columns(len(rows)), rows):
            col.markdown(f"**{row.label}**")
            col.audio(row.wav, format="audio/wav")
            col.caption(row.lesson)
    with st.container(key="oracle_scores"):
        table = {"": [row.label for row in rows]}
        for key, name in SCORE_NAMES.items():
            table[name] = [row.scores.get(key) for row in rows]
        st.dataframe(table, hide_index=True, width="stretch",
                     column_config={name: st.column_config.NumberColumn(format="%.3g") for name in SCORE_NAMES.values()})
    scale = "HTK" if settings.mel_type == "htk" else "Slaney"
    st.caption(f"Against the original, with {widgets.plural(settings.n_mels, scale + ' mel')} at n_fft {settings.n_fft}; "
               f"phase by {widgets.describe_sound(settings)} (the true magnitude by Griffin-Lim with as many). "
               "re-mel: how far the sound's mel is from the original's (0 = the same mel); spectral convergence "
               "and log-spectral distance: how far its spectrogram is; ESTOI: intelligibility, 1 = the original's. "
               "Compare each with the original: where the re-mel is small but the sound differs, the mel could not "
               "tell the difference either. " + REMEL_NOTE)
