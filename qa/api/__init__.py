"""The HTTP layer: FastAPI routes that translate between JSON and :class:`qa.service.QAService`."""

from qa.api.app import create_app

__all__ = ["create_app"]
