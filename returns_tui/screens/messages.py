"""The messages the console's workers send to its screen (screens/main.py): what a read or
an action brought back, delivered on the screen's own thread."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from pendulum import DateTime
from textual.message import Message

from returns_tui import domain as d
from returns_tui.console_data import Detail, Window
from returns_tui.filters import Narrowing
from returns_tui.services import Swept

# Dataclass messages: Textual's Message initialises itself in __post_init__.
_Msg = Message


@dataclass
class WindowLoaded(_Msg):
    seq: int
    window: Window
    keep_id: str | None
    cursor: int


@dataclass
class CountsLoaded(_Msg):
    search: str
    counts: dict[d.Tab, int]
    narrow: Narrowing = Narrowing()  # the filters counted with the search


@dataclass
class TotalsLoaded(_Msg):
    """The money at stake in a view (a tab, a search), per currency."""

    tab: d.Tab
    search: str
    totals: dict[str, int]
    narrow: Narrowing = Narrowing()


@dataclass
class CountsFinished(_Msg):
    search: str
    narrow: Narrowing = Narrowing()


@dataclass
class DetailLoaded(_Msg):
    request_id: str
    detail: Detail | None


@dataclass
class StoreFailed(_Msg):
    message: str
    # The screen's store_epoch when the failed read began (None: the failure is of now).
    epoch: int | None = None


@dataclass
class Problem(_Msg):
    """A read was refused with a sentence for people (not the database failing)."""

    message: str


@dataclass
class Changed(_Msg):
    """Someone committed (or the database is back): read again."""


@dataclass
class ActionsDone(_Msg):
    verb: str
    done: list[str]
    refused: list[str]
    failed: str = ""
    # Decisions on synced requests, written to the outbox: done once the marketplace says so.
    sending: list[str] = field(default_factory=list)


@dataclass
class SweepDone(_Msg):
    swept: list[Swept]
    due_soon: list[tuple[str, DateTime]]
    approved_elsewhere: list[str]
    passed: list[str]


@dataclass
class DialogData(_Msg):
    """What a dialog needs, read in a worker: `open` pushes the dialog with it; None when
    the read failed (and said why)."""

    open: Callable[[], None] | None = field(repr=False)


@dataclass
class Exported(_Msg):
    """A view was written to a file (`path`, `count` requests), or refused (`refusal`)."""

    path: str = ""
    count: int = 0
    refusal: str = ""


@dataclass
class MarksDone(_Msg):
    """The marked requests were acted on: unmark them."""

    ids: list[str]
