"""The support agent's mediation: the case as the two sides left it, a decision and a note.

Dismisses with `(decision, note)`, decision "buyer" or "seller", or None when cancelled.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label, RadioButton, RadioSet, Static

from returns_tui import labels
from returns_tui.domain import NOTE_MAX, Kind, Record, Request, Rules, check_note
from returns_tui.errors import Refused
from returns_tui.money import format_amount
from returns_tui.screens.form import ErrorLine, FormDialog, NoteField
from returns_tui.screens.records import reason_label
from returns_tui.textsafe import safe
from returns_tui.timefmt import local_text
from returns_tui.widgets.focus import focus_now

NO_DECISION = "Choose a decision: for the buyer or for the seller."
# Free text is clipped here so that the decision stays on screen; the records (v) show it
# whole. About two lines of the dialog.
CLIP = 120


def _clip(text: str) -> str:
    text = safe(text)
    return text if len(text) <= CLIP else text[: CLIP - 1] + "…"


def _latest(records: Sequence[Record], kind: Kind) -> Record | None:
    return next((r for r in reversed(records) if r.kind is kind), None)


def case_rows(
    request: Request, records: Sequence[Record], rules: Rules, tz: str | None
) -> list[tuple[str, str]]:
    """What the agent needs to decide, as (label, plain text) rows."""
    kind = labels.request_type(request.type)
    amount = f"{format_amount(request.amount_cents, request.currency)} {safe(request.currency)}"
    reason = labels.buyer_reason(request.reason)
    asked = f"{reason}: {request.buyer_note}" if request.buyer_note else reason
    rows: list[tuple[str, str]] = [
        (
            "Request",
            f"{safe(request.shop)} · order {safe(request.order_id)} · attempt {request.attempt}"
            f" · {kind}",
        ),
        (
            "Buyer asks",
            f"{_clip(request.buyer)}: {amount} for {_clip(request.product)} × {request.quantity}",
        ),
        ("Buyer's reason", _clip(asked)),
    ]
    rejected = _latest(records, Kind.REJECTED)
    if rejected is not None:
        rows.append(
            (
                "Rejected",
                f"{local_text(rejected.at, tz)} by {safe(rejected.actor)}: "
                f"{reason_label(rejected.details.get('reason', ''), rules)}",
            )
        )
        rows.append(("Seller's note", _clip(str(rejected.details.get("note") or "(none)"))))
    appealed = _latest(records, Kind.APPEALED)
    rows.append(("Appealed", local_text(appealed.at, tz) if appealed else "(no appeal record)"))

    return rows


def case_table(rows: Sequence[tuple[str, str]]) -> Table:
    """The rows as two columns, so that a long value wraps under itself, not under the
    labels. Cells are `Text`: never parsed as markup."""
    table = Table.grid(padding=(0, 2))
    table.add_column(style="dim", no_wrap=True)
    table.add_column(ratio=1)
    for label, value in rows:
        table.add_row(Text(label), Text(value))
    return table


class MediateScreen(FormDialog[tuple[str, str] | None]):
    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "submit", "Decide"),
    ]

    def __init__(
        self,
        request: Request,
        records: Sequence[Record],
        tz: str | None = None,
        *,
        rules: Rules | None = None,
    ) -> None:
        super().__init__()
        self._request = request
        self._records = list(records)
        self._tz = tz
        # Only the reason labels are needed; the default list when the caller has no rules.
        self._rules = rules or Rules()

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(
                f"Mediate the appeal on {safe(self._request.id)}",
                classes="dialog-title",
                markup=False,
            )
            yield Static(
                case_table(case_rows(self._request, self._records, self._rules, self._tz)),
                id="case",
                classes="facts",
            )
            yield Label("Decision", classes="field-label", markup=False)
            with RadioSet(id="decision"):
                yield RadioButton("For the buyer: refund as if accepted", id="buyer")
                yield RadioButton("For the seller: the rejection stands", id="seller")
            yield Label(
                f"Note (required, 1 to {NOTE_MAX} characters; both sides may read it)",
                classes="field-label",
                markup=False,
            )
            yield NoteField("Why this decision")
            yield ErrorLine()
            with Horizontal(classes="buttons"):
                yield Button("Decide", variant="primary", id="decide")
                yield Button("Cancel", id="cancel")
            yield Static(
                "Enter in the note or ctrl+s decides · Esc cancels", classes="hint", markup=False
            )

    def on_mount(self) -> None:
        focus_now(self.query_one("#decision", RadioSet))

    @on(RadioSet.Changed)
    def _decided(self) -> None:
        self.query_one(ErrorLine).clear()
        focus_now(self.query_one(NoteField).input)

    @on(Input.Submitted)
    @on(Button.Pressed, "#decide")
    def action_submit(self) -> None:
        pressed = self.query_one("#decision", RadioSet).pressed_button
        note_field = self.query_one(NoteField)
        error = self.query_one(ErrorLine)
        if pressed is None or pressed.id not in ("buyer", "seller"):
            error.show(NO_DECISION)
            focus_now(self.query_one("#decision", RadioSet))
            return
        try:
            check_note(note_field.value)
        except Refused as exc:
            error.show(exc.message)
            focus_now(note_field.input)
            return
        self.dismiss((pressed.id, note_field.value.strip()))

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
