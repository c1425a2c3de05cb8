"""Frameworks: torchaudio vs MindSpore vs librosa — parameters, the documented example, code.

Keys. Sidebar: sample_rate, n_fft, hop_length, power, n_mels, f_min, f_max, mel_type, norm.
Main: fw_seed_torch, fw_seed_mindspore (seeds of the documented example); containers
param_table, doc_example, doc_filterbank, code_export (one tab per framework; librosa_time in librosa's: how
long its snippet takes at these settings, a warning past a minute).
"""

import warnings

import numpy as np
import streamlit as st

from invmel_core import SOLVERS, EmptyFilterWarning, InverseMelScale, MelFilterbank
from invmel_core.app import charts
from invmel_core.app.codegen import TARGETS, generate_all
from pages import _state as session
from pages import _widgets as widgets

session.require_app()
warnings.simplefilter("ignore", EmptyFilterWarning)  # this page is about empty filters; it says so itself

settings, fb = widgets.signal_sidebar()

st.title("torchaudio, MindSpore and librosa")
st.markdown("The same problem under three names. This page lines up their parameters, reproduces both "
            "frameworks' documented example, and writes code for the settings in the sidebar.")

# ---------------------------------------------------------------- parameters
st.header("1. Parameters side by side")
with st.container(key="param_table"):
    st.table({
        "": ["spectrogram bins", "mel bands", "sample rate", "frequency range", "mel scale", "filter norm",
             "solver", "solver budget", "learning rate, momentum", "random start", "grid of bin frequencies",
             "output for a (n_mels, time) input"],
        "torchaudio ≤ 2.0": ["n_stft", "n_mels=128", "sample_rate=16000", "f_min=0.0, f_max=None", "mel_scale='htk'",
                             "norm=None", "SGD", "max_iter=100000, tolerance_loss=1e-5, tolerance_change=1e-8",
                             "sgdargs={'lr': 0.1, 'momentum': 0.9}", "torch.manual_seed(s)",
                             "linspace(0, sample_rate // 2)", "(n_stft, time)"],
        "torchaudio ≥ 2.1": ["n_stft", "n_mels=128", "sample_rate=16000", "f_min=0.0, f_max=None",
                             "mel_scale='htk'", "norm=None", "least squares, then relu", "driver='gels'", "—", "—",
                             "linspace(0, sample_rate // 2)", "(n_stft, time)"],
        "MindSpore": ["n_stft", "n_mels=128", "sample_rate=16000", "f_min=0.0, f_max=None",
                      "mel_type=MelType.HTK (added)", "norm=NormType.NONE", "gradient descent (momentum has no effect)",
                      "max_iter=100000, tolerance_loss=1e-5, tolerance_change=1e-8",
                      "sgdargs={'sgd_lr': 0.1, 'sgd_momentum': 0.9}", "ds.config.set_seed(s)",
                      "linspace(0, sample_rate / 2)", "(1, n_stft, time)"],
        "librosa": ["n_fft (n_stft = n_fft // 2 + 1)", "from the input", "sr=22050", "fmin=0.0, fmax=sr / 2",
                    "htk=False (Slaney)", "norm='slaney'", "non-negative least squares (L-BFGS-B)", "—", "—", "—",
                    "rfftfreq(n_fft, 1 / sr)", "magnitude: (n_stft, time) ** (1 / power)"],
    })
st.caption("MindSpore's InverseMelScale is torchaudio's ≤ 2.0 one with mel_type added (and enum-valued norm); "
           "torchaudio 2.1 replaced the SGD by least squares and dropped the SGD parameters. Note the defaults: "
           "librosa uses Slaney's scale and norm, the others HTK without norm.")

# ---------------------------------------------------------------- the documented example
st.header("2. The documented example: n_stft = 2, n_mels = 4")
DOC_MEL = np.array([[1, 1], [0, 0], [1, 1], [1, 1]], dtype=np.float32)
DOCUMENTED = {"sgd": (1, [[0.7576, 0.4031], [0.2793, 0.7347]]),
              "mindspore": (3, [[0.5508, 0.0707], [0.7081, 0.8399]])}
with st.container(key="doc_example"):
    st.markdown("Both frameworks document `InverseMelScale(n_stft=2, n_mels=4)` on a 4 × 2 mel spectrogram. "
                "invmel_core reproduces their outputs exactly from the same seeds:")
    cols = st.columns(2)
    for col, (solver, name, key) in zip(cols, [("sgd", "torchaudio (torch.manual_seed)", "fw_seed_torch"),
                                              ("mindspore", "MindSpore (ds.config.set_seed)", "fw_seed_mindspore")]):
        seed_doc, expected = DOCUMENTED[solver]
        seed = widgets.ranged_number(col, name, key, field="seed", value=seed_doc, step=1)
        transform = InverseMelScale(n_stft=2, n_mels=4, seed=int(seed), solver=solver)
        out = np.round(transform(DOC_MEL), 4)
        col.code(np.array2string(out, separator=", "), language="text")
        if seed == seed_doc:
            same = np.allclose(out, expected, atol=1e-4)
            col.markdown(f"{'✓ matches the' if same else '✗ differs from the'} documented output `{expected}`")
        else:
            col.caption(f"Seed {seed}: a different output for the same input. The documented seed is {seed_doc}.")
st.markdown(
    "**Why these numbers are just random starts.** With n_fft = 2 there are two STFT bins, at 0 Hz and "
    "8000 Hz. The four HTK triangles between 0 and 8000 Hz all lie strictly between those two bins, so no bin "
    "falls inside any of them: **every filter is empty** and fbᵀ·X = 0 whatever X is. The loss is then the "
    "same constant for every X, its gradient is zero, the solver stops after a step or two (the loss did not "
    "change), and what comes out is exactly the random numbers it started from — a different seed gives "
    "different numbers and the input does not matter.")
tiny = MelFilterbank(2, 0.0, None, 4, 16000)
with st.container(key="doc_filterbank"):
    st.vega_lite_chart(charts.filterbank_chart(tiny, zoom_hz=8400.0, height=200), width="stretch")
st.caption("The four filters of the example (dashed red: empty) and the two STFT bins (grey lines at 0 and "
           "8000 Hz). " + " ".join(InverseMelScale(n_stft=2, n_mels=4, seed=1).notes()))

# ---------------------------------------------------------------- code
st.header("3. Code for the current settings")
st.markdown(
    f"n_fft {settings.n_fft} (n_stft {settings.n_stft}), hop {settings.hop}, "
    f"{widgets.plural(settings.n_mels, ('HTK' if settings.mel_type == 'htk' else 'Slaney') + ' mel')}, "
    f"{settings.f_min:g}–{settings.nyquist:g} Hz, "
    f"norm {settings.norm}, {'magnitude' if settings.power == 1 else 'power'} (power={settings.power:g}), solver "
    f"'{settings.solver}'. Each snippet reads `mel.npy` (download it on the Invert page: the linear mel, a model's "
    "compression undone), recovers the spectrogram `spec` and goes on to the sound, `reconstruction.wav`: the "
    f"frameworks by Griffin-Lim on `spec` ({settings.replace(method='cascade').sound_iterations} iterations), "
    f"invmel_core as the app makes it ({widgets.describe_sound(settings)}). The SGD ones use the solver settings "
    "of the Invert page.")
def librosa_time_warning(box) -> None:
    """librosa's mel_to_stft (L-BFGS-B) slows steeply with the bins: say how long its snippet
    takes at these settings (for the Invert page's input if there is one, else 10 s of audio),
    with a warning past a minute (key ``librosa_time``)."""
    loaded = st.session_state.get("invert_input")
    frames = int(loaded.mel.shape[-1]) if loaded is not None else int(10.0 * settings.sample_rate) // settings.hop + 1
    what = f"{loaded.label} ({frames} frames)" if loaded is not None else f"10 s of audio ({frames} frames)"
    seconds = SOLVERS["librosa"].seconds_estimate(1, settings.n_stft, settings.n_mels, frames)
    took = f"{seconds / 60:,.0f} min" if seconds >= 120 else f"{seconds:,.0f} s"
    text = (f"At these settings (n_stft {settings.n_stft}) librosa's `mel_to_stft` takes roughly **{took}** for "
            f"{what}, give or take a factor of two: its time grows like n_stft^3.5.")
    if seconds > 60:
        smaller = [(n, SOLVERS["librosa"].seconds_estimate(1, n // 2 + 1, settings.n_mels,
                                                            frames * settings.n_fft // n))
                   for n in (1024, 512) if n < settings.n_fft]
        hint = "; ".join(f"n_fft {n}: about {t / 60:,.1f} min" for n, t in smaller)
        with box.container(key="librosa_time"):
            st.warning(text + (f" With a smaller n_fft (the hop scaled with it): {hint}." if hint else ""),
                       icon=":material/hourglass_top:")
    else:
        with box.container(key="librosa_time"):
            st.caption(text)


with st.container(key="code_export"):
    codes = generate_all(settings)
    for tab, (target, code) in zip(st.tabs(list(TARGETS.values())), codes.items()):
        if target == "librosa":
            librosa_time_warning(tab)
        tab.code(code, language="python")

session.sync_url(settings)
