"""All of qa's settings, declared once and read from ``QA_*`` environment variables.

Nothing is read at import time: call :func:`load_settings` (or build
``Settings(...)`` directly in tests) and hand the object down.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

BUNDLED_MODEL = "bundled:multilingual-e5-small"
SearchMode = Literal["dense", "lexical", "hybrid"]
SEARCH_MODES: tuple[str, ...] = get_args(SearchMode)
IndexType = Literal["auto", "flat", "hnsw"]
Backend = Literal["local", "milvus"]


@dataclass(frozen=True)
class ChunkParams:
    """How documents become passages and embedded windows; an index records these and is rebuilt when they change."""

    size: int = 1000
    overlap: int = 150
    min_paragraph: int = 80
    window: int = 100
    window_overlap: int = 30


@dataclass(frozen=True)
class VectorSpec:
    """Which FAISS index holds the window vectors: exact up to ``threshold`` vectors, HNSW beyond (``auto``)."""

    kind: IndexType = "auto"
    threshold: int = 20_000
    m: int = 32
    ef_construction: int = 64
    ef_search: int = 128

    def chosen(self, n: int) -> str:
        return ("hnsw" if n > self.threshold else "flat") if self.kind == "auto" else self.kind


def _default_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "qa" / "models"


class Settings(BaseSettings):
    """Typed configuration; every field is also ``QA_<NAME>`` in the environment."""

    model_config = SettingsConfigDict(env_prefix="QA_", extra="ignore")

    docs_dir: Path = Field(
        Path("seeds"),
        description="Folder of source documents (.txt, .md, .html, .pdf, .docx; recursive, hidden files skipped); "
        "uploads are stored here.",
    )
    index_dir: Path = Field(Path("index"), description="Where the index's segments and commits live.")
    collections_dir: Path = Field(
        Path("collections"), description="Where collections other than 'default' keep their docs and index folders."
    )
    model: str = Field(
        BUNDLED_MODEL,
        description="Embedding model: the bundled multilingual-e5-small, or a sentence-transformers path or hub id "
        "(its query and passage prompts come from the model's own config).",
    )
    model_cache: Path = Field(default_factory=_default_cache, description="Where the bundled model is materialized.")
    batch_size: int = Field(16, ge=1, le=1024, description="Passages per encoder call when indexing.")
    encoder_workers: int = Field(
        0,
        ge=0,
        le=64,
        description="Encoder calls run at once, each on cores/workers threads. 0: one per core (most queries per second "
        "under load); 1: one call on every core (lowest latency for a lone query).",
    )
    query_runtime: Literal["auto", "onnx", "torch"] = Field(
        "auto",
        description="What encodes a query that has no other in flight: onnx runs the bundled model's graph on "
        "ONNX Runtime on every core (its lowest latency); torch, one torch worker. auto: onnx where onnxruntime is "
        "installed and the model is the bundled one. Concurrent queries always run as packed torch batches.",
    )
    precision: Literal["auto", "fp32", "bf16"] = Field(
        "auto",
        description="Encoder arithmetic: bf16 matmuls where the CPU has them natively (auto), else fp32. "
        "bf16 vectors match fp32 to cosine 0.9999 and encode faster (docs/performance.md).",
    )

    reader: bool = Field(
        True,
        description="The answer sentence is picked by reading the question and the first passage together (a "
        "cross-encoder fine-tuned from the bundled e5, docs/answers.md): right far more often, at the cost of one "
        "model pass over that passage per /ask. Off, or with another model: the answering model alone.",
    )
    translate_answers: bool = Field(
        True,
        description="A question in Latin letters gets its Chinese answer sentence in English too (answer.translation), "
        "by the OPUS-MT zh-en model that `qa model install-translation` provisions; without it, translation is null.",
    )
    translate_questions: bool = Field(
        True,
        description="A Chinese question over an index that holds English passages is also machine-translated "
        "(one sentence, at query time) and matched against them in English (docs/crosslingual.md); an index "
        "without English passages never translates. Off: no translation latency on such indexes.",
    )
    translate_passages: bool = Field(
        False,
        description="The English channel: after a document is indexed, its passages are machine-translated to "
        "English in the background (one core, about a paragraph a second) and questions in Latin letters are also "
        "matched against the translations (docs/crosslingual.md); /health shows the progress. Off: nothing is "
        "translated ahead.",
    )
    translation_threads: int = Field(
        0, ge=0, le=64, description="Threads one translation runs on; 0: every core (the lowest latency)."
    )

    chunk_size: int = Field(
        1000, ge=20, le=20000, description="Most characters in a returned passage; longer paragraphs are split."
    )
    chunk_overlap: int = Field(
        150, ge=0, description="Characters of sentence overlap between pieces of a long paragraph."
    )
    min_paragraph: int = Field(
        80, ge=0, description="Paragraphs shorter than this (headlines, captions) merge into a neighbour."
    )
    window_size: int = Field(100, ge=20, le=2000, description="Characters per embedded window of a passage.")
    window_overlap: int = Field(30, ge=0, description="Characters of sentence overlap between embedded windows.")

    host: str = Field("127.0.0.1", description="Address `qa serve` listens on.")
    port: int = Field(8000, ge=0, le=65535, description="Port `qa serve` listens on.")
    allowed_hosts: str = Field(
        "localhost,127.0.0.1,::1",
        description="Comma-separated host names (or IPs) clients may address qa by, checked against the Host "
        "header against DNS rebinding; QA_HOST is added when it is a specific address; '*' allows any.",
    )
    public_url: str | None = Field(
        None,
        description="The address clients reach qa at, e.g. https://qa.example.org (behind a proxy: the public one). "
        "MCP search and fetch results then link documents as <url>/documents/<doc_id>, which chat clients cite.",
        pattern=r"^https?://[^/?#\s]+(/[^?#\s]*)?$",
    )
    mcp_allowed_origins: str = Field(
        "",
        description="Comma-separated browser origins besides qa's own that may call /mcp, e.g. "
        "http://localhost:6274 for the MCP Inspector; other pages' requests get 403.",
    )
    max_header_bytes: int = Field(
        65536, ge=1024, description="Largest request head (request line and headers): 431 above."
    )
    header_timeout: float = Field(
        10.0, gt=0, description="Seconds a client has to send a whole request head: 408 after."
    )
    read_timeout: float = Field(
        30.0, gt=0, description="Longest pause inside a request body before the connection closes."
    )
    request_timeout: float = Field(
        60.0,
        gt=0,
        description="Seconds a client has to send a whole request, head and body, from its first byte: 408 after.",
    )
    keep_alive_timeout: int = Field(5, ge=1, description="Seconds an idle keep-alive connection stays open.")
    max_connections: int = Field(1000, ge=1, description="Connections served at once; past it, requests get 503.")
    max_idle_connections: int = Field(
        200,
        ge=1,
        description="Connections still sending a request head or body at once; past it, the one that started "
        "longest ago is closed (408).",
    )
    log_format: Literal["text", "json"] = Field(
        "text",
        description="How qa serve logs: 'text' lines for people, or 'json', one object a line (with the access log's "
        "request_id, route, status, duration_ms, collection) for a log collector.",
    )
    url: str | None = Field(
        None,
        description="A running qa server the CLI's ask, search, add, delete, list, rebuild and status talk to "
        "(instead of loading the model and index themselves); --url wins.",
        pattern=r"^https?://[^/?#\s]+(/[^?#\s]*)?$",
    )
    max_query_chars: int = Field(2000, ge=1, description="Longest query or question accepted; longer ones get a 422.")
    max_top_k: int = Field(
        100,
        ge=1,
        description="Most passages one search may ask for (top_k); Dify and OpenAI requests are capped at it.",
    )
    search_mode: SearchMode = Field("hybrid", description="Default ranking when a request names no mode.")
    min_relevance: float = Field(
        0.28,
        ge=0.0,
        le=1.0,
        description="When the best passage's calibrated relevance is below this, the documents are taken not to hold "
        "the answer: /search returns no passages and /ask answers null, each saying so in not_found. 0.28 was chosen "
        "on the dev halves (docs/answers.md); 0 turns it off.",
    )
    sentence_cache_size: int = Field(
        4096, ge=0, description="Embeddings of recently read answer sentences kept; 0 disables the cache."
    )
    backend: Backend = Field(
        "local",
        description="Where the index lives: 'local' segments in QA_INDEX_DIR (FAISS + BM25, one machine), or "
        "'milvus', a Milvus collection at QA_MILVUS_URI that several qa processes share (docs/scaling-out.md).",
    )
    milvus_uri: str = Field(
        "milvus.db",
        description="With QA_BACKEND=milvus: a path ending in .db (embedded milvus-lite, one process per file), "
        "or http(s)://host:19530 (Milvus Standalone, Distributed, Zilliz Cloud).",
    )
    milvus_token: SecretStr | None = Field(None, description="Milvus credentials: 'user:password' or an API key.")
    milvus_collection: str = Field(
        "qa_default",
        pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,180}$",
        description="Milvus alias of the default collection; other collections get this name plus their own.",
    )
    milvus_lexical: Literal["process", "milvus"] = Field(
        "process",
        description="With QA_BACKEND=milvus, where BM25 lives: 'process' (each qa process reads every passage at "
        "start and keeps its postings) or 'milvus' (experimental: qa's term weights as a sparse vector per passage "
        "and the corpus statistics in Milvus, so a process holds no passages; applies to collections built with it).",
    )
    index_type: IndexType = Field(
        "auto",
        description="FAISS index of the window vectors: exact up to QA_HNSW_THRESHOLD vectors, HNSW beyond (auto).",
    )
    hnsw_threshold: int = Field(
        20_000, ge=0, description="Window vectors above which auto builds HNSW (docs/performance.md, Scale)."
    )
    hnsw_m: int = Field(32, ge=4, le=128, description="HNSW links per vector.")
    hnsw_ef_construction: int = Field(64, ge=8, description="HNSW build-time search depth.")
    hnsw_ef_search: int = Field(
        128, ge=8, description="HNSW query-time search depth (raised to the depth a query needs)."
    )
    query_batch_wait_ms: float = Field(
        2.0,
        ge=0,
        le=100,
        description="Longest a query waits for others to share its encoder call (only under concurrency).",
    )
    query_batch_max: int = Field(
        10,
        ge=1,
        le=1024,
        description="Most queries encoded in one call. Packed batches (no padding) cost about the same per query "
        "from 10 up, and a longer batch only lengthens the wait of everyone in it.",
    )
    query_cache_size: int = Field(1024, ge=0, description="Recent query vectors kept; 0 disables the cache.")
    api_key: SecretStr | None = Field(
        None,
        description="When set, write endpoints need 'Authorization: Bearer <key>' (401 without it, 403 with a wrong one).",
    )
    api_key_reads: bool = Field(
        False,
        description="Also require the API key for searches and reads (/health of the default collection and /formats stay open).",
    )
    max_request_bytes: int = Field(
        64 * 1024,
        ge=1024,
        description="Largest request body of every endpoint but document uploads (a search, an ask, a filter): "
        "413 above, before it is read.",
    )
    max_document_bytes: int = Field(
        10 * 1024 * 1024, ge=1, description="Largest document accepted over HTTP (413 above)."
    )
    convert_timeout: float = Field(
        120.0,
        gt=0,
        description="Seconds a PDF, Word or large HTML file may take to convert, counting only its own run in a "
        "converter process (not its wait for one): past it that file alone is refused (400), naming it.",
    )
    mcp_fetch_max_chars: int = Field(
        100_000, ge=1, description="Longest text MCP fetch returns for a whole document (the rest: search or passages)."
    )
    max_bulk_documents: int = Field(100, ge=1, description="Most documents in one POST /documents/bulk (413 above).")
    max_bulk_bytes: int = Field(
        50 * 1024 * 1024,
        ge=1,
        description="Largest POST /documents/bulk body (413 above); each document also keeps to QA_MAX_DOCUMENT_BYTES.",
    )
    max_sync_windows: int = Field(
        512,
        ge=1,
        description="Documents that embed as more windows than this are indexed by a background job (202), "
        "embedded without holding the writer, so a huge upload never blocks other writes for minutes.",
    )
    write_workers: int = Field(
        2,
        ge=1,
        le=64,
        description="Threads that prepare writes (convert, chunk, embed) before their turn at the writer; the "
        "rest of the thread pool stays free for searches.",
    )
    max_queued_writes: int = Field(
        16, ge=0, description="Writes that may wait for a preparing thread; past it, 429 with Retry-After."
    )
    write_timeout: float = Field(
        30.0, ge=0, description="Seconds a document write waits for another writer (e.g. a rebuild) before a 409."
    )
    watch_debounce_ms: int = Field(
        1000,
        ge=50,
        description="Quiet time after a docs-folder change before `qa watch` (or `qa serve --watch`) re-indexes.",
    )

    @property
    def host_names(self) -> set[str]:
        """The Host names requests may carry (without port); empty means any."""
        names = {h.strip().strip("[]").lower() for h in self.allowed_hosts.split(",") if h.strip()}
        if "*" in names:
            return set()
        if self.host not in ("0.0.0.0", "::", ""):
            names.add(self.host.strip("[]").lower())
        return names

    @property
    def chunk_params(self) -> ChunkParams:
        return ChunkParams(
            self.chunk_size, self.chunk_overlap, self.min_paragraph, self.window_size, self.window_overlap
        )

    @property
    def vector_spec(self) -> VectorSpec:
        return VectorSpec(
            self.index_type, self.hnsw_threshold, self.hnsw_m, self.hnsw_ef_construction, self.hnsw_ef_search
        )

    @model_validator(mode="after")
    def _overlap_below_size(self) -> Settings:
        if self.chunk_overlap >= self.chunk_size:
            raise ValueError(
                f"chunk_overlap ({self.chunk_overlap}) must be smaller than chunk_size ({self.chunk_size})"
            )
        if self.window_overlap >= self.window_size:
            raise ValueError(
                f"window_overlap ({self.window_overlap}) must be smaller than window_size ({self.window_size})"
            )
        return self


def load_settings(**overrides: Any) -> Settings:  # Any: pydantic validates each against its field
    """Settings from the environment, with explicit (e.g. CLI) values winning."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})
