"""Times and numbers at the edges (issue 11, item 2): every time a command line or an `apply`
line can give, over the whole ISO 8601 range (years 0001 to 9999, every offset from -23:59
to +23:59), and every numeric option (ints, huge ints, floats, inf, nan, negative numbers,
exponent notation, text). Nothing raises: each is a verdict, a result, or one line on
stderr with the exit status README gives (2 for a wrong command line).

Times are taken from 0001-01-02 to 9989-12-31 UTC (clock.EARLIEST, clock.LATEST): a day
inside datetime's range for a viewer's time zone, and room at the end for the longest window
the settings allow (clock.MAX_WINDOW). The commands run in this process through `cli.main`,
as test_authz_cli.py runs them, as the admin `boss`.
"""

from __future__ import annotations

import datetime as dt
import io
import itertools
import json
import os
import shutil
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pendulum
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from returns_tui import cli
from returns_tui import domain as d
from returns_tui.check import check
from returns_tui.clock import CLOCK_SLACK, EARLIEST, LATEST, MAX_WINDOW, parse_time, utc_now
from returns_tui.export import write_csv, write_jsonl
from returns_tui.roles import BUYER
from returns_tui.seed import MAX_COUNT, seed_requests
from returns_tui.services import Returns
from returns_tui.store.engine import open_engine, upgrade
from returns_tui.timefmt import iso_utc, local_text, utc_text
from tests.conftest import submission
from tests.support.cast import add_cast

UTC = dt.UTC
FIRST = dt.datetime(1, 1, 1)
LAST = dt.datetime(9999, 12, 31, 23, 59, 59, 999999)
NUMBERS = itertools.count()  # request ids, unique across hypothesis' runs of one test
SLOW = settings(
    max_examples=int(os.environ.get("LIMITS_EXAMPLES", 300)),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def text_of(naive: dt.datetime, minutes: int, zulu: bool) -> str:
    """ISO 8601 text of a wall time at an offset of `minutes` (Z when zero and `zulu`)."""
    if minutes == 0 and zulu:
        return naive.isoformat() + "Z"
    sign = "-" if minutes < 0 else "+"
    hours, mins = divmod(abs(minutes), 60)
    return f"{naive.isoformat()}{sign}{hours:02d}:{mins:02d}"


def utc_of(naive: dt.datetime, minutes: int) -> dt.datetime | None:
    """The UTC time of that text, or None when datetime cannot hold it."""
    try:
        return (naive - dt.timedelta(minutes=minutes)).replace(tzinfo=UTC)
    except OverflowError:
        return None


def taken(naive: dt.datetime, minutes: int) -> bool:
    utc = utc_of(naive, minutes)
    return utc is not None and EARLIEST <= utc <= LATEST


wall_times = st.datetimes(min_value=FIRST, max_value=LAST)
offsets = st.integers(-(24 * 60 - 1), 24 * 60 - 1)
# Now and then the last hours of the range, the first ones, and the edges of what is taken.
edges = st.sampled_from([FIRST, LAST, dt.datetime(1, 1, 2), dt.datetime(9989, 12, 31, 23, 59),
                         dt.datetime(9990, 1, 1), dt.datetime(1969, 12, 31, 23, 59, 59),
                         dt.datetime(1970, 1, 1)])  # fmt: skip
times = st.tuples(wall_times | edges, offsets | st.just(0), st.booleans())


# ---------------------------------------------------------------------------------------------
# clock.parse_time, and the arithmetic it leaves room for


@settings(max_examples=3000, deadline=None)
@given(times)
@example((dt.datetime(1, 1, 1), 60, False))  # the issue's: before the year 1 in UTC
@example((dt.datetime(9999, 12, 31, 23, 59, 59), -(23 * 60 + 59), False))  # after 9999
def test_a_time_is_taken_exactly_when_its_utc_form_is_in_the_range(case):
    naive, minutes, zulu = case
    text = text_of(naive, minutes, zulu)
    if taken(naive, minutes):
        at = parse_time(text)
        assert at == utc_of(naive, minutes) and at.tzinfo is not None
        return
    with pytest.raises(ValueError) as caught:
        parse_time(text)
    assert str(caught.value) == (
        f"{text!r} is outside the times returns-tui takes (from 0001-01-02 to 9989-12-31, UTC)."
    )


def test_an_offset_of_24_hours_is_one_sentence():
    with pytest.raises(ValueError, match="has an offset beyond 23:59 hours"):
        parse_time("2026-01-01T00:00:00+24:00")


@pytest.mark.parametrize("at", [EARLIEST, LATEST])
def test_every_window_from_the_edges_of_the_range_is_a_time_and_shows_in_any_zone(at):
    """The longest windows added to the first and the last time taken, as the domain and the
    store add them, and shown in the zones furthest from UTC."""
    end = at + pendulum.duration(seconds=MAX_WINDOW.total_seconds())
    for moment in (at, end):
        for zone in ("Pacific/Kiritimati", "Etc/GMT+12", "America/New_York"):
            assert local_text(moment, zone)
        assert iso_utc(moment) and utc_text(moment)


def test_requests_at_the_edges_of_the_range_live_their_whole_life(db_url):
    """Submitted at the first and the last time taken, under the longest windows the settings
    allow, then swept to the end of the range: every deadline is set, stored as 64-bit
    microseconds (on SQLite and PostgreSQL), exported and checked."""
    window = pendulum.duration(seconds=MAX_WINDOW.total_seconds())
    rules = d.Rules(respond_window=window, ship_window=window, receive_window=window,
                    after_rejection_window=window)  # fmt: skip
    engine = open_engine(db_url)
    upgrade(engine)
    svc = add_cast(Returns(engine, rules))
    alice = svc.login("alice")
    for n, start in enumerate((EARLIEST, LATEST - window * 3, LATEST)):
        svc.submit(BUYER, submission(f"A{n}", f"OA{n}"), start)
        svc.submit(BUYER, submission(f"B{n}", f"OB{n}", type="refund"), start)
        svc.reject(alice, f"B{n}", start, "no_proof")
    svc.accept(alice, "A1", LATEST - window * 3)
    svc.ship(BUYER, "A1", LATEST - window * 2 - pendulum.duration(hours=1), "1Z")
    svc.sweep(LATEST)
    admin = svc.login("root-admin")
    assert svc.get(admin, "A2").respond_by == LATEST + window
    assert svc.get(admin, "A0").status is d.Status.CANCELLED  # approved, never shipped
    assert svc.get(admin, "A1").status is d.Status.COMPLETED  # received by the clock
    out = io.StringIO()
    assert write_jsonl(svc.export(admin), out) == 6
    created = {
        json.loads(x)["id"]: json.loads(x)["created_at"] for x in out.getvalue().splitlines()
    }
    assert (created["A0"], created["A2"]) == ("0001-01-02T00:00:00Z", iso_utc(LATEST))
    assert write_csv(svc.export(admin), io.StringIO()) == 6
    assert check(engine, LATEST, rules=rules) == []
    engine.dispose()


# ---------------------------------------------------------------------------------------------
# Through the command: apply lines, and every option that takes a time


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("limits") / "template.db"
    engine = open_engine(f"sqlite:///{path}")
    upgrade(engine)
    svc = Returns(engine)
    svc.add_user("boss", "boss", "admin", (), utc_now().subtract(days=1))
    svc.add_user("boss", "sam", "agent", (), utc_now().subtract(days=1))
    engine.dispose()
    return path


@pytest.fixture
def db(template, tmp_path) -> str:
    path = tmp_path / "returns.db"
    shutil.copy(template, path)
    return f"sqlite:///{path}"


def run(url: str, *args: str, monkeypatch, who: str = "boss") -> tuple[int, str, str]:
    """`returns-tui --db URL ARGS` as `who`: (status, stdout, stderr)."""
    monkeypatch.setattr(cli, "login_name", lambda: who)
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        status = cli.main(["--db", url, *args])
    return status, out.getvalue(), err.getvalue()


def one_line(result: tuple[int, str, str], status: int, *words: str) -> None:
    got, out, err = result
    assert got == status, result
    assert out == "" and err.startswith("returns-tui: ") and err.count("\n") == 1, result
    assert "Traceback" not in err
    for word in words:
        assert word in err, (word, err)


def future(naive: dt.datetime, minutes: int) -> bool:
    return utc_of(naive, minutes) > utc_now() + CLOCK_SLACK


def submit_line(text: str, rid: str) -> str:
    return json.dumps({"at": text, "actor": "buyer", "action": "submit", "request_id": rid,
                       "order_id": "O" + rid, "shop": "acme", "type": "return_and_refund",
                       "buyer": "Ana", "product": "Mug", "sku": "M-1", "quantity": 1,
                       "amount": "9.99", "currency": "USD", "reason": "damaged"})  # fmt: skip


@SLOW
@given(case=times)
@example(case=(dt.datetime(1, 1, 1), 60, False))
@example(case=(dt.datetime(9999, 12, 31, 23, 59, 59), -(23 * 60 + 59), False))
@example(case=(dt.datetime(1, 1, 2), 0, True))
@example(case=(dt.datetime(1969, 7, 20, 20, 17, 40), -300, False))
def test_an_apply_line_at_any_time_gets_a_verdict_and_the_run_goes_on(
    db, tmp_path, monkeypatch, case
):
    naive, minutes, zulu = case
    text = text_of(naive, minutes, zulu)
    rid = f"T{next(NUMBERS)}"
    now = iso_utc(utc_now())
    stream = tmp_path / "lines.jsonl"
    stream.write_text(submit_line(text, rid) + "\n" + submit_line(now, rid + "-next") + "\n")

    status, out, err = run(db, "apply", str(stream), monkeypatch=monkeypatch)
    assert (status, err) == (0, ""), (status, err)
    first, second = (json.loads(line) for line in out.splitlines())
    if not taken(naive, minutes):
        assert first["error"].startswith("The field at: ") and "is outside the times" in first[
            "error"
        ]  # fmt: skip
    elif future(naive, minutes):
        assert "is in the future" in first["error"], first
    else:
        assert first == {"line": 1, "ok": True}
    assert second == {"line": 2, "ok": True}  # the line after it is applied


@SLOW
@given(case=times, option=st.sampled_from(["sweep --now", "check --now", "apply --until"]))
@example(case=(dt.datetime(1, 1, 1), 60, False), option="sweep --now")
@example(case=(dt.datetime(9999, 12, 31, 23, 59, 59), -1439, False), option="sweep --now")
@example(case=(dt.datetime(1, 1, 1), 60, False), option="check --now")
@example(case=(dt.datetime(1, 1, 1), 60, False), option="apply --until")
@example(case=(dt.datetime(9989, 12, 31, 23, 59), 0, True), option="check --now")
def test_every_time_option_takes_any_time_without_a_traceback(
    db, tmp_path, monkeypatch, case, option
):
    naive, minutes, zulu = case
    text = text_of(naive, minutes, zulu)
    command, flag = option.split()
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    args = [command, f"{flag}={text}"] + ([str(empty)] if command == "apply" else [])

    result = run(db, *args, monkeypatch=monkeypatch)
    status, out, err = result
    if not taken(naive, minutes):
        one_line(result, 2, f"argument {flag}: ", "is outside the times returns-tui takes")
    elif command != "check" and future(naive, minutes):
        one_line(result, 1, "is in the future")
    else:
        assert (status, err) == (0, ""), result
        if command == "sweep":
            assert out.startswith("Swept up to "), out
        elif command == "check":
            assert out.startswith("Checked the database as at "), out


# ---------------------------------------------------------------------------------------------
# Every numeric option


def numbers() -> st.SearchStrategy[str]:
    """Text an option may be given: whole numbers of any size and sign, floats with inf and
    nan, exponent notation, and text that is no number at all."""
    return st.one_of(
        st.integers(-(10**30), 10**30).map(str),
        st.integers(0, 10**9).map(str),
        st.floats(allow_nan=True, allow_infinity=True).map(repr),
        st.builds(lambda m, e: f"{m}e{e}", st.integers(-99, 99), st.integers(-400, 400)),
        st.sampled_from(["nan", "-nan", "inf", "-inf", "Infinity", "1e308", "1e309",
                         "99999999999999", "99999999999999999999999", "1_000", "٣", "+5",
                         " 5", "0x10", "-0", "0", "00", "", "1.5", "²", "9" * 5000]),
        st.text(max_size=12),
    )  # fmt: skip


@SLOW
@given(value=numbers())
@example(value="1e308")
@example(value="99999999999999")
@example(value="31622400")
@example(value="31622400.5")
def test_check_grace_takes_any_text(db, monkeypatch, value):
    result = run(db, "check", f"--grace={value}", monkeypatch=monkeypatch)
    status, out, err = result
    try:
        seconds = float(value)
    except ValueError:
        seconds = None
    if seconds is not None and 0 <= seconds <= 366 * 86400:
        assert (status, err) == (0, ""), result
        assert out.startswith("Checked the database as at "), out
    else:
        one_line(result, 2, "argument --grace: ", "is not a number of seconds from 0 to 31622400")


def test_a_grace_reaching_back_before_the_first_time_is_the_first_time(db, monkeypatch):
    status, out, err = run(db, "check", "--now", "0001-01-03T00:00:00Z", "--grace", "31622400",
                           monkeypatch=monkeypatch)  # fmt: skip
    assert (status, err) == (0, "")
    assert out == "Checked the database as at 0001-01-03T00:00:00Z: no violations.\n"


@SLOW
@given(value=numbers())
@example(value="99999999999999999999999")
@example(value=str(MAX_COUNT + 1))
@example(value="3")
def test_seed_count_takes_any_text(db, monkeypatch, value):
    try:
        args = cli._parser().parse_args(["seed", f"--count={value}"])
    except cli.UsageError as exc:
        assert "\n" not in exc.message
        one_line(run(db, "seed", f"--count={value}", monkeypatch=monkeypatch), 2, "--count")
        return
    assert value.isascii() and value.isdigit() and 0 <= args.count <= MAX_COUNT
    if args.count > 40:  # a real seed of millions is for the benchmark
        return
    status, out, err = run(db, "seed", f"--count={value}", monkeypatch=monkeypatch)
    assert (status, err, out) == (0, "", f"Added {args.count} synthetic requests (seed 0).\n")


def test_a_count_beyond_the_limit_is_one_sentence_and_seeds_nothing(db, monkeypatch):
    result = run(db, "seed", "--count", "99999999999999999999999", monkeypatch=monkeypatch)
    one_line(result, 2, "argument --count: one seed adds at most 10 000 000 requests")
    engine = open_engine(db)
    with pytest.raises(ValueError, match="from 0 to 10000000"):
        seed_requests(engine, MAX_COUNT + 1)
    assert Returns(engine).counts(Returns(engine).login("boss"))[d.Tab.ALL] == 0
    engine.dispose()


@SLOW
@given(value=numbers())
@example(value="99999999999999999999999")
@example(value="-7")
def test_seed_seed_takes_any_text(db, monkeypatch, value):
    result = run(db, "seed", "--count=1", f"--seed={value}", monkeypatch=monkeypatch)
    try:
        number = int(value)
    except ValueError:
        one_line(result, 2, "argument --seed: ")
        return
    assert result == (0, f"Added 1 synthetic requests (seed {number}).\n", "")
