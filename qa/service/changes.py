"""What a write carries through the service, from the request to the outcome: documents sent, a checked batch,
what each document became.

Every document write is a batch, a single one a batch of one, so there is one
path: :meth:`QAService.prepare` checks and converts (each refusal stays in its
place), :meth:`~QAService.embed` computes the vectors without holding the
writer, :meth:`~QAService.store` commits them as one index change. Whether a
batch is written now or by a background job is the service's choice
(:attr:`Batch.windows` against ``QA_MAX_SYNC_WINDOWS``).

Outcomes are plain: a :class:`DocumentChange` or the :class:`QAError` that
refused the document. Mapping them to HTTP statuses is the API's business.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from qa.errors import QAError
from qa.index.writer import DocumentChange, Upload


@dataclass(frozen=True)
class NewDocument:
    """A document as a request carries it, before anything is checked."""

    name: str
    data: bytes
    metadata: Any = None
    default_suffix: str | None = None  # added to a name without one (text sent as JSON becomes .txt)


@dataclass(frozen=True)
class Batch:
    """Documents checked and converted, in the order sent: each an :class:`Upload`, or the error refusing it."""

    names: list[str]  # as sent, so a refused document is still named in its outcome
    prepared: list[Upload | QAError]
    create: bool  # refuse to replace an existing document (POST) rather than upsert (PUT)
    single: bool = False  # a request of one document: answered as that document's change, not as a list
    vectors: dict[str, np.ndarray] | None = field(default=None, repr=False)  # set by QAService.embed

    @property
    def uploads(self) -> list[Upload]:
        return [p for p in self.prepared if isinstance(p, Upload)]

    @property
    def windows(self) -> int:
        """What storing it embeds: the measure of whether it is written now or by a background job."""
        return sum(len(u.windows) for u in self.uploads)


Outcome = DocumentChange | QAError


@dataclass(frozen=True)
class Written:
    """What a batch became: each document's outcome in the order sent, and the index change as counts."""

    names: list[str]
    outcomes: list[Outcome]

    @property
    def errors(self) -> bool:
        return any(isinstance(o, QAError) for o in self.outcomes)

    @property
    def index(self) -> dict[str, int] | None:
        return next((o.index for o in self.outcomes if isinstance(o, DocumentChange)), None)

    def single(self) -> DocumentChange:
        """The one document's change, or its refusal raised: a batch of one answers like a plain write."""
        (outcome,) = self.outcomes
        if isinstance(outcome, QAError):
            raise outcome
        return outcome

    def to_data(self) -> dict[str, Any]:
        """As plain data (a background job's result): a refusal names its kind, which the API maps to a status."""
        return {
            "documents": [outcome_data(n, o) for n, o in zip(self.names, self.outcomes, strict=True)],
            "errors": self.errors,
            "index": self.index,
        }


def outcome_data(name: str, outcome: Outcome) -> dict[str, Any]:
    if isinstance(outcome, QAError):
        return {"doc_id": name, "error": str(outcome), "kind": type(outcome).__name__}
    return {
        "doc_id": outcome.doc_id,
        "created": outcome.created,
        "chunks": outcome.chunks,
        "sha256": outcome.sha256,
    }


def change_data(change: DocumentChange) -> dict[str, Any]:
    """A single document's change as plain data, with the index change (a single write's answer)."""
    return {**outcome_data(change.doc_id, change), "index": change.index}
