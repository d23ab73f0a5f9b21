"""Embedders: text -> vectors. ``hashing`` (offline, lexical) and ``openai`` (production)."""
