"""Keys typed ahead: where the keys of a burst go, and which of them may act.

Over a laggy SSH link, or while the console is busy, typed keys arrive together, in one read
of the terminal. Textual 8.2.8 hands each key to the widget that has the focus *when the key
is read*, and looks the key's binding up only when it has come back up from that widget: so in
`/ana⏎`, the "a" that followed the "/" had already been given to the table before "/" opened
the search field, and came back to be looked up as the console's `a` (accept); keys typed
after `n` reached a note dialog that had no focused field yet, and were lost. Four rules, in
the App, make a burst do what the same keys typed slowly do:

1. **A key goes to what has the focus when it is acted on.** A key that comes back up unused
   from a widget that has lost the focus meanwhile is handed to the widget that has it now
   (the search field, the dialog's field), instead of being looked up as a binding.
2. **While a screen opens, keys wait.** From the moment a dialog is pushed (or popped, or its
   data is being read, `hold_keys`) until it has been drawn, keys and pastes are held, then
   given to it in order: they reach its field, not the screen below or nothing.
3. **A key pressed before its screen was on screen changes nothing.** Such a key still edits
   the focused text field (letters, Backspace...) and may close the dialog (Esc), but any
   other key is dropped: Enter typed blind after `a` does not accept, `n hello⏎` leaves the
   note unsaved in its dialog. Whatever changes data (accept, reject, a note...) is asked in a
   dialog, so it is only ever done by a key pressed while the person could see what it does.
4. **One key at a time.** A key is given out only once the one before it has been dealt with
   all the way up (a marker sent behind it, `KeyDealtWith`, has come back to the App).
   Textual puts a key in the focused widget's queue and reads the next at once: in
   `acme⇥refund` typed in one go, "refund" reached the Shop field's queue before the Tab
   that leaves it had been looked up, and the filter became shop "acmerefund".

The time a key was pressed is its event's `time`, set when the input thread read it.
"""

from __future__ import annotations

from collections import OrderedDict
from functools import partial
from weakref import WeakKeyDictionary

from textual import events
from textual._time import get_time
from textual.app import App
from textual.message import Message
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Input

# Keys that edit a text field: typed ahead, they still reach it.
_EDITING = frozenset({"backspace", "delete", "left", "right", "home", "end"})
# Keys that close a dialog or a search: typed ahead, they still act (they change no data).
_LEAVING = frozenset({"escape"})
# A hold ends after this many seconds even if its screen never showed (a read that hangs):
# the keys are then given out under rule 3.
HOLD_LIMIT = 5.0
# Keys remembered with the widget they were given to (those that come back are forgotten).
_AIMED_MAX = 256

_NEVER = float("inf")
# Rule 4: a key whose marker has not come back in this many seconds (its widget went away
# with it, say) no longer holds the keys behind it.
KEY_LIMIT = 1.0


class KeyDealtWith(Message, bubble=True):
    """Sent to the widget a key went to, right behind it: it comes up the same way after the
    key (each queue is first in, first out), to the App, once the key has been dealt with."""

    def __init__(self, number: int) -> None:
        super().__init__()
        self.number = number


class TypeAhead(App):
    """The App's half of the four rules: ReturnsApp is one."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._held: list[events.Event] | None = None  # keys held while a screen opens
        self._hold_timer = None
        # When each screen was last drawn after it became the active one; _NEVER until then.
        self._shown_at: WeakKeyDictionary[Screen, float] = WeakKeyDictionary()
        self._aimed: OrderedDict[int, tuple[events.Key, Widget]] = OrderedDict()
        # Rule 4: the number of the marker the App waits for (0: none), the keys behind it.
        self._awaited = 0
        self._behind: list[events.Event] = []
        self._markers = 0
        self._key_timer = None

    def on_mount(self) -> None:
        self.screen_change_signal.subscribe(self, self._screen_changed, immediate=True)

    # -- Holding ---------------------------------------------------------------------------

    def hold_keys(self) -> None:
        """Hold keys and pastes until the screen that is about to open has been drawn (or
        `release_keys`)."""
        if self._held is None:
            self._held = []
            self._hold_timer = self.set_timer(HOLD_LIMIT, self.release_keys)

    def release_keys(self, drop: bool = False) -> None:
        """Give out the held keys, in order, to what has the focus now (or `drop` them:
        they were meant for a dialog that did not open)."""
        held, self._held = self._held or [], None
        if self._hold_timer is not None:
            self._hold_timer.stop()
            self._hold_timer = None
        if not drop:
            for event in held:
                self.post_message(_fresh(event))

    def _screen_changed(self, screen: Screen) -> None:
        self._shown_at[screen] = _NEVER
        self.hold_keys()
        # The keys waiting for the one before them are the new screen's, first (rule 2).
        behind, self._behind = self._behind, []
        self._held = behind + (self._held or [])
        self._awaited = 0
        screen.call_after_refresh(self._screen_shown, screen)

    def _display(self, screen: Screen, renderable) -> None:
        # The moment a screen's first frame goes to the terminal is when the person can see
        # it: a key read after it may act, even if it is read before _screen_shown runs (which
        # comes a little later, after the refresh's other callbacks).
        if renderable is not None and self._shown_at.get(screen) == _NEVER:
            if screen is self.screen and not self._batch_count:
                self._shown_at[screen] = get_time()
        super()._display(screen, renderable)

    def _screen_shown(self, screen: Screen) -> None:
        if screen is not self.screen:
            return  # another screen came on top meanwhile; its own drawing releases
        if self._shown_at.get(screen) == _NEVER:  # headless: nothing is written
            self._shown_at[screen] = get_time()
        self.release_keys()

    # -- Giving keys out -------------------------------------------------------------------

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, (events.Key, events.Paste)) and not event.is_forwarded:
            if self._held is not None:
                self._held.append(event)
                return
            if self._awaited:  # the key before it is still on its way (rule 4)
                self._behind.append(event)
                return
            await self._give(event)
            return
        await super().on_event(event)

    async def _give(self, event: events.Key | events.Paste) -> None:
        """Give a key (or paste) to what has the focus, and wait for it (rule 4)."""
        if not self._may_act(event):
            return
        target = self._target()
        if isinstance(event, events.Key):
            self._aim(event)
        await super().on_event(event)
        self._follow(target)

    def _follow(self, target: Widget) -> None:
        """Send a marker behind the key just given to `target`; keys wait until it is back."""
        self._markers += 1
        self._awaited = self._markers
        target.post_message(KeyDealtWith(self._markers))
        if self._key_timer is not None:
            self._key_timer.stop()
        self._key_timer = self.set_timer(KEY_LIMIT, partial(self._key_done, self._markers))

    async def on_key_dealt_with(self, message: KeyDealtWith) -> None:
        message.stop()
        await self._key_done(message.number)

    async def _key_done(self, number: int) -> None:
        """The key of marker `number` has been dealt with: give out the next one waiting."""
        if number != self._awaited:
            return  # an older marker (its key was given again, rule 1), or already let go
        self._awaited = 0
        while self._behind and not self._awaited and self._held is None:
            await self._give(self._behind.pop(0))

    async def _on_key(self, event: events.Key) -> None:
        # A key that came back up unused from the widgets (Textual then looks up its binding,
        # in App._on_key, after this). If the focus moved while it was on its way (the key
        # before it opened a field), it is for the field instead: rule 1.
        aimed = self._aimed.pop(id(event), None)
        if self._held is not None:  # a screen is opening: the key is its (rule 2)
            event.prevent_default()
            self._held.append(event)
        elif aimed is not None and aimed[0] is event and aimed[1] is not self._target():
            event.prevent_default()
            await self._give(_fresh(event))  # ahead of the keys behind it (rule 4)

    def _target(self) -> Widget:
        return self.screen.focused or self.screen

    def _aim(self, event: events.Key) -> None:
        self._aimed[id(event)] = (event, self._target())
        while len(self._aimed) > _AIMED_MAX:
            self._aimed.popitem(last=False)

    def _may_act(self, event: events.Key | events.Paste) -> bool:
        """Rule 3: whether a key (or a paste) may act on the screen it would go to."""
        if event.time >= self._shown_at.get(self.screen, 0.0):
            return True
        if isinstance(event, events.Key) and event.key in _LEAVING:
            return True
        if not isinstance(self.screen.focused, Input):
            return False
        return isinstance(event, events.Paste) or event.is_printable or event.key in _EDITING


def _fresh(event: events.Event) -> events.Event:
    """A copy of a key or paste that Textual will dispatch again from the start, with the
    time it was pressed."""
    copy: events.Event
    if isinstance(event, events.Key):
        copy = events.Key(event.key, event.character)
    else:
        assert isinstance(event, events.Paste)
        copy = events.Paste(event.text)
    copy.time = event.time
    copy.set_sender(event._sender)
    return copy
