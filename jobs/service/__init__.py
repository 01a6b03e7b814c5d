"""The HTTP service: the FastAPI app (app.py) over its open tables (tables.py; searches batched by
batching.py and searches.py), the Ray Serve deployment (serve.py), the page and maps."""
