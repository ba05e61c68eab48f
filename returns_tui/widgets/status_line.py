"""One line under the table: where the cursor is, the money at stake in the view, the order,
marks, the search and the filters."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from returns_tui.money import grouped_amount
from returns_tui.textsafe import safe


def at_stake(totals: dict[str, int]) -> str:
    """The money of a view per currency, each in its own minor units, never added together,
    its thousands grouped (at 1M a tab's sum runs to eight digits): `1,234.50 USD, 20.00 EUR`."""
    return ", ".join(f"{grouped_amount(cents, cur)} {safe(cur)}" for cur, cents in totals.items())


class StatusLine(Static):
    DEFAULT_CSS = """
    StatusLine { height: 1; padding: 0 1; background: $boost; color: $text-muted; }
    """

    def show(
        self,
        *,
        tab_label: str,
        position: int | None,
        total: int | None,
        sort_label: str,
        marked: int,
        search: str,
        totals: dict[str, int] | None = None,
        filters: str = "",
    ) -> None:
        parts: list[tuple[str, str] | str] = [(tab_label, "bold"), " · "]
        if total is None:
            parts.append("loading…")
        elif total == 0 or position is None:
            parts.append("no requests")
        else:
            parts.append((f"row {position:,} of {total:,}", "bold"))
        parts.append(f" · sort: {sort_label}")
        if marked:
            parts.append((f" · {marked} marked", "bold"))
        if search:
            parts.append(" · search: ")
            parts.append((safe(search), "italic"))
        if filters:  # Narrowing.describe: its values already made safe
            parts.append(" · filters: ")
            parts.append((filters, "bold"))
        if totals and total:  # None while it is read. Last: many currencies run off the end.
            parts.append(" · at stake ")
            parts.append((at_stake(totals), "bold"))
        # One line, always: no layout pass when it changes (every cursor move).
        self.update(Text.assemble(*parts, no_wrap=True, overflow="ellipsis"), layout=False)
