"""Faults on a schedule: which calls fail, how, and how many times.

    sim.faults.add(Fault("rate_limit", endpoint="approve", times=2, retry_after=1))
    sim.faults.add(Fault("drop", endpoint="approve", when="after"))  # done, answer lost

Kinds:
- `rate_limit`: HTTP 429, code 36009002, header `Retry-After: <retry_after>` (seconds; a
  fraction is allowed so tests stay fast).
- `internal`: HTTP 500, code 36009003 (retryable).
- `delay`: the answer waits `seconds` before the call is handled (a client timing out first
  still has its write applied when the wait ends, as a real slow server would).
- `drop`: the connection is closed without an answer, before the call is handled or, with
  `when="after"`, after it was (the write is done; only the answer is lost).

A fault matches calls to its `endpoint` (search, records, approve, reject, reject_reasons,
token_refresh, shops, webhooks; None = any), lets `skip` matching calls through first, then
hits the next `times` matching calls. Faults are checked in the order they were added.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["rate_limit", "internal", "delay", "drop"]
KINDS = ("rate_limit", "internal", "delay", "drop")
ENDPOINTS = ("search", "records", "approve", "reject", "reject_reasons", "token_refresh",
             "shops", "webhooks")


@dataclass
class Fault:
    kind: Kind
    endpoint: str | None = None
    times: int = 1
    skip: int = 0
    retry_after: float = 1.0
    seconds: float = 0.0
    when: Literal["before", "after"] = "before"
    hits: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"fault kind {self.kind!r} is not one of {', '.join(KINDS)}")
        if self.endpoint is not None and self.endpoint not in ENDPOINTS:
            raise ValueError(f"endpoint {self.endpoint!r} is not one of {', '.join(ENDPOINTS)}")
        if self.when not in ("before", "after") or self.times < 0 or self.skip < 0:
            raise ValueError("when is before or after; times and skip are not negative")


class FaultSchedule:
    def __init__(self) -> None:
        self.faults: list[Fault] = []
        self.fired: list[tuple[str, str]] = []  # (endpoint, kind), for tests to read

    def add(self, fault: Fault) -> Fault:
        self.faults.append(fault)
        return fault

    def clear(self) -> None:
        self.faults.clear()

    def take(self, endpoint: str) -> Fault | None:
        """The fault this call meets, if any (each matching fault counts the call)."""
        for fault in self.faults:
            if fault.endpoint not in (None, endpoint):
                continue
            seen = fault.hits
            fault.hits += 1
            if fault.skip <= seen < fault.skip + fault.times:
                self.fired.append((endpoint, fault.kind))
                return fault
        return None
