"""Benchmarks of the add-on against its own targets (``python bench/run.py``)."""
