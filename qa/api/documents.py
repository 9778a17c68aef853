"""Document endpoints: add, replace, delete, list. Bodies are JSON or a multipart file upload.

Add and replace are ``async`` only to read the body under a size cap; the
indexing itself runs in the thread pool, off the event loop.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from qa.api.deps import Reader, Service, Writer
from qa.api.schemas import DocumentDetail, DocumentIn, DocumentIndexed, DocumentList, ErrorBody
from qa.errors import BadDocument, TooLarge, UnsupportedType

router = APIRouter(prefix="/documents", tags=["documents"])
_ENVELOPE = 64 * 1024  # room for the JSON or multipart framing around a document at the size limit
_WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (400, 401, 403, 404, 409, 413, 415, 422, 503)
}
_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": DocumentIn.model_json_schema()},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary", "description": ".txt, .md or .html, UTF-8"},
                        "doc_id": {"type": "string", "description": "Name to store it under (default: the file name)."},
                        "metadata": {"type": "string", "description": "A JSON object."},
                    },
                }
            },
        },
    }
}
DocId = Annotated[str, Path(description="The document's name in the docs folder, e.g. faq.md or team/notes.txt.")]


async def _capped_body(request: Request, cap: int) -> bytes:
    parts, size = [], 0
    async for part in request.stream():
        size += len(part)
        if size > cap:
            raise TooLarge(f"request body is larger than {cap} bytes")
        parts.append(part)
    return b"".join(parts)


async def _document(request: Request, service: Service, path_id: str | None) -> tuple[str, bytes, Any, str | None]:
    """(name, bytes, metadata, default suffix) from a JSON or multipart body."""
    limit = service.settings.max_document_bytes
    # JSON may escape each CJK character as 6 bytes for its 3, hence the factor.
    cap = 2 * limit + _ENVELOPE
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > cap:
        raise TooLarge(f"the document is larger than the limit of {limit} bytes")
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "application/json":
        try:
            doc = DocumentIn.model_validate_json(await _capped_body(request, cap))
        except ValidationError as exc:
            raise RequestValidationError(exc.errors()) from None
        if path_id is not None and doc.doc_id not in (None, path_id):
            raise BadDocument(f"doc_id {doc.doc_id!r} in the body differs from {path_id!r} in the URL")
        name = path_id or doc.doc_id
        if not name:
            raise BadDocument("doc_id is required")
        return name, doc.text.encode("utf-8"), doc.metadata, ".txt"
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
        data = await upload.read(limit + 1)
        return name, data, metadata, None
    raise UnsupportedType(f"send application/json or multipart/form-data, not {ctype or 'no Content-Type'}")


@router.post(
    "",
    status_code=201,
    response_model=DocumentIndexed,
    responses=_WRITE_ERRORS,
    openapi_extra=_BODY,
    dependencies=[Writer],
)
async def add_document(request: Request, service: Service) -> DocumentIndexed:
    """Store a new document and index it; it is searchable when this returns. 409 if it exists (use PUT)."""
    name, data, metadata, suffix = await _document(request, service, None)
    change = await run_in_threadpool(service.writer.put, name, data, metadata, create=True, default_suffix=suffix)
    return DocumentIndexed.model_validate(change)


@router.put(
    "/{doc_id:path}",
    response_model=DocumentIndexed,
    responses=_WRITE_ERRORS,
    openapi_extra=_BODY,
    dependencies=[Writer],
)
async def put_document(doc_id: DocId, request: Request, response: Response, service: Service) -> DocumentIndexed:
    """Replace a document (or create it: 201) and re-index it."""
    name, data, metadata, suffix = await _document(request, service, doc_id)
    change = await run_in_threadpool(service.writer.put, name, data, metadata, default_suffix=suffix)
    if change.created:
        response.status_code = status.HTTP_201_CREATED
    return DocumentIndexed.model_validate(change)


@router.delete("/{doc_id:path}", response_model=DocumentIndexed, responses=_WRITE_ERRORS, dependencies=[Writer])
def delete_document(doc_id: DocId, service: Service) -> DocumentIndexed:
    """Remove the document's file, metadata and chunks."""
    return DocumentIndexed.model_validate(service.writer.delete(doc_id))


@router.get("", response_model=DocumentList, dependencies=[Reader])
def list_documents(service: Service) -> DocumentList:
    return DocumentList(documents=service.documents())


@router.get("/{doc_id:path}", response_model=DocumentDetail, responses=_WRITE_ERRORS, dependencies=[Reader])
def get_document(doc_id: DocId, service: Service) -> DocumentDetail:
    return DocumentDetail.model_validate(service.document(doc_id))
