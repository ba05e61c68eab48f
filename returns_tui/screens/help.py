"""The help screen (`?`): every key and what it does, and how the tabs and deadlines work."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from returns_tui.domain import Rules
from returns_tui.screens.form import Dialog
from returns_tui.screens.records import window_text
from returns_tui.textsafe import safe
from returns_tui.widgets.focus import focus_now


def tabs_paragraph(rules: Rules) -> str:
    """The one paragraph on tabs and deadlines, with the market's own windows."""
    return (
        "To Proceed holds the requests waiting for your answer: accept or reject each within "
        f"{window_text(rules.respond_window)} of its submission, or the system approves it by "
        "itself at that deadline. In Process holds approved returns: the buyer has "
        f"{window_text(rules.ship_window)} to ship the item back (else it is cancelled), then "
        f"you have {window_text(rules.receive_window)} to confirm receipt (else the refund is "
        "issued automatically). Completed holds refunded requests; Closed the rejected and "
        "cancelled ones; a rejected buyer has "
        f"{window_text(rules.after_rejection_window)} to submit a second request or appeal. "
        "Appeals holds the rejections that support is mediating. The Deadline column counts "
        "down to the next of these moments; it turns amber under 24 h and red under 6 h."
    )


class HelpScreen(Dialog[None]):
    """Dismisses with None on Esc, ? or q."""

    DEFAULT_CSS = """
    HelpScreen #dialog {
        width: 96;
    }
    HelpScreen #keys {
        height: auto;  /* _fit caps it: the console has many keys, and then they scroll */
    }
    HelpScreen #about {
        margin-bottom: 1;
    }
    """

    BINDINGS = [Binding("escape,question_mark,q", "close", "Close")]
    # The frame and padding, title, the paragraph's margin and the hint around the table; the
    # paragraph's own height is measured (it wraps to the dialog's width).
    FIXED_ROWS = 9

    def __init__(self, keys: Sequence[tuple[str, str]], *, rules: Rules | None = None) -> None:
        super().__init__()
        self._keys = list(keys)
        self._rules = rules or Rules()

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            # The prose first: on a short terminal (80×24) it is what a newcomer needs to read,
            # and the keys below scroll (the footer shows the common ones anyway).
            yield Static("Help: tabs, deadlines and keys", classes="dialog-title", markup=False)
            yield Static(tabs_paragraph(self._rules), id="about", markup=False)
            yield DataTable(id="keys", cursor_type="row", zebra_stripes=True)
            yield Static("↑ ↓ scroll the keys · Esc, ? or q closes", classes="hint", markup=False)

    def on_mount(self) -> None:
        table = self.query_one("#keys", DataTable)
        table.add_column("Key", key="key")
        table.add_column("Does", key="does")
        # Key names and descriptions may come from the config file: cells as Text, not markup.
        for key, does in self._keys:
            table.add_row(Text(safe(key), style="bold"), Text(safe(does)))
        self._fit()
        focus_now(table)

    def on_resize(self) -> None:
        self._fit()
        # The paragraph wraps to its new width in the layout that follows: fit again then.
        self.call_after_refresh(self._fit)

    def _fit(self) -> None:
        about = self.query_one("#about").size.height or 6
        rows = int(self.size.height * 0.94) - self.FIXED_ROWS - about
        self.query_one("#keys").styles.max_height = max(3, rows)

    def action_close(self) -> None:
        self.dismiss(None)
