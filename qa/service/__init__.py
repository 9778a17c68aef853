"""The service a process holds: the core object per collection, the catalog of collections, jobs, the folder watch.

It may import everything below it (:mod:`qa.ingest`, :mod:`qa.encoder`,
:mod:`qa.index`, :mod:`qa.search`) and never :mod:`qa.api`, so the CLI, the
HTTP API and in-process users share one core.
"""
