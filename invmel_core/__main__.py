"""``python -m invmel_core INPUT``: see :mod:`invmel_core.cli`."""

from .cli import main

raise SystemExit(main())
