"""Inverting a mel spectrogram: ``InverseMelScale`` and its solvers, mel -> audio, and where the sound is lost."""
