"""View return records: a request's history as a scrollable timeline, oldest first.

Every record's text comes from outside (buyers' notes, actors' names, reason codes from
`apply`), so each line is built as a `rich.text.Text` from `textsafe.safe` output: never
parsed as markup, control characters made visible.
"""

from __future__ import annotations

from collections.abc import Sequence

from pendulum import Duration
from rich.cells import cell_len
from rich.segment import Segment
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import Static

from returns_tui import labels
from returns_tui.domain import Kind, Record, Rules, Status
from returns_tui.screens.form import Dialog
from returns_tui.sync.rules import refusal as refusal_of
from returns_tui.textsafe import safe
from returns_tui.timefmt import local_text
from returns_tui.widgets.focus import focus_now
from returns_tui.widgets.sync_marks import evidence


def window_text(window: Duration) -> str:
    """A rules window in the words a person uses: "48 h", "5 days"."""
    hours = window.total_seconds() / 3600
    if hours > 48 and hours % 24 == 0:
        return f"{int(hours // 24)} days"
    return f"{hours:g} h"


def reason_label(code: object, rules: Rules, receipt: bool = False) -> str:
    """The label of a reason code (of a returned package's rejection with `receipt`); an
    unknown code (the list changed since) as itself."""
    text = str(code)
    return safe((rules.receipt_reasons if receipt else rules.reasons).get(text, text))


def _money(details: dict, currency: str | None) -> str:
    """A record's amount (a decimal string, as the domain wrote it), with the currency."""
    shown = safe(str(details.get("amount", "")), single_line=True)
    return f"{shown} {safe(currency, single_line=True)}" if currency else shown


def what_happened(rec: Record, rules: Rules, currency: str | None = None) -> str:
    """One record in words, as the timeline's headline; `currency`: the request's, for the
    amounts of an offer's records."""
    details = rec.details
    if (offer := _offer_happened(rec, rules, currency)) is not None:
        return offer
    match rec.kind:
        case Kind.SUBMITTED:
            return "request submitted by the buyer"
        case Kind.ACCEPTED:
            return "accepted" + _approval_tail(rec)
        case Kind.AUTO_APPROVED:
            return (
                f"auto-approved by the system ({window_text(rules.respond_window)} passed)"
                + _approval_tail(rec)
            )
        case Kind.REJECTED:
            return f"rejected: {reason_label(details.get('reason', ''), rules)}"
        case Kind.CANCELLED:
            return "cancelled by the buyer"
        case Kind.EXPIRED:
            return (
                "cancelled by the system: the item was not shipped within "
                f"{window_text(rules.ship_window)}"
            )
        case Kind.SHIPPED:
            return "item shipped back by the buyer"
        case Kind.RECEIVED:
            return "receipt confirmed; refund issued"
        case Kind.AUTO_REFUNDED:
            return (
                f"refunded automatically ({window_text(rules.receive_window)} passed "
                "without a confirmation of receipt)"
            )
        case Kind.APPEALED:
            return "appealed by the buyer; the platform mediates"
        case Kind.MEDIATED:
            if details.get("decision") == "seller":
                return "mediation decided for the seller: the rejection stands"
            return "mediation decided for the buyer" + _approval_tail(rec)
        case Kind.NOTED:
            return "note added"
        case Kind.MARKETPLACE | Kind.PUSH_REFUSED:
            return marketplace_happened(rec)
    return safe(str(rec.kind))


def _offer_happened(rec: Record, rules: Rules, currency: str | None) -> str | None:
    """A partial refund's records and a returned package's rejection (DESIGN §7) in words,
    each kind's word from labels.kind; None for the other kinds."""
    word = labels.kind(rec.kind)
    match rec.kind:
        case Kind.OFFERED:
            return f"{word} of {_money(rec.details, currency)}"
        case Kind.AGREED:
            return (
                f"offer {word} by the buyer: {_money(rec.details, currency)} refunded; "
                "the buyer keeps the item"
            )
        case Kind.DECLINED:
            return f"offer {word} by the buyer; the seller answers the request again"
        case Kind.OFFER_LAPSED:
            return (
                f"offer {word} ({window_text(rules.offer_window)} passed); "
                "the seller answers the request again"
            )
        case Kind.RECEIPT_REJECTED:
            reason = reason_label(rec.details.get("reason", ""), rules, receipt=True)
            return f"returned package {word}: {reason}"
    return None


def marketplace_happened(rec: Record) -> str:
    """What the marketplace said (DESIGN §8), in words: a record of its own, a change of
    status it made, or its refusal of a decision. Its words are data: made safe."""
    details = rec.details
    if rec.kind is Kind.PUSH_REFUSED:
        return safe(refusal_of("this request", rec.at, details).sentence())
    if event := details.get("event"):
        said = f"on the marketplace: {event} ({details.get('role', '?')})"
        if description := details.get("description"):
            said += f": {description}"
        return safe(str(said))
    raw = safe(str(details.get("marketplace_status", "")))
    if rec.from_status is None:
        return f"brought in from the marketplace ({raw})"
    return f"moved on the marketplace ({raw})"


def _approval_tail(rec: Record) -> str:
    if rec.to_status is Status.AWAITING_BUYER_SHIP:
        return "; the buyer ships the item back"
    if rec.to_status is Status.COMPLETED and rec.details.get("keep_item"):
        return "; refund issued, the buyer keeps the item"
    if rec.to_status is Status.COMPLETED:
        return "; refund issued"
    return ""


def _status_text(status: Status | None) -> str:
    return "new" if status is None else status.value.replace("_", " ")


# The actor's column in the timeline, in cells: a longer name is cut with an ellipsis, so the
# moves after it stay in one column.
ACTOR_CELLS = 12


def _actor_column(actor: str) -> str:
    name = Text(safe(actor))
    name.truncate(ACTOR_CELLS, overflow="ellipsis", pad=True)
    return name.plain


def record_text(
    rec: Record, rules: Rules, tz: str | None = None, currency: str | None = None
) -> Text:
    """One entry of the timeline: when, who, the move, what happened, and its details."""
    move = (
        f"({_status_text(rec.to_status)})"
        if rec.from_status == rec.to_status
        else f"{_status_text(rec.from_status)} → {_status_text(rec.to_status)}"
    )
    text = Text.assemble(
        (local_text(rec.at, tz), "bold"),
        "   ",
        (_actor_column(rec.actor), "bold cyan"),
        " ",
        (move, "dim"),
        "\n",
        (what_happened(rec, rules, currency), "bold"),
    )
    details = rec.details
    if rec.kind is Kind.MEDIATED and (decision := details.get("decision")) is not None:
        text.append("\n  Decision: ", style="dim")
        text.append(f"for the {safe(str(decision))}")
    if (tracking := details.get("tracking")) is not None:
        text.append("\n  Tracking: ", style="dim")
        text.append(safe(str(tracking)))
    headline_reason = (Kind.REJECTED, Kind.RECEIPT_REJECTED)
    if rec.kind not in headline_reason and (reason := details.get("reason")) is not None:
        text.append("\n  Reason: ", style="dim")
        text.append(reason_label(reason, rules))
    if rec.kind is Kind.MARKETPLACE:
        _marketplace_details(text, details)
    if note := details.get("note"):
        label = "Buyer's note" if rec.kind is Kind.SUBMITTED else "Note"
        text.append(f"\n  {label}: ", style="dim")
        # Notes may span lines (from `apply`); keep the breaks, make the rest visible.
        text.append(safe(str(note), single_line=False).replace("\t", "    "))
    return text


def _marketplace_details(text: Text, details: dict) -> None:
    """A marketplace record's reason and its evidence: image and video links, each a
    terminal hyperlink when it is a web address (widgets/sync_marks.web_link)."""
    if reason_text := details.get("reason_text"):
        text.append("\n  Reason: ", style="dim")
        text.append(safe(str(reason_text)))
    evidence(text, "Image", _listed(details.get("images")))
    evidence(text, "Video", _listed(details.get("videos")))


def _listed(value: object) -> list:
    return value if isinstance(value, list) else []


class Timeline(ScrollView, can_focus=True):
    """The records, one after another with a blank line between, drawn a screenful at a time.

    A request can hold thousands of notes: a widget per record made the view take seconds to
    open (3 000 notes: 3.7 s, bench/records_open.py), and one Static holding them all rendered
    every line again on each repaint. Here the entries are wrapped once per width (a tenth of
    a second for 3 000) and only the visible lines become strips. The arrows, PgUp/PgDn and
    Home/End scroll it (ScrollView's keys)."""

    def __init__(self, entries: Sequence[Text], *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self._entries = list(entries) or [Text("No records.")]
        # Wrapped when the layout first gives the timeline its width (on_resize); until then
        # it has no lines, and the layout that follows gives it its height.
        self._lines: list[Text] = []
        self._width = 0

    @property
    def lines(self) -> list[Text]:
        """The timeline as wrapped at its current width, one Text per screen line."""
        return self._lines

    def _wrap(self, width: int) -> None:
        console = self.app.console
        blank = Text("")
        lines: list[Text] = []
        for entry in self._entries:
            lines.extend(entry.wrap(console, width))
            lines.append(blank)
        self._lines = lines
        self._width = width
        self.virtual_size = Size(width, len(lines))

    def on_resize(self) -> None:
        width = self.scrollable_content_region.width
        if width > 0 and width != self._width:
            self._wrap(width)
            self.refresh(layout=True)

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        index = self.scroll_offset.y + y
        style = self.rich_style
        if index >= len(self._lines):
            return Strip.blank(width, style)
        line = self._lines[index]
        segments = list(Segment.apply_style(line.render(self.app.console), style))
        return Strip(segments, cell_len(line.plain)).adjust_cell_length(width, style)


class RecordsScreen(Dialog[None]):
    """The timeline. Esc, v or q closes it; arrows and PageUp/PageDown scroll it."""

    DEFAULT_CSS = """
    RecordsScreen #dialog {
        width: 100;
    }
    RecordsScreen #timeline {
        height: auto;  /* as tall as the history; _fit caps it, then it scrolls */
        border: round $panel-lighten-2;
        padding: 0 1;
    }
    RecordsScreen #timeline:focus {
        border: round $primary;
    }
    """

    BINDINGS = [Binding("escape,v,q", "close", "Close")]
    FIXED_ROWS = 8

    def __init__(
        self,
        request_id: str,
        records: Sequence[Record],
        rules: Rules,
        tz: str | None = None,
        currency: str | None = None,
    ) -> None:
        super().__init__()
        self._currency = currency
        self._request_id = request_id
        self._records = list(records)
        self._rules = rules
        self._tz = tz

    def compose(self) -> ComposeResult:
        count = len(self._records)
        with Vertical(id="dialog"):
            yield Static(
                f"Return records of {safe(self._request_id)}: "
                f"{count} record{'' if count == 1 else 's'}, oldest first",
                classes="dialog-title",
                markup=False,
            )
            yield Timeline(
                [record_text(rec, self._rules, self._tz, self._currency) for rec in self._records],
                id="timeline",
            )
            yield Static("↑↓ PgUp PgDn scroll · Esc, v or q closes", classes="hint", markup=False)

    def on_mount(self) -> None:
        self._fit()
        focus_now(self.query_one("#timeline"))

    def on_resize(self) -> None:
        self._fit()

    def _fit(self) -> None:
        # The dialog may use 94% of the screen; its title, hint and frame take FIXED_ROWS.
        # CSS cannot say "the rest", so the timeline's cap is set here.
        rows = int(self.size.height * 0.94) - self.FIXED_ROWS
        self.query_one("#timeline").styles.max_height = max(3, rows)

    def action_close(self) -> None:
        self.dismiss(None)
