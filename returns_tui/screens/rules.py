"""The Rules screen (key `u`, DESIGN §10): the viewer's automation rules (an admin's: every
rule) and what each did in the last 7 days: how many requests it accepted, and their money
per currency. Read-only: rules are made, removed and switched off with `returns-tui rules`.

Read in a worker (returns_tui.rulebook.activity); every cell is a rich Text, so a name or a
reason is shown as the text it is, never as markup, and through textsafe.safe.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from returns_tui import rulebook
from returns_tui.clock import Clock
from returns_tui.errors import ReturnsError
from returns_tui.roles import Actor, Role
from returns_tui.rules_cli import money_text
from returns_tui.services import Returns
from returns_tui.textsafe import safe
from returns_tui.widgets.focus import focus_now

COLUMNS = ("rule", "state", "accepted, 7 days", "money, 7 days", "conditions -> action")


@dataclass
class RulesLoaded(Message):
    rows: list[rulebook.Activity]


@dataclass
class RulesFailed(Message):
    message: str


class RulesScreen(Screen):
    BINDINGS = [
        Binding("g", "reload", "Read again"),
        Binding("escape,u", "close", "Back"),
    ]
    DEFAULT_CSS = """
    RulesScreen #title { height: 1; padding: 0 1; background: $boost; text-style: bold; }
    RulesScreen #status { height: auto; padding: 0 1; }
    RulesScreen DataTable { height: 1fr; }
    """

    def __init__(self, service: Returns, actor: Actor, *, clock: Clock) -> None:
        super().__init__()
        self.service = service
        self.actor = actor
        self.clock = clock
        self.rows: list[rulebook.Activity] | None = None

    def compose(self) -> ComposeResult:
        whose = "every user's rules" if self.actor.role is Role.ADMIN else "your rules"
        title = f"Automation rules · {whose} · what each accepted in the last 7 days"
        yield Static(Text(title, no_wrap=True, overflow="ellipsis"), id="title", markup=False)
        yield Static("Reading the rules…", id="status", markup=False)
        table: DataTable = DataTable(id="rules", cursor_type="row", zebra_stripes=True)
        table.add_columns(*COLUMNS)
        yield table
        yield Footer(show_command_palette=False)

    def on_mount(self) -> None:
        focus_now(self.query_one(DataTable))
        self.action_reload()

    def action_reload(self) -> None:
        self._read(self.clock())

    def action_close(self) -> None:
        self.dismiss()

    @work(thread=True, exclusive=True, group="rules", exit_on_error=False)
    def _read(self, now) -> None:
        try:
            rows = rulebook.activity(self.service, self.actor.name, now)
        except ReturnsError as exc:  # the database, or a viewer no longer a user
            self.post_message(RulesFailed(exc.message))
            return
        self.post_message(RulesLoaded(rows))

    @on(RulesLoaded)
    def _loaded(self, msg: RulesLoaded) -> None:
        self.rows = msg.rows
        table = self.query_one(DataTable)
        table.clear()
        for act in msg.rows:
            rule = act.rule
            state = f"off (by {rule.disabled_by})" if rule.disabled else "on"
            cells = (rule.actor, state, str(act.accepted), money_text(act.money),
                     rule.conditions.describe(rule.keep_item))  # fmt: skip
            table.add_row(*(Text(safe(cell)) for cell in cells), key=rule.actor)
        count = len(msg.rows)
        said = (
            "No rules yet: `returns-tui rules add` makes one."
            if not count
            else (
                f"{count} rule{'' if count == 1 else 's'}; read-only here, changed with "
                "`returns-tui rules`."
            )
        )
        self.query_one("#status", Static).update(Text(said))

    @on(RulesFailed)
    def _failed(self, msg: RulesFailed) -> None:
        self.query_one("#status", Static).update(Text(safe(msg.message)))
