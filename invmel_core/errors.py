"""The one exception type for input a person must fix."""


class InputError(ValueError):
    """Bad input or parameters: the message says what was wrong and what to do.

    A ``ValueError`` subclass, so code written against torchaudio or librosa that
    catches ``ValueError`` keeps working; the app catches exactly this type and
    shows its message next to the offending widget.
    """
