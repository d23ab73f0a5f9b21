"""Embedders: text -> vectors. ``minilm`` (offline, contextual: the default), ``wordllama``
(offline, static word vectors: fast), ``hashing`` (offline, lexical) and ``openai`` (production)."""
