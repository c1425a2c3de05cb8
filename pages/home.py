"""Home: the inverse mel problem in one picture and three sentences, and a ready demo.

Keys: containers home_figure, home_demo; page links to the other pages.
"""

import streamlit as st

from invmel_core.app import offload
from invmel_core.app import workflow as pipeline
from invmel_core.inverse.solvers import default_solver
from pages import _state as session
from pages import _widgets as widgets

session.require_app()


@st.cache_data(max_entries=2, show_spinner="Preparing the demo…")
def home_demo(solver: str) -> pipeline.Demo:
    """Made once per server; figure and sound in the worker processes."""
    return pipeline.demo(solver, call=offload.call)


st.title("invmel — the inverse mel scale, explored")
st.markdown(
    "A **mel spectrogram** squeezes a spectrogram's hundreds of frequency bins into a few dozen "
    "mel bands, each a weighted sum of the bins under one triangular filter.  \n"
    "**Inverting** it means finding a spectrogram X̂ ≥ 0 whose mel bands match — "
    "solving fbᵀ·X̂ ≈ M, as torchaudio's and MindSpore's `InverseMelScale` and librosa's "
    "`mel_to_stft` do.  \n"
    "There are far more unknowns than equations, so the answer is **never the original**: "
    "the detail inside each band is gone, and every solver fills it in its own way.")

figure_box = st.container(key="home_figure")
caption_box = st.empty()
demo_box = st.container(key="home_demo")

st.subheader("Explore")
LINKS = [
    ("pages/mel_scales.py", "Mel scales", ":material/straighten:",
     "What a filterbank is; HTK vs Slaney; empty filters."),
    ("pages/invert.py", "Invert", ":material/replay:",
     "Your clip or mel spectrogram; watch a solver converge; listen."),
    ("pages/compare.py", "Compare solvers", ":material/compare_arrows:",
     "SGD, MindSpore, least squares, NNLS on one input."),
    ("pages/frameworks.py", "Frameworks", ":material/extension:",
     "torchaudio vs MindSpore vs librosa; code to copy."),
]
for col, (path, label, icon, blurb) in zip(st.columns(len(LINKS)), LINKS):
    col.page_link(path, label=label, icon=icon)
    col.caption(blurb)

# The text and links above are on screen first; on a fresh server the demo follows (its figure
# and sound are made in one worker process, started by the first of them: starting one ahead,
# while the server solves, made the pool start a second one for the figure).
with figure_box:
    demo = home_demo(default_solver())
    st.image(demo.png, width="stretch")
caption_box.caption(
    f"{demo.caption} Compare panels 1 and 3: the broad shape comes back, but inside each mel band the "
    "fine harmonic lines are smeared, and more so at high frequencies where the bands are wide.")

with demo_box:
    left, right = st.columns(2)
    left.markdown("**Original**")
    left.audio(demo.original_wav, format="audio/wav")
    right.markdown(f"**Reconstruction** (from the mel spectrogram; {widgets.describe_sound(demo.settings)})")
    right.audio(demo.reconstructed_wav, format="audio/wav")
