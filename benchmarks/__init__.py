"""Benchmarks of asyncjobs on a local server: ``python -m benchmarks``."""
