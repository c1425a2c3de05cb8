"""The one table of settings: the app, the command lines and RenderOptions agree on names,
defaults and validity, because all three are made from invmel_core.pipeline.options."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from invmel_core import InputError
from invmel_core.app.settings import RANGES, SHARED_FIELDS, Settings, check_value
from invmel_core.cli import invert as cli
from invmel_core.pipeline.options import ALIASES, OPTIONS, check_option, default_hop
from invmel_core.pipeline.render import RenderOptions


def probes(name: str) -> list:
    opt = OPTIONS[name]
    if opt.choices is not None:
        return [*opt.choices, "not-a-choice", 3]
    if opt.kind is str:
        return ["none", "slaney", "htk", "SLANEY", "bogus", 1]
    out = ["abc", "nan", True]
    for end in (opt.low, opt.high):
        if end is not None:
            out += [end, end - 1, end + 1]
    return out


def accepts(check, *args) -> bool:
    try:
        check(*args)
    except InputError:
        return False
    return True


@pytest.mark.parametrize("name", SHARED_FIELDS)
def test_the_app_and_the_command_lines_agree_on_every_value(name):
    """For values at, inside and outside each end: valid in the app exactly when valid on the command line."""
    for value in probes(name):
        by_table = accepts(check_option, name, value)
        by_app = accepts(check_value, name, value)
        by_cli = accepts(lambda v: RenderOptions(**{name: v}).checked(), value)
        assert by_app == by_table, (name, value, by_app, by_table)
        if not by_table:
            assert not by_cli, (name, value)   # RenderOptions also checks values together (f_min < f_max
        elif name not in TOGETHER:             # at its sample rate, the hop against n_fft), the app too
            assert by_cli, (name, value)


TOGETHER = ("sample_rate", "n_fft", "hop_length", "f_min", "f_max")   # n_fft: the sound needs a window of 3


def test_every_command_line_option_is_a_row_of_the_table_and_back():
    flags = {action.dest for action in cli.build_parser()._actions}
    rows = {name for _, names in cli.OPTION_GROUPS for name in names}
    assert rows <= set(OPTIONS) and rows <= flags
    assert set(OPTIONS) - rows == set(), set(OPTIONS) - rows
    render_fields = {f.name for f in fields(RenderOptions)} - {"max_duration", "write_npy", "settings_given"}
    assert render_fields == set(OPTIONS)


def test_the_apps_ranges_are_the_tables():
    for name in SHARED_FIELDS:
        if OPTIONS[name].kind is not str:
            assert RANGES[name] == (OPTIONS[name].low, OPTIONS[name].high), name


def test_one_name_one_spelling_one_default():
    settings, options = Settings.checked(), RenderOptions().checked()
    assert settings.n_iter is None and options.n_iter is not None   # None: the method's default, filled in
    assert settings.norm is None and options.norm is None           # one spelling of "no norm"
    assert RenderOptions(norm="none").checked().norm is None
    assert settings.hop == default_hop(settings.n_fft) and options.hop_length == default_hop(options.n_fft)
    for name in ("n_fft", "n_mels", "mel_type", "power", "method", "solver", "max_iter", "seed"):
        assert getattr(settings, name) == OPTIONS[name].default, name


def test_an_old_links_phase_iter_still_sets_the_sound_iterations():
    settings, notices = Settings.from_mapping({"phase_iter": "48", "method": "cascade"})
    assert settings.n_iter == 48 and not notices
    assert ALIASES["phase_iter"] == "n_iter"
    settings, _ = Settings.from_mapping({"phase_iter": "48", "n_iter": "12"})
    assert settings.n_iter == 12   # the current name wins


def test_soft_fidelity_goes_through_every_door_to_the_same_samples(tmp_path):
    """The soft mel fidelity is an option of the one table: the CLI's --fidelity soft and the app's
    setting make the same WAV, and it differs from the exact one."""
    import numpy as np

    from invmel_core import load_audio, mel_from_audio
    from invmel_core.app import workflow
    from invmel_core.app.mel_input import read_mel as app_read_mel
    from invmel_core.app.settings import format_values

    samples, _ = load_audio(Path(__file__).resolve().parents[2] / "assets" / "speech_short.wav", 22050)
    stored = mel_from_audio(samples[:11025], "hifigan")
    np.save(tmp_path / "m.npy", stored)
    wavs = {}
    for fidelity in ("exact", "soft"):
        assert cli.main([str(tmp_path / "m.npy"), "--format", "hifigan", "--fidelity", fidelity, "--n-iter", "8",
                         "--wav", "-q", "-o", str(tmp_path / fidelity)]) == 0
        wavs[fidelity] = (tmp_path / fidelity / "m.wav").read_bytes()
    settings = Settings.checked(**format_values("hifigan"), fidelity="soft", n_iter=8)
    by_app = workflow.to_wav(None, settings, mel=app_read_mel(stored, settings).mel)
    assert by_app == wavs["soft"] != wavs["exact"]
