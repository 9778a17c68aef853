"""qa: semantic search and question answering over documents, served over HTTP."""

__version__ = "0.1.0"
