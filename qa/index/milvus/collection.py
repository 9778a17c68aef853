"""The Milvus operations qa needs on one collection, reached through its alias, each failing in one line.

Searches and writes name the alias, never the collection behind it, so a
rebuild (a new collection filled, then the alias switched) is invisible to
them. The collection a rebuild replaces is kept until the next rebuild: a
search that resolved the alias just before the switch still finds it.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from qa.config import Settings
from qa.errors import ModelMismatch, QAError
from qa.index.milvus import client, layout, terms
from qa.index.milvus.layout import State
from qa.index.milvus.terms import Delta, Totals

BATCH = 512  # entities per insert call (a request stays well under gRPC's 64 MB)
MAX_LIMIT = 16384  # Milvus' largest top-k and query page
RECORD = ["doc_id", "metadata", "info"]  # a document record's fields


class Collection:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.alias = settings.milvus_collection
        self.client = client.connect(settings)
        self._has_sparse: dict[str, bool] = {}  # by collection name (never an alias: a switch changes what it names)
        self._dims: dict[str, int] = {}

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
        return [n for n in found if self._ours(n)]

    def _ours(self, name: str) -> bool:
        """Whether ``name`` is a collection this alias has named (its stats collection is not one)."""
        prefix = f"{self.alias}_"
        return name.startswith(prefix) and len(name) == len(prefix) + 8

    def _drop(self, name: str) -> None:
        """Drop collection ``name`` and, when BM25 lived in Milvus, its stats collection."""
        self._call("dropping a collection", self.client.drop_collection, name)
        stats = name + terms.STATS_SUFFIX
        if self._call("looking for the stats collection", self.client.has_collection, stats):
            self._call("dropping the stats collection", self.client.drop_collection, stats)

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

    def dim(self, name: str) -> int:
        """The dimension of collection ``name``'s vectors: what an entity written there carries, whatever the
        configured model makes (a rebuild onto another model still claims the lease in the collection it replaces)."""
        found = self._dims.get(name)
        if found is None:
            described = self._call("describing the collection", self.client.describe_collection, name)
            found = next(int(f["params"]["dim"]) for f in described.get("fields", []) if f.get("name") == "vector")
            self._dims[name] = found
        return found

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
        sparse = state.lexical == "milvus"
        if sparse:  # qa's BM25 weights: an inner product with the query's idfs is the passage's BM25
            params.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="IP")
        self._call(
            "creating a collection",
            self.client.create_collection,
            name,
            schema=layout.schema(state.dim, sparse),
            index_params=params,
            consistency_level="Strong",  # a write is visible to every reader once it returns
        )
        self._call("loading the collection", self.client.load_collection, name)
        self._has_sparse[name] = sparse
        if sparse:
            self._create_stats(name)
        self.write(name, [state.entity()])
        return name

    def switch(self, name: str) -> None:
        """Point the alias at ``name``; drop what the alias named before the previous switch."""
        old = self.behind()
        if old is None:
            self._call("creating the alias", self.client.create_alias, name, self.alias)
        else:
            self._call("switching the alias", self.client.alter_alias, name, self.alias)
        for other in self._call("listing collections", self.client.list_collections):
            if self._ours(other) and other not in (name, old):
                self._drop(other)

    def drop(self) -> None:
        """Remove the alias and every collection behind it, past or present."""
        if self.exists():
            self._call("dropping the alias", self.client.drop_alias, self.alias)
        for other in self._call("listing collections", self.client.list_collections):
            if self._ours(other):
                self._drop(other)

    # ------------------------------------------------------------ writing
    def write(self, name: str | None, rows: list[dict[str, Any]]) -> None:
        """Upsert entities (into ``name``, or through the alias: then the rows carry the sparse field if it has one)."""
        if name is not None and self.sparse(name):
            rows = [r if "sparse" in r else r | {"sparse": dict(terms.PLACEHOLDER)} for r in rows]
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

    def delete_matching(self, expr: str, name: str) -> None:
        self._call("deleting", self.client.delete, name, filter=expr)

    def copy_documents(
        self, doc_ids: list[str], source: str, target: str, weigh: Callable[[str], dict[int, float]] | None = None
    ) -> None:
        """Replace the documents' entities in ``target`` with those in ``source`` (as stored: nothing is embedded).

        ``weigh``: a passage's BM25 weights, for a ``target`` that holds them when ``source`` does not."""
        self.delete_documents(doc_ids, target)
        fields = [*layout.FIELDS, "sparse"] if self.sparse(source) and self.sparse(target) else layout.FIELDS
        for i in range(0, len(doc_ids), 256):
            expr = f"kind in [{layout.WINDOW}, {layout.DOCUMENT}] and doc_id in {layout.quoted(doc_ids[i : i + 256])}"
            rows = [{f: r[f] for f in fields} for r in self.query(expr, fields, source)]
            if weigh is not None and "sparse" not in fields:
                for r in rows:
                    if r["kind"] == layout.WINDOW and r["window"] == 0:
                        r["sparse"] = weigh(r["text"])
            self.write(target, rows)

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

    def records(self, name: str, doc_ids: list[str]) -> dict[str, dict[str, Any]]:
        """The records of those of ``doc_ids`` stored in collection ``name``, by document: read by id, not by filter."""
        return {r["doc_id"]: r for r in self.get([layout.record_id(d) for d in doc_ids], RECORD, name)}

    def count(self, expr: str, name: str | None = None) -> int:
        """How many entities match ``expr``, counted by Milvus."""
        rows = self._call("counting", self.client.query, name or self.alias, filter=expr, output_fields=["count(*)"])
        return int(rows[0]["count(*)"]) if rows else 0

    def window_ids(self, doc_id: str) -> list[str]:
        expr = f"kind == {layout.WINDOW} and doc_id == {layout.quoted([doc_id])[1:-1]}"
        return [r["id"] for r in self.query(expr, ["id"])]

    def search(
        self,
        qvec: np.ndarray,
        limit: int,
        doc_ids: list[str] | None = None,
        chunk_ids: list[str] | None = None,
        name: str | None = None,
    ) -> list[tuple[str, float]]:
        """(chunk id, inner product) of the ``limit`` nearest windows, only of ``doc_ids`` / ``chunk_ids`` when given.

        Scoring given chunks is a filtered search too: it returns only scores,
        where reading their vectors back to score here takes ten times longer.
        """
        found = self.search_entities(qvec, limit, doc_ids, chunk_ids, ["chunk_id"], name)
        return [(h["chunk_id"], h["distance"]) for h in found]

    def search_entities(
        self,
        qvec: np.ndarray,
        limit: int,
        doc_ids: list[str] | None,
        chunk_ids: list[str] | None,
        fields: list[str],
        name: str | None = None,
    ) -> list[dict[str, Any]]:
        """:meth:`search`, each hit its ``fields`` and ``distance`` (in collection ``name``, or the alias')."""
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
            name or self.alias,
            data=[qvec.astype(np.float32).tolist()],
            anns_field="vector",
            limit=min(limit, MAX_LIMIT),
            filter=expr,
            output_fields=fields,
            search_params=params,
        )
        return [h["entity"] | {"distance": float(h["distance"])} for h in found[0]]

    def window_vectors(self, chunk_ids: list[str]) -> list[tuple[str, int, np.ndarray]]:
        """(chunk id, window number, vector) of every window of the given chunks."""
        expr = f"kind == {layout.WINDOW} and chunk_id in {layout.quoted(chunk_ids)}"
        rows = self.query(expr, ["chunk_id", "window", "vector"])
        return [(r["chunk_id"], int(r["window"]), np.asarray(r["vector"], np.float32)) for r in rows]

    # ------------------------------------------------------------ BM25 in Milvus (terms.py)
    def sparse(self, name: str) -> bool:
        """Whether collection ``name`` holds qa's BM25 weights (described once: a collection's fields never change)."""
        found = self._has_sparse.get(name)
        if found is None:
            described = self._call("describing the collection", self.client.describe_collection, name)
            found = any(f.get("name") == "sparse" for f in described.get("fields", []))
            self._has_sparse[name] = found
        return found

    def _create_stats(self, name: str) -> None:
        from pymilvus import MilvusClient

        params = MilvusClient.prepare_index_params()
        params.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="IP")
        stats = name + terms.STATS_SUFFIX
        self._call(
            "creating the stats collection",
            self.client.create_collection,
            stats,
            schema=terms.stats_schema(),
            index_params=params,
            consistency_level="Strong",
        )
        self._call("loading the stats collection", self.client.load_collection, stats)
        self._call("writing the stats", self.client.upsert, stats, [Totals.of(None).entity()])

    def load_stats(self, name: str) -> None:
        self._call("loading the stats collection", self.client.load_collection, name + terms.STATS_SUFFIX)

    def totals(self, name: str) -> Totals:
        """The live passage count and total lengths of collection ``name``'s BM25."""
        rows = self._call(
            "reading the stats", self.client.get, name + terms.STATS_SUFFIX, ids=[terms.TOTALS], output_fields=["info"]
        )
        return Totals.of(rows[0] if rows else None)

    def frequencies(self, name: str, keys: list[str]) -> dict[str, int]:
        """The document frequency of each of ``keys`` (:func:`terms.stat_id`) that some live passage holds."""
        out: dict[str, int] = {}
        for i in range(0, len(keys), BATCH * 4):
            rows = self._call(
                "reading term frequencies",
                self.client.get,
                name + terms.STATS_SUFFIX,
                ids=keys[i : i + BATCH * 4],
                output_fields=["df"],
            )
            out.update((r["id"], int(r["df"])) for r in rows)
        return out

    def apply(self, name: str, delta: Delta, built: bool = False) -> Totals:
        """Add ``delta`` to collection ``name``'s statistics (the caller is its one writer); the new totals.

        ``built``: a whole build into a new collection (nothing counted yet), whose averages the weights used."""
        totals = self.totals(name).plus(delta)
        if built:
            totals = Totals(totals.n, totals.length, totals.avg())
        keys = [k for k, v in delta.df.items() if v]
        now = {} if built else self.frequencies(name, keys)
        rows, gone = [], []
        for k in keys:
            df = now.get(k, 0) + delta.df[k]
            if df > 0:
                rows.append({"id": k, "df": df, "info": {}, "sparse": dict(terms.PLACEHOLDER)})
            else:
                gone.append(k)
        stats = name + terms.STATS_SUFFIX
        for i in range(0, len(rows), BATCH * 4):
            self._call("writing the stats", self.client.upsert, stats, rows[i : i + BATCH * 4])
        for i in range(0, len(gone), BATCH * 4):
            self._call("writing the stats", self.client.delete, stats, ids=gone[i : i + BATCH * 4])
        self._call("writing the stats", self.client.upsert, stats, [totals.entity()])
        return totals

    def lexical_search(
        self, queries: list[dict[int, float]], limit: int, fields: list[str], name: str | None = None
    ) -> list[list[dict[str, Any]]]:
        """For each query vector of idfs, the ``limit`` passages of highest BM25: each its ``fields`` and ``distance``.
        All in one call (Milvus searches several query vectors at once)."""
        if not queries:
            return []
        found = self._call(
            "searching the terms",
            self.client.search,
            name or self.alias,
            data=queries,
            anns_field="sparse",
            limit=min(limit, MAX_LIMIT),
            filter=f"kind == {layout.WINDOW} and window == 0",
            output_fields=fields,
            search_params={"metric_type": "IP"},
        )
        return [[h["entity"] | {"distance": float(h["distance"])} for h in hits] for hits in found]

    def get(self, ids: list[str], fields: list[str], name: str | None = None) -> list[dict[str, Any]]:
        """The entities of ``ids`` that exist, read by primary key (a filter on another field scans the collection)."""
        out: list[dict[str, Any]] = []
        for i in range(0, len(ids), BATCH * 4):
            batch = ids[i : i + BATCH * 4]
            out += self._call("reading", self.client.get, name or self.alias, ids=batch, output_fields=fields)
        return out
