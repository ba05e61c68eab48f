"""The Textual application: it wires the console screen to the services, the settings' keymap
and the command palette, and runs it. The console itself is `screens.main.ConsoleScreen`."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable
from functools import partial

from rich.text import Text
from rich.traceback import Traceback
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.driver import Driver
from textual.markup import escape as escape_markup
from textual.notifications import SeverityLevel
from textual.screen import Screen

from returns_tui.clock import Clock, utc_now
from returns_tui.roles import Actor
from returns_tui.screens.main import ConsoleScreen
from returns_tui.services import Returns
from returns_tui.settings import Settings
from returns_tui.textsafe import safe
from returns_tui.timefmt import viewer_zone
from returns_tui.typeahead import TypeAhead

log = logging.getLogger(__name__)  # debug only: nothing may reach the terminal under the TUI

# Palette entries that escape the console: Textual's screenshot writes a file where the user
# did not ask (and over SSH, on the server).
_HIDDEN_SYSTEM_COMMANDS = {"Screenshot"}


class ReturnsApp(TypeAhead, App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "returns-tui"
    BINDINGS = [
        Binding("ctrl+q", "quit", "Quit", id="quit", priority=True),
        Binding("ctrl+c", "help_quit", show=False, system=True),
    ]

    def __init__(
        self,
        service: Returns,
        actor: Actor,
        settings: Settings | None = None,
        *,
        clock: Clock = utc_now,
        tz: str | None = None,
        title: str = "returns-tui",
        on_start: Callable[[ReturnsApp], None] | None = None,
    ) -> None:
        super().__init__()
        # No animations (the tabs' sliding underline, smooth scrolling): over SSH every frame
        # of one is bytes on the wire and CPU on a shared server, and the tab underline's 0.3 s
        # slide cost more than drawing the new tab's rows (bench/run.py, pyinstrument).
        self.animation_level = "none"
        self.service = service
        self.actor = actor
        self.settings = settings or Settings()
        self.clock = clock
        # The viewer's zone: the caller's, else the setting `timezone`, else the host's; a
        # name that is not a zone is said once at start, and the times are in UTC.
        self._zone_problem = ""
        if tz is None:
            tz, self._zone_problem = viewer_zone(self.settings.timezone)
        self.tz = tz
        self.title_text = title
        self._on_start = on_start
        self._crash: str | None = None  # why the console stopped, if it failed

    # -- Every toast is text ---------------------------------------------------------------------
    # Toasts quote data (request ids, refusals that name them, a driver's error text), and a
    # request id can hold ESC ]52 (a clipboard write) or ESC ]0 (the window's title). Every
    # notify of every screen and widget ends here, so no call can forget: control characters
    # become visible placeholders and nothing is read as markup, whatever the caller passed.

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None:
        del markup  # never: see above
        super().notify(
            safe(str(message), single_line=False),
            title=safe(str(title)),
            severity=severity,
            timeout=timeout,
            markup=False,
        )

    def action_help_quit(self) -> None:
        # Textual's own says "Press [b]ctrl+q[/b]" in markup, which toasts no longer read.
        self.notify(f"Press {self.get_key_display(self._quit_binding())} to quit.")

    def _quit_binding(self) -> Binding:
        return next(b for b in self.BINDINGS if isinstance(b, Binding) and b.id == "quit")

    def get_driver_class(self) -> type[Driver]:
        # Our input thread on Linux and macOS (returns_tui/terminal.py: bytes that are not
        # UTF-8, pastes); Textual's own driver elsewhere, or when TEXTUAL_DRIVER names one.
        driver = super().get_driver_class()
        from textual.drivers.linux_driver import LinuxDriver

        if driver is LinuxDriver:
            from returns_tui.terminal import ConsoleDriver

            return ConsoleDriver
        return driver

    # -- A failure ends the console with status 1 and one line, never 0 or a traceback -------
    # Textual 8.2.8 ends the app on an unhandled exception (_handle_exception, status 1) and
    # on a failure of its input thread (panic, status 0), and prints a full traceback with
    # its local variables, buyers' text included, after it left the screen. Here either
    # gives status 1 and one line on standard error; the traceback goes to the log.

    def _handle_exception(self, error: Exception) -> None:
        log.error("the console failed", exc_info=error)
        self._crash = self._crash or f"{type(error).__name__}: {error}"
        super()._handle_exception(error)

    def panic(self, *renderables: object) -> None:
        if self._crash is None:
            self._crash = next(
                (_failure(r) for r in renderables if _failure(r)), "an internal error"
            )
        self.exit(return_code=1)
        super().panic(*renderables)  # type: ignore[arg-type]

    def _print_error_renderables(self) -> None:
        if self._exit_renderables:
            line = (self._crash or "an internal error").strip().splitlines() or ["?"]
            self.error_console.print(
                Text(safe(f"returns-tui: the console stopped on an error: {line[0]}")),
                highlight=False,
                soft_wrap=True,
            )
        self._exit_renderables.clear()

    def get_default_screen(self) -> Screen:
        return ConsoleScreen(
            self.service,
            self.actor,
            self.settings,
            clock=self.clock,
            tz=self.tz,
            title=self.title_text,
        )

    @property
    def main(self) -> ConsoleScreen:
        screen = self.screen_stack[0]
        assert isinstance(screen, ConsoleScreen)
        return screen

    def on_mount(self) -> None:
        if self.settings.keys:
            self.set_keymap(self.settings.keys)
        if self._zone_problem:
            self.notify(self._zone_problem, severity="warning", timeout=15)
        if self._on_start is not None:
            self._on_start(self)
        if self.is_headless:
            return
        try:
            # The terminal went away (an SSH connection dropped): leave as if ctrl+q was pressed.
            # A change under way is one transaction; it commits or it does not.
            self._loop.add_signal_handler(signal.SIGHUP, self.exit)  # type: ignore[union-attr]
        except (NotImplementedError, RuntimeError, ValueError, AttributeError):
            pass
        leave_when_the_terminal_goes(self)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        for command in super().get_system_commands(screen):
            if command.title not in _HIDDEN_SYSTEM_COMMANDS:
                yield command
        console = self.main
        if screen is not console:
            return
        for action, title, help_text in console.PALETTE:
            if console.check_action(action, ()):
                yield _command(title, help_text, getattr(console, f"action_{action}"))
        for title, help_text, callback in console.view_commands():
            yield _command(title, help_text, callback)
        for binding in console.BINDINGS:
            if isinstance(binding, Binding) and binding.action.startswith("tab("):
                name = binding.action[5:-2]
                yield _command(
                    f"Tab: {binding.description}",
                    f"Show the {binding.description} tab",
                    partial(console.action_tab, name),
                )


def _command(title: str, help_text: str, callback: Callable[[], object]) -> SystemCommand:
    """A palette entry. The palette reads titles and help as markup: ours are shown as text
    (control characters visible, brackets literal), whatever a later title may quote."""
    return SystemCommand(escape_markup(safe(title)), escape_markup(safe(help_text)), callback)


def _failure(renderable: object) -> str | None:
    """ "Kind: message" of the error a panic was given (a traceback, or its text)."""
    if isinstance(renderable, Traceback) and renderable.trace.stacks:
        stack = renderable.trace.stacks[-1]
        return f"{stack.exc_type}: {stack.exc_value}"
    if isinstance(renderable, (str, Text)):
        return str(renderable)
    if isinstance(renderable, BaseException):
        return f"{type(renderable).__name__}: {renderable}"
    return None


# How often the console looks for its terminal; how long it then gives a clean exit.
TERMINAL_POLL_SECONDS = 0.5
HANGUP_GRACE_SECONDS = 3.0


def leave_when_the_terminal_goes(app: App) -> None:
    """Exit when the terminal goes away, whether or not a SIGHUP reaches the console.

    The SIGHUP handler above covers the usual case: over SSH the console is the session leader
    (deploy/returns-tui-session execs it) and the kernel sends it SIGHUP when sshd closes the
    terminal. But that handler runs on the event loop, and Textual 8 can block the loop for
    good once the terminal is gone: its output thread dies on the first failed write, and the
    loop then waits on the full output queue (while the input thread spins on end-of-file).
    That happens when SIGHUP comes late (a connection that dies with output backed up) or never
    (a session leader that outlives the terminal). So a thread looks at the terminal twice a
    second; once it is gone, the thread asks the loop to exit and, if the process is still
    here after a grace period, ends it. Either way a change under way is one database
    transaction: it was committed or it was not."""
    try:
        fd = sys.__stdin__.fileno()  # what Textual's driver reads
    except (AttributeError, ValueError, OSError):
        return
    if not os.isatty(fd):
        return
    loop = asyncio.get_running_loop()

    def watch() -> None:
        while os.isatty(fd):  # a hung-up terminal answers EIO, and this is False
            time.sleep(TERMINAL_POLL_SECONDS)
        try:
            loop.call_soon_threadsafe(app.exit)
        except RuntimeError:  # the loop is closed: the console is leaving already
            pass
        time.sleep(HANGUP_GRACE_SECONDS)
        os._exit(128 + signal.SIGHUP)

    threading.Thread(target=watch, name="returns-tui-terminal", daemon=True).start()


def run_console(service: Returns, actor: Actor, settings: Settings, **extras) -> int:
    """Run the console until the user quits; the exit code for the command."""
    app = ReturnsApp(service, actor, settings, **extras)
    result = app.run()
    return app.return_code or (result if isinstance(result, int) else 0) or 0
