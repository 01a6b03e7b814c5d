"""The HTTP service: the FastAPI app (app.py), its Ray Serve deployment (serve.py), the page and maps."""
