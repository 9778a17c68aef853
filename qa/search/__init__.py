"""Queries in, ranked passages out: the search modes and their fusion, filters, the answering sentence, calibration, evaluation.

It may import ``qa.config``, ``qa.errors``, :mod:`qa.encoder` and
:mod:`qa.index`. A new search mode goes in :mod:`qa.search.retrieval` (and its
curve in :mod:`qa.search.calibration`); ``qa.config.SearchMode`` names it.
"""
