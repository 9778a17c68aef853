"""Collection endpoints: create, list and delete knowledge bases."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from qa.api.deps import CatalogDep, Reader, Writer
from qa.api.schemas import ErrorBody

router = APIRouter(prefix="/collections", tags=["collections"])
_ERRORS = {code: {"model": ErrorBody} for code in (401, 403, 404, 409, 422)}


class CollectionIn(BaseModel):
    name: str = Field(..., description="1-64 lower-case letters, digits, '-' or '_'.", examples=["support-kb"])


class CollectionOut(BaseModel):
    name: str
    documents: int
    chunks: int


class CollectionList(BaseModel):
    collections: list[CollectionOut]


@router.post("", status_code=201, response_model=CollectionOut, responses=_ERRORS, dependencies=[Writer])
def create_collection(body: CollectionIn, catalog: CatalogDep) -> CollectionOut:
    """A new, empty knowledge base; add documents with ``?collection=<name>``."""
    catalog.create(body.name)
    return CollectionOut(**catalog.info(body.name).__dict__)


@router.get("", response_model=CollectionList, responses=_ERRORS, dependencies=[Reader])
def list_collections(catalog: CatalogDep) -> CollectionList:
    return CollectionList(collections=[CollectionOut(**catalog.info(n).__dict__) for n in catalog.names()])


@router.delete("/{name}", status_code=204, responses=_ERRORS, dependencies=[Writer])
def delete_collection(name: str, catalog: CatalogDep) -> None:
    """Delete a collection with its documents and index (not ``default``)."""
    catalog.delete(name)
