"""mel_to_audio on every frame geometry a MelFormat has (centred or "same" framing, reflect or
zero padding, Whisper's dropped last frame) and its ``format=`` shortcut: the output is in
time with the sound the mel was made of, as long as it, and has that mel; the STFT plan under
it is exactly invertible and its adjoint exact for each geometry."""

import numpy as np
import pytest

from invmel_core import InputError
from invmel_core.dsp.stft_plan import STFTPlan, frame_padding, framed_count, framed_length
from invmel_core.formats.presets import FORMATS, mel_from_audio
from invmel_core.inverse.mel_audio import mel_to_audio

# One preset per frame geometry: "same" + reflect, centred + zeros, centred + reflect + the
# last frame dropped, torch's centred + reflect; and BigVGAN's "same" at 44.1 kHz.
GEOMETRIES = ("hifigan", "librosa", "whisper", "vocos", "bigvgan-44k")
N_ITER = 40  # enough to show where the sound sits; quality at default settings is bench.audio's


def linear(name):
    return FORMATS[name].replace(compression="linear")


def bursts(sample_rate, seconds=1.0):
    """Decaying tones with sharp onsets at known times (one at sample 0: the left edge)."""
    n = int(sample_rate * seconds)
    t = np.arange(n) / sample_rate
    y = np.zeros(n)
    for k, start in enumerate((0.0, 0.23, 0.41, 0.67, 0.9)):
        s = min(int(start * sample_rate), n)
        y[s:] += 0.3 * np.exp(-40 * t[:n - s]) * np.sin(2 * np.pi * 300 * (k + 1) * t[:n - s] + 0.5)
    return y.astype(np.float32)


def lag(out, y, width=32):
    """Samples ``out`` lags ``y`` by: the peak of their energy envelopes' cross-correlation
    (the envelope: a magnitude-only inversion's sign and fine phase are free)."""
    n = min(out.size, y.size)
    envelopes = [np.convolve(s[:n].astype(np.float64) ** 2, np.ones(width) / width, "same") for s in (out, y)]
    a, b = (e - e.mean() for e in envelopes)
    return int(np.argmax(np.correlate(a, b, "full")) - (n - 1))


def re_mel(out, mel, fmt):
    return float(np.linalg.norm(mel_from_audio(out, fmt) - mel) / np.linalg.norm(mel))


@pytest.mark.parametrize("name", GEOMETRIES)
def test_the_output_is_in_time_as_long_and_has_the_mel(name):
    """Measured (40 steps): lags -1, 9, 1, 0, 1 samples; re-mel 0.005-0.03. The same mel
    inverted with the other framing lands half a hop (or more) off, which the test would see."""
    fmt = linear(name)
    y = bursts(fmt.sample_rate)
    mel = mel_from_audio(y, fmt)
    out = mel_to_audio(mel, format=fmt, n_iter=N_ITER, length=y.size)
    assert out.shape == y.shape and out.dtype == np.float32
    assert abs(lag(out, y)) <= fmt.hop_length // 16
    assert re_mel(out, mel, fmt) < 0.05
    natural = mel_to_audio(mel, format=fmt, n_iter=N_ITER)  # no length: what the frames stand for
    assert framed_count(natural.size, fmt.n_fft, fmt.hop_length, fmt.padding, fmt.pad_mode,
                        fmt.drop_last_frame) == mel.shape[1]
    assert natural.size == framed_length(mel.shape[1], fmt.n_fft, fmt.hop_length, fmt.padding, fmt.drop_last_frame)
    assert abs(lag(natural, y)) <= fmt.hop_length // 16
    if fmt.framing == "same":
        wrong = mel_to_audio(mel, format=fmt, framing="center", n_iter=N_ITER, length=y.size)
        assert abs(lag(wrong, y)) >= fmt.hop_length // 4


def test_natural_lengths_of_the_framings():
    """What the frames stand for: hop * frames for "same" framing and Whisper's (30 s of
    Whisper are 3000 frames, 480000 samples), hop * (frames - 1) centred."""
    mel = np.ones((80, 86), np.float32)
    assert mel_to_audio(mel, format="hifigan", n_iter=2).size == 86 * 256
    assert mel_to_audio(mel, format="tacotron2", n_iter=2).size == 85 * 256
    assert mel_to_audio(mel[:, :50], format="whisper", n_iter=2).size == 50 * 160


def test_the_format_shortcut_is_its_fields_spelled_out():
    fmt = linear("hifigan")
    mel = mel_from_audio(bursts(fmt.sample_rate, 0.5), fmt)
    by_name = mel_to_audio(mel, format="hifigan", n_iter=12)
    spelled = mel_to_audio(mel, sample_rate=22050, n_fft=1024, hop_length=256, power=1.0, f_max=8000.0,
                           mel_type="slaney", norm="slaney", compat="librosa", framing="same", n_iter=12)
    np.testing.assert_array_equal(by_name, spelled)
    np.testing.assert_array_equal(by_name, mel_to_audio(mel, format=fmt, n_iter=12))


def test_keywords_override_the_format():
    fmt = linear("hifigan")
    mel = mel_from_audio(bursts(fmt.sample_rate, 0.5), fmt)
    overridden = mel_to_audio(mel, format="hifigan", framing="center", pad_mode="constant", n_iter=12)
    np.testing.assert_array_equal(
        overridden, mel_to_audio(mel, format=fmt.replace(framing="center", pad_mode="constant"), n_iter=12))
    assert not np.array_equal(overridden, mel_to_audio(mel, format="hifigan", n_iter=12))


def test_without_a_format_the_defaults_are_torchs_centred_frames():
    mel = np.abs(np.random.default_rng(0).standard_normal((40, 30))).astype(np.float32)
    plain = mel_to_audio(mel, sample_rate=16000, n_fft=512, hop_length=128, n_iter=8)
    np.testing.assert_array_equal(plain, mel_to_audio(mel, sample_rate=16000, n_fft=512, hop_length=128, n_iter=8,
                                                      framing="center", pad_mode="reflect", drop_last_frame=False))


@pytest.mark.parametrize("bad, match", [
    (dict(sample_rate=16000, n_fft=512, framing="valid"), "framing"),
    (dict(sample_rate=16000, n_fft=512, pad_mode="edge"), "pad_mode"),
    (dict(sample_rate=16000, n_fft=512, drop_last_frame="yes"), "drop_last_frame"),
    (dict(sample_rate=16000, n_fft=512, hop_length=600, framing="same"), "hop_length must be at most n_fft"),
    (dict(n_fft=512), "sample_rate is required"),
    (dict(sample_rate=16000), "n_fft is required"),
    (dict(format="no-such-format"), "format must be"),
])
def test_bad_framing_and_format_are_refused(bad, match):
    with pytest.raises(InputError, match=match):
        mel_to_audio(np.ones((40, 10), np.float32), n_iter=2, **bad)


@pytest.mark.parametrize("n_fft, hop, framing, pad_mode, drop, length", [
    (256, 64, "center", "reflect", False, 1000), (256, 64, "same", "reflect", False, 1000),
    (256, 64, "center", "constant", False, 1000), (256, 64, "same", "constant", False, 1003),
    (200, 80, "center", "reflect", True, 1600), (256, 64, "same", "reflect", False, 100),
])
def test_every_plan_inverts_exactly_and_has_an_exact_adjoint(n_fft, hop, framing, pad_mode, drop, length):
    pad = frame_padding(n_fft, hop, framing)
    frames = framed_count(length, n_fft, hop, pad, pad_mode, drop)
    plan = STFTPlan(n_fft, hop, n_fft, n_frames=frames, length=length, pad=pad, pad_mode=pad_mode, allow_gaps=True)
    rng = np.random.default_rng(0)
    x = rng.standard_normal(length).astype(np.float32)
    coeffs = (rng.standard_normal((frames, plan.n_freqs)) + 1j * rng.standard_normal((frames, plan.n_freqs)))
    coeffs = coeffs.astype(np.complex64)
    assert plan.forward(x).shape == (frames, plan.n_freqs)
    np.testing.assert_allclose(plan.inverse(plan.forward(x)), x, atol=2e-5)
    forward_side = float(np.sum((plan.forward(x) * np.conj(coeffs)).real, dtype=np.float64))
    adjoint_side = float(np.dot(x.astype(np.float64), plan.adjoint(coeffs)))
    assert forward_side == pytest.approx(adjoint_side, rel=1e-4, abs=1e-3)
