"""The query side: QueryActor (actor.py), query embedding, filters, vector expressions, exact similarity."""
