"""qa for agents: an MCP server (the official ``mcp`` SDK), one more room beside the HTTP API, over the same core.

:mod:`qa.mcp.server` builds it over a :class:`~qa.service.catalog.Catalog`
(tools ``search``, ``fetch``, ``list_collections``); :mod:`qa.mcp.results` and
:mod:`qa.mcp.ids` are what the tools return and the ids they take;
:mod:`qa.mcp.http` is the ``/mcp`` route qa's app serves; ``qa mcp`` serves
it over stdio. It may import :mod:`qa.service`, :mod:`qa.search` and the plain
types of :mod:`qa.wire`, never qa's routes; the core never imports it.
"""
