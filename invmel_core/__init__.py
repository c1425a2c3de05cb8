"""invmel_core: mel scales, filterbanks and inverse-mel solvers, with no UI."""

__version__ = "0.2.0"

from invmel_core.errors import InputError
from invmel_core.io.audio import match_loudness, to_wav_bytes
from invmel_core.dsp.stft import mel_spectrogram, spectrogram
from invmel_core.dsp.phase import griffinlim
from invmel_core.io.loading import load_audio, load_melspec
from invmel_core.dsp.filterbank import (BandedFilterbank, EmptyFilterWarning, MelFilterbank, bin_frequencies,
                                      filter_edges, melscale_fbanks)
from invmel_core.dsp.scales import hz_to_mel, mel_to_hz
from invmel_core.inverse.solvers import SOLVERS, Iterate, SolverOptions, get_solver
from invmel_core.inverse.transform import InverseMelScale

__all__ = [
    "InputError", "BandedFilterbank", "EmptyFilterWarning", "MelFilterbank", "bin_frequencies",
    "filter_edges", "melscale_fbanks", "hz_to_mel", "mel_to_hz", "SOLVERS", "Iterate",
    "SolverOptions", "get_solver", "InverseMelScale",
    "load_audio", "load_melspec", "spectrogram", "mel_spectrogram", "griffinlim", "to_wav_bytes",
    "match_loudness",
]
from invmel_core.formats.presets import FORMATS, MelFormat, mel_from_audio
from invmel_core.formats.compression import Compression, detect_compression, undo_compression
from invmel_core.formats.fit import FitResult, check_fit
from invmel_core.formats.ranking import rank_settings
from invmel_core.inverse.mel_audio import mel_to_audio
from invmel_core.inverse.oracle import oracle_view

__all__ += ["FORMATS", "Compression", "MelFormat", "detect_compression", "mel_from_audio", "undo_compression",
            "FitResult", "check_fit", "rank_settings", "mel_to_audio", "oracle_view"]
