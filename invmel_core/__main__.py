"""``python -m invmel_core INPUT`` (:mod:`invmel_core.cli`) and ``python -m invmel_core batch
INPUT -o OUTDIR`` (:mod:`invmel_core.batch_cli`; a single input named ``batch``: ``./batch``)."""

import sys

if sys.argv[1:2] == ["batch"]:
    from .batch_cli import main

    raise SystemExit(main(sys.argv[2:]))

from .cli import main

raise SystemExit(main())
