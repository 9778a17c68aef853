"""The Milvus operations qa needs on one collection, reached through its alias, each failing in one line.

Searches and writes name the alias, never the collection behind it, so a
rebuild (a new collection filled, then the alias switched) is invisible to
them. The collection a rebuild replaces is kept until the next rebuild: a
search that resolved the alias just before the switch still finds it.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import numpy as np

from qa.config import Settings
from qa.errors import ModelMismatch, QAError
from qa.index.milvus import client, layout
from qa.index.milvus.layout import State

BATCH = 512  # entities per insert call (a request stays well under gRPC's 64 MB)
MAX_LIMIT = 16384  # Milvus' largest top-k and query page


class Collection:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.alias = settings.milvus_collection
        self.client = client.connect(settings)

    def _call(self, doing: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        return client.call(self.settings, f"{doing} ({self.alias})", lambda: fn(*args, **kwargs))

    # ------------------------------------------------------------ the collection
    def exists(self) -> bool:
        return bool(self._call("looking for the collection", self.client.has_collection, self.alias))

    def behind(self) -> str | None:
        """The collection the alias names now, or None if there is none."""
        if not self.exists():
            return None
        return str(self._call("resolving the alias", self.client.describe_alias, self.alias)["collection_name"])

    def names(self) -> list[str]:
        """Every collection behind this alias, past or present (empty when Milvus cannot say)."""
        try:
            found = self._call("listing collections", self.client.list_collections)
        except QAError:
            return []
        prefix = f"{self.alias}_"
        return [n for n in found if n.startswith(prefix) and len(n) == len(prefix) + 8]

    def load(self) -> None:
        """Make the collection searchable: a reopened milvus-lite file starts with it not loaded."""
        self._call("loading the collection", self.client.load_collection, self.alias)

    def check_dim(self, dim: int) -> None:
        """Refuse a collection whose vectors have another dimension than the model's (before reading anything)."""
        described = self._call("describing the collection", self.client.describe_collection, self.alias)
        for f in described.get("fields", []):
            if f.get("name") == "vector" and int(f.get("params", {}).get("dim", dim)) != dim:
                raise ModelMismatch(
                    f"Milvus collection {self.alias!r} (QA_MILVUS_COLLECTION) holds {f['params']['dim']}-d vectors but "
                    f"the configured model (QA_MODEL) makes {dim}-d ones; rebuild it with `qa index --rebuild`"
                )

    def create(self, state: State) -> str:
        """A new, empty, loaded collection for ``state`` (not yet behind the alias); returns its name."""
        from pymilvus import MilvusClient

        name = f"{self.alias}_{secrets.token_hex(4)}"
        params = MilvusClient.prepare_index_params()
        if client.is_lite(self.settings.milvus_uri):  # exact, as the local store is below its HNSW threshold
            params.add_index("vector", index_type="FLAT", metric_type="IP")
        else:
            spec = self.settings.vector_spec
            hnsw = {"M": spec.m, "efConstruction": spec.ef_construction}
            params.add_index("vector", index_type="HNSW", metric_type="IP", params=hnsw)
        self._call(
            "creating a collection",
            self.client.create_collection,
            name,
            schema=layout.schema(state.dim),
            index_params=params,
            consistency_level="Strong",  # a write is visible to every reader once it returns
        )
        self._call("loading the collection", self.client.load_collection, name)
        self.write(name, [state.entity()])
        return name

    def switch(self, name: str) -> None:
        """Point the alias at ``name``; drop what the alias named before the previous switch."""
        old = self.behind()
        if old is None:
            self._call("creating the alias", self.client.create_alias, name, self.alias)
        else:
            self._call("switching the alias", self.client.alter_alias, name, self.alias)
        prefix = f"{self.alias}_"
        for other in self._call("listing collections", self.client.list_collections):
            if other.startswith(prefix) and len(other) == len(prefix) + 8 and other not in (name, old):
                self._call("dropping a replaced collection", self.client.drop_collection, other)

    def drop(self) -> None:
        """Remove the alias and every collection behind it, past or present."""
        if self.exists():
            self._call("dropping the alias", self.client.drop_alias, self.alias)
        prefix = f"{self.alias}_"
        for other in self._call("listing collections", self.client.list_collections):
            if other.startswith(prefix) and len(other) == len(prefix) + 8:
                self._call("dropping the collection", self.client.drop_collection, other)

    # ------------------------------------------------------------ writing
    def write(self, name: str | None, rows: list[dict[str, Any]]) -> None:
        """Upsert entities (into ``name``, or through the alias)."""
        for i in range(0, len(rows), BATCH):
            self._call("writing", self.client.upsert, name or self.alias, rows[i : i + BATCH])

    def flush(self, name: str) -> None:
        self._call("flushing", self.client.flush, name)

    def delete_ids(self, ids: list[str], name: str | None = None) -> None:
        for i in range(0, len(ids), BATCH):
            self._call("deleting", self.client.delete, name or self.alias, ids=ids[i : i + BATCH])

    def delete_documents(self, doc_ids: list[str], name: str | None = None) -> None:
        if doc_ids:
            expr = f"kind in [{layout.WINDOW}, {layout.DOCUMENT}] and doc_id in {layout.quoted(doc_ids)}"
            self._call("deleting documents", self.client.delete, name or self.alias, filter=expr)

    def copy_documents(self, doc_ids: list[str], source: str, target: str) -> None:
        """Replace the documents' entities in ``target`` with those in ``source`` (as stored: nothing is embedded)."""
        self.delete_documents(doc_ids, target)
        for i in range(0, len(doc_ids), 256):
            expr = f"kind in [{layout.WINDOW}, {layout.DOCUMENT}] and doc_id in {layout.quoted(doc_ids[i : i + 256])}"
            rows = list(self.query(expr, layout.FIELDS, source))
            self.write(target, [{f: r[f] for f in layout.FIELDS} for r in rows])

    # ------------------------------------------------------------ reading
    def state(self, name: str | None = None) -> State | None:
        rows = self._call(
            "reading its state", self.client.get, name or self.alias, ids=[layout.STATE_ID], output_fields=["info"]
        )
        return layout.state_of(rows[0]) if rows else None

    def query(self, expr: str, fields: list[str], name: str | None = None) -> Iterator[dict[str, Any]]:
        """Every entity matching ``expr`` (pages through Milvus' query limit)."""
        it = self._call(
            "reading",
            self.client.query_iterator,
            name or self.alias,
            batch_size=2000,
            filter=expr,
            output_fields=fields,
        )
        try:
            while True:
                page = self._call("reading", it.next)
                if not page:
                    return
                yield from page
        finally:
            it.close()

    def versions(self, name: str | None = None) -> dict[str, str]:
        """Each document's version: a new one for every write of it ("" if written before versions were kept)."""
        rows = self.query(f"kind == {layout.DOCUMENT}", ["doc_id", "info"], name)
        return {r["doc_id"]: layout.version_of(r) for r in rows}

    def claims(self, name: str) -> list[dict[str, Any]]:
        """The writers' claims in collection ``name`` (see ``lease.py``), each its ``info``.

        A plain query, ``Strong`` by name: the lease is only as safe as this read seeing every claim acknowledged
        before it (a query iterator pins its own timestamp, which milvus-lite takes from the client's clock)."""
        rows = self._call(
            "reading the writers' claims",
            self.client.query,
            name,
            filter=f"kind == {layout.CLAIM}",
            output_fields=["id", "info"],
            limit=MAX_LIMIT,
            consistency_level="Strong",
        )
        return [r["info"] | {"id": r["id"]} for r in rows]

    def window_ids(self, doc_id: str) -> list[str]:
        expr = f"kind == {layout.WINDOW} and doc_id == {layout.quoted([doc_id])[1:-1]}"
        return [r["id"] for r in self.query(expr, ["id"])]

    def search(
        self, qvec: np.ndarray, limit: int, doc_ids: list[str] | None = None, chunk_ids: list[str] | None = None
    ) -> list[tuple[str, float]]:
        """(chunk id, inner product) of the ``limit`` nearest windows, only of ``doc_ids`` / ``chunk_ids`` when given.

        Scoring given chunks is a filtered search too: it returns only scores,
        where reading their vectors back to score here takes ten times longer.
        """
        expr = f"kind == {layout.WINDOW}"
        if doc_ids is not None:
            expr += f" and doc_id in {layout.quoted(doc_ids)}"
        if chunk_ids is not None:
            expr += f" and chunk_id in {layout.quoted(chunk_ids)}"
        params: dict[str, Any] = {"metric_type": "IP"}
        if not client.is_lite(self.settings.milvus_uri):
            params["params"] = {"ef": max(self.settings.hnsw_ef_search, limit)}
        found = self._call(
            "searching",
            self.client.search,
            self.alias,
            data=[qvec.astype(np.float32).tolist()],
            anns_field="vector",
            limit=min(limit, MAX_LIMIT),
            filter=expr,
            output_fields=["chunk_id"],
            search_params=params,
        )
        return [(h["entity"]["chunk_id"], float(h["distance"])) for h in found[0]]

    def window_vectors(self, chunk_ids: list[str]) -> list[tuple[str, int, np.ndarray]]:
        """(chunk id, window number, vector) of every window of the given chunks."""
        expr = f"kind == {layout.WINDOW} and chunk_id in {layout.quoted(chunk_ids)}"
        rows = self.query(expr, ["chunk_id", "window", "vector"])
        return [(r["chunk_id"], int(r["window"]), np.asarray(r["vector"], np.float32)) for r in rows]
