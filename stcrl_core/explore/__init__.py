"""Exploring embeddings: 2-D projections and clustering."""
