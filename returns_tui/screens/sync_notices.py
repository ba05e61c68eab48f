"""The console's side of the marketplace sync (DESIGN §8) that needs the screen: telling the
operator when the marketplace refused one of their decisions, and the reject dialog of a
synced request, which offers the marketplace's reasons for it (their texts) instead of ours.

A mixin of ConsoleScreen (screens/main.py), which gives it `service`, `actor`, `act`,
`_guard` and `_open_with`. The refusals are read in a worker after every change the console
notices; what it tells is the records' own (kind push_refused), so a console that was closed
meanwhile finds them in the detail panel and the records view instead.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from textual import work

from returns_tui import domain as d
from returns_tui.errors import Refused
from returns_tui.screens.reject import RejectScreen
from returns_tui.sync import rules as synced
from returns_tui.sync.rules import Refusal
from returns_tui.textsafe import safe

REFUSAL_TITLE = "Refused by the marketplace"


def is_sent(result: object, verb: str) -> bool:
    """Whether an action's result is a decision on a synced request, which went to the
    outbox instead of being made (the service returns the request as it still is)."""
    return isinstance(result, d.Request) and result.synced and verb in synced.DECISIONS


def sending_text(verb: str, ids: list[str]) -> str:
    """The toast after decisions that went to the marketplace: not done until it answers."""
    what = verb.replace("_", " ")
    if len(ids) == 1:
        return f"{ids[0]}: the {what} is being sent to the marketplace; its answer shows here."
    return f"{len(ids)} decisions ({what}) are being sent to the marketplace."


class SyncNotices:
    """See the module. State: the id of the last record looked at for refusals."""

    _refusal_mark: int | None = None
    _reading_refusals = False
    _refusals_again = False

    # -- Refusals ---------------------------------------------------------------------------

    def load_refusals(self) -> None:
        """Read the refusals recorded since the last look; one read at a time (a change
        noticed meanwhile asks for one more afterwards, so none is missed or told twice)."""
        if self._reading_refusals:
            self._refusals_again = True
            return
        self._reading_refusals = True
        self._read_refusals(self._refusal_mark)

    @work(thread=True, group="refusals", exit_on_error=False)
    def _read_refusals(self: Any, after: int | None) -> None:
        mark, found = after, []
        try:
            with self._guard():
                mark, found = self.service.refusals_after(self.actor, after)
        finally:
            self.app.call_from_thread(self._tell_refusals, mark, found)

    def _tell_refusals(self: Any, mark: int | None, found: list[Refusal]) -> None:
        self._refusal_mark = mark
        self._reading_refusals = False
        for refusal in found:
            self.notify(
                safe(refusal.sentence(), single_line=True),
                title=REFUSAL_TITLE,
                severity="error",
                markup=False,
                timeout=20,
            )
        if found:
            self.reload()  # the detail panel says it too
        elif self._refusals_again:
            self._refusals_again = False
            self.load_refusals()

    # -- The reject dialogs of a synced request ---------------------------------------------

    def reject_synced(self: Any, request_id: str, stage: str) -> None:
        """Open the reject dialog (of the request, or of its returned package) with the
        reasons the marketplace offers for it, read first in a worker."""
        self._open_with(partial(self._read_synced_reasons, request_id, stage))

    def _read_synced_reasons(self: Any, request_id: str, stage: str):
        reasons = self.service.reject_reasons(self.actor, request_id, stage)
        if not reasons:
            raise Refused(
                f"The marketplace's reasons for rejecting {d.quoted(request_id)} have not "
                "been fetched yet; try again after the next sync."
            )
        receipt = stage == d.RejectStage.RECEIPT.value
        rules = synced.rules_for(self.service.rules, [] if receipt else reasons,
                                 reasons if receipt else [])  # fmt: skip
        action = "reject_receipt" if receipt else "reject"
        screen = RejectScreen(
            request_id,
            rules,
            reasons=dict(reasons),
            title=(
                f"Reject the returned package of {safe(request_id)} (the marketplace's reasons)"
                if receipt
                else f"Reject request {safe(request_id)} (the marketplace's reasons)"
            ),
            check=d.check_receipt_reject_input if receipt else d.check_reject_input,
            note_required=receipt,
        )

        def done(result: tuple[str, str] | None) -> None:
            if result is not None:
                self.act(action, [request_id], reason=result[0], note=result[1])

        return lambda: self.app.push_screen(screen, done)
