"""The ids MCP tools hand out and take back, and the url each result is cited by.

In the default collection an id is qa's own: a passage is its chunk_id
(``<doc_id>#<12 hex>``), a document its doc_id, as in the HTTP API. In any
other collection it is qualified: ``qa://<collection>/<doc_id>[#<hash>]``,
the doc_id percent-encoded. No doc_id can start with ``qa://`` (names with an
empty part are refused), so the two forms never collide; and no doc_id ends
in ``#<12 hex>`` (it must end in a suffix qa reads), so a passage id is told
from a document id by its shape.

A result's url is ``<QA_PUBLIC_URL>/documents/<doc_id>`` when qa knows the
address clients reach it at (a link a chat client can cite); otherwise it is
the qualified id, which fetch also takes.
"""

from __future__ import annotations

import re
from urllib.parse import quote, unquote

from qa.errors import InvalidInput
from qa.service.catalog import DEFAULT

SCHEME = "qa://"
_PASSAGE = re.compile(r"#[0-9a-f]{12}(?:-\d+)?$")


def is_passage(qa_id: str) -> bool:
    return _PASSAGE.search(qa_id) is not None


def _split(qa_id: str) -> tuple[str, str | None]:
    """The doc_id of a chunk_id or doc_id, and the passage's hash (None for a document)."""
    if is_passage(qa_id):
        doc_id, _, passage = qa_id.rpartition("#")
        return doc_id, passage
    return qa_id, None


def qualified(collection: str, qa_id: str) -> str:
    """``qa://<collection>/<doc_id>[#<hash>]`` for a chunk_id or doc_id of ``collection``."""
    doc_id, passage = _split(qa_id)
    return f"{SCHEME}{collection}/{quote(doc_id, safe='/')}" + (f"#{passage}" if passage else "")


def id_of(collection: str, qa_id: str) -> str:
    """The id a tool returns: qa's own in the default collection, qualified in any other."""
    return qa_id if collection == DEFAULT else qualified(collection, qa_id)


def url_of(collection: str, qa_id: str, public_url: str | None) -> str:
    """Where a result can be cited: its document under ``public_url`` when set, else its qualified id."""
    if public_url is None:
        return qualified(collection, qa_id)
    doc_id = _split(qa_id)[0]
    query = "" if collection == DEFAULT else f"?collection={collection}"
    return f"{public_url.rstrip('/')}/documents/{quote(doc_id, safe='/')}{query}"


def parse(value: str) -> tuple[str, str]:
    """The collection and qa id that ``value`` (an id or a qualified url) names."""
    if not value.startswith(SCHEME):
        return DEFAULT, value
    collection, slash, rest = value[len(SCHEME) :].partition("/")
    path, hash_sign, passage = rest.partition("#")
    if not (collection and slash and path):
        raise InvalidInput(f"id {value!r} should read qa://<collection>/<doc_id>[#<passage>]")
    return collection, unquote(path) + (f"#{passage}" if hash_sign else "")
