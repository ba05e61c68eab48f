"""The Insights figures (DESIGN §9) on a history made through `apply`, every figure checked
exactly, on SQLite and PostgreSQL; the same figures through `returns-tui report`.

The history (days from DAY0, a month back; the period is days 1 to 14, both included),
as id, shop, created, amount, reason, SKU: what happens.

R1  acme   d1 09:00  10.00 USD  damaged  A: refund; alice accepts d1 10:00 (1 h); a note d2
R2  acme   d1 12:00  20.00 USD  damaged  A: bob rejects d1 14:00 (2 h); appeal; sam for the
    buyer d2 09:00; shipped d3; received d4 09:00
R3  acme   d2 08:00  5.50 EUR  defective  B: refund, unanswered: auto-approved d4 08:00
R4  globex d2 09:00  1500 JPY  defective  B: refund, unanswered: auto-approved d4 09:00
R5  globex d3 00:00  30.00 EUR  wrong_item  C: olga rejects d3 04:00 (4 h); appeal; sam for
    the seller d4 10:00
R6  acme   d5 10:00  7.25 USD  changed_mind  A: alice accepts d5 16:00 (6 h); not shipped:
    expired d10 16:00
R7  acme   d6 00:00  99.99 USD  damaged  D: return, auto-approved d8 00:00; shipped d9
R8  globex d0 23:00  12.00 EUR  damaged  A: before the period; auto-approved d2 23:00
R9  acme   d14 20:00  3.00 USD  defective  B: bob accepts d15 01:00:01 (5 h 1 s), after it
R10 acme   d15 00:00  1.00 USD  damaged  A: the first moment after the period: not counted
R11 globex d7 00:00  8.00 EUR  wrong_item  C: cancelled by the buyer d7 01:00
R12 acme   d10 00:00  15.00 USD  damaged  A: refund; alice rejects d10 00:30 (30 min);
    appeal; sam for the buyer d10 12:00: completed
R13 acme   d13 12:00  2.00 USD  damaged  E: still pending
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest

from returns_tui import insights
from returns_tui.errors import Forbidden
from returns_tui.insights_report import as_json
from tests.test_apply import DAY0, apply_text, line

SINCE = DAY0.date() + dt.timedelta(days=1)
UNTIL = DAY0.date() + dt.timedelta(days=14)
PERIOD = insights.Period(SINCE, UNTIL)


def at(day: int, hours: int = 0, minutes: int = 0, seconds: int = 0) -> str:
    moment = DAY0.add(days=day, hours=hours, minutes=minutes, seconds=seconds)
    return moment.format("YYYY-MM-DDTHH:mm:ss") + "Z"


def week(day: int) -> str:
    return insights.iso_week(DAY0.date() + dt.timedelta(days=day))


def submit(when: str, rid: str, shop: str, kind: str, amount: str, currency: str, reason: str,
           sku: str) -> str:  # fmt: skip
    return line(
        when, "buyer", "submit", request_id=rid, order_id="O" + rid[1:], shop=shop, type=kind,
        buyer="Ana", product="Thing", sku=sku, quantity=1, amount=amount, currency=currency,
        reason=reason, note="",
    )  # fmt: skip


RR, REFUND = "return_and_refund", "refund"

HISTORY = [
    submit(at(0, 23), "R8", "globex", REFUND, "12.00", "EUR", "damaged", "A"),
    submit(at(1, 9), "R1", "acme", REFUND, "10.00", "USD", "damaged", "A"),
    line(at(1, 10), "alice", "accept", request_id="R1"),
    submit(at(1, 12), "R2", "acme", RR, "20.00", "USD", "damaged", "A"),
    line(at(1, 14), "bob", "reject", request_id="R2", reason="no_proof", note="no photo"),
    line(at(1, 15), "buyer", "appeal", request_id="R2"),
    line(at(2, 1), "alice", "note", request_id="R1", note="refunded"),
    submit(at(2, 8), "R3", "acme", REFUND, "5.50", "EUR", "defective", "B"),
    line(at(2, 9), "sam", "mediate", request_id="R2", decision="buyer", note="photo is clear"),
    submit(at(2, 9), "R4", "globex", REFUND, "1500", "JPY", "defective", "B"),
    submit(at(3, 0), "R5", "globex", RR, "30.00", "EUR", "wrong_item", "C"),
    line(at(3, 4), "olga", "reject", request_id="R5", reason="not_as_claimed", note="same"),
    line(at(3, 5), "buyer", "appeal", request_id="R5"),
    line(at(3, 10), "buyer", "ship", request_id="R2", tracking="1Z1"),
    line(at(4, 9), "alice", "receive", request_id="R2"),
    line(at(4, 10), "sam", "mediate", request_id="R5", decision="seller", note="as described"),
    submit(at(5, 10), "R6", "acme", RR, "7.25", "USD", "changed_mind", "A"),
    line(at(5, 16), "alice", "accept", request_id="R6"),
    submit(at(6, 0), "R7", "acme", RR, "99.99", "USD", "damaged", "D"),
    submit(at(7, 0), "R11", "globex", REFUND, "8.00", "EUR", "wrong_item", "C"),
    line(at(7, 1), "buyer", "cancel", request_id="R11"),
    line(at(9, 0), "buyer", "ship", request_id="R7", tracking="1Z7"),
    submit(at(10, 0), "R12", "acme", REFUND, "15.00", "USD", "damaged", "A"),
    line(at(10, 0, 30), "alice", "reject", request_id="R12", reason="no_proof", note="none"),
    line(at(10, 1), "buyer", "appeal", request_id="R12"),
    line(at(10, 12), "sam", "mediate", request_id="R12", decision="buyer", note="fine"),
    submit(at(13, 12), "R13", "acme", REFUND, "2.00", "USD", "damaged", "E"),
    submit(at(14, 20), "R9", "acme", REFUND, "3.00", "USD", "defective", "B"),
    submit(at(15, 0), "R10", "acme", REFUND, "1.00", "USD", "damaged", "A"),
    line(at(15, 1, 0, 1), "bob", "accept", request_id="R9"),
]

HOUR = 3600


def by_week(*events: tuple[int, int, str, str]) -> dict:
    """(day, count, currency, amount) events as the report's by_week object."""
    weeks: dict[str, dict] = {}
    for day, count, currency, amount in events:
        w = weeks.setdefault(week(day), {"count": 0, "amount": {}})
        w["count"] += count
        before = Decimal(w["amount"].get(currency, "0"))
        w["amount"][currency] = str(before + Decimal(amount))
    return {k: {"count": v["count"], "amount": dict(sorted(v["amount"].items()))}
            for k, v in sorted(weeks.items())}  # fmt: skip


def expected_all() -> dict:
    statuses = ("pending", "awaiting_buyer_ship", "buyer_shipped", "completed", "rejected",
                "cancelled", "in_mediation", "awaiting_buyer_response")  # fmt: skip
    spread = lambda n, median, p90: {"count": n, "median": median, "p90": p90}  # noqa: E731
    return {
        "period": {"since": SINCE.isoformat(), "until": UNTIL.isoformat()},
        "shops": None,
        "requests": 11,
        "by_status": dict(zip(statuses, (1, 0, 1, 6, 1, 2, 0, 0), strict=True)),
        "auto_approved": {
            "count": 4,
            "amount": {"EUR": "17.50", "JPY": "1500", "USD": "99.99"},
            "by_shop": {
                "acme": {"count": 2, "amount": {"EUR": "5.50", "USD": "99.99"}},
                "globex": {"count": 2, "amount": {"EUR": "12.00", "JPY": "1500"}},
            },
            "by_week": by_week(
                (2, 1, "EUR", "12.00"),
                (4, 1, "EUR", "5.50"),
                (4, 1, "JPY", "1500"),
                (8, 1, "USD", "99.99"),
            ),  # fmt: skip
        },
        "first_answer": {
            **spread(6, 3 * HOUR, 6 * HOUR),  # 0.5, 1, 2, 4, 5+, 6 h: (2 + 4) / 2 and 6
            "by_shop": {
                "acme": spread(5, 2 * HOUR, 6 * HOUR),
                "globex": spread(1, 4 * HOUR, 4 * HOUR),
            },
            "by_user": {
                "alice": spread(3, 1 * HOUR, 6 * HOUR),
                "bob": spread(2, 12600.5, 5 * HOUR + 1),  # (7200 + 18001) / 2
                "olga": spread(1, 4 * HOUR, 4 * HOUR),
            },
        },
        "reasons": {"damaged": 5, "defective": 3, "wrong_item": 2, "changed_mind": 1},
        "skus": [
            {"sku": "A", "requests": 4, "amount": {"USD": "52.25"}},
            {"sku": "B", "requests": 3, "amount": {"EUR": "5.50", "JPY": "1500", "USD": "3.00"}},
            {"sku": "C", "requests": 2, "amount": {"EUR": "38.00"}},
            {"sku": "D", "requests": 1, "amount": {"USD": "99.99"}},
            {"sku": "E", "requests": 1, "amount": {"USD": "2.00"}},
        ],
        "refunds": {
            "count": 6,
            "amount": {"EUR": "17.50", "JPY": "1500", "USD": "45.00"},
            "by_week": by_week(
                (1, 1, "USD", "10.00"),
                (2, 1, "EUR", "12.00"),
                (4, 1, "EUR", "5.50"),
                (4, 1, "JPY", "1500"),
                (4, 1, "USD", "20.00"),
                (10, 1, "USD", "15.00"),
            ),  # fmt: skip
        },
        "appeals": {"appealed": 3, "mediated_buyer": 2, "mediated_seller": 1},
    }


@pytest.fixture
def history(svc):
    verdicts = apply_text(svc, "\n".join(HISTORY) + "\n")
    assert all(v["ok"] for v in verdicts), [v for v in verdicts if not v["ok"]]
    return svc


def test_every_figure_of_a_known_history_for_an_admin(history):
    figures = insights.load(history, history.login("root-admin"), PERIOD)

    assert as_json(figures) == expected_all()
    # The days of the chart: every day of the period, the requests by their status now.
    days = {day: counts for day, counts in figures.by_day if counts}
    d = lambda n: DAY0.date() + dt.timedelta(days=n)  # noqa: E731
    assert len(figures.by_day) == 14 and figures.by_day[0][0] == SINCE
    assert days == {
        d(1): {"completed": 2}, d(2): {"completed": 2}, d(3): {"rejected": 1},
        d(5): {"cancelled": 1}, d(6): {"buyer_shipped": 1}, d(7): {"cancelled": 1},
        d(10): {"completed": 1}, d(13): {"pending": 1}, d(14): {"completed": 1},
    }  # fmt: skip
    assert figures.appeals.buyer_share == Decimal(2) / 3


def test_an_agent_sees_what_an_admin_sees(history):
    figures = insights.load(history, history.login("sam"), PERIOD)
    assert as_json(figures) == expected_all()


def test_an_operator_sees_their_shops_only(history):
    figures = as_json(insights.load(history, history.login("alice"), PERIOD))

    assert figures["shops"] == ["acme"]
    assert figures["requests"] == 8
    assert figures["auto_approved"]["count"] == 2
    assert figures["auto_approved"]["amount"] == {"EUR": "5.50", "USD": "99.99"}
    assert list(figures["auto_approved"]["by_shop"]) == ["acme"]
    assert figures["first_answer"]["count"] == 5
    assert figures["first_answer"]["by_user"]["bob"]["count"] == 2
    assert "olga" not in figures["first_answer"]["by_user"]
    assert figures["refunds"]["amount"] == {"EUR": "5.50", "USD": "45.00"}
    assert figures["appeals"] == {"appealed": 2, "mediated_buyer": 2, "mediated_seller": 0}
    assert figures["skus"][0] == {"sku": "A", "requests": 4, "amount": {"USD": "52.25"}}


def test_one_shop_and_a_shop_not_ones_own(history):
    olga = history.login("olga")
    globex = as_json(insights.load(history, history.login("sam"), PERIOD, "globex"))
    assert globex == as_json(insights.load(history, olga, PERIOD))
    assert globex["shops"] == ["globex"] and globex["requests"] == 3
    assert globex["auto_approved"]["amount"] == {"EUR": "12.00", "JPY": "1500"}

    with pytest.raises(Forbidden, match="alice is not an operator of shop globex"):
        insights.load(history, history.login("alice"), PERIOD, "globex")


def test_a_period_with_nothing_in_it(history):
    empty = insights.Period(DAY0.date() - dt.timedelta(days=9), DAY0.date() - dt.timedelta(days=3))
    figures = as_json(insights.load(history, history.login("root-admin"), empty))

    assert figures["requests"] == 0
    assert figures["auto_approved"] == {"count": 0, "amount": {}, "by_shop": {}, "by_week": {}}
    assert figures["first_answer"] == {
        "count": 0, "median": None, "p90": None, "by_shop": {}, "by_user": {}
    }  # fmt: skip
    assert figures["skus"] == [] and figures["reasons"] == {}


def test_the_spread_median_and_nearest_rank_p90():
    assert insights.spread([]) == insights.Spread(0, None, None)
    assert insights.spread([5]) == insights.Spread(1, Decimal(5), 5)
    assert insights.spread([4, 1]) == insights.Spread(2, Decimal("2.5"), 4)
    ten = insights.spread(list(range(10, 0, -1)))
    assert (ten.median_us, ten.p90_us) == (Decimal("5.5"), 9)
    eleven = insights.spread(list(range(1, 12)))
    assert (eleven.median_us, eleven.p90_us) == (Decimal(6), 10)


def test_the_period_of_the_report():
    today = dt.date(2026, 3, 15)
    assert insights.period_of(None, None, today) == insights.Period(dt.date(2026, 2, 14), today)
    assert insights.period_of(dt.date(2026, 3, 1), None, today).until == today
    assert insights.period_of(None, dt.date(2026, 1, 30), today).since == dt.date(2026, 1, 1)
    with pytest.raises(ValueError, match="is after --until"):
        insights.period_of(dt.date(2026, 3, 2), dt.date(2026, 3, 1), today)
    for bad in ("2026-3-1", "2026-02-30", "tomorrow", "٢٠٢٦-01-01", "0001-01-01"):
        with pytest.raises(ValueError):
            insights.parse_date(bad)


# ---------------------------------------------------------------------------------------------
# returns-tui report


@pytest.fixture
def report(history, db_url, monkeypatch, tmp_path, capsys):
    from returns_tui import cli

    monkeypatch.setenv("RETURNS_TUI_CONFIG", str(tmp_path / "no-config.toml"))

    def run(*args: str, user: str = "root-admin") -> tuple[int, str, str]:
        status = cli.main(["report", "--db", db_url, *args], login=user)
        out, err = capsys.readouterr()
        return status, out, err

    return run


def test_report_json_is_the_figures(report):
    status, out, err = report("--since", str(SINCE), "--until", str(UNTIL), "--format", "json")
    assert (status, err) == (0, "")
    assert json.loads(out) == expected_all()


def test_report_text_and_csv_say_the_same(report):
    period = ("--since", str(SINCE), "--until", str(UNTIL))
    status, text, _ = report(*period)
    assert status == 0
    assert "Approved by the clock (nobody answered in 48 h): 4 requests, " \
        "17.50 EUR, 1500 JPY, 99.99 USD" in text  # fmt: skip
    assert "Appeals: 3; mediation decided 2 for the buyer and 1 for the seller (67%" in text
    status, sheet, _ = report(*period, "--format", "csv", user="alice")
    rows = sheet.splitlines()
    assert status == 0 and rows[0] == "figure,by,key,detail,value"
    assert "requests,,,,8" in rows and "auto_approved,shop,acme,USD,99.99" in rows
    assert "first_answer,user,bob,median,12600.5" in rows


def test_report_refusals_are_one_line(report):
    status, out, err = report("--since", "2026-02-30")
    assert status == 2 and out == "" and err.startswith("returns-tui: ") and err.count("\n") == 1
    status, out, err = report("--since", str(UNTIL), "--until", str(SINCE))
    assert status == 2 and "is after --until" in err and err.count("\n") == 1
    status, out, err = report("--shop", "globex", user="alice")
    assert (status, out) == (1, "") and "not an operator of shop globex" in err
    status, out, err = report(user="nobody")
    assert status == 1 and "not a returns-tui user" in err


def test_a_partial_refund_the_buyer_agreed_to_counts_what_was_refunded(svc):
    """DESIGN §7: the refund of a request completed by `agree` is the offer, not the amount
    asked (store/insight_queries.refunds reads refund_cents)."""
    lines = [
        submit(at(1, 9), "R1", "acme", RR, "40.00", "USD", "damaged", "A"),
        line(at(1, 10), "alice", "offer", request_id="R1", amount="15.50"),
        line(at(1, 11), "buyer", "agree", request_id="R1"),
        submit(at(1, 12), "R2", "acme", REFUND, "10.00", "USD", "damaged", "A"),
        line(at(1, 13), "alice", "accept", request_id="R2"),
    ]
    verdicts = apply_text(svc, "\n".join(lines) + "\n")
    assert all(v["ok"] for v in verdicts), verdicts
    figures = as_json(insights.load(svc, svc.login("root-admin"), PERIOD))
    assert figures["refunds"]["count"] == 2
    assert figures["refunds"]["amount"] == {"USD": "25.50"}  # 15.50 agreed + 10.00 in full
