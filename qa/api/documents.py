"""Document endpoints: add, replace, delete, list. Bodies are JSON or a multipart file upload.

Add and replace are ``async`` only to read the body under a size cap; the
indexing itself runs in the thread pool, off the event loop.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

import anyio
from fastapi import APIRouter, HTTPException, Path, Query, Request, Response, status
from fastapi.responses import JSONResponse
from starlette.datastructures import UploadFile
from starlette.types import Message

from qa.api import bodies, writes
from qa.api.deps import Reader, Service, SettingsDep, Writer
from qa.api.errors import bulk_indexed
from qa.errors import BadDocument, TooLarge, UnsupportedType
from qa.ingest.formats import SUFFIXES
from qa.service.changes import Batch, NewDocument, Written
from qa.service.core import QAService
from qa.service.jobs import Job as JobRecord
from qa.wire import (
    BulkIn,
    BulkIndexed,
    DocumentDetail,
    DocumentIn,
    DocumentIndexed,
    DocumentList,
    ErrorBody,
    Formats,
    Job,
)

router = APIRouter(prefix="/documents", tags=["documents"])
formats_router = APIRouter(tags=["documents"])  # open like /health: it tells what qa reads, nothing of what it holds
_ENVELOPE = bodies.ENVELOPE
_WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    **{code: {"model": ErrorBody} for code in (400, 401, 403, 404, 409, 413, 415, 422, 429, 500, 503, 507)},
    202: {"model": Job, "description": "A large document: indexed by this background job."},
}


def _body(*, named_in_url: bool) -> dict[str, Any]:
    """The request body in the spec: JSON (with doc_id unless the URL names the document) or a multipart file."""
    json_body = DocumentIn.model_json_schema()
    if named_in_url:
        json_body["properties"].pop("doc_id")
    else:
        json_body["required"] = ["doc_id", *json_body.get("required", [])]
    multipart: dict[str, Any] = {
        "type": "object",
        "required": ["file"],
        "properties": {
            "file": {"type": "string", "format": "binary", "description": f"One of {', '.join(SUFFIXES)}"},
            "metadata": {"type": "string", "description": "A JSON object."},
        },
    }
    if not named_in_url:
        multipart["properties"]["doc_id"] = {
            "type": "string",
            "description": "Name to store it under (default: the file name).",
        }
    content = {"application/json": {"schema": json_body}, "multipart/form-data": {"schema": multipart}}
    return {"requestBody": {"required": True, "content": content}}


DocId = Annotated[str, Path(description="The document's name in the docs folder, e.g. faq.md or team/notes.txt.")]
# An existing document's name ends in a suffix qa reads (a new one sent as JSON may omit it: .txt is added).
_SUFFIX_PATTERN = r"^[^\u0000-\u001f\u007f-\u009f]+\.(" + "|".join(s.lstrip(".") for s in SUFFIXES) + r")$"
ExistingDocId = Annotated[
    str, Path(description="The document's name in the docs folder.", json_schema_extra={"pattern": _SUFFIX_PATTERN})
]


def _capped(request: Request, cap: int) -> Request:
    """The request with a body that stops at ``cap`` bytes: nothing larger is read, buffered or spooled to disk."""
    received = 0

    async def receive() -> Message:
        nonlocal received
        message = await request.receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > cap:
                raise TooLarge(f"the request body is larger than {cap} bytes")
        return message

    return Request(request.scope, receive)


async def _document(request: Request, service: Service, path_id: str | None) -> NewDocument:
    """The document of a JSON or multipart body, named by the URL when ``path_id`` is given."""
    limit = service.settings.max_document_bytes
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    # JSON may escape each CJK character as 6 bytes for its 3, hence the factor; a multipart file is sent as is.
    cap = (2 if ctype == "application/json" else 1) * limit + _ENVELOPE
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > cap:
        raise TooLarge(f"the document is larger than the limit of {limit} bytes")
    request = _capped(request, cap)
    if ctype == "application/json":
        doc = await anyio.to_thread.run_sync(bodies.parse, DocumentIn, await request.body())
        if path_id is not None and doc.doc_id not in (None, path_id):
            raise BadDocument(f"doc_id {doc.doc_id!r} in the body differs from {path_id!r} in the URL")
        name = path_id or doc.doc_id
        if not name:
            raise BadDocument("doc_id is required")
        return NewDocument(name, doc.text.encode("utf-8"), doc.metadata, ".txt")
    if ctype == "multipart/form-data":
        form = await request.form(max_files=1, max_fields=8)
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise BadDocument("send the document as a multipart field named 'file'")
        name = path_id or str(form.get("doc_id") or "") or upload.filename or ""
        try:
            metadata = json.loads(str(form["metadata"])) if form.get("metadata") else None
        except ValueError as exc:
            raise BadDocument(f"metadata is not valid JSON: {exc}") from None
        except RecursionError:
            raise BadDocument("metadata is nested too deeply; it must be a flat JSON object") from None
        return NewDocument(name, await upload.read(limit + 1), metadata)
    raise UnsupportedType(f"send application/json or multipart/form-data, not {ctype or 'no Content-Type'}")


def _accepted(job: JobRecord) -> JSONResponse:
    """202 with the background job that writes a large batch, and where to poll it."""
    headers = {"Location": f"/index/jobs/{job.id}"}
    return JSONResponse(Job.model_validate(job).model_dump(), status_code=202, headers=headers)


async def _submit(service: QAService, batch: Batch) -> Written | JobRecord:
    """Write the batch as the service chooses: now (embedded first, then stored in this collection's turn at the
    writer), or, when it is large, by a background job."""
    if service.in_background(batch):
        return service.write_later(batch)
    batch = await writes.prepare(service, service.embed, batch)
    return await writes.run(service, service.store, batch)


async def _write(request: Request, service: QAService, path_id: str | None, *, create: bool) -> Any:
    """A single-document request: a batch of one, answered as that document's change (or 202 and its job)."""
    item = await _document(request, service, path_id)
    batch = await writes.prepare(service, service.prepare, [item], create=create, single=True)
    written = await _submit(service, batch)
    if isinstance(written, JobRecord):
        return _accepted(written)
    return DocumentIndexed.model_validate(written.single())


@router.post(
    "",
    status_code=201,
    response_model=DocumentIndexed,
    responses=_WRITE_ERRORS,
    openapi_extra=_body(named_in_url=False),
    dependencies=[Writer],
)
async def add_document(request: Request, service: Service) -> Any:
    """Store a new document and index it; it is searchable when this returns. 409 if it exists (use PUT).

    A document of more than ``QA_MAX_SYNC_WINDOWS`` windows is indexed by a background job instead: 202 with the job.
    """
    return await _write(request, service, None, create=True)


def _bulk_body() -> dict[str, Any]:
    multipart: dict[str, Any] = {
        "type": "object",
        "required": ["file"],
        "properties": {
            "file": {
                "type": "array",
                "minItems": 1,
                "items": {"type": "string", "format": "binary"},
                "description": f"Several 'file' fields, each one of {', '.join(SUFFIXES)}, stored under its file name.",
            },
            "metadata": {"type": "string", "description": "A JSON object, given to every file."},
        },
    }
    # DocumentIn inlined: a "#/$defs/..." reference inside an operation's schema breaks ReDoc (/redoc).
    bulk = BulkIn.model_json_schema()
    item = bulk["properties"]["documents"]["items"] = bulk.pop("$defs")["DocumentIn"]
    for rule in ("pattern", "minLength"):  # an empty or blank text is refused in its own outcome, not the request
        item["properties"]["text"].pop(rule, None)
    content = {"application/json": {"schema": bulk}, "multipart/form-data": {"schema": multipart}}
    return {"requestBody": {"required": True, "content": content}}


def _parse_bulk(body: bytes, limit: int) -> BulkIn:
    """Counted first, then validated (in a worker thread: a bulk body may be 50 MB)."""
    bodies.count_documents(body, limit)
    return bodies.parse(BulkIn, body)


async def _documents(request: Request, service: Service) -> list[NewDocument]:
    """The documents of a bulk request: a JSON list, or a multipart form with several 'file' fields."""
    s = service.settings
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > s.max_bulk_bytes:
        raise TooLarge(f"the request is larger than the bulk limit of {s.max_bulk_bytes} bytes (QA_MAX_BULK_BYTES)")
    request = _capped(request, s.max_bulk_bytes)
    if ctype == "application/json":
        bulk = await anyio.to_thread.run_sync(_parse_bulk, await request.body(), s.max_bulk_documents)
        items = [NewDocument(d.doc_id or "", d.text.encode("utf-8"), d.metadata, ".txt") for d in bulk.documents]
    elif ctype == "multipart/form-data":
        form = await request.form(max_files=s.max_bulk_documents + 1, max_fields=8)
        files = [f for f in form.getlist("file") if isinstance(f, UploadFile)]
        if not files:
            raise BadDocument("send the documents as multipart fields named 'file'")
        try:
            metadata = json.loads(str(form["metadata"])) if form.get("metadata") else None
        except (ValueError, RecursionError) as exc:
            raise BadDocument(f"metadata is not a valid, flat JSON object: {exc}") from None
        if metadata is not None and not isinstance(metadata, dict):  # given to every file: the request is at fault
            raise BadDocument("metadata must be a JSON object")
        limit = s.max_document_bytes
        items = [NewDocument(f.filename or "", await f.read(limit + 1), metadata) for f in files]
    else:
        raise UnsupportedType(f"send application/json or multipart/form-data, not {ctype or 'no Content-Type'}")
    if len(items) > s.max_bulk_documents:
        raise TooLarge(
            f"{len(items)} documents; one request takes at most {s.max_bulk_documents} (QA_MAX_BULK_DOCUMENTS)"
        )
    return items


@router.post(
    "/bulk",
    response_model=BulkIndexed,
    responses=_WRITE_ERRORS,
    openapi_extra=_bulk_body(),
    dependencies=[Writer],
)
async def add_documents(request: Request, service: Service, replace: bool = True) -> Any:
    """Store and index many documents as one change; they are searchable when this returns.

    Each document's outcome is listed in the order sent: one that is refused
    (a bad file, too large, a name sent twice, or existing when ``replace`` is
    false: 409) fails alone with its reason, and the rest land. JSON text
    without a suffix in its doc_id is stored as .txt; files keep their names.
    More than ``QA_MAX_SYNC_WINDOWS`` windows in all: a background job (202).
    """
    items = await _documents(request, service)
    batch = await writes.prepare(service, service.prepare, items, create=not replace)
    written = await _submit(service, batch)
    if isinstance(written, JobRecord):
        return _accepted(written)
    return BulkIndexed.model_validate(bulk_indexed(written.to_data()))


@router.api_route("/bulk", methods=["GET", "PUT", "DELETE", "PATCH"], include_in_schema=False)
async def bulk_only_posts() -> None:
    """/documents/bulk is the bulk endpoint, never a document named 'bulk' (which the routes below would take)."""
    raise HTTPException(405, "/documents/bulk only takes POST; a document's name ends in its suffix, e.g. bulk.txt")


@router.put(
    "/{doc_id:path}",
    response_model=DocumentIndexed,
    responses=_WRITE_ERRORS | {201: {"model": DocumentIndexed, "description": "Created (it did not exist)."}},
    openapi_extra=_body(named_in_url=True),
    dependencies=[Writer],
)
async def put_document(doc_id: DocId, request: Request, response: Response, service: Service) -> Any:
    """Replace a document (or create it: 201) and re-index it; a large one in a background job (202)."""
    result = await _write(request, service, doc_id, create=False)
    if isinstance(result, DocumentIndexed) and result.created:
        response.status_code = status.HTTP_201_CREATED
    return result


@router.delete("/{doc_id:path}", response_model=DocumentIndexed, responses=_WRITE_ERRORS, dependencies=[Writer])
async def delete_document(doc_id: ExistingDocId, service: Service) -> DocumentIndexed:
    """Remove the document's file, metadata and chunks."""
    return DocumentIndexed.model_validate(await writes.run(service, service.delete, doc_id))


@router.get("", response_model=DocumentList, responses=_WRITE_ERRORS, dependencies=[Reader])
def list_documents(
    service: Service,
    limit: Annotated[int | None, Query(ge=1, le=1000, description="Documents per page (default: all).")] = None,
    cursor: Annotated[str | None, Query(description="The next_cursor of the previous page.")] = None,
    sort: Annotated[
        Literal["name", "-name", "size", "-size", "date", "-date", "passages", "-passages"],
        Query(description="Order; '-' first for descending."),
    ] = "name",
    q: Annotated[str | None, Query(description="Only documents whose name or metadata contain every word.")] = None,
) -> DocumentList:
    found = service.list_documents(limit=limit, cursor=cursor, sort=sort, q=q)
    return DocumentList(
        documents=found.documents, total=found.total, passages=found.passages, next_cursor=found.next_cursor
    )


@router.get("/{doc_id:path}", response_model=DocumentDetail, responses=_WRITE_ERRORS, dependencies=[Reader])
def get_document(doc_id: ExistingDocId, service: Service) -> DocumentDetail:
    return DocumentDetail.model_validate(service.document(doc_id))


@formats_router.get("/formats", response_model=Formats)
def formats(settings: SettingsDep) -> Formats:
    """The file types an upload may have and how large it may be, so a form can say so before sending."""
    return Formats(suffixes=list(SUFFIXES), max_bytes=settings.max_document_bytes)
