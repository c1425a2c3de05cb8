"""bench/audio_perturb.py (``python -m bench.audio --perturb``): the noise has the ln-mel
standard deviation asked for and the summary pairs methods clip by clip."""

import numpy as np

from bench import audio
from bench.audio_perturb import perturb, summary, table


def test_perturb_is_ln_mel_noise_of_sigma_nats():
    mel = np.random.default_rng(3).random((80, 400), dtype=np.float32) + 0.1
    assert perturb(mel, 0.0) is mel
    for smooth in (1, 3):
        noisy = perturb(mel, 0.3, smooth)
        ratio = np.log(noisy / mel)
        assert noisy.dtype == np.float32 and abs(ratio.std() - 0.3) < 1e-3
        np.testing.assert_array_equal(noisy, perturb(mel, 0.3, smooth))  # seeded
    neighbours = [np.corrcoef(np.log(perturb(mel, 0.3, k) / mel)[:, :-1].ravel(),
                              np.log(perturb(mel, 0.3, k) / mel)[:, 1:].ravel())[0, 1] for k in (1, 3)]
    assert abs(neighbours[0]) < 0.05 and neighbours[1] > 0.5  # smoothed: correlated over frames


def test_summary_pairs_clip_by_clip():
    rows = [dict(clip=c, framing="same", sigma=0.3, method=m, estoi=e, pesq=p, time=1.0, log_mel=0.1, re_mel=0.01)
            for c, scores in {"a": {"librosa": (0.8, 2.0), "exact": (0.85, 3.0), "soft": (0.86, 3.2)},
                              "b": {"librosa": (0.7, 1.0), "exact": (0.75, 2.0), "soft": (0.74, 1.9)}}.items()
            for m, (e, p) in scores.items()]
    text = summary(rows)
    assert "| same | 0.3 | 2 |" in text and "1/2" in text and "+0.05" in text  # median of +0.2 and -0.1
    assert table(rows, audio._cell).count("\n") == 2 + len(rows) - 1
