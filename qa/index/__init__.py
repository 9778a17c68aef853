"""Passages and their index: chunking, the lexical and vector indexes, segments and commits on disk, background merges, and the one writer.

It may import ``qa.config``, ``qa.errors``, ``qa.durable``, :mod:`qa.ingest`
and :mod:`qa.encoder`. A second storage backend goes here, beside
:mod:`qa.index.store`.
"""
