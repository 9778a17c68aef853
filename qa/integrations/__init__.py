"""Adapters for frameworks that call qa over HTTP; each is an optional extra (``pip install qa[langchain]``)."""
