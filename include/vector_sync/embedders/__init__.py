"""Embedders: text -> vectors. ``wordllama`` (offline, semantic: the default), ``hashing``
(offline, lexical) and ``openai`` (production)."""
