"""Benchmarks. ``python -m bench`` times every solver on the workload of issue 3 (see
:mod:`bench.solvers`, with :mod:`bench.reference`, the dense SGD yardstick, and
:mod:`bench.long_audio`, 10 minutes of audio in a fresh process); ``python -m bench.app``
measures the app (:mod:`bench.app`).
"""
