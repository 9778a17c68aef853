"""Collection endpoints: create, list and delete knowledge bases."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from qa.api.deps import CatalogDep, Reader, Writer
from qa.wire import Collection, CollectionIn, CollectionList, ErrorBody

router = APIRouter(prefix="/collections", tags=["collections"])
_ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": ErrorBody} for code in (401, 403, 404, 409, 422)}


@router.post("", status_code=201, response_model=Collection, responses=_ERRORS, dependencies=[Writer])
def create_collection(body: CollectionIn, catalog: CatalogDep) -> Collection:
    """A new, empty knowledge base; add documents with ``?collection=<name>``."""
    catalog.create(body.name)
    return Collection.model_validate(catalog.info(body.name))


@router.get("", response_model=CollectionList, responses=_ERRORS, dependencies=[Reader])
def list_collections(catalog: CatalogDep) -> CollectionList:
    return CollectionList(collections=[catalog.info(n) for n in catalog.names()])


@router.delete("/{name}", status_code=204, responses=_ERRORS, dependencies=[Writer])
def delete_collection(name: str, catalog: CatalogDep) -> None:
    """Delete a collection with its documents and index (not ``default``)."""
    catalog.delete(name)
