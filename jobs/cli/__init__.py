"""The `embedfleet` command line: main.py builds the parser; one module per group of commands."""
