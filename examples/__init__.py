"""Runnable examples: ``python -m examples.app`` (see the README)."""
