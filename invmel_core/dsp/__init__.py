"""Signal processing: Hz <-> mel scales, mel filterbanks (dense and banded), STFT/iSTFT, phase reconstruction, metrics."""
