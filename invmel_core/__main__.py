"""``python -m invmel_core``: the same as the ``invmel`` command (:func:`invmel_core.cli.main`)."""

from invmel_core.cli import main

raise SystemExit(main())
