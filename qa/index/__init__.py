"""Passages and their index: chunking, the lexical and vector indexes, segments and commits on disk, background merges, and the one writer.

It may import ``qa.config``, ``qa.errors``, ``qa.durable``, :mod:`qa.ingest`
and :mod:`qa.encoder`. :mod:`qa.index.backend` picks the storage backend
(``QA_BACKEND``): the local store (:mod:`qa.index.store`) or Milvus
(:mod:`qa.index.milvus`), each behind the same writer and index interface.
"""
