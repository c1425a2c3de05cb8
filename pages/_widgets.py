"""Widgets and displays shared by the pages: the sidebar's signal and filterbank settings,
the solver's options, errors and warnings (Streamlit only; numerics live in invmel_core)."""

from __future__ import annotations

import io
import threading
import time
from dataclasses import dataclass, field

import numpy as np
import streamlit as st

from invmel_core import SOLVERS, MelFilterbank
from invmel_core.dsp.empty_filters import explain_empty
from invmel_core.app import offload
from invmel_core.app import workflow as pipeline
from invmel_core.inverse.mel_audio import DEFAULT_ITERATIONS, METHODS
from invmel_core.app.settings import POWERS, RANGES, SLIDER_SPANS, Settings
from invmel_core.inverse.mel_fidelity import FIDELITIES
from pages._state import current_settings

SAMPLE_RATES = [8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000]
# Longest a single page run drives a solve or a comparison (None: until it ends, is paused or
# stopped, or the user interacts). The AppTest suite shortens it to look at one mid-way.
PAGE_RUN_BUDGET_S: float | None = None


def page_run_deadline() -> float | None:
    """When this page run should stop driving its computation (``time.perf_counter()`` time)."""
    return None if PAGE_RUN_BUDGET_S is None else time.perf_counter() + PAGE_RUN_BUDGET_S


def ranged_number(box, label: str, key: str, *, step, field: str | None = None, **kwargs):
    """``box.number_input`` whose bounds are :data:`invmel_core.app.settings.RANGES` [``field``,
    default ``key``]: the same bounds every check of that value uses, so no value a link, a
    file or a button can set is one this widget refuses (Streamlit raises on a value
    outside them)."""
    low, high = RANGES[field or key]
    return box.number_input(label, min_value=low, max_value=high, step=step, key=key, **kwargs)


def stft_widgets() -> None:
    """Sample rate, n_fft, hop length and the spectrogram's power (keys ``sample_rate``,
    ``n_fft``, ``hop_length``, ``power``)."""
    ranged_number(st, "Sample rate (Hz)", "sample_rate", step=50,
                  help="Audio is resampled to this rate. Common: " + ", ".join(map(str, SAMPLE_RATES)))
    ranged_number(st, "n_fft", "n_fft", step=2, help="FFT size; the linear spectrogram has n_stft = n_fft // 2 + 1 bins.")
    n_fft = st.session_state.get("n_fft") or 2
    st.caption(f"n_stft = {n_fft // 2 + 1} bins, {st.session_state.get('sample_rate', 0) / max(n_fft, 1):.3g} Hz apart")
    ranged_number(st, "Hop length (samples)", "hop_length", step=1, value=None,
                  placeholder=f"n_fft / 4 = {max(1, n_fft // 4)}", help="Samples between frames. Empty: n_fft // 4.")
    current = st.session_state.get("power")
    powers = POWERS if current in POWERS or current is None else (*POWERS, current)   # a link's other exponent
    st.radio("Spectrogram", powers, key="power", horizontal=True,
             format_func=lambda p: POWER_LABELS.get(p, f"|X| to the power {p:g}"),
             help="What the mel bands sum: power |X|² (torchaudio, librosa, Whisper) or magnitude |X| (HiFi-GAN, "
                  "Tacotron 2, BigVGAN, Vocos, ESPnet). A mel file's values cannot show which.")


POWER_LABELS = {2.0: "power |X|²", 1.0: "magnitude |X|"}


def n_mels_widgets() -> None:
    """n_mels as a number box to type 80 into (key ``n_mels_box``) over a slider to drag (key
    ``n_mels``, the setting itself; pages/_state.py keeps the box on its value)."""
    ranged_number(st, "n_mels", "n_mels_box", field="n_mels", step=1, on_change=_box_to_slider,
                  help="Number of triangular mel filters: type a number, or drag the slider below.")
    low, high = SLIDER_SPANS["n_mels"]   # the box above takes every valid n_mels; the slider the usual ones
    high = max(high, int(st.session_state.get("n_mels") or 0))
    st.slider("n_mels (drag)", min_value=low, max_value=high, step=1, key="n_mels", label_visibility="collapsed")


def _box_to_slider() -> None:
    st.session_state["n_mels"] = st.session_state["n_mels_box"]


def mel_widgets():
    """The filterbank (keys ``n_mels_box``, ``n_mels``, ``f_min``, ``f_max``, ``norm``,
    ``mel_type``).

    Returns an empty slot right under f_max, where a problem with the settings is shown
    (f_min >= f_max is the usual one), next to the inputs the user just changed.
    """
    n_mels_widgets()
    ranged_number(st, "f_min (Hz)", "f_min", step=10.0)
    ranged_number(st, "f_max (Hz)", "f_max", step=100.0, value=None, placeholder="Nyquist (sample_rate // 2)",
                  help="Empty: sample_rate // 2.")
    problem_slot = st.empty()
    st.radio("Mel scale (mel_type)", ["htk", "slaney"], key="mel_type", horizontal=True,
             format_func=lambda v: {"htk": "HTK", "slaney": "Slaney"}[v],
             help="torchaudio calls it mel_scale, MindSpore mel_type; librosa htk=True/False.")
    st.radio("Filter norm", ["none", "slaney"], key="norm", horizontal=True,
             format_func=lambda v: {"none": "None (peak 1)", "slaney": "Slaney (area 1)"}[v])
    return problem_slot


def signal_sidebar() -> tuple[Settings, MelFilterbank]:
    """The STFT and mel widgets in the sidebar; returns the settings and the filterbank.

    A combination that does not validate (f_min >= f_max) shows an ``st.error`` under
    f_max and keeps the last good settings, so the page keeps working.
    """
    with st.sidebar:
        st.subheader("Signal and mel filterbank")
        stft_widgets()
        problem_slot = mel_widgets()
        settings, problem = current_settings()
        if problem:
            with problem_slot:
                show_error(problem)
    return settings, filterbank(settings)


OPTION_HELP = {
    "max_iter": "The most steps the solver takes.",
    "tolerance_loss": "Stop once the solver's loss is at most this (nnls: the relative mel residual).",
    "tolerance_change": "Stop once the loss changes by at most this from one step to the next.",
    "lr": "Step size of gradient descent.",
    "momentum": "SGD momentum (torchaudio <= 2.0). MindSpore accepts it but re-zeroes its buffer every "
                "step, so there it has no effect.",
    "seed": "Seed of the random start: the same seed gives the same answer.",
}


OPTION_ORDER = ("max_iter", "tolerance_loss", "tolerance_change", "lr", "momentum", "seed")


def options_used(settings: Settings, spec) -> str:
    """The options solver ``spec`` reads, with their values (for the options' expander label);
    the others are not named: they do nothing for it."""
    shown = {"max_iter": f"{settings.max_iter:,}", "tolerance_loss": f"{settings.tolerance_loss:.1e}",
             "tolerance_change": f"{settings.tolerance_change:.1e}", "lr": f"{settings.lr:g}",
             "momentum": f"{settings.momentum:g}", "seed": f"{settings.seed}"}
    used = [f"{name} {shown[name]}" for name in OPTION_ORDER if name in spec.uses]
    return ", ".join(used) if used else f"'{spec.name}' uses none of them"


def plural(n: int, word: str, many: str | None = None) -> str:
    """``"1 filter"``, ``"2 filters"``: a count and its noun, singular for one."""
    return f"{n} {word if n == 1 else many or word + 's'}"


def solver_label(name: str) -> str:
    spec = SOLVERS.get(name)
    return f"{name} — {spec.summary}" if spec else name


def solver_choice(box=None) -> None:
    """The solver menu (key ``solver``)."""
    (box or st).selectbox("Solver", list(SOLVERS), key="solver", format_func=solver_label)


def solver_widgets(container=None, *, choose_solver: bool = True, options_of: str | None = None) -> None:
    """Solver choice and its parameters (keys ``solver``, ``max_iter``, ``tolerance_loss``,
    ``tolerance_change``, ``lr``, ``momentum``, ``seed``). The options that solver
    ``options_of`` (with ``choose_solver``: the chosen one) does not read are disabled."""
    box = container or st
    if choose_solver:
        solver_choice(box)
        options_of = st.session_state.get("solver")
    spec = SOLVERS.get(options_of) if options_of else None

    def option(name: str) -> dict:
        """``disabled`` and ``help`` of an option's widget: with one solver chosen, the options
        it does not read are disabled (their values are kept for the next solver)."""
        off = spec is not None and name not in spec.uses
        return {"disabled": off, "help": (f"Not used by {spec.name}. " if off else "") + OPTION_HELP[name]}

    cols = box.columns(3)
    ranged_number(cols[0], "max_iter", "max_iter", step=100, **option("max_iter"))
    ranged_number(cols[1], "tolerance_loss", "tolerance_loss", step=1e-6, format="%.1e", **option("tolerance_loss"))
    ranged_number(cols[2], "tolerance_change", "tolerance_change", step=1e-9, format="%.1e",
                  **option("tolerance_change"))
    cols = box.columns(3)
    ranged_number(cols[0], "lr (learning rate)", "lr", step=0.01, format="%.4g", **option("lr"))
    ranged_number(cols[1], "momentum", "momentum", step=0.05, format="%.3g", **option("momentum"))
    ranged_number(cols[2], "seed", "seed", step=1, **option("seed"))


METHOD_HELP = ("A mel spectrogram has no phase, and inside each band no detail. **joint** (the default) looks "
               "for a sound whose mel spectrogram matches: magnitude and phase together, from the mel itself "
               "(every solver gives the same sound). **cascade** is librosa's mel_to_audio: Griffin-Lim on the "
               "solver's estimate, which no sound has as its spectrogram, hence the phasey, metallic ring.")


def sound_widgets(box=None) -> None:
    """How an inversion becomes sound (:func:`invmel_core.app.workflow.to_audio`), one group for
    every player of the app (keys ``method`` and ``n_iter``; empty: the method's default)."""
    box = box or st
    method = box.radio("Sound from the mel", METHODS, key="method", horizontal=True, help=METHOD_HELP)
    ranged_number(box, "Iterations", "n_iter", step=8, value=None,
                  placeholder=f"{DEFAULT_ITERATIONS[method]} (default)",  # short: the column is narrow
                  help="Each iteration is about one STFT and one inverse STFT: more sound better and take longer. "
                       f"Empty: the method's default ({', '.join(f'{m} {n}' for m, n in DEFAULT_ITERATIONS.items())}).")
    box.radio("Mel fidelity", FIDELITIES, key="fidelity", horizontal=True, disabled=method != "joint",
              help="exact: the sound's mel matches this mel as closely as it can. soft: for a model's prediction, "
                   "which is not the mel of any sound; holds it less tightly (in the log domain) and measured "
                   "+0.1-0.15 PESQ on mels with model-like errors (docs/benchmarks.md).")


def describe_sound(settings: Settings) -> str:
    """How a player's sound was made, in a few words."""
    how = ("joint: magnitude and phase found together from the mel" if settings.method == "joint"
           else "cascade: Griffin-Lim on the solver's estimate")
    soft = ", soft mel fidelity" if settings.method == "joint" and settings.fidelity == "soft" else ""
    return f"{how}, {settings.sound_iterations} iterations{soft}"


# --------------------------------------------------------------------------- work in a worker, watched

JOBS = "_worker_jobs"   # {key: _Job} of this session: work under way in a worker process


@dataclass
class _Job:
    thread: threading.Thread
    progress: pipeline.ProgressFile | None
    started: float = field(default_factory=time.perf_counter)
    outcome: dict = field(default_factory=dict)    # "value" or "error"


def in_worker(key, label: str, fn, /, *args, steps: bool = True, **kwargs):
    """``fn(*args, **kwargs)`` in a worker process (:func:`invmel_core.app.offload.call`), with a
    progress bar (``steps``: ``fn`` takes ``progress=``) or the elapsed time and ``label``
    meanwhile; returns its value (or raises its error).

    A click meanwhile reruns the page: the work goes on, and the next run that asks for the
    same ``key`` waits for it instead of starting it again.
    """
    jobs = st.session_state.setdefault(JOBS, {})
    for other in [k for k, job in jobs.items() if k != key and not job.thread.is_alive()]:
        _drop(jobs, other)       # finished work nobody asked for again (settings changed meanwhile)
    job = jobs.get(key)
    if job is None:
        progress = pipeline.ProgressFile() if steps else None
        call = (lambda: offload.call(pipeline.reporting, progress.path, fn, *args, **kwargs)) if steps \
            else (lambda: offload.call(fn, *args, **kwargs))
        outcome: dict = {}
        job = _Job(threading.Thread(target=_run, args=(call, outcome), daemon=True), progress, outcome=outcome)
        jobs[key] = job
        job.thread.start()
    box = st.empty()
    while job.thread.is_alive():
        elapsed = time.perf_counter() - job.started
        step, total = job.progress.read() if job.progress else (0, 0)
        if total:
            box.progress(step / total, text=f"{label}: step {step} of {total} · {elapsed:.1f} s")
        else:
            box.info(f"{label} · {elapsed:.1f} s", icon=":material/hourglass_top:")
        job.thread.join(0.2)
    box.empty()
    _drop(jobs, key)
    if "error" in job.outcome:
        raise job.outcome["error"]
    return job.outcome["value"]


def _run(call, outcome: dict) -> None:
    try:
        outcome["value"] = call()
    except Exception as exc:  # noqa: BLE001  (handed to the page run that waits for it)
        outcome["error"] = exc


def _drop(jobs: dict, key) -> None:
    job = jobs.pop(key)
    if job.progress is not None:
        job.progress.close()


def band_options(top_hz: float) -> list[float]:
    """Round frequencies from 0 to ``top_hz`` (and ``top_hz``) for a band slider: closer
    together at low frequencies, where a log or mel axis spends its room."""
    steps = [0, 50, 100, 200, 300, 500, 700, 1000, 1500, 2000, 3000, 4000, 5000, 6000, 8000, 10_000,
             12_000, 16_000, 20_000, 24_000, 32_000, 48_000, 96_000, 192_000]
    return [float(f) for f in steps if f < top_hz] + [float(top_hz)]


def format_hz(hz: float) -> str:
    return f"{hz / 1000:g} kHz" if hz >= 1000 else f"{hz:g} Hz"


def band_slider(box, label: str, key: str, top_hz: float) -> tuple[float, float]:
    """A range slider over :func:`band_options` (0 .. ``top_hz``), returning the band in Hz.
    The options are their labels ("1.5 kHz"); a value kept from another input (another
    sample rate) that is not on this slider is reset first: Streamlit raises for a value
    outside its options."""
    hz = {format_hz(f): f for f in band_options(top_hz)}
    labels = list(hz)
    value = st.session_state.get(key)
    if value is not None and not (isinstance(value, (tuple, list)) and len(value) == 2
                                  and all(v in hz for v in value) and hz[value[0]] < hz[value[1]]):
        del st.session_state[key]          # back to the whole band
    low, high = (hz[v] for v in box.select_slider(label, labels, value=(labels[0], labels[-1]), key=key))
    return (low, high) if low < high else (0.0, float(top_hz))


# --------------------------------------------------------------------------- caches

@st.cache_resource(max_entries=64, show_spinner=False)
def filterbank(settings: Settings, compat: str | None = None) -> MelFilterbank:
    """The (immutable, shareable) filterbank of ``settings``. Its dense and banded forms live in
    the core's own caches (:func:`invmel_core.dsp.filterbank._dense`, bounded to 8 filterbanks: a
    dense matrix can be 100+ MiB), keyed by the filterbank; they are built here, on a miss, so
    the page's first use does not wait for them."""
    fb = settings.filterbank(compat)
    fb.dense, fb.banded, fb.empty  # noqa: B018  (build them now)
    return fb


def empty_filter_warning(fb: MelFilterbank, *, brief: bool = False) -> None:
    """Warn, and explain each cause (:func:`invmel_core.dsp.empty_filters.explain_empty`: above
    Nyquist, or too narrow for the bins) with the settings that remove it, when some filters
    cover no STFT bin (``brief``: the Mel scales page is pointed to for the narrow ones)."""
    n = int(fb.empty.size)
    if not n:
        return
    which = ", ".join(str(int(i)) for i in fb.empty[:12]) + (" …" if n > 12 else "")
    causes = explain_empty(fb)
    narrow = any(cause.kind == "too_narrow" for cause in fb.empty_causes())
    if n == fb.n_mels:
        st.warning(f"**All {n} mel filters are empty.** No STFT bin falls inside any triangle, so the mel "
                   f"spectrogram carries no information about the spectrum: a solver can only return "
                   f"its starting point. {causes}", icon=":material/warning:")
        return
    more = " (the Mel scales page shows why)" if brief and narrow else ""
    st.warning(f"**{n} of {fb.n_mels} mel filters are empty** (filters {which}): no STFT bin falls inside them, so "
               f"their mel values are always 0 and cannot be matched. {causes}{more}", icon=":material/warning:")


def show_error(problem) -> None:
    """An error for the user (an :class:`InputError` or a message), as a sentence; a
    message that starts with a parameter's name (``f_min must be…``) keeps it as it is."""
    text = str(problem)
    first = text.split(" ", 1)[0]
    if first.isalpha() and first.islower():
        text = text[:1].upper() + text[1:]
    st.error(text, icon=":material/error:")


def npy_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.asarray(array), allow_pickle=False)
    return buf.getvalue()


def format_number(x: float | None, digits: int = 3) -> str:
    return "—" if x is None or not np.isfinite(x) else f"{x:.{digits}g}"
