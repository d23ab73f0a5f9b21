"""Vector stores: ``lancedb`` (embedded default) and ``pinecone`` (production)."""
