"""Benchmarks of the hub against two in-run peers: ``python -m bench`` (see docs/benchmarks.md)."""
