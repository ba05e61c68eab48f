"""The sync's database side: what the marketplace says, brought into our store, and the
operators' decisions on synced requests waiting to be sent (the outbox).

The HTTP side calls only this; it never writes SQL, and this never does HTTP. Every method
is one transaction.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from returns_tui.services import Returns
from returns_tui.sync.values import MarketRecord, MarketReturn, Outgoing


@dataclass(frozen=True)
class BroughtIn:
    """What one bring_in did: request ids created and changed, and the returns whose status
    we do not know as (return id, raw status): those kept their status (or were not created)."""

    created: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unknown: list[tuple[str, str]] = field(default_factory=list)


class Ledger:
    """The database side of the sync, over one Returns (its engine, rules and chain key)."""

    def __init__(self, returns: Returns) -> None:
        self.returns = returns

    def cursor(self, shop: str) -> int | None:
        """The last update_time seen for `shop` (Unix seconds), or None before the first."""
        raise NotImplementedError

    def bring_in(
        self,
        shop: str,
        items: list[tuple[MarketReturn, list[MarketRecord]]],
        cursor: int | None = None,
    ) -> BroughtIn:
        """ONE transaction: create new requests, bring changed ones to the marketplace's state
        (status, deadlines, amounts, marketplace_status), store each marketplace record once
        (key: hash of return id, event, role, time, description) as a record with actor
        "marketplace", and, when `cursor` is given, advance the shop's cursor. Unknown status:
        the request keeps its status (a new one is not created); listed in BroughtIn.unknown."""
        raise NotImplementedError

    def needs_reasons(self, shop: str) -> list[tuple[str, str]]:
        """(return_id, stage) of the shop's synced requests lacking reasons for their current
        stage ("request" while pending, "receipt" once the buyer shipped)."""
        raise NotImplementedError

    def store_reasons(self, return_id: str, stage: str, reasons: list[tuple[str, str]]) -> None:
        """Store the marketplace's reject reasons (name, text) for a return's stage, replacing
        those stored before."""
        raise NotImplementedError

    def outbox(self, shop: str, limit: int = 100) -> list[Outgoing]:
        """The shop's decisions waiting to be sent, the oldest first."""
        raise NotImplementedError

    def attempted(self, outgoing_id: int) -> None:
        """attempts += 1 (called before sending)."""
        raise NotImplementedError

    def sent(self, outgoing_id: int, fresh: tuple[MarketReturn, list[MarketRecord]]) -> None:
        """ONE transaction: the decision's record by the operator who made it (actor = that
        user, kind as a local decision would have), the fresh state brought in, the outbox
        row gone."""
        raise NotImplementedError

    def refused(
        self,
        outgoing_id: int,
        message: str,
        fresh: tuple[MarketReturn, list[MarketRecord]] | None,
    ) -> None:
        """ONE transaction: a record (actor "marketplace", kind "refused", details = the
        message and the decision), the fresh state brought in (when given), the outbox row
        gone; the console tells the operator (the record is what the console reads)."""
        raise NotImplementedError

    def first_seen(self, notification_id: str) -> bool:
        """True the first time a webhook notification id is seen, False ever after."""
        raise NotImplementedError

    @contextmanager
    def lock(self, shop: str, holder: str, stale_after: float = 300) -> Iterator[None]:
        """One sync per shop at a time: raises ReturnsError("a sync of shop X is already
        running") when another holder has it and took it less than `stale_after` seconds
        ago."""
        raise NotImplementedError
        yield
