"""UMAP maps of a table: the pure part (core.py: sampling, trust, colours) and the cached run (project.py)."""
