"""The highlighted request in full: its fields, the buyer's note, the next deadline both as a
countdown and as a time in the viewer's zone, and after a rejection what the buyer may still do
(and, in the Appeals queue, the seller's rejection and the appeal)."""

from __future__ import annotations

from pendulum import DateTime
from rich.text import Text
from textual.widgets import Static

from returns_tui import domain as d
from returns_tui.console_data import Detail
from returns_tui.textsafe import safe
from returns_tui.timefmt import countdown, local_text
from returns_tui.widgets.cells import (
    amount_text,
    arbitration_label,
    reason_label,
    status_label,
    type_label,
)
from returns_tui.widgets.sync_marks import detail_line

NOTE_SHOWN = 220  # characters of the buyer's note shown here; the records show all of it

_DEADLINE = {
    d.Status.PENDING: ("Answer by", "auto-approved then"),
    d.Status.AWAITING_BUYER_SHIP: ("Buyer ships by", "cancelled then"),
    d.Status.BUYER_SHIPPED: ("Confirm receipt by", "refunded automatically then"),
    d.Status.AWAITING_BUYER_RESPONSE: ("Buyer answers the offer by", "lapses then"),
}


class DetailPanel(Static):
    DEFAULT_CSS = """
    DetailPanel { height: 10; border-top: solid $primary; padding: 0 1; overflow: hidden; }
    """

    def __init__(
        self,
        rules: d.Rules,
        tz: str | None,
        *,
        mark_threshold: int = 5,
        id: str | None = None,  # noqa: A002 - Textual's own name
    ) -> None:
        super().__init__(id=id)
        self.rules = rules
        self.tz = tz
        self.mark_threshold = mark_threshold
        self.detail: Detail | None = None
        self._shown: Text | None = None

    def show(self, detail: Detail | None, now: DateTime) -> None:
        self.detail = detail
        self.tick(now)

    def tick(self, now: DateTime) -> None:
        text = (
            self._render_detail(now) if self.detail else Text("No request selected.", style="dim")
        )
        if text != self._shown:
            self._shown = text
            # The panel's height is fixed: no layout pass, which would repaint every widget's
            # scrollbars each second.
            self.update(text, layout=False)

    def _render_detail(self, now: DateTime) -> Text:
        assert self.detail is not None
        req = self.detail.request
        out = Text(no_wrap=False, overflow="fold")

        def field(label: str, value: str | Text, sep: str = "   ") -> None:
            out.append(f"{label} ", style="dim")
            out.append(value if isinstance(value, Text) else Text(safe(value)))
            out.append(sep)

        out.append(safe(req.id), style="bold")
        out.append("   ")
        field("order", req.order_id)
        field("shop", req.shop)
        field("attempt", str(req.attempt))
        field("status", status_label(req.status))
        if req.arbitration is not None:
            field("arbitration", arbitration_label(req.arbitration))
        out.append("\n")
        detail = self.detail
        if (line := detail_line(req, detail.sending, detail.refusal, self.tz)) is not None:
            out.append(line)
            out.append("\n")
        field("buyer", req.buyer)
        field("product", req.product)
        field("sku", req.sku)
        field("qty", str(req.quantity), "\n")
        self._buyer_history(out)
        field("type", type_label(req.type))
        field("amount", amount_text(req.amount_cents, req.currency))
        field("reason", reason_label(req.reason))
        field("submitted", local_text(req.created_at, self.tz))
        if req.offer_cents is not None:
            field("offer", amount_text(req.offer_cents, req.currency))
        if req.tracking:
            field("tracking", req.tracking)
        out.append("\n")
        label, then = _DEADLINE.get(req.status, ("", ""))
        deadline = req.deadline_at
        if req.status is d.Status.AWAITING_BUYER_RESPONSE:  # the buyer's clock (DESIGN §7)
            deadline = req.offer_by
        if req.status is d.Status.REJECTED:  # the buyer's window, while they may still act
            label, deadline = "Buyer may act until", self.detail.buyer_options.until
        if deadline is not None and label:
            # Past, a timed status is "due" (the sweep moves it at once); a rejection's window
            # has closed.
            seconds = (deadline - now).total_seconds()
            left = countdown(seconds) if seconds > 0 or req.status in d.TIMED_STATUSES else "passed"
            out.append(f"{label} ", style="dim")
            out.append(local_text(deadline, self.tz), style="bold")
            out.append(f" ({left}{', ' + then if then else ''})\n")
        note = req.buyer_note or ""
        if len(note) > NOTE_SHOWN:
            note = note[:NOTE_SHOWN] + "…"
        out.append("buyer's note ", style="dim")
        out.append(Text(safe(note, single_line=True) if note else "—"))
        out.append("\n")
        if (auto := self.detail.auto_approval) is not None:
            out.append("auto-approved ", style="dim")
            out.append(f"by the system at {local_text(auto.at, self.tz)}: ", style="bold")
            out.append("nobody answered it in time.\n")
        self._rejection(out)
        if self.detail.buyer_options.text:
            out.append("after the rejection ", style="dim")
            out.append(self.detail.buyer_options.text + "\n")
        out.rstrip()
        return out

    def _buyer_history(self, out: Text) -> None:
        """The buyer's other requests in the shops this viewer sees (DESIGN §10), and a mark
        when they asked more than the threshold in the last 90 days (this one included)."""
        assert self.detail is not None
        history = self.detail.buyer
        if history is None:
            return
        out.append("buyer's history ", style="dim")
        n = history.other_orders
        out.append(
            f"{n:,} request{'' if n == 1 else 's'} on other orders · {history.rejected:,} rejected"
            f" · {history.appealed:,} appealed · {history.recent:,} in 90 days"
        )
        if history.recent > self.mark_threshold:
            out.append("  ")
            out.append(f"⚑ over {self.mark_threshold} in 90 days", style="bold reverse")
        out.append("\n")

    def _rejection(self, out: Text) -> None:
        assert self.detail is not None
        rej, appeal, med = self.detail.rejection, self.detail.appeal, self.detail.mediation
        if rej is not None:
            code = str(rej.details.get("reason", ""))
            out.append("rejected ", style="dim")
            out.append(Text(safe(f"by {rej.actor} at {local_text(rej.at, self.tz)}: ")))
            out.append(safe(self.rules.reasons.get(code, code)), style="bold")
            if note := rej.details.get("note"):
                out.append(" — ")
                out.append(Text(safe(str(note))))
            out.append("\n")
        if appeal is not None:
            out.append("appealed ", style="dim")
            out.append(local_text(appeal.at, self.tz) + "\n")
        if med is not None:
            out.append("mediated ", style="dim")
            side = "buyer" if med.details.get("decision") == "buyer" else "seller"
            out.append(Text(safe(f"by {med.actor}: for the {side} — ")))
            out.append(Text(safe(str(med.details.get("note", "")))))
            out.append("\n")
