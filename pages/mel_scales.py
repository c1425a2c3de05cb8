"""Mel scales: Hz <-> mel for HTK and Slaney, the filterbank, empty filters, frameworks' grids.

Keys: sample_rate, n_fft, hop_length, power, n_mels_box, n_mels, f_min, f_max, mel_type, norm (sidebar);
readout_hz (a frequency to convert) and container mel_readout; filterbank_wheel_zoom (a toggle:
the mouse wheel zooms the filterbank chart); containers mel_curves,
filter_spacing, spacing_caption, filterbank_chart, filterbank_zoom, grid_table, filter_table;
download button dl_filterbank_png.
"""

import numpy as np
import streamlit as st

from invmel_core import bin_frequencies
from invmel_core.app import charts
from invmel_core.app import offload
from invmel_core.figures import plots
from invmel_core.dsp.scales import hz_to_mel
from pages import _state as session
from pages import _widgets as widgets

session.require_app()

settings, fb = widgets.signal_sidebar()

st.title("Mel scales and filterbanks")
st.markdown(
    "A mel spectrogram is a linear spectrogram seen through a bank of triangular filters, spaced "
    "evenly on the **mel scale** — a frequency axis that, like our ear, has fine steps at low "
    "frequencies and coarse ones at high frequencies. Change the settings in the sidebar and watch.")

# ---------------------------------------------------------------- 1. the two scales
st.header("1. Hz ↔ mel: HTK and Slaney")
left, right = st.columns(2)
with left:
    st.markdown("**HTK** (torchaudio's and MindSpore's default) is logarithmic everywhere:")
    st.latex(r"m = 2595 \, \log_{10}\!\left(1 + \frac{f}{700}\right)")
with right:
    st.markdown("**Slaney** (librosa's default) is linear below 1 kHz and logarithmic above:")
    st.latex(r"m = \begin{cases} \dfrac{3f}{200} & f < 1000 \\[4pt]"
             r" 15 + \dfrac{27 \ln(f/1000)}{\ln 6.4} & f \ge 1000 \end{cases}")
spacing = float(settings.sample_rate) / settings.n_fft
top = settings.nyquist
left, right = st.columns(2)
with left:
    hz = widgets.ranged_number(st, "Convert a frequency (Hz)", "readout_hz", step=100.0,
                               help="Type a frequency to read it on both mel scales (and see it marked on the chart).")
    with st.container(key="mel_readout"):
        st.markdown(f"**{hz:g} Hz = {hz_to_mel(hz, 'htk'):.1f} mel (HTK) = {hz_to_mel(hz, 'slaney'):.2f} mel "
                    "(Slaney)**")
    with st.container(key="mel_curves"):
        st.vega_lite_chart(charts.mel_curve_chart(top, mark_hz=hz), width="stretch")
with right:
    st.markdown("&nbsp;")
    with st.container(key="filter_spacing"):
        st.vega_lite_chart(charts.filter_spacing_chart(settings.f_min, top, settings.n_mels, spacing),
                           width="stretch")


def spacing_sentence(name: str, facts: dict) -> str:
    """What the spacing chart's curve means for one scale, counted from its filterbank."""
    where = (f"its {facts['crowded']} filters centred up to {facts['below_hz']:,.0f} Hz are closer to their "
             "neighbour than the bins are" if facts["below_hz"] is not None else
             "no two filters are closer together than the bins")
    return (f"**{name}**: {where}; {facts['empty']} filter{'s' * (facts['empty'] != 1)} "
            f"{'are' if facts['empty'] != 1 else 'is'} empty and {facts['one_bin']} see{'s' * (facts['one_bin'] == 1)} "
            "only one bin.")


this = charts.spacing_summary(fb)
other_scale = "slaney" if settings.mel_type == "htk" else "htk"
other = charts.spacing_summary(widgets.filterbank(settings.replace(mel_type=other_scale)))
names = {"htk": "HTK", "slaney": "Slaney"}
st.caption(
    "What to look for: the two scales count in different units (1000 Hz is about 1000 HTK mels but 15 Slaney "
    "mels), and above 1 kHz they have nearly the same shape, so they differ mostly **below 1 kHz**: Slaney is "
    "a straight line there (filters equally spaced in Hz), while HTK keeps curving (filters packed closer at "
    "the very bottom).")
with st.container(key="spacing_caption"):
    st.caption(
        f"On the right, at these settings ({widgets.plural(settings.n_mels, 'mel')} from {settings.f_min:g} to "
        f"{top:g} Hz, bins "
        f"{this['bin_hz']:g} Hz apart): " + spacing_sentence(f"{names[settings.mel_type]} (the current scale)", this)
        + " " + spacing_sentence(names[other_scale], other) + " A curve below the dashed line does not by itself "
        "empty a filter: a triangle reaches from the centre below it to the centre above, two spacings wide, and "
        "is empty only when no bin falls in that span. A filter that sees one bin gives that bin's power alone, "
        "so its neighbours' bins cannot be told apart from it."
        + (" Filters above the Nyquist frequency (f_max above sample_rate / 2) are empty whatever their spacing: "
           "no bin exists there (see the warning below)." if any(c.kind == "above_nyquist" for c in fb.empty_causes())
           else ""))

# ---------------------------------------------------------------- 2. the filterbank
st.header("2. The filterbank")
st.markdown(
    f"**{widgets.plural(settings.n_mels, ('HTK' if settings.mel_type == 'htk' else 'Slaney') + ' filter')}** from "
    f"{settings.f_min:g} to {top:g} Hz on **{fb.n_freqs} STFT bins** ({spacing:.3g} Hz apart), "
    f"{'each normalised to unit area (Slaney norm), so narrow filters are tall' if settings.norm == 'slaney' else 'each with peak 1'}. "
    f"{charts.ZOOM_HELP} Hover a dot for a filter's edges.")
widgets.empty_filter_warning(fb)
wheel = st.toggle("Zoom with the mouse wheel", key="filterbank_wheel_zoom",
                  help="Off, the wheel scrolls the page over the chart too. Double-click the chart to reset it.")
with st.container(key="filterbank_chart"):
    st.vega_lite_chart(charts.filterbank_chart(fb, wheel_zoom=wheel), width="stretch")
zoom = charts.zoom_range(fb)
if zoom is not None:
    with st.container(key="filterbank_zoom"):
        st.vega_lite_chart(charts.filterbank_chart(fb, zoom_hz=zoom, height=220), width="stretch")
    shown = f"Zoom on 0–{zoom:.0f} Hz. "
else:
    shown = (f"With {widgets.plural(settings.n_mels, 'filter')} the chart above shows "
             f"{'them all' if settings.n_mels != 1 else 'it'}; no zoom. ")
st.caption(
    shown + "Grey vertical lines are the STFT bins, faint grey triangles the ideal filters, "
    "coloured dots the weights the bins actually get; the axis on top reads the same frequencies in mels "
    f"({names[settings.mel_type]}), and hovering a dot gives a filter's edges in both. A filter only 'sees' the "
    "bins under its "
    "triangle: the mel value of filter m is the sum of those bins' power, weighted by the triangle. "
    "Everything a solver will ever know about the spectrum is these weighted sums — so the detail "
    "inside one triangle is lost, and a triangle with no bin under it (dashed red) measures nothing.")
st.download_button("Download the filterbank figure (PNG)", key="dl_filterbank_png", file_name="filterbank.png",
                   mime="image/png", on_click="ignore",
                   data=lambda: offload.call(plots.render_png, plots.filterbank_figure, fb))

# ---------------------------------------------------------------- 3. frequency grids
st.header("3. Where the frameworks put the bins")
grids = {name: bin_frequencies(fb.n_freqs, settings.sample_rate, name)
         for name in ("torchaudio", "mindspore", "librosa")}
differ = float(np.abs(grids["torchaudio"] - grids["mindspore"]).max())
with st.container(key="grid_table"):
    st.table({
        "framework": ["torchaudio", "MindSpore", "librosa"],
        "bin frequencies": ["linspace(0, sample_rate // 2, n_stft)", "linspace(0, sample_rate / 2, n_stft)",
                            "rfftfreq(n_fft, 1 / sr) = linspace(0, sr / 2, n_stft)"],
        "top bin (Hz)": [f"{grids[k][-1]:g}" for k in ("torchaudio", "mindspore", "librosa")],
        "default scale, norm": ["htk, None", "HTK, NONE", "Slaney (htk=False), 'slaney'"],
    })
if differ:
    fb_other = widgets.filterbank(settings, "mindspore" if fb.compat == "torchaudio" else "torchaudio")
    gap = float(np.abs(fb.dense.astype(np.float64) - fb_other.dense).max())
    st.info(f"At an odd sample rate ({settings.sample_rate} Hz) torchaudio's integer division puts its top bin "
            f"{differ:g} Hz lower, and every bin shifts a little: the filterbanks differ by up to {gap:.2g} "
            "(absolute weight). Small, but enough that results do not match bit for bit.", icon=":material/search:")
else:
    st.caption(f"At {settings.sample_rate} Hz (an even rate) the three grids are identical; they differ only at "
               "odd sample rates such as 11025 Hz, where torchaudio computes sample_rate // 2. The defaults, "
               "though, differ: porting from torchaudio to librosa, pass htk=True and norm=None.")

# ---------------------------------------------------------------- 4. readout
def filter_table(fb) -> dict:
    """The filterbank's per-filter table with each edge's mel value beside its Hz."""
    table, mels = fb.table(), hz_to_mel(fb.edges_hz, fb.mel_type)
    unit = "HTK mel" if fb.mel_type == "htk" else "Slaney mel"
    out = {}
    for name, column in table.items():
        out[name] = column
        for edge, offset in (("lower", 0), ("centre", 1), ("upper", 2)):
            if name == f"{edge} (Hz)":
                out[f"{edge} ({unit})"] = np.round(np.asarray(mels, dtype=np.float64)[offset:offset + fb.n_mels],
                                                   2 if fb.mel_type == "htk" else 3)
    return out


st.header("4. Every filter")
with st.container(key="filter_table"):
    st.dataframe(filter_table(fb), hide_index=True, height=300, width="stretch")
st.caption(f"Edges are the corners of each triangle: filter m rises from its lower edge, peaks at its centre "
           f"and falls to zero at its upper edge, which is the next filter's centre. Each edge in Hz and in "
           f"{names[settings.mel_type]} mels: on the mel scale the centres are evenly spaced.")

session.sync_url(settings)
