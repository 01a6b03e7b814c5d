"""LanceDB storage: schema and provenance, atomic commits, rejects and runs tables."""
