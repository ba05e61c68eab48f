"""The Insights screen (key `i`, DESIGN §9): what returns cost and why, over the last 7, 30 or
90 days, for every shop the viewer sees or one of them. The figures are returns_tui.insights's,
the same as `returns-tui report`'s, read in a worker; the charts are textual-plotext's.

At 80×24 the headline (the money approved by the clock) stays at the top and the rest scrolls.
The charts tell their series apart by their fill characters, not only by colour, so they read
in a monochrome terminal. Text from the data (shops, users, SKUs, reasons) goes through
textsafe.safe and is never parsed as markup. The screen reads again when someone commits (its
own change watcher, as the console's), at most every few seconds: the figures read many rows.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Static
from textual_plotext import PlotextPlot

from returns_tui import insights, labels
from returns_tui import insights_report as report
from returns_tui.clock import Clock
from returns_tui.errors import ReturnsError, StoreError
from returns_tui.roles import Actor
from returns_tui.services import Returns
from returns_tui.store.changes import ChangeWatcher
from returns_tui.textsafe import safe
from returns_tui.widgets.focus import focus_now

# The outcomes of the chart by day: each status now, in four groups a bar can show.
OUTCOMES = (
    ("open", ("pending", "awaiting_buyer_response", "awaiting_buyer_ship", "buyer_shipped",
              "in_mediation")),
    ("completed", ("completed",)),
    ("rejected", ("rejected",)),
    ("cancelled", ("cancelled",)),
)  # fmt: skip
MARKERS = ("█", "▒", "░", "·")  # one a series: told apart without colour
COLOURS = ("yellow", "green", "red", "white")
# The least time between two reads prompted by changes (the figures read the period's rows).
RELOAD_SECONDS = 5.0


@dataclass
class FiguresLoaded(Message):
    seq: int
    figures: insights.Insights


@dataclass
class FiguresFailed(Message):
    message: str


class InsightsScreen(Screen):
    BINDINGS = [
        Binding("p", "period", "Period 7/30/90 d"),
        Binding("h", "shop", "Shop"),
        Binding("escape,i", "close", "Back"),
    ]
    DEFAULT_CSS = """
    InsightsScreen #title { height: 1; padding: 0 1; background: $boost; text-style: bold; }
    InsightsScreen #headline { height: auto; padding: 0 1; color: $warning; text-style: bold; }
    InsightsScreen #body { height: 1fr; }
    InsightsScreen PlotextPlot { height: 12; }
    InsightsScreen #reasons { height: 10; }
    InsightsScreen #tables { height: auto; padding: 1 1 0 1; }
    """

    def __init__(
        self, service: Returns, actor: Actor, *, clock: Clock, poll_seconds: float = 1.0
    ) -> None:
        super().__init__()
        self.service = service
        self.actor = actor
        self.clock = clock
        self.poll_seconds = poll_seconds
        self.days = insights.DEFAULT_DAYS
        self.shop: str | None = None
        self.figures: insights.Insights | None = None
        self._shops: tuple[str, ...] = tuple(sorted(actor.shops))
        self._seq = 0
        self._loaded_at = 0.0
        self._stale = False
        self._watcher = ChangeWatcher(service.engine)
        self._watcher_lock = threading.Lock()
        self._closed = False
        self.reload_seconds = RELOAD_SECONDS

    def compose(self) -> ComposeResult:
        yield Static(id="title", markup=False)
        yield Static("Reading the figures…", id="headline", markup=False)
        with VerticalScroll(id="body"):
            yield PlotextPlot(id="by_day")
            yield PlotextPlot(id="reasons")
            yield Static(id="tables", markup=False)
        yield Footer(show_command_palette=False)

    def on_mount(self) -> None:
        focus_now(self.query_one("#body"))
        self._show_title()
        self.load()
        self.set_interval(self.poll_seconds, self._poll)

    def on_unmount(self) -> None:
        with self._watcher_lock:
            self._closed = True
            self._watcher.close()

    # -----------------------------------------------------------------------------------------
    # Keys

    def action_period(self) -> None:
        periods = insights.PERIODS
        self.days = periods[(periods.index(self.days) + 1) % len(periods)]
        self._show_title()
        self.load()

    def action_shop(self) -> None:
        choices: list[str | None] = [None, *self._shops]
        self.shop = choices[(choices.index(self.shop) + 1) % len(choices)]
        self._show_title()
        self.load()

    def action_close(self) -> None:
        self.dismiss()

    # -----------------------------------------------------------------------------------------
    # Reading

    @property
    def period(self) -> insights.Period:
        return insights.Period.ending(self.clock().date(), self.days)

    def load(self) -> None:
        self._seq += 1
        self._loaded_at = time.monotonic()
        self._stale = False
        self._read(self._seq, self.period, self.shop)

    @work(thread=True, exclusive=True, group="insights", exit_on_error=False)
    def _read(self, seq: int, period: insights.Period, shop: str | None) -> None:
        try:
            figures = insights.load(self.service, self.actor, period, shop)
        except ReturnsError as exc:  # the database, or a shop no longer the viewer's
            self.post_message(FiguresFailed(exc.message))
            return
        self.post_message(FiguresLoaded(seq, figures))

    @work(thread=True, exclusive=True, group="insights-poll", exit_on_error=False)
    def _watch(self) -> None:
        try:
            with self._watcher_lock:
                if not self._closed and self._watcher.changed():
                    self._stale = True
        except StoreError:
            self._stale = True  # read again, and let the read say what is wrong
        except Exception:  # a broken connection of the watcher's own: it reopens next time
            self._stale = True

    def _poll(self) -> None:
        if self._stale and time.monotonic() - self._loaded_at >= self.reload_seconds:
            self.load()
        else:
            self._watch()

    @on(FiguresLoaded)
    def _loaded(self, msg: FiguresLoaded) -> None:
        if msg.seq != self._seq:
            return  # a read for a period or shop no longer shown
        self.figures = msg.figures
        if self.actor.visible_shops() is None and self.shop is None:
            self._shops = msg.figures.shops_seen
        self.show(msg.figures)

    @on(FiguresFailed)
    def _failed(self, msg: FiguresFailed) -> None:
        self.query_one("#headline", Static).update(Text(safe(msg.message)))

    # -----------------------------------------------------------------------------------------
    # Showing

    def _show_title(self) -> None:
        period = self.period
        if self.shop is not None:
            shop = f"shop {safe(self.shop)}"
        elif self.actor.visible_shops() is None:
            shop = "every shop"
        else:
            shop = f"your shops: {safe(', '.join(sorted(self.actor.shops)))}"
        text = f"Insights · last {self.days} days ({period.since} – {period.until} UTC) · {shop}"
        self.query_one("#title", Static).update(Text(text, no_wrap=True, overflow="ellipsis"))

    def show(self, ins: insights.Insights) -> None:
        self.query_one("#headline", Static).update(Text(report.headline(ins)))
        self._chart_days(ins)
        self._chart_reasons(ins)
        lines = [
            *report.auto_lines(ins)[1:],
            "",
            *report.answer_lines(ins),
            "",
            *report.sku_lines(ins),
            "",
            *report.refund_lines(ins),
            "",
            report.appeal_line(ins),
        ]
        self.query_one("#tables", Static).update(Text("\n".join(lines)))

    def _chart_days(self, ins: insights.Insights) -> None:
        plot = self.query_one("#by_day", PlotextPlot)
        plt = plot.plt
        plt.clear_data()
        plt.clear_figure()
        days = list(range(len(ins.by_day)))
        series = [
            [sum(counts.get(s, 0) for s in statuses) for _day, counts in ins.by_day]
            for _name, statuses in OUTCOMES
        ]
        plt.stacked_bar(
            days, series, labels=[name for name, _ in OUTCOMES],
            marker=list(MARKERS), color=list(COLOURS), width=0.8,
        )  # fmt: skip
        step = max(1, len(days) // 6)
        ticks = days[::step]
        plt.xticks(ticks, [ins.by_day[i][0].strftime("%m-%d") for i in ticks])
        # Whole requests on the axis: plotext's own ticks are fractions.
        top = max((sum(col) for col in zip(*series, strict=True)), default=0)
        unit = max(1, -(-top // 4))
        plt.yticks(list(range(0, top + unit, unit)))
        plt.title(f"Requests by day and outcome now ({ins.requests:,})")
        plot.refresh()

    def _chart_reasons(self, ins: insights.Insights) -> None:
        plot = self.query_one("#reasons", PlotextPlot)
        plt = plot.plt
        plt.clear_data()
        plt.clear_figure()
        total = sum(ins.reasons.values())
        top = list(ins.reasons.items())[:6]
        if total:
            names = [safe(labels.buyer_reason(code))[:20] for code, _ in reversed(top)]
            shares = [round(100 * n / total) for _, n in reversed(top)]
            plt.bar(names, shares, orientation="h", marker="█", width=0.6)
        plt.title("Buyers' reasons, % of requests")
        plot.refresh()
