"""One writer at a time per collection, across processes: a lease held as claim entities in the collection itself.

Milvus has no lock and no compare-and-set, but qa's collections are ``Strong``:
a read sees every write acknowledged before it began. So a writer upserts its
claim, then reads every claim: it holds the lease only if it sees none but its
own, and otherwise withdraws and tries again after a random pause. Two writers
cannot both hold it: each writes before it reads, so whichever reads second
sees the other's claim (both may see each other and withdraw; the pause breaks
the tie). A rebuild's final step claims with priority: it keeps its claim while
the writer holding the lease finishes, and new writers, seeing it, wait.

A claim expires ``LEASE`` seconds after its last renewal, so a killed writer
blocks the others for that long at most; the holder renews its claim from a
thread and stops writing (:class:`Conflict`) once a renewal is overdue. A
renewal counts from when it was sent (its expiry is reckoned from then), and
only if it landed within ``RENEW`` seconds while the lease was still held: a
claim that lands late may already have been seen expired and deleted by a
writer that now holds the lease, so a lapse is final. Where this is not safe: a
holder frozen for longer than ``LEASE - 2 * RENEW`` between its check and its
write (a suspended VM), or machines whose clocks differ by more than a few
seconds (expiry compares wall-clock times written by another machine).
"""

from __future__ import annotations

import logging
import random
import secrets
import threading
import time

from qa.errors import Conflict, QAError
from qa.index.milvus.collection import Collection
from qa.index.milvus.layout import claim_entity

LEASE = 30.0  # seconds a claim lives after its last renewal
RENEW = LEASE / 6  # how often the holder renews it: several chances before it expires
log = logging.getLogger(__name__)


class Lease:
    """Held from :func:`acquire` until :meth:`release`; :meth:`check` before each write."""

    def __init__(self, collection: Collection, name: str, owner: str, priority: bool) -> None:
        self.collection, self.name, self.owner, self.priority = collection, name, owner, priority
        self.token = secrets.token_hex(8)
        self.renewed = time.monotonic()  # when the last renewal that counts was sent
        self.lapsed = False  # once set, for good: another writer may have taken the lease meanwhile
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew, name=f"lease-{self.token}", daemon=True)

    def _claim(self) -> float:
        """Write the claim; when it was sent (monotonic), or 0.0 if it took so long it must not count."""
        sent, expires = time.monotonic(), time.time() + LEASE
        info = {"owner": self.owner, "token": self.token, "priority": self.priority, "expires": expires}
        self.collection.write(self.name, [claim_entity(self.token, self.collection.dim(self.name), info)])
        return sent if time.monotonic() - sent <= RENEW else 0.0

    def _renew(self) -> None:
        while not self._stop.wait(RENEW):
            try:
                sent = self._claim()
            except QAError:
                log.warning("could not renew the write lease on %s", self.name, exc_info=True)
                continue
            if self._held(sent):
                self.renewed = sent
            else:
                self.lapsed = True
                log.warning("the write lease on %s lapsed: a renewal came too late", self.name)

    def _held(self, sent: float) -> bool:
        """Whether a renewal sent at ``sent`` extends the lease: it landed in time, and was sent while the last
        one still held (a claim is only seen expired by others once it is ``LEASE`` old, and a holder stops
        ``2 * RENEW`` before that, so a renewal sent later cannot tell whether another writer took over)."""
        return not self.lapsed and sent > 0.0 and sent - self.renewed <= LEASE - 2 * RENEW

    def check(self) -> None:
        """Refuse to write once the claim may have expired: another writer may hold the lease by now."""
        if self.lapsed or time.monotonic() - self.renewed > LEASE - 2 * RENEW:
            self.lapsed = True
            raise Conflict(f"the write lease on {self.collection.alias!r} lapsed (Milvus too slow?); try again")

    def release(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        try:
            self.collection.delete_ids([f"c:{self.token}"], self.name)
        except QAError:  # Milvus is gone (the claim expires), or the holder dropped the collection (it went with it)
            if self.name in self.collection.names():
                log.warning("could not release the write lease on %s", self.name, exc_info=True)


def acquire(collection: Collection, owner: str, timeout: float | None, *, priority: bool = False) -> Lease:
    """The lease on the collection behind the alias, waiting at most ``timeout`` seconds (None: no limit).

    Claims of ``owner`` (this process' writer, which its own lock serializes)
    are not in the way. ``priority`` (a rebuild switching the alias) keeps its
    claim while it waits, so a stream of writes cannot starve it.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    pause = 0.02
    while True:
        name = collection.behind()
        if name is None:
            raise Conflict(f"Milvus collection {collection.alias!r} is gone")
        lease = Lease(collection, name, owner, priority)
        while True:
            lease.renewed = lease._claim()
            now = time.time()
            others = [c for c in collection.claims(name) if c.get("owner") != owner]
            expired = [c["id"] for c in others if float(c.get("expires", 0)) <= now]
            if expired:  # a killed writer's: out of the way
                collection.delete_ids(expired, name)
            live = [c for c in others if float(c.get("expires", 0)) > now]
            if not live and not lease.renewed:  # our claim landed late (Milvus slow): it holds nothing, claim again
                if deadline is not None and time.monotonic() > deadline:
                    break
                continue
            if not live:
                if collection.behind() == name:  # not switched by a rebuild meanwhile: the claim is where writes go
                    lease._thread.start()
                    return lease
                break
            if not priority or any(c.get("priority") for c in live):
                break  # withdraw, so whoever holds it (or claims with priority) goes first
            if deadline is not None and time.monotonic() > deadline:
                break
            time.sleep(random.uniform(0.02, 0.1))  # keep the claim: writers seeing it wait, the holder finishes
        collection.delete_ids([f"c:{lease.token}"], name)
        if deadline is not None and time.monotonic() > deadline:
            raise Conflict(
                f"another qa process is writing to Milvus collection {collection.alias!r} (a write or a rebuild's "
                "last step); try again later"
            )
        time.sleep(random.uniform(pause / 2, pause))
        pause = min(pause * 2, 0.5)
