"""The embed run: sources, datasource, plan (rows, changes, modes), stages, pool; run.py ties them."""
