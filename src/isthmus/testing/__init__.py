"""Helpers shipped with the package for tests, benchmarks and the demo."""
