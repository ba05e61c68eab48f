"""How the console marks the marketplace sync (DESIGN §8): a synced request's row, its
"sending" while a decision waits in the outbox, the detail panel's line about it, and the
evidence links of the records view.

Everything here is plain text that reads the same without colour: the glyph and the words
carry the meaning. What comes from the marketplace (its status, its refusal's message, a URL)
is data: made safe with textsafe.safe, never markup.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from rich.style import Style
from rich.text import Text

from returns_tui import domain as d
from returns_tui.store.queries import ListRow
from returns_tui.sync.rules import Refusal
from returns_tui.textsafe import safe
from returns_tui.timefmt import local_text

# Before a synced request's id in the table: a two-way arrow, the sync both ways.
SYNC_GLYPH = "⇄"
URL_MAX = 2000  # longer is not a link anyone clicks; it is shown cut, as text


def synced_id(row: ListRow) -> str:
    return f"{SYNC_GLYPH}{row.id}" if row.source == d.SYNCED else row.id


def synced_status(label: str, row: ListRow) -> str:
    """The status cell: while a decision waits to be sent, it says so first (the status is
    still the marketplace's: the decision is not made until it confirms)."""
    return f"sending ({label})" if row.sending else label


def detail_line(
    req: d.Request, sending: tuple[str, str] | None, refusal: Refusal | None, tz: str | None
) -> Text | None:
    """The detail panel's line about the sync: the marketplace's own status, the decision
    being sent, or the marketplace's last refusal. None for a local request."""
    if not req.synced:
        return None
    out = Text()
    out.append(f"{SYNC_GLYPH} marketplace ", style="dim")
    out.append(safe(req.marketplace_status or "?"))
    if sending is not None:
        action, who = sending
        out.append("   sending ", style="dim")
        out.append(safe(f"{action.replace('_', ' ')} by {who}: waiting for the marketplace"),
                   style="bold")  # fmt: skip
    elif refusal is not None:
        out.append("   refused ", style="dim")
        out.append(safe(f"at {local_text(refusal.at, tz)}: {refusal.sentence()}"), style="bold")
    return out


def web_link(url: object) -> str | None:
    """`url` if it is a web address safe to put in a terminal hyperlink, else None: http or
    https with a host, printable ASCII only (no ESC, BEL or space could end the terminal's
    link sequence early and smuggle one of their own), at most URL_MAX characters."""
    if not isinstance(url, str) or not 0 < len(url) <= URL_MAX:
        return None
    if not all(0x21 <= ord(ch) <= 0x7E for ch in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return url


def evidence(text: Text, label: str, urls: Iterable[object]) -> None:
    """Append a record's evidence to `text`: each web address as a terminal hyperlink with
    the address as its words; anything else as plain, safe text marked as not a link."""
    for url in urls:
        text.append(f"\n  {label}: ", style="dim")
        link = web_link(url)
        if link is None:
            text.append(safe(str(url))[:200])
            text.append(" (not a web link)", style="dim")
        else:
            text.append(link, style=Style(link=link, underline=True))
