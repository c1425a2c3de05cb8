"""Generated code: runnable where the library is installed, exact in its parameters everywhere."""

import ast

import numpy as np
import pytest

from invmel_core import InputError, InverseMelScale, MelFilterbank
from invmel_core.app.codegen import TARGETS, generate, generate_all
from invmel_core.dsp.metrics import mel_residual
from invmel_core.app.settings import Settings

SETTINGS = Settings.checked(sample_rate=16000, n_fft=400, n_mels=40, f_min=20.0, f_max=7600.0, norm="slaney",
                            mel_type="slaney", solver="sgd", max_iter=40, lr=0.05, momentum=0.5, seed=7)


@pytest.fixture
def mel_file(tmp_path, monkeypatch):
    """A power mel spectrogram of a random spectrogram, saved as mel.npy in the working directory."""
    fb = MelFilterbank(SETTINGS.n_stft, SETTINGS.f_min, SETTINGS.f_max, SETTINGS.n_mels, SETTINGS.sample_rate,
                       SETTINGS.norm, SETTINGS.mel_type)
    spec = np.random.default_rng(1).random((SETTINGS.n_stft, 9), dtype=np.float32)
    mel = fb.dense.T @ spec
    np.save(tmp_path / "mel.npy", mel)
    monkeypatch.chdir(tmp_path)
    return mel


def run(code: str) -> dict:
    namespace = {}
    exec(compile(code, "<generated>", "exec"), namespace)  # noqa: S102 - our own generated code
    return namespace


def call_keywords(code: str, name: str) -> dict:
    """The literal keyword arguments of the call to ``name`` in ``code``."""
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Call):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if called == name:
                return {k.arg: (ast.unparse(k.value) if not isinstance(k.value, (ast.Constant, ast.Dict))
                                else ast.literal_eval(k.value)) for k in node.keywords}
    raise AssertionError(f"no call to {name} in:\n{code}")


def test_invmel_core_code_reproduces_the_app(mel_file):
    got = run(generate(SETTINGS, "invmel_core"))["spec"]
    want = InverseMelScale(**SETTINGS.transform_kwargs())(mel_file)
    assert np.array_equal(got, want)


def test_librosa_code_runs_and_builds_the_same_filterbank(mel_file, monkeypatch):
    import librosa

    built = []
    real_mel = librosa.filters.mel
    monkeypatch.setattr(librosa.filters, "mel", lambda **kw: built.append(real_mel(**kw)) or built[-1])
    spec = run(generate(SETTINGS, "librosa"))["spec"]
    ours = MelFilterbank(SETTINGS.n_stft, SETTINGS.f_min, SETTINGS.f_max, SETTINGS.n_mels, SETTINGS.sample_rate,
                         SETTINGS.norm, SETTINGS.mel_type, compat="librosa")
    assert len(built) == 1
    np.testing.assert_allclose(built[0], ours.dense.T, rtol=1e-5, atol=1e-7)
    assert spec.shape == (SETTINGS.n_stft, 9) and spec.min() >= 0
    assert mel_residual(spec, mel_file, ours) < 1e-2        # librosa's NNLS matches the mel bands


def test_torchaudio_sgd_code_names_torchaudios_parameters():
    kw = call_keywords(generate(SETTINGS, "torchaudio_sgd"), "InverseMelScale")
    assert kw == {"n_stft": 201, "n_mels": 40, "sample_rate": 16000, "f_min": 20.0, "f_max": 7600.0,
                  "max_iter": 40, "tolerance_loss": 1e-5, "tolerance_change": 1e-8,
                  "sgdargs": {"lr": 0.05, "momentum": 0.5}, "norm": "slaney", "mel_scale": "slaney"}
    assert "torch.manual_seed(7)" in generate(SETTINGS, "torchaudio_sgd")


def test_torchaudio_21_code_has_no_sgd_parameters():
    kw = call_keywords(generate(SETTINGS, "torchaudio"), "InverseMelScale")
    assert kw == {"n_stft": 201, "n_mels": 40, "sample_rate": 16000, "f_min": 20.0, "f_max": 7600.0,
                  "norm": "slaney", "mel_scale": "slaney", "driver": "gelsd"}


def test_mindspore_code_uses_its_enums_and_sgdargs_names():
    code = generate(SETTINGS, "mindspore")
    kw = call_keywords(code, "InverseMelScale")
    assert kw["sgdargs"] == {"sgd_lr": 0.05, "sgd_momentum": 0.5}
    assert kw["norm"] == "NormType.SLANEY" and kw["mel_type"] == "MelType.SLANEY"
    assert "mel_scale" not in kw
    assert "ds.config.set_seed(7)" in code
    htk = call_keywords(generate(SETTINGS.replace(norm=None, mel_type="htk"), "mindspore"), "InverseMelScale")
    assert htk["norm"] == "NormType.NONE" and htk["mel_type"] == "MelType.HTK"


def test_f_max_none_and_librosas_explicit_nyquist():
    s = Settings.checked(sample_rate=11025, n_fft=256)
    assert call_keywords(generate(s, "torchaudio_sgd"), "InverseMelScale")["f_max"] is None
    # librosa's own default is sr / 2 = 5512.5; the app (like torchaudio) uses sr // 2.
    assert call_keywords(generate(s, "librosa"), "mel_to_stft")["fmax"] == 5512.0


def test_every_target_is_valid_python_and_bad_requests_are_refused():
    codes = generate_all(SETTINGS)
    assert list(codes) == list(TARGETS)
    for code in codes.values():
        ast.parse(code)
    with pytest.raises(InputError, match="target"):
        generate(SETTINGS, "tensorflow")
    with pytest.raises(InputError, match="Settings"):
        generate({"n_mels": 40}, "librosa")


# ------------------------------------------------------------------ on to audio

def test_invmel_core_code_makes_the_apps_sound_by_either_method(mel_file):
    import soundfile

    from invmel_core import mel_to_audio
    from invmel_core.app import workflow as pipeline

    joint = SETTINGS.replace(n_iter=6)
    made = run(generate(joint, "invmel_core"))
    want = mel_to_audio(mel_file, sample_rate=16000, n_fft=400, hop_length=100, power=2.0, f_min=20.0, f_max=7600.0,
                        mel_type="slaney", norm="slaney", method="joint", n_iter=6, seed=SETTINGS.seed)
    np.testing.assert_array_equal(made["audio"], want)
    app = pipeline.to_audio(None, joint, mel=mel_file)                     # the app's: the same samples
    np.testing.assert_allclose(made["audio"], app, rtol=1e-6, atol=1e-8)
    assert soundfile.info("reconstruction.wav").frames == want.size
    cascade = SETTINGS.replace(method="cascade", n_iter=5)
    made = run(generate(cascade, "invmel_core"))
    app = pipeline.to_audio(made["spec"], cascade)                          # Griffin-Lim on the estimate
    np.testing.assert_allclose(made["audio"], app, rtol=1e-6, atol=1e-8)


def test_librosa_code_makes_the_sound_mel_to_audio_makes(mel_file, monkeypatch):
    import librosa

    import inspect

    calls = []
    real = librosa.griffinlim
    spy = lambda S, **kw: calls.append((S, kw)) or real(S, **kw)  # noqa: E731
    monkeypatch.setattr(librosa, "griffinlim", spy)
    monkeypatch.setattr(librosa.feature.inverse, "griffinlim", spy)         # what mel_to_audio calls
    made = run(generate(SETTINGS.replace(n_iter=7), "librosa"))
    assert made["audio"].ndim == 1 and made["audio"].size > 0
    librosa.feature.inverse.mel_to_audio(mel_file, sr=16000, n_fft=400, hop_length=100, power=2.0, n_iter=7,
                                         fmin=20.0, fmax=7600.0, htk=False, norm="slaney")
    (ours, ours_kw), (theirs, theirs_kw) = calls
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)                      # the same magnitude...
    defaults = {name: p.default for name, p in inspect.signature(real).parameters.items()}
    for name, value in theirs_kw.items():                                   # ...and the same Griffin-Lim
        expected = ours_kw.get(name, defaults[name])
        if name == "dtype" and expected is None:                            # inferred from the float32 magnitude
            expected = ours.dtype
        assert value == expected, (name, value, expected)


def test_framework_snippets_go_on_to_audio_with_their_griffin_lim():
    magnitude = SETTINGS.replace(power=1.0, n_iter=50, method="cascade")
    for target in ("torchaudio_sgd", "torchaudio"):
        kw = call_keywords(generate(magnitude, target), "GriffinLim")
        assert kw == {"n_fft": 400, "hop_length": 100, "power": 1.0, "n_iter": 50}, (target, kw)
    kw = call_keywords(generate(magnitude, "mindspore"), "GriffinLim")
    assert kw == {"n_fft": 400, "n_iter": 50, "hop_length": 100, "power": 1.0}
    kw = call_keywords(generate(magnitude, "librosa"), "mel_to_stft")
    assert kw["power"] == 1.0 and "spec = magnitude ** 1.0" in generate(magnitude, "librosa")
    # The frameworks have no joint method: their Griffin-Lim runs its own default, 32, not joint's 150.
    assert call_keywords(generate(SETTINGS, "torchaudio"), "GriffinLim")["n_iter"] == 32
    for code in generate_all(magnitude).values():
        assert "reconstruction.wav" in code and "magnitudes (power=1)" in code
