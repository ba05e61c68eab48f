"""The console's footer: when its keys do not fit, the keys that are also in help and the
palette give way, so that `? Help` and `^q Quit` always show (issue 10: at 80 columns they were
cut off the end, and a new operator could find neither)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

# Actions whose keys leave a footer too narrow for every key, in the order they go.
# The filter key (DESIGN §10) is newer than the others: it gives way first after §7's, so
# that a terminal of 120 columns keeps the keys it showed before (help and the palette list it).
GIVE_WAY = (
    "reject_receipt", "offer", "filter", "accept_marked", "mark", "sort", "receive", "note",
)  # fmt: skip


class ConsoleFooter(Footer):
    DEFAULT_CSS = """
    ConsoleFooter FooterKey.-gives-way { display: none; }
    """

    def __init__(self) -> None:
        super().__init__(show_command_palette=False)
        # Each key's width, measured with all of them shown (a hidden key measures 0).
        self._widths: dict[str, int] = {}
        self._composed: list[tuple[Binding, bool, str]] | None = None

    def compose(self) -> ComposeResult:
        # What is composed, to tell whether a change of bindings changes the footer at all.
        self._composed = _shown(self.screen) if self._bindings_ready else None
        yield from super().compose()

    async def recompose(self) -> None:
        # Textual makes the footer anew whenever the screen's bindings are refreshed (each
        # search, filter and saved view, with the same keys): every key made again, then the
        # screen laid out. At 200 columns and 1M requests, a saved view's status line said
        # "loading…" 320-430 ms after its key, 85-130 ms once this skipped it. Skipped here,
        # when it runs, rather than when it is asked for: several asks may wait for one run.
        if self._composed is not None and _shown(self.screen) == self._composed:
            return
        await super().recompose()  # the bindings changed: measure them again
        self._widths = {}
        self.call_after_refresh(self._fit)

    def on_mount(self) -> None:
        self.call_after_refresh(self._fit)

    def on_resize(self) -> None:
        self._fit()

    def _fit(self) -> None:
        keys = [key for key in self.query(FooterKey) if key.action in GIVE_WAY]
        if not self._widths:
            if any(key.has_class("-gives-way") for key in keys):
                for key in keys:
                    key.remove_class("-gives-way")
                self.call_after_refresh(self._fit)  # measured once they are laid out
                return
            widths = {"": sum(child.outer_size.width for child in self.children)}
            widths |= {_name(key): key.outer_size.width for key in keys}
            if not all(widths.values()):
                self.call_after_refresh(self._fit)  # not laid out yet
                return
            self._widths = widths
        spare = self.size.width - self._widths[""]
        for action in GIVE_WAY:
            for key in keys:
                if key.action == action:
                    hide = spare < 0
                    key.set_class(hide, "-gives-way")
                    if hide:
                        spare += self._widths.get(_name(key), 0)


def _shown(screen: Screen) -> list[tuple[Binding, bool, str]]:
    """The footer's keys on `screen`: each shown binding, whether enabled, its tooltip."""
    return [
        (binding, enabled, tooltip)
        for _node, binding, enabled, tooltip in screen.active_bindings.values()
        if binding.show
    ]


def _name(key: FooterKey) -> str:
    return f"{key.action} {key.key}"
