"""Ray actors and UDF classes: the embedder (model holder) and the query actor."""
