"""FastAPI dependencies: how a route gets the service created at start-up."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from qa.service import QAService


def get_service(request: Request) -> QAService:
    return request.app.state.service


Service = Annotated[QAService, Depends(get_service)]
