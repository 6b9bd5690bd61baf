"""Command-line entry points: ``isthmus node | demo``."""
