"""Quality evaluation through the product: data readers, metrics (pure), and the eval runs."""
