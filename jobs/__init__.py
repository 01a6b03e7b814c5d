"""What runs as a Ray job: embed, schedule, eval, bench, and the CLI."""

__version__ = "0.1.0"
