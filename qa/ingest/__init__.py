"""Documents in: which names a document may have, how each file type becomes text, and the docs folder on disk.

The first stage of qa's flow. It may import ``qa.config``, ``qa.errors`` and
``qa.durable``, nothing else of qa. A new file type goes in :mod:`qa.ingest.formats`.
"""
