"""The one exception type for input a person must fix."""


class InputError(ValueError):
    """Bad input or parameters: the message says what was wrong and what to do.

    A ``ValueError`` subclass, so code written against torchaudio or librosa that
    catches ``ValueError`` keeps working; the app catches exactly this type and
    shows its message next to the offending widget.

    See Also
    --------
    invmel_core.validation : the checks that raise it, each naming the parameter

    Examples
    --------
    >>> from invmel_core import InverseMelScale
    >>> try:
    ...     InverseMelScale(n_stft=201, n_mels=0)
    ... except ValueError as exc:
    ...     print(type(exc).__name__, exc)
    InputError n_mels must be >= 1, got 0
    """
