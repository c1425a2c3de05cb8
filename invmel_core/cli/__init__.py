"""The command lines: ``invmel INPUT`` / ``python -m invmel_core INPUT`` (one file, :mod:`.invert`) and
``invmel batch INPUT -o OUTDIR`` (many, :mod:`.batch`; a single input named ``batch``: ``./batch``)."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Run the command line on ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["batch"]:
        from invmel_core.cli.batch import main as batch_main

        return batch_main(argv[1:])
    from invmel_core.cli.invert import main as file_main

    return file_main(argv)
