"""The errors people see. Each carries one plain sentence; none of them is a crash."""

from __future__ import annotations

from returns_tui import labels


class ReturnsError(Exception):
    """Base of every error that is shown to a person as one sentence."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class Refused(ReturnsError):
    """An action that breaks a rule: nothing changed."""


class NotFound(Refused):
    """No such request, or not one the actor may see (the two are told apart by nobody)."""


class Forbidden(Refused):
    """The actor's role or shops do not allow the action."""


class Conflict(Refused):
    """Someone else changed the request first; the message says who and what it is now."""


class NotAUser(ReturnsError):
    """The login is not in the users table."""


class StoreError(ReturnsError):
    """The database cannot be reached, read or written (wrong URL, server down, disk full)."""


class SchemaError(StoreError):
    """The database's schema is missing, older (run init) or newer than this program."""


class WrongStatus(Refused):
    """The request is not in a status that allows the action. The services add who moved it
    there, so that the loser of a race learns who won."""

    def __init__(self, request_id: str, verb: str, status: str, by: str = "") -> None:
        tail = f" ({by})" if by else ""
        super().__init__(
            f"{request_id} cannot be {labels.kind(verb)}: it is {labels.status(status)}{tail}."
        )
        self.request_id, self.verb, self.status = request_id, verb, status
