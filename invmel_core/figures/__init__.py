"""Figures: matplotlib ``Figure`` objects (never pyplot state) and the spectrogram's frequency rows on screen."""
