"""Benchmarks of the SMS login step against the loopback vendor sandbox.

Run with ``make bench`` (or ``python -m benchmarks.run --help``). See
``benchmarks/README.md`` for what each scenario measures.
"""
