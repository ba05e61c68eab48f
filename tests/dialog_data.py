"""Fixed data and a tiny host app for the dialog tests and snapshots."""

from __future__ import annotations

from typing import Any

import pendulum
from textual.app import App, ComposeResult
from textual.screen import Screen
from textual.widgets import Static

from returns_tui import domain as d

T0 = pendulum.datetime(2026, 11, 20, 9, 0, 0)
HOSTILE_NOTE = "see [@click=app.quit]x[/] [bold] [00] \x1b[31mred"


def record(minutes: int, actor: str, kind: d.Kind, frm, to, **details: Any) -> d.Record:
    return d.Record(T0.add(minutes=minutes), actor, kind, frm, to, details)


S = d.Status
RECORDS = [
    record(0, "buyer", d.Kind.SUBMITTED, None, S.PENDING, note="cracked on arrival"),
    record(
        90,
        "alice",
        d.Kind.REJECTED,
        S.PENDING,
        S.REJECTED,
        reason="no_proof",
        note="No photo of the crack was attached.",
    ),
    record(180, "buyer", d.Kind.APPEALED, S.REJECTED, S.IN_MEDIATION),
    record(200, "sam", d.Kind.NOTED, S.IN_MEDIATION, S.IN_MEDIATION, note=HOSTILE_NOTE),
]

# RECORDS, then the appeal decided for the buyer and the return completed.
DECIDED = RECORDS + [
    record(
        1440,
        "sam",
        d.Kind.MEDIATED,
        S.IN_MEDIATION,
        S.AWAITING_BUYER_SHIP,
        decision="buyer",
        note="The photo in the appeal shows the crack.",
    ),
    record(
        2000,
        "buyer",
        d.Kind.SHIPPED,
        S.AWAITING_BUYER_SHIP,
        S.BUYER_SHIPPED,
        tracking="1Z999AA10123456784",
    ),
    record(5000, "alice", d.Kind.RECEIVED, S.BUYER_SHIPPED, S.COMPLETED),
]

LIFE = [
    record(0, "buyer", d.Kind.SUBMITTED, None, S.PENDING),
    record(2880, "system", d.Kind.AUTO_APPROVED, S.PENDING, S.AWAITING_BUYER_SHIP),
    record(
        3000,
        "buyer",
        d.Kind.SHIPPED,
        S.AWAITING_BUYER_SHIP,
        S.BUYER_SHIPPED,
        tracking="1Z999AA10123456784",
    ),
    record(4000, "bob", d.Kind.RECEIVED, S.BUYER_SHIPPED, S.COMPLETED),
]

APPEALED = d.Request(
    id="R100234",
    order_id="O-5521",
    shop="acme-home",
    type=d.RequestType.RETURN_AND_REFUND,
    buyer="Ana Lima",
    product="Stoneware mug, set of 4",
    sku="MUG-4",
    quantity=1,
    amount_cents=3499,
    currency="USD",
    reason="damaged",
    buyer_note="cracked on arrival",
    created_at=T0,
    attempt=1,
    status=S.IN_MEDIATION,
    arbitration=d.Arbitration.IN_PROGRESS,
    respond_by=T0.add(hours=48),
    deadline_at=None,
    rejected_at=T0.add(minutes=90),
)

KEYS = [
    ("1–6", "Switch tab"),
    ("a", "Accept the request"),
    ("r", "Reject the request"),
    ("v", "View return records"),
    ("n", "Add a note"),
    ("?", "This help"),
    ("ctrl+q", "Quit"),
]


class HostScreen(Screen[None]):
    def compose(self) -> ComposeResult:
        yield Static("The console would be here.", markup=False)


class Host(App[None]):
    """Pushes one dialog over a plain screen and keeps what it dismissed with."""

    def __init__(self, dialog: Screen[Any]) -> None:
        super().__init__()
        self.dialog = dialog
        self.results: list[Any] = []

    def on_mount(self) -> None:
        self.push_screen(HostScreen())
        self.push_screen(self.dialog, callback=self.results.append)


def screen_text(app: App[Any]) -> str:
    """The whole screen as plain text, as a person would read it (dialog over its host)."""
    import io

    from rich.console import Console

    width, height = app.size
    console = Console(
        width=width,
        height=height,
        file=io.StringIO(),
        force_terminal=True,
        record=True,
        color_system="truecolor",
        legacy_windows=False,
        safe_box=False,
    )
    console.print(
        app.screen._compositor.render_update(full=True, screen_stack=app._background_screens)
    )
    return console.export_text(styles=False)
