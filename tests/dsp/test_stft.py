"""invmel_core.dsp.stft: the complex STFT and its inverse against librosa (torch's semantics), exact
round trips, frame geometry, short signals, bad parameters, and the spectrogram and mel
projection that move here from audio.py (identical outputs)."""


import numpy as np
import pytest

from invmel_core import InputError, MelFilterbank
from invmel_core.dsp.stft import STFTPlan, stft_frames, istft, mel_spectrogram, spectrogram, stft, stft_window

CASES = [  # n_fft, hop, win_length, n
    (512, 128, None, 4000),
    (400, None, None, 3000),  # torchaudio's default hop: win_length // 2
    (512, 100, 300, 2501),  # a window shorter than n_fft, centred; hop not dividing n_fft
    (255, 64, None, 1000),  # odd n_fft
    (64, 1, 64, 200),
    (1024, 256, None, 22050),
]


def librosa_stft(y, n_fft, hop, win_length):
    import librosa

    return librosa.stft(y, n_fft=n_fft, hop_length=hop, win_length=win_length, window="hann",
                        center=True, pad_mode="reflect")


@pytest.mark.parametrize("n_fft, hop, win_length, n", CASES)
def test_stft_matches_librosa(n_fft, hop, win_length, n):
    # librosa with a periodic Hann (scipy's fftbins window), centred and reflect-padded is
    # torch.stft's definition; the window of win_length is zero-padded centrally in both.
    y = np.random.default_rng(n).standard_normal(n).astype(np.float32)
    spec = stft(y, n_fft, hop, win_length)
    reference = librosa_stft(y, n_fft, hop or (win_length or n_fft) // 2, win_length)
    assert spec.dtype == np.complex64 and spec.shape == reference.shape
    assert spec.shape[1] == stft_frames(n, n_fft, hop or (win_length or n_fft) // 2)
    np.testing.assert_allclose(spec, reference, rtol=0, atol=2e-5 * np.abs(reference).max())


@pytest.mark.parametrize("n_fft, hop, win_length, n", CASES)
def test_istft_inverts_stft_and_matches_librosa(n_fft, hop, win_length, n):
    import librosa

    y = np.random.default_rng(n + 1).standard_normal(n).astype(np.float32)
    hop_ = hop or (win_length or n_fft) // 2
    spec = stft(y, n_fft, hop, win_length)
    back = istft(spec, n_fft, hop, win_length, length=n)
    assert back.dtype == np.float32 and back.shape == (n,)
    np.testing.assert_allclose(back, y, atol=2e-5 * np.abs(y).max())
    # Any coefficients (not only consistent ones): the same overlap-add as librosa.istft.
    noise = np.random.default_rng(n + 2).standard_normal(spec.shape)
    other = (spec * np.exp(1j * noise)).astype(np.complex64)
    reference = librosa.istft(other, hop_length=hop_, win_length=win_length, n_fft=n_fft,
                              window="hann", center=True, length=n)
    np.testing.assert_allclose(istft(other, n_fft, hop, win_length, length=n), reference,
                               atol=5e-5 * np.abs(reference).max())


def test_istft_default_length_and_padding():
    y = np.random.default_rng(0).standard_normal(5000).astype(np.float32)
    spec = stft(y, 1024, 256)  # 1 + 5000 // 256 = 20 frames
    assert istft(spec, 1024, 256).shape == (19 * 256,)  # torch: hop * (frames - 1)
    assert istft(stft(y, 255, 64), 255, 64).shape == (78 * 64 + 1,)  # odd n_fft: one more
    longer = istft(spec, 1024, 256, length=5600)  # past the last frame: zeros, as torch
    np.testing.assert_allclose(longer[:5000], y, atol=2e-5 * np.abs(y).max())
    assert np.all(longer[(19 * 256 + 512):] == 0)


@pytest.mark.parametrize("n", [1, 2, 255, 256, 257])
def test_short_signals_are_zero_padded(n):
    # reflect padding needs more than n_fft // 2 = 256 samples; shorter ones are zero-padded first
    y = np.full(n, 0.5, np.float32)
    spec = stft(y, 512, 128)
    assert spec.shape == (257, stft_frames(n, 512, 128)) == (257, 1 + max(n, 257) // 128)
    np.testing.assert_allclose(istft(spec, 512, 128, length=n), y, atol=1e-6)


def test_one_frame_inverse_needs_a_length():
    spec = stft(np.ones(300, np.float32), 512, 512)  # 1 + 300 // 512 = 1 frame
    assert spec.shape == (257, 1)
    with pytest.raises(InputError, match="0 samples; pass length"):
        istft(spec, 512, 512)
    assert istft(spec, 512, 512, length=200).shape == (200,)


def test_frames_that_do_not_overlap_are_refused_not_divided_by_zero():
    spec = stft(np.ones(4000, np.float32), 256, 256)  # hop = win_length: Hann is 0 at frame starts
    with pytest.raises(InputError, match="hop_length=256 leaves samples that no window covers"):
        istft(spec, 256, 256)
    y = np.random.default_rng(0).standard_normal(10).astype(np.float32)
    np.testing.assert_allclose(istft(stft(y, 8, 4, 5), 8, 4, 5, length=10), y, atol=1e-5)  # 4 < 5: fine


@pytest.mark.parametrize("kwargs, match", [
    (dict(spec=np.ones((100, 5), np.complex64)), r"shape \(129, frames\) for n_fft=256"),
    (dict(spec=np.ones((129, 0), np.complex64)), r"shape \(129, frames\)"),
    (dict(spec=np.full((129, 5), np.nan, np.complex64)), "NaN or infinite"),
    (dict(spec=np.array([["a"] * 5] * 129)), "complex STFT"),
    (dict(spec=np.ones((129, 5), np.complex64), length=0), "length must be >= 1"),
    (dict(spec=np.ones((129, 5), np.complex64), length=10**9), "length must be at most"),
    (dict(spec=np.ones((129, 5), np.complex64), hop_length=0), "hop_length must be >= 1"),
])
def test_istft_rejects_bad_input(kwargs, match):
    kwargs = {"n_fft": 256, **kwargs}
    with pytest.raises(InputError, match=match):
        istft(**kwargs)


@pytest.mark.parametrize("kwargs, match", [
    (dict(samples=np.zeros(0)), "empty"),
    (dict(samples=np.zeros((2, 100))), "mono, 1-D"),
    (dict(samples=np.array([0.0, np.nan])), "NaN"),
    (dict(samples=np.zeros(10), n_fft=1), "n_fft must be >= 2"),
    (dict(samples=np.zeros(10), n_fft=256, win_length=300), "win_length must be at most n_fft=256"),
])
def test_stft_rejects_bad_input(kwargs, match):
    kwargs = {"n_fft": 256, **kwargs}
    with pytest.raises(InputError, match=match):
        stft(**kwargs)


def test_memory_is_checked_before_allocating(monkeypatch):
    monkeypatch.setenv("INVMEL_MAX_SOLVE_MB", "10")  # the samples pass (4 MiB), their STFT (17 MiB) not
    with pytest.raises(InputError, match="STFT of 4,097 frames.*MiB"):
        stft(np.zeros(2**20, np.float32), 1024, 256)
    monkeypatch.setenv("INVMEL_MAX_SOLVE_MB", "1")
    with pytest.raises(InputError, match="MiB"):
        istft(np.zeros((513, 4097), np.complex64), 1024, 256)


def test_plan_blocks_do_not_change_the_result():
    """Long signals are transformed a block of frames at a time; any block size gives the same."""
    y = np.random.default_rng(4).standard_normal(5000).astype(np.float32)
    whole = STFTPlan(512, 128, 400, n_frames=stft_frames(y.size, 512, 128), length=y.size)
    pieces = STFTPlan(512, 128, 400, n_frames=stft_frames(y.size, 512, 128), length=y.size)
    pieces.block_frames = 7
    coeffs = whole.forward(y)
    np.testing.assert_array_equal(pieces.forward(y), coeffs)
    np.testing.assert_allclose(pieces.inverse(coeffs), whole.inverse(coeffs), atol=1e-6)
    np.testing.assert_allclose(pieces.adjoint(coeffs), whole.adjoint(coeffs), rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("n_fft, hop, win_length, n", [(256, 64, 256, 3000), (255, 64, 200, 1000),
                                                       (512, 100, 300, 2501), (512, 128, 512, 100)])
def test_adjoint_is_the_adjoint_of_forward(n_fft, hop, win_length, n):
    """<forward(x), C> = <x, adjoint(C)> (real inner product), for odd n_fft, short signals
    (zero-padded) and hops that do not divide n_fft: what the re-mel gradient relies on."""
    plan = STFTPlan(n_fft, hop, win_length, n_frames=stft_frames(n, n_fft, hop), length=n)
    rng = np.random.default_rng(n)
    x = rng.standard_normal(n).astype(np.float32)
    c = (rng.standard_normal((plan.n_frames, plan.n_freqs))
         + 1j * rng.standard_normal((plan.n_frames, plan.n_freqs))).astype(np.complex64)
    lhs = np.real(np.vdot(c.astype(np.complex128), plan.forward(x).astype(np.complex128)))
    rhs = np.dot(x.astype(np.float64), plan.adjoint(c).astype(np.float64))
    assert rhs == pytest.approx(lhs, rel=1e-5)


def test_plan_matches_public_functions_time_major():
    y = np.random.default_rng(3).standard_normal(3000).astype(np.float32)
    plan = STFTPlan(512, 128, 512, n_frames=stft_frames(y.size, 512, 128), length=y.size)
    coeffs = plan.forward(y)
    np.testing.assert_array_equal(coeffs.T, stft(y, 512, 128))
    np.testing.assert_array_equal(plan.inverse(coeffs), istft(coeffs.T, 512, 128, length=y.size))


@pytest.mark.parametrize("n_fft, hop, win_length, n", CASES + [(512, 128, None, 1), (512, 128, None, 256)])
@pytest.mark.parametrize("power", [2.0, 1.0, 0.5])
def test_spectrogram_is_the_stft_raised_to_power(n_fft, hop, win_length, n, power):
    y = np.random.default_rng(n).standard_normal(n).astype(np.float32)
    ours = spectrogram(y, n_fft, hop, win_length, power)
    assert ours.dtype == np.float32
    np.testing.assert_allclose(ours, np.abs(stft(y, n_fft, hop, win_length)) ** power, rtol=1e-5,
                               atol=1e-6 * ours.max())


@pytest.mark.parametrize("args, kwargs, match", [
    ((np.full(4000, 1e30, np.float32), 256), {}, "overflow|scale"),
    ((np.full(4000, 0.5, np.float32), 256), dict(power=200.0), "power"),
    ((np.zeros(10),), dict(power=0), "power must be > 0"),
    ((np.zeros((2, 10)),), {}, "mono"),
    ((np.zeros(10), 1), {}, "n_fft must be >= 2"),
    ((np.zeros(10), 256), dict(win_length=300), "win_length must be at most n_fft=256"),
    ((np.broadcast_to(np.float32(0.1), (10**10,)),), {}, "INVMEL_MAX_SOLVE_MB"),
])
def test_spectrogram_refuses_bad_input_naming_it(args, kwargs, match):
    with pytest.raises(InputError, match=match):
        spectrogram(*args, **kwargs)


def test_mel_spectrogram_is_the_filterbank_product():
    fb = MelFilterbank(257, 0.0, None, 40, 16000)
    spec = np.random.default_rng(0).random((3, 257, 11), dtype=np.float32)
    expected = np.einsum("fm,bft->bmt", fb.dense.astype(np.float64), spec)
    np.testing.assert_allclose(mel_spectrogram(spec, fb), expected, rtol=1e-5)
    np.testing.assert_allclose(mel_spectrogram(spec[0], fb.dense), expected[0], rtol=1e-5)
    with pytest.raises(InputError, match=r"\(\.\.\., 257, time\).*n_fft // 2 \+ 1"):
        mel_spectrogram(np.ones((256, 4)), fb)


def test_stft_window_is_torch_hann():
    np.testing.assert_allclose(stft_window(8), 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(8) / 8), atol=1e-7)
    assert stft_window(5, 1).tolist() == [0, 0, 1, 0, 0]  # torch.hann_window(1) == [1.]
    # A shorter window sits in the middle, zero-padded on both sides as torch.stft pads it.
    np.testing.assert_allclose(stft_window(1024, 800)[112:912], stft_window(800), atol=1e-7)
    assert not stft_window(1024, 800)[:112].any() and not stft_window(1024, 800)[912:].any()
