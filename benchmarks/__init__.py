"""Benchmarks: the project against a baseline measured in the same run.

Run them with ``python -m benchmarks``.
"""
