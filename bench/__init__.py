"""Benchmarks. ``python -m bench`` times every solver on the workload (10 s of speech; see
:mod:`bench.solvers`, with :mod:`bench.reference`, the dense SGD yardstick, and
:mod:`bench.long_audio`, 10 minutes of audio in a fresh process); ``python -m bench.app``
measures the app (:mod:`bench.app`).
"""
