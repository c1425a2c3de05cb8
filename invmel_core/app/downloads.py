"""What the Invert page's downloads are called and what ``parameters.json`` records.

Files are named after the input, as the command line names its outputs (``STEM.linear.npy``,
``STEM.wav``, ``STEM.comparison.png``), so three results downloaded one after another do not
overwrite each other; the parameters record what reproduces the result: the format, the
compression as it was read, the sound's method, iterations, fidelity, seed and loudness.

Examples
--------
>>> file_names(input_stem("mel spectrogram model_out.npy"))["wav"]
'model_out.wav'
>>> input_stem("recording"), input_stem("speech_short.wav")
('recording', 'speech_short')
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict
from pathlib import PurePath

from invmel_core.app.settings import Settings, matching_formats


def input_stem(label: str) -> str:
    """A file-name stem for an input labelled ``label`` (its file name without the extension,
    only letters, digits, ``-``, ``_`` and ``.``; ``"reconstruction"`` when nothing is left)."""
    name = PurePath(str(label).removeprefix("mel spectrogram ")).name   # the Invert page's label of a mel file
    stem = re.sub(r"[^\w.-]+", "_", PurePath(name).stem).strip("._")[:80]
    return stem or "reconstruction"


def file_names(stem: str) -> dict[str, str]:
    """The downloads' names for ``stem`` (the command line's names where it writes the same)."""
    return {"spec": f"{stem}.linear.npy", "mel": f"{stem}.mel.npy", "wav": f"{stem}.wav",
            "png": f"{stem}.comparison.png", "json": f"{stem}.parameters.json"}


def parameters(result, heard: Settings) -> dict:
    """``parameters.json`` of a result heard with ``heard``: the input, its format (the preset the
    settings are, if any), how a mel file's values were read, the settings (no sample for an
    uploaded file), the sound as made, the solve and its scores."""
    problem = result.problem
    settings = {name: value for name, value in
                json.loads(heard.to_json()).items() if name != "sample"}
    if getattr(problem, "source_key", "").startswith("sample:"):
        settings["sample"] = heard.sample
    matching = matching_formats(heard)
    compression = problem.compression
    report = {
        "input": problem.label,
        "format": matching[0] if matching else None,
        "compression_read": None if compression is None else {
            "setting": compression.setting, "label": compression.label, "floor": compression.floor},
        "settings": settings,
        "sound": {"method": heard.method, "iterations": heard.sound_iterations, "seed": heard.seed,
                  "fidelity": heard.fidelity if heard.method == "joint" else "exact", "loudness": "natural"},
        "solve": {"solver": heard.solver, "steps": result.steps, "stopped_by": result.reason,
                  "seconds": result.seconds},
        "scores": asdict(result.scores),
    }
    if result.fit is not None:
        report["settings_fit"] = {"verdict": result.fit.verdict, "residual": result.fit.residual,
                                  "residual_lower": result.fit.residual_lower}
    return report
