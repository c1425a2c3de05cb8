"""invmel_core: mel scales, filterbanks and inverse-mel solvers, with no UI."""

from .errors import InputError
from .audio import match_loudness, to_wav_bytes
from .stft import mel_spectrogram, spectrogram
from .phase import griffinlim
from .loading import load_audio, load_melspec
from .filterbank import (BandedFilterbank, EmptyFilterWarning, MelFilterbank, bin_frequencies,
                         filter_edges, melscale_fbanks)
from .scales import hz_to_mel, mel_to_hz
from .solvers import SOLVERS, Iterate, SolverOptions, get_solver
from .transform import InverseMelScale

__all__ = [
    "InputError", "BandedFilterbank", "EmptyFilterWarning", "MelFilterbank", "bin_frequencies",
    "filter_edges", "melscale_fbanks", "hz_to_mel", "mel_to_hz", "SOLVERS", "Iterate",
    "SolverOptions", "get_solver", "InverseMelScale",
    "load_audio", "load_melspec", "spectrogram", "mel_spectrogram", "griffinlim", "to_wav_bytes",
    "match_loudness",
]
from .formats import FORMATS, MelFormat, mel_from_audio
from .compression import Compression, detect_compression, undo_compression
from .fit import FitResult, check_fit
from .ranking import rank_settings
from .mel_audio import mel_to_audio
from .oracle import oracle_view

__all__ += ["FORMATS", "Compression", "MelFormat", "detect_compression", "mel_from_audio", "undo_compression",
            "FitResult", "check_fit", "rank_settings", "mel_to_audio", "oracle_view"]
