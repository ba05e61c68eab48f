"""What the console reads from its terminal, made safe where Textual 8.2.8 is not: our own
Linux driver and input parser, which ReturnsApp installs (`get_driver_class`).

Three defects of Textual 8.2.8, each a few lines of theirs that cannot be configured:

- **A byte that is not UTF-8 ends the console.** `LinuxDriver.run_input_thread` decodes its
  input with a strict UTF-8 decoder, so one Latin-1 "é" (0xE9, from a terminal or an SSH
  client set to Latin-1) raised UnicodeDecodeError in the input thread, and the console left
  (with status 0). Here every byte that is not UTF-8 becomes U+FFFD, which a field shows as
  "�" and the table ignores.
- **A paste is parsed as keys.** In `XTermParser.parse` an ESC inside a bracketed paste starts
  an escape sequence that never ends in the paste's favour: ESC CR was sent as the keys "^"
  and Enter, before the paste itself (so a note dialog was submitted with no Enter pressed),
  what followed an ESC was lost from the paste, and a paste of more than 32 characters after
  an ESC was cut into keys. Here the whole text between the paste's markers is one
  `events.Paste`, whatever it holds: a paste is never a key. (Its control characters are
  made visible by the field it lands in: widgets/safe_input.py.)
- **Escape and the key after it become one key.** A key that reaches the parser less than 0.1 s
  after ESC (typed fast, or sent in one packet over SSH) was read as Alt+key: Escape then `v`
  left a reject dialog open as `alt+v`, and the keys that followed acted in it (`2` chose a
  reason, Enter rejected); Escape then Enter was Enter alone, which confirmed the dialog the
  operator meant to close; Escape then `2` was "™". No command of the console is on Alt, so
  here ESC and the key after it are always two keys, Escape first. (Alt+key from a terminal
  that sends it as ESC key is Escape then the key, too. Sequences that begin ESC [, ESC O and
  the like, which arrow keys and the terminal's reports use, are left to Textual.)

Both classes change only that. When Textual is upgraded, check whether it still needs them
(tests/test_console_parser.py; tests/test_console_terminal.py drives the real driver in tmux).
"""

from __future__ import annotations

import os
import selectors
from codecs import getincrementaldecoder
from collections.abc import Iterable

from textual import events
from textual._loop import loop_last
from textual._parser import ParseError
from textual._xterm_parser import BRACKETED_PASTE_END, BRACKETED_PASTE_START, XTermParser
from textual.drivers.linux_driver import LinuxDriver
from textual.message import Message

_START, _END = BRACKETED_PASTE_START, BRACKETED_PASTE_END
ESC = "\x1b"
# What may follow ESC to begin a longer sequence (CSI, SS3, OSC, DCS, APC, PM, ST, and ESC
# itself, which Textual handles on its own): never split from the ESC before it.
_INTRODUCERS = frozenset("[O]P_^\\" + ESC)


class ConsoleParser(XTermParser):
    """Textual's parser, except that ESC and the key after it are two keys, and the text of a
    bracketed paste never reaches it: the text between ESC[200~ and ESC[201~ is cut out here
    and given as one Paste event, in its place among the keys. The markers and the paste may
    arrive split across reads.

    Textual's parser still sees both markers, so that its own state stays as it expects: it
    enters its paste mode at ESC[200~ (which it recognises whatever escape sequence was under
    way) and leaves it at ESC[201~, with nothing in between (its empty Paste is dropped)."""

    def __init__(self, debug: bool = False) -> None:
        super().__init__(debug)
        self._paste: list[str] | None = None  # the text of the paste under way, if one is
        self._tail = ""  # the last characters given to Textual's parser: a start may straddle
        self._carry = ""  # in a paste, an ending that may be the start of its end marker

    def feed(self, data: str) -> Iterable[Message]:
        if not data:  # the end of the input
            return super().feed(data)
        return self._feed(data)

    def _feed(self, data: str) -> Iterable[Message]:
        while data:
            if self._paste is None:
                joined = self._tail + data
                at = joined.find(_START)
                if at < 0:
                    yield from super().feed(data)
                    self._tail = joined[-(len(_START) - 1) :]
                    return
                cut = at + len(_START) - len(self._tail)  # just past the marker, in `data`
                yield from super().feed(data[:cut])
                data, self._tail, self._paste = data[cut:], "", []
            else:
                joined = self._carry + data
                at = joined.find(_END)
                if at < 0:
                    keep = _partial_marker(joined, _END)
                    self._paste.append(joined[: len(joined) - keep])
                    self._carry = joined[len(joined) - keep :]
                    return
                self._paste.append(joined[:at])
                text, self._paste, self._carry = "".join(self._paste), None, ""
                for token in super().feed(_END):
                    if not isinstance(token, events.Paste):
                        yield token
                # Textual's removal of NUL from a paste (its issue 1661) is kept.
                yield events.Paste(text.replace("\x00", ""))
                data = joined[at + len(_END) :]

    def _sequence_to_key_events(self, sequence: str, alt: bool = False) -> Iterable[events.Key]:
        if alt and len(sequence) == 1 and sequence not in _INTRODUCERS:
            # ESC, then a key and nothing more before the wait ran out: Textual's Alt+key.
            yield events.Key("escape", ESC)
            yield from super()._sequence_to_key_events(sequence)
        elif len(sequence) == 2 and sequence[0] == ESC and sequence[1] not in _INTRODUCERS:
            # ESC and a key that Textual reads as one ("\x1b2" is "™" in its table, for
            # WezTerm on macOS) or waits on: two keys, now.
            yield events.Key("escape", ESC)
            yield from super()._sequence_to_key_events(sequence[1])
        else:
            yield from super()._sequence_to_key_events(sequence, alt)


def _partial_marker(text: str, marker: str) -> int:
    """How many characters at the end of `text` are the beginning of `marker`."""
    for size in range(min(len(marker) - 1, len(text)), 0, -1):
        if marker.startswith(text[-size:]):
            return size
    return 0


# Empty selects (0.1 s each) before the bytes of an unfinished character are given up on:
# the rest of a character sent in one write arrives well within that, even over SSH.
INCOMPLETE_WAIT = 3


class ConsoleDriver(LinuxDriver):
    """Textual's Linux driver with the input thread of Textual 8.2.8
    (`LinuxDriver.run_input_thread`, copied), but for three things: the decoder replaces what
    is not UTF-8 (errors="replace"), gives up on an unfinished character after a pause
    (INCOMPLETE_WAIT), and the parser is ConsoleParser."""

    def run_input_thread(self) -> None:
        selector = selectors.SelectSelector()
        selector.register(self.fileno, selectors.EVENT_READ)
        fileno = self.fileno
        EVENT_READ = selectors.EVENT_READ
        parser = ConsoleParser(self._debug)
        feed = parser.feed
        tick = parser.tick
        decoder = getincrementaldecoder("utf-8")(errors="replace")
        decode = decoder.decode
        read = os.read
        idle = 0  # selects in a row with nothing to read

        def process_selector_events(
            selector_events: list[tuple[selectors.SelectorKey, int]], final: bool = False
        ) -> None:
            nonlocal idle
            idle = 0 if selector_events else idle + 1
            if idle == INCOMPLETE_WAIT and decoder.getstate()[0]:
                # The start of a character whose rest never came: a Latin-1 "é" typed last.
                # Shown now (as U+FFFD) rather than when the next key comes.
                for event in feed(decode(b"", final=True)):
                    self.process_message(event)
            for last, (_selector_key, mask) in loop_last(selector_events):
                if mask & EVENT_READ:
                    unicode_data = decode(read(fileno, 1024 * 4), final=final and last)
                    if not unicode_data:
                        break  # stdin is piped and ended, or a partial character waits
                    for event in feed(unicode_data):
                        self.process_message(event)
            for event in tick():
                self.process_message(event)

        try:
            while not self.exit_event.is_set():
                process_selector_events(selector.select(0.1))
            selector.unregister(self.fileno)
            process_selector_events(selector.select(0.1), final=True)
        finally:
            selector.close()
            try:
                for _event in feed(""):
                    pass
            except (EOFError, ParseError):
                pass
