"""The MCP server, driven by the official SDK's own client: over real streamable HTTP (uvicorn on 127.0.0.1)
and over stdio against `qa mcp` as a subprocess. Shapes, ids, errors and security run on the counting
embedder; claims about answers use the real model and are marked slow."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import anyio
import httpx
import httpx2
import pytest
from mcp import Client, MCPError, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from qa.api import create_app
from qa.errors import NotFound
from qa.mcp import ids
from qa.service.catalog import Catalog
from qa.service.core import QAService

from conftest import SEED, seed_service
from servers import ThreadedServer, offline_env, qa_command

ZH = "青岛市虚拟现实产业园规划面积有多大?"
KEY = "s3cret-key"
RPC_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def rpc(method: str, params: dict[str, Any], id_: int = 1) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": id_, "method": method, "params": params}


INIT = rpc(
    "initialize",
    {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}},
)


@asynccontextmanager
async def mcp_client(url: str, key: str | None = None, mode: str = "auto") -> AsyncIterator[Client]:
    """The SDK's client over streamable HTTP; the key goes in the headers of its HTTP client."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(60)) as http,
        Client(streamable_http_client(url + "/mcp", http_client=http), mode=mode) as client,
    ):
        yield client


def leaves(exc: BaseException) -> list[BaseException]:
    """The exceptions inside (nested) exception groups, as the SDK's task groups raise them."""
    inner = getattr(exc, "exceptions", None)  # an ExceptionGroup (the builtin from 3.11 on, anyio's backport before)
    if isinstance(inner, tuple):
        return [leaf for e in inner for leaf in leaves(e)]
    return [exc]


def texts(result: Any) -> list[str]:
    return [block.text for block in result.content]


@pytest.fixture
def serve(make_service: Callable[..., QAService]) -> Callable[..., Any]:
    """``serve(**settings)``: a real uvicorn over the seed service (counting embedder unless ``embedder=``)."""

    @asynccontextmanager
    async def run(embedder: Any = None, **settings: Any) -> AsyncIterator[tuple[str, QAService]]:
        service = make_service(embedder, **settings)
        with ThreadedServer(create_app(service.settings, service=service), service.settings) as server:
            yield server.url, service

    return run


# ------------------------------------------------------------------ ids and the core's passage lookup


@pytest.mark.parametrize("doc_id", ["laoshan-vr-ai.txt", "faq/停车 #1.md", "a%20b.txt"])
def test_ids_round_trip_in_every_collection(doc_id: str) -> None:
    chunk_id = f"{doc_id}#0123456789ab"
    assert ids.id_of("default", chunk_id) == chunk_id  # qa's own ids, as in the HTTP API
    assert ids.parse(chunk_id) == ("default", chunk_id)
    for qa_id in (doc_id, chunk_id, f"{chunk_id}-2"):
        assert ids.is_passage(qa_id) == (qa_id != doc_id)
        for collection in ("default", "support-kb"):
            assert ids.parse(ids.qualified(collection, qa_id)) == (collection, qa_id)
            assert ids.parse(ids.id_of(collection, qa_id)) == (collection, qa_id)
            assert ids.parse(ids.url_of(collection, qa_id, None)) == (collection, qa_id)
    assert ids.url_of("default", chunk_id, "https://qa.example.org/") == (
        f"https://qa.example.org/documents/{quote(doc_id, safe='/')}"
    )
    assert ids.url_of("kb", doc_id, "https://qa.example.org").endswith("?collection=kb")


def test_a_passage_is_found_by_its_id(make_service: Callable[..., QAService]) -> None:
    service = make_service()
    service.put("tagged.md", b"# Tagged\n\nA passage of a document with metadata.", {"lang": "en"})
    hit = service.search("document with metadata", top_k=1, where=lambda d, m: d == "tagged.md").results[0]
    found = service.passage(hit.chunk_id)
    assert found.chunk == hit.chunk and found.metadata == {"lang": "en"}
    with pytest.raises(NotFound, match="search again"):
        service.passage("tagged.md#000000000000")


# ------------------------------------------------------------------ over real HTTP, counting embedder


def test_the_first_request_after_start_is_served(serve: Callable[..., Any]) -> None:
    """The app's lifespan runs the MCP session manager: the very first POST /mcp answers, without a redirect."""

    async def run() -> None:
        async with serve() as (url, _), httpx.AsyncClient() as http:
            r = await http.post(url + "/mcp", json=INIT, headers=RPC_HEADERS)
            assert r.status_code == 200, r.text
            assert r.headers["content-type"].startswith("application/json")
            assert r.json()["result"]["serverInfo"]["name"] == "qa"
            for method in ("GET", "DELETE"):  # stateless: no event stream to hold a connection open for
                r = await http.request(method, url + "/mcp", headers={"Accept": "text/event-stream"}, timeout=10)
                assert r.status_code == 405 and r.headers["allow"] == "POST"
            missing = await http.get(url + "/nope")  # the rest of the app is untouched
            assert missing.status_code == 404 and missing.json() == {"detail": "Not Found"}

    asyncio.run(run())


def test_tools_have_schemas_and_name_the_collections(serve: Callable[..., Any]) -> None:
    async def run() -> None:
        async with serve() as (url, service):
            catalog = Catalog(service.settings, service.embedder)
            catalog.create("support-kb").put("faq.md", b"The shuttle bus leaves every 20 minutes.")
            async with mcp_client(url) as client:
                tools = {t.name: t for t in (await client.list_tools()).tools}
        assert set(tools) == {"search", "fetch", "list_collections"}
        search = tools["search"]
        props = search.input_schema["properties"]
        assert set(props) == {"query", "top_k", "collection", "filter", "mode", "min_relevance"}
        assert search.input_schema["required"] == ["query"]
        assert props["top_k"]["default"] == 5 and props["top_k"]["maximum"] == service.settings.max_top_k
        assert props["collection"]["default"] == "default"
        assert tools["fetch"].input_schema["required"] == ["id"]
        assert {"results", "collection", "mode"} <= set(search.output_schema["properties"])
        passage = search.output_schema["$defs"]["Passage"]["properties"]
        assert {"id", "title", "url", "text", "doc_id", "chunk_id", "start", "end", "page", "section"} <= set(passage)
        assert {"score", "sentence", "metadata"} <= set(passage)
        assert {"id", "title", "text", "url", "metadata"} <= set(tools["fetch"].output_schema["properties"])
        for tool in tools.values():
            assert tool.annotations.read_only_hint is True
            assert "default (1 document, 14 passages); support-kb (1 document, 1 passage)" in tool.description

    asyncio.run(run())


# auto: the SDK's newest protocol (2026-07-28); legacy: the 2025 handshake that desktop clients speak today.
@pytest.mark.parametrize("mode", ["auto", "legacy"])
def test_bad_calls_are_readable_tool_errors(serve: Callable[..., Any], mode: str) -> None:
    bad = [
        ("search", {"query": "x", "collection": "nope"}, "no collection 'nope'; there are: default"),
        ("search", {"query": "  "}, "query must not be empty"),
        ("search", {"query": "x", "top_k": 0}, "top_k must be between 1 and 100, got 0"),
        ("search", {"query": "x", "top_k": 1000}, "top_k must be between 1 and 100, got 1000"),
        ("search", {"query": "x", "mode": "fuzzy"}, "mode: Input should be 'dense', 'lexical' or 'hybrid'"),
        ("search", {"top_k": 3}, "query: Field required"),
        ("fetch", {"id": "nope.txt"}, "no document 'nope.txt'"),
        ("fetch", {"id": "laoshan-vr-ai.txt#000000000000"}, "no passage"),
        ("fetch", {"id": "qa://nope/a.txt"}, "no collection 'nope'"),
        ("fetch", {"id": "../etc/passwd.txt"}, "has an empty, '.' or '..' part"),
    ]

    async def run() -> list[Any]:
        async with serve() as (url, _), mcp_client(url, mode=mode) as client:
            return [await client.call_tool(name, args) for name, args, _ in bad]

    for (name, args, message), result in zip(bad, asyncio.run(run()), strict=True):
        assert result.is_error, (name, args)
        (text,) = texts(result)
        assert text.startswith(f"Error executing tool {name}: ") and message in text, text
        assert "Traceback" not in text and "pydantic" not in text


def test_ids_of_another_collection_are_qualified(serve: Callable[..., Any]) -> None:
    async def run() -> tuple[Any, Any, Any]:
        async with serve(public_url="https://qa.example.org") as (url, service):
            kb = Catalog(service.settings, service.embedder).create("support-kb")
            kb.put("faq/bus.md", b"The VR park shuttle bus leaves every 20 minutes.", {"title": "Bus FAQ"})
            async with mcp_client(url) as client:
                found = await client.call_tool("search", {"query": "shuttle bus", "collection": "support-kb"})
                hit = found.structured_content["results"][0]
                return (
                    hit,
                    await client.call_tool("fetch", {"id": hit["id"]}),
                    await client.call_tool("fetch", {"id": ids.id_of("support-kb", hit["doc_id"])}),
                )

    hit, passage, document = asyncio.run(run())
    assert document.structured_content["truncated"] is False
    assert hit["id"].startswith("qa://support-kb/faq/bus.md#") and hit["chunk_id"].startswith("faq/bus.md#")
    assert hit["title"] == "Bus FAQ" and hit["metadata"] == {"title": "Bus FAQ"}
    assert hit["url"] == "https://qa.example.org/documents/faq/bus.md?collection=support-kb"
    assert 0.0 <= hit["score"] <= 1.0
    assert passage.structured_content["kind"] == "passage" and passage.structured_content["collection"] == "support-kb"
    assert passage.structured_content["chunk_id"] == hit["chunk_id"]
    doc = document.structured_content
    assert doc["kind"] == "document" and doc["text"] == "The VR park shuttle bus leaves every 20 minutes."
    assert doc["chunk_id"] is None and (doc["start"], doc["end"]) == (0, len(doc["text"]))


def test_fetch_of_a_long_document_is_bounded_and_says_so(serve: Callable[..., Any]) -> None:
    async def run() -> dict[str, Any]:
        async with serve(mcp_fetch_max_chars=500) as (url, _), mcp_client(url) as client:
            return (await client.call_tool("fetch", {"id": SEED.name})).structured_content

    doc = asyncio.run(run())
    full = SEED.read_text(encoding="utf-8")
    assert doc["truncated"] is True and doc["text"] == full[:500] and (doc["start"], doc["end"]) == (0, 500)


def test_search_and_fetch_have_the_shape_chatgpt_reads(serve: Callable[..., Any]) -> None:
    """ChatGPT's apps and deep research call search(query) and fetch(id) and read exactly one text item of JSON:
    {"results": [{"id", "title", "url"}]} and {"id", "title", "text", "url", "metadata"}; citations need a url."""

    async def call(http: httpx.AsyncClient, url: str, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        r = await http.post(
            url + "/mcp",
            json=rpc("tools/call", {"name": name, "arguments": arguments}),
            headers=RPC_HEADERS | {"MCP-Protocol-Version": "2025-06-18"},
        )
        assert r.status_code == 200, r.text
        return r.json()["result"]

    async def run() -> tuple[dict[str, Any], dict[str, Any]]:
        async with serve() as (url, _), httpx.AsyncClient(timeout=60) as http:
            assert (await http.post(url + "/mcp", json=INIT, headers=RPC_HEADERS)).status_code == 200
            found = await call(http, url, "search", {"query": "虚拟现实产业园"})
            first = json.loads(found["content"][0]["text"])["results"][0]
            return found, await call(http, url, "fetch", {"id": first["id"]})

    found, fetched = asyncio.run(run())
    for result in (found, fetched):
        assert result.get("isError") is False
        (item,) = result["content"]  # exactly one content item
        assert item["type"] == "text"
        assert json.loads(item["text"]) == result["structuredContent"]
    results = json.loads(found["content"][0]["text"])["results"]
    assert results
    for r in results:
        assert all(isinstance(r[k], str) and r[k] for k in ("id", "title", "url"))
    doc = json.loads(fetched["content"][0]["text"])
    assert all(isinstance(doc[k], str) and doc[k] for k in ("id", "title", "text", "url"))
    assert isinstance(doc["metadata"], dict) and doc["id"] == results[0]["id"]


def test_reads_behind_the_key_need_it_on_mcp_too(serve: Callable[..., Any]) -> None:
    async def run() -> None:
        async with serve(api_key=KEY, api_key_reads=True) as (url, _):
            async with httpx.AsyncClient() as http:
                r = await http.post(url + "/mcp", json=INIT, headers=RPC_HEADERS)
                assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
                assert "Authorization: Bearer" in r.json()["detail"]
                r = await http.post(url + "/mcp", json=INIT, headers=RPC_HEADERS | {"Authorization": "Bearer wrong"})
                assert r.status_code == 401 and "invalid_token" in r.headers["www-authenticate"]
                r = await http.post(url + "/mcp", json=INIT, headers=RPC_HEADERS | {"Authorization": "Basic eDp5"})
                assert r.status_code == 401
            with pytest.raises(BaseException) as refused:  # the SDK's client cannot even initialize
                async with mcp_client(url) as client:
                    await client.list_tools()
            assert any(isinstance(e, MCPError) for e in leaves(refused.value)), refused.value
            async with mcp_client(url, key=KEY) as client:
                result = await client.call_tool("search", {"query": "虚拟现实", "top_k": 1})
                assert not result.is_error and result.structured_content["results"]

    asyncio.run(run())


def test_a_key_for_writes_only_leaves_mcp_open(serve: Callable[..., Any]) -> None:
    async def run() -> None:
        async with serve(api_key=KEY) as (url, _), mcp_client(url) as client:
            assert not (await client.call_tool("list_collections", {})).is_error

    asyncio.run(run())


def test_foreign_hosts_and_origins_are_refused(serve: Callable[..., Any]) -> None:
    """DNS rebinding: only QA_ALLOWED_HOSTS; and a page of another origin cannot call /mcp from a browser."""

    async def run() -> None:
        async with serve() as (url, _), httpx.AsyncClient() as http:
            r = await http.post(url + "/mcp", json=INIT, headers=RPC_HEADERS | {"Host": "evil.example"})
            assert r.status_code == 400 and "QA_ALLOWED_HOSTS" in r.json()["detail"]
            r = await http.post(url + "/mcp", json=INIT, headers=RPC_HEADERS | {"Origin": "http://evil.example"})
            assert r.status_code == 403
            # Another local web app (any port of an allowed host) is another origin too (issue 25).
            for origin in ("http://localhost:6274", "http://127.0.0.1"):
                r = await http.post(url + "/mcp", json=INIT, headers=RPC_HEADERS | {"Origin": origin})
                assert r.status_code == 403, (origin, r.text)
            r = await http.post(url + "/mcp", json=INIT, headers=RPC_HEADERS | {"Origin": url})
            assert r.status_code == 200, r.text
            r = await http.post(
                url + "/mcp", json=INIT, headers=RPC_HEADERS | {"Host": f"localhost:{url.rsplit(':', 1)[1]}"}
            )
            assert r.status_code == 200
        async with serve(mcp_allowed_origins="http://localhost:6274") as (url, _), httpx.AsyncClient() as http:
            headers = RPC_HEADERS | {"Origin": "http://localhost:6274"}
            assert (await http.post(url + "/mcp", json=INIT, headers=headers)).status_code == 200

    asyncio.run(run())


# ------------------------------------------------------------------ the real model


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["auto", "legacy"])
def test_search_finds_the_planned_area_and_fetch_returns_it(tmp_path: Path, real_embedder: Any, mode: str) -> None:
    service = seed_service(tmp_path, real_embedder)

    async def run() -> tuple[Any, Any, Any]:
        with ThreadedServer(create_app(service.settings, service=service), service.settings) as server:
            async with mcp_client(server.url, mode=mode) as client:
                found = await client.call_tool("search", {"query": ZH, "top_k": 3})
                first = found.structured_content["results"][0]
                by_passage = await client.call_tool("fetch", {"id": first["id"]})
                by_document = await client.call_tool("fetch", {"id": first["doc_id"]})
                return found, by_passage, by_document

    found, by_passage, by_document = asyncio.run(run())
    assert not found.is_error and found.structured_content["not_found"] is None
    first = found.structured_content["results"][0]
    assert "1969亩" in first["text"] and "1969亩" in first["sentence"]["text"]
    assert first["id"] == first["chunk_id"] and first["doc_id"] == SEED.name
    assert first["url"] == f"qa://default/{first['chunk_id']}"
    text = SEED.read_text(encoding="utf-8")
    assert text[first["start"] : first["end"]] == first["text"]
    assert text[first["sentence"]["start"] : first["sentence"]["end"]] == first["sentence"]["text"]
    assert 0.3 < first["score"] <= 1.0  # calibrated: the estimated chance that it holds the answer
    scores = [r["score"] for r in found.structured_content["results"]]
    assert scores == sorted(scores, reverse=True)
    passage = by_passage.structured_content
    assert passage["kind"] == "passage" and passage["text"] == first["text"] and passage["id"] == first["id"]
    assert (passage["start"], passage["end"]) == (first["start"], first["end"])
    document = by_document.structured_content
    assert document["kind"] == "document" and document["id"] == SEED.name and "1969亩" in document["text"]
    assert document["text"][first["start"] : first["end"]] == first["text"]


async def _text(call: Any) -> str:
    result = await call
    return result.content[0].text


@pytest.mark.slow
def test_search_says_so_when_the_documents_do_not_hold_the_answer(tmp_path: Path, real_embedder: Any) -> None:
    """An agent is told in words it can act on, and given no passages to answer from; it may lower the bar."""
    service = seed_service(tmp_path, real_embedder)

    async def run() -> tuple[Any, Any]:
        with ThreadedServer(create_app(service.settings, service=service), service.settings) as server:
            async with mcp_client(server.url) as client:
                question = {"query": "巴黎明天天气怎么样?", "top_k": 3}
                return (
                    await client.call_tool("search", question),
                    await client.call_tool("search", question | {"min_relevance": 0}),
                )

    refused, anyway = asyncio.run(run())
    assert not refused.is_error
    body = json.loads(refused.content[0].text)
    assert body["results"] == [] and body["not_found"].startswith("Not found in your documents")
    assert len(anyway.structured_content["results"]) == 3 and anyway.structured_content["not_found"] is None


@pytest.mark.slow
def test_qa_mcp_serves_the_tools_over_stdio(tmp_path: Path, real_embedder: Any) -> None:
    """`qa mcp` as a desktop client starts it: a subprocess speaking MCP on stdin/stdout."""
    settings = seed_service(tmp_path, real_embedder).settings  # the index is built; the process only loads it
    params = StdioServerParameters(
        command=qa_command()[0],
        args=["mcp", "--docs", str(settings.docs_dir), "--index", str(settings.index_dir)],
        env=offline_env() | {"QA_COLLECTIONS_DIR": str(settings.collections_dir)},  # not inherited otherwise
        cwd=str(tmp_path),
    )

    async def run() -> tuple[list[str], list[str], Any]:
        with anyio.fail_after(240):
            async with Client(params) as client:  # initialize is answered before the index is loaded
                listed = (await client.list_tools()).tools
                early = [t.description for t in listed] + [await _text(client.call_tool("list_collections", {}))]
                while True:  # until loaded, the tools say qa is starting
                    found = await client.call_tool("search", {"query": ZH, "top_k": 1})
                    if not found.is_error:
                        return [t.name for t in listed], early, found
                    assert "qa is starting" in found.content[0].text, found.content[0].text
                    await anyio.sleep(0.2)

    tools, early, found = asyncio.run(run())
    assert sorted(tools) == ["fetch", "list_collections", "search"]
    assert all("qa is starting: loading the model and the index" in text for text in early), early
    (item,) = found.content
    first = json.loads(item.text)["results"][0]
    assert "1969亩" in first["sentence"]["text"] and first["doc_id"] == SEED.name
