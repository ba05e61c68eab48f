"""What returns cost, and why (DESIGN §9): the figures of the Insights screen and of
`returns-tui report`, the same code for both.

`load` reads the aggregates (store/insight_queries.py) for a period of whole UTC days and the
shops the viewer may see, in one read transaction; `figures` makes them into `Insights`, a pure
function of those rows. Money stays integer minor units per currency; durations integer
microseconds until they are shown.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from returns_tui import domain as d
from returns_tui.domain import quoted
from returns_tui.errors import Forbidden
from returns_tui.roles import Actor
from returns_tui.store import insight_queries as iq
from returns_tui.store.engine import read
from returns_tui.store.schema import to_micros

DEFAULT_DAYS = 30
PERIODS = (7, 30, 90)  # the screen's choices, in days ending today
TOP_SKUS = 10
_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_EARLIEST = dt.date(1, 1, 2)
_LATEST = dt.date(9989, 12, 30)  # a day later still ends inside the store's times


# ---------------------------------------------------------------------------------------------
# The period


@dataclass(frozen=True)
class Period:
    """Whole UTC days, both ends included."""

    since: dt.date
    until: dt.date

    @classmethod
    def ending(cls, today: dt.date, days: int = DEFAULT_DAYS) -> Period:
        return cls(today - dt.timedelta(days=days - 1), today)

    @property
    def days(self) -> int:
        return (self.until - self.since).days + 1

    def day(self, index: int) -> dt.date:
        return self.since + dt.timedelta(days=index)

    def span(self, shops: frozenset[str] | None) -> iq.Span:
        start = dt.datetime.combine(self.since, dt.time(), dt.UTC)
        end = dt.datetime.combine(self.until + dt.timedelta(days=1), dt.time(), dt.UTC)
        return iq.Span(to_micros(start), to_micros(end), shops)


def parse_date(text: str) -> dt.date:
    """A DATE of the command line (YYYY-MM-DD), or ValueError with one sentence."""
    try:
        if not _DATE_RE.fullmatch(text):
            raise ValueError
        day = dt.date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{quoted(text, 40)} is not a date (YYYY-MM-DD).") from None
    if not _EARLIEST <= day <= _LATEST:
        raise ValueError(f"{text} is outside the dates returns-tui takes.")
    return day


def period_of(since: dt.date | None, until: dt.date | None, today: dt.date) -> Period:
    """The report's period: the 30 days ending today by default; --since alone runs to today,
    --until alone covers the 30 days ending then."""
    end = until or (today if since is None or since <= today else since)
    start = since or end - dt.timedelta(days=DEFAULT_DAYS - 1)
    if start > end:
        raise ValueError(f"--since {start} is after --until {end}; the period would be empty.")
    return Period(start, end)


def iso_week(day: dt.date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


# ---------------------------------------------------------------------------------------------
# The figures


@dataclass
class Tally:
    """A number of requests and their money, in minor units per currency."""

    count: int = 0
    amount: dict[str, int] = field(default_factory=dict)

    def add(self, count: int, currency: str, cents: int) -> None:
        self.count += count
        self.amount[currency] = self.amount.get(currency, 0) + cents


@dataclass(frozen=True)
class Spread:
    """Durations in microseconds: how many, the median (the mean of the two middle values
    for an even count) and the 90th percentile (nearest rank). None without any."""

    count: int
    median_us: Decimal | None
    p90_us: int | None


@dataclass(frozen=True)
class SkuFigure:
    sku: str
    requests: int
    amount: dict[str, int]


@dataclass(frozen=True)
class Appeals:
    appealed: int
    mediated_buyer: int
    mediated_seller: int

    @property
    def buyer_share(self) -> Decimal | None:
        """The share of the mediations decided for the buyer, 0 to 1."""
        decided = self.mediated_buyer + self.mediated_seller
        return None if not decided else Decimal(self.mediated_buyer) / decided


@dataclass(frozen=True)
class Insights:
    period: Period
    shops: tuple[str, ...] | None  # None: every shop
    shops_seen: tuple[str, ...]  # the shops with requests created in the period
    requests: int
    by_status: dict[str, int]
    by_day: list[tuple[dt.date, dict[str, int]]]  # every day of the period, statuses now
    auto_approved: Tally
    auto_by_shop: dict[str, Tally]
    auto_by_week: dict[str, Tally]
    first_answer: Spread
    answer_by_shop: dict[str, Spread]
    answer_by_user: dict[str, Spread]
    reasons: dict[str, int]  # most frequent first
    skus: list[SkuFigure]
    refunds: Tally
    refunds_by_week: dict[str, Tally]
    appeals: Appeals


@dataclass(frozen=True)
class Rows:
    """What the store returned, one list per aggregate (store/insight_queries.py)."""

    by_day: list[tuple[int, str, str, int]]
    reasons: list[tuple[str, int]]
    skus: list[tuple[str, str, int, int]]
    auto_approved: list[tuple[str, str, int, int, int]]
    answer_buckets: list[tuple[str, str, int, int]]  # (shop, user, bucket, requests)
    # The exact durations of the answers in the buckets where a median or p90 falls.
    answers: list[tuple[str, str, int]]  # (shop, user, microseconds)
    refunds: list[tuple[str, int, int, int]]
    appeals: list[tuple[str, str, int]]


def figures(period: Period, shops: frozenset[str] | None, rows: Rows) -> Insights:
    """The figures of DESIGN §9 from the aggregates' rows."""
    by_day = _by_day(period, rows.by_day)
    by_status = {s.value: 0 for s in d.Status}
    for _day, counts in by_day:
        for status, n in counts.items():
            by_status[status] = by_status.get(status, 0) + n
    auto, auto_shop, auto_week = _tallies(period, rows.auto_approved)
    refunds, _, refunds_week = _tallies(period, [("", *row) for row in rows.refunds])
    answers, by_shop, by_user = _answers(rows.answer_buckets, rows.answers)
    return Insights(
        period=period,
        shops=None if shops is None else tuple(sorted(shops)),
        shops_seen=tuple(sorted({shop for _, shop, _, _ in rows.by_day})),
        requests=sum(by_status.values()),
        by_status=by_status,
        by_day=by_day,
        auto_approved=auto,
        auto_by_shop=auto_shop,
        auto_by_week=auto_week,
        first_answer=answers,
        answer_by_shop=by_shop,
        answer_by_user=by_user,
        reasons=dict(_ranked(rows.reasons)),
        skus=_top_skus(rows.skus),
        refunds=refunds,
        refunds_by_week=refunds_week,
        appeals=_appeals(rows.appeals),
    )


def _by_day(period: Period, rows: Iterable[tuple[int, str, str, int]]) -> list:
    days: list[dict[str, int]] = [{} for _ in range(period.days)]
    for index, _shop, status, n in rows:
        days[int(index)][status] = days[int(index)].get(status, 0) + int(n)
    return [(period.day(i), counts) for i, counts in enumerate(days)]


def _tallies(period: Period, rows: Iterable[tuple[str, str, int, int, int]]):
    """(shop, currency, day, count, cents) rows as a total, per shop and per ISO week."""
    total, by_shop, by_week = Tally(), defaultdict(Tally), defaultdict(Tally)
    for shop, currency, index, count, cents in rows:
        count, cents = int(count), int(cents)
        total.add(count, currency, cents)
        by_shop[shop].add(count, currency, cents)
        by_week[iso_week(period.day(int(index)))].add(count, currency, cents)
    return _sorted_money(total), _sorted(by_shop), _sorted(by_week)


def _sorted_money(tally: Tally) -> Tally:
    return Tally(tally.count, dict(sorted(tally.amount.items())))


def _sorted(tallies: dict[str, Tally]) -> dict[str, Tally]:
    return {key: _sorted_money(tallies[key]) for key in sorted(tallies)}


def spread(durations: list[int]) -> Spread:
    """The count, median and nearest-rank 90th percentile of `durations`."""
    if not durations:
        return Spread(0, None, None)
    values = sorted(durations)
    n = len(values)
    middle = n // 2
    median = Decimal(values[middle]) if n % 2 else Decimal(values[middle - 1] + values[middle]) / 2
    rank = -(-9 * n // 10)  # ceil(0.9 n), in integers
    return Spread(n, median, values[rank - 1])


# ---------------------------------------------------------------------------------------------
# The time to the first answer, exactly, from the counts per quarter hour
#
# The rollup insight_answers counts the first answers of each group (every shop, one shop, one
# user) per bucket of BUCKET_US. A rank (the median's one or two, the p90's) then lies in a
# known bucket at a known place: only the answers of those buckets are read, and the value at
# that place among them, sorted, is the exact one, as spread() would find it among them all.

Group = tuple[str, str]  # ("", ""), ("shop", name) or ("user", name)
_ALL: Group = ("", "")


def _groups(shop: str, user: str) -> tuple[Group, Group, Group]:
    return _ALL, ("shop", shop), ("user", user)


def _ranks(n: int) -> tuple[int, ...]:
    """The 1-based ranks spread() reads among n sorted values: the median's, then the p90's."""
    middle = (n // 2, n // 2 + 1) if n % 2 == 0 else ((n + 1) // 2,)
    return (*middle, -(-9 * n // 10))


def _counts(buckets: Iterable[tuple[str, str, int, int]]) -> dict[Group, dict[int, int]]:
    counts: dict[Group, dict[int, int]] = defaultdict(dict)
    for shop, user, bucket, n in buckets:
        for group in _groups(shop, user):
            counts[group][int(bucket)] = counts[group].get(int(bucket), 0) + int(n)
    return counts


def _place(per_bucket: dict[int, int], rank: int) -> tuple[int, int]:
    """The bucket the rank-th smallest value lies in, and its 0-based place in that bucket."""
    below = 0
    for bucket in sorted(per_bucket):
        if rank <= below + per_bucket[bucket]:
            return bucket, rank - below - 1
        below += per_bucket[bucket]
    raise ValueError(f"rank {rank} beyond {below} values")


def answer_buckets_needed(buckets: Iterable[tuple[str, str, int, int]]) -> list[int]:
    """The buckets where some group's median or p90 falls: the ones whose answers are read."""
    needed = set()
    for per_bucket in _counts(buckets).values():
        n = sum(per_bucket.values())
        needed.update(_place(per_bucket, rank)[0] for rank in _ranks(n))
    return sorted(needed)


def _answers(buckets: list[tuple[str, str, int, int]], values: list[tuple[str, str, int]]):
    """The spreads of every answer, per shop and per user, from the counts per bucket and
    the exact values of the needed buckets (answer_buckets_needed)."""
    found: dict[tuple[Group, int], list[int]] = defaultdict(list)
    for shop, user, micros in values:
        for group in _groups(shop, user):
            found[group, int(micros) // iq.BUCKET_US].append(int(micros))
    for sample in found.values():
        sample.sort()
    counts = _counts(buckets)

    def spread_of(group: Group) -> Spread:
        per_bucket = counts.get(group)
        if not per_bucket:
            return Spread(0, None, None)
        n = sum(per_bucket.values())
        picked = [found[group, bucket][place] for bucket, place in
                  (_place(per_bucket, rank) for rank in _ranks(n))]  # fmt: skip
        median = Decimal(picked[0]) if n % 2 else Decimal(picked[0] + picked[1]) / 2
        return Spread(n, median, picked[-1])

    shops = sorted({key for kind, key in counts if kind == "shop"})
    users = sorted({key for kind, key in counts if kind == "user"})
    return (
        spread_of(_ALL),
        {shop: spread_of(("shop", shop)) for shop in shops},
        {user: spread_of(("user", user)) for user in users},
    )


def _ranked(counts: Iterable[tuple[str, int]]) -> list[tuple[str, int]]:
    """Most frequent first; ties by name, so the order never depends on the database."""
    return sorted(((k, int(n)) for k, n in counts), key=lambda kv: (-kv[1], kv[0]))


def _top_skus(rows: Iterable[tuple[str, str, int, int]]) -> list[SkuFigure]:
    requests: Counter[str] = Counter()
    money: dict[str, dict[str, int]] = defaultdict(dict)
    for sku, currency, n, cents in rows:
        requests[sku] += int(n)
        money[sku][currency] = money[sku].get(currency, 0) + int(cents)
    top = _ranked(requests.items())[:TOP_SKUS]
    return [SkuFigure(sku, n, dict(sorted(money[sku].items()))) for sku, n in top]


def _appeals(rows: Iterable[tuple[str, str, int]]) -> Appeals:
    appealed = buyer = seller = 0
    for kind, to_status, n in rows:
        if kind == d.Kind.APPEALED:
            appealed += int(n)
        elif to_status == d.Status.REJECTED:
            seller += int(n)
        else:
            buyer += int(n)
    return Appeals(appealed, buyer, seller)


# ---------------------------------------------------------------------------------------------
# Reading


def scope(actor: Actor, shop: str | None) -> frozenset[str] | None:
    """The shops the figures cover: the viewer's (None: every shop), or the one asked for,
    which must be one of theirs."""
    if shop is None:
        return actor.visible_shops()
    if not actor.sees(shop):
        raise Forbidden(f"{quoted(actor.name, 64)} is not an operator of shop {quoted(shop, 64)}.")
    return frozenset({shop})


def load(service, actor: Actor, period: Period, shop: str | None = None) -> Insights:
    """The figures `actor` may see, over `period`, for every shop they see or `shop`. The
    actor is looked up again in the same read, as the services do for every read (a user
    removed or moved to other shops meanwhile sees what they may see now)."""
    with read(service.engine) as conn:
        actor = service._current(conn, actor)
        shops = scope(actor, shop)
        span = period.span(shops)
        rows = Rows(
            by_day=iq.requests_by_day(conn, span),
            reasons=iq.reasons(conn, span),
            skus=iq.skus(conn, span),
            auto_approved=iq.auto_approved(conn, span),
            answer_buckets=(buckets := iq.answer_buckets(conn, span)),
            answers=_answers_needed(conn, span, buckets),
            refunds=iq.refunds(conn, span),
            appeals=iq.appeals(conn, span),
        )
    return figures(period, shops, rows)


def _answers_needed(conn, span: iq.Span, buckets: list[tuple[str, str, int, int]]) -> list:
    """The exact first answers of the buckets where a median or p90 falls, one range of
    runs of consecutive buckets each."""
    needed = answer_buckets_needed(buckets)
    runs: list[list[int]] = []
    for bucket in needed:
        if runs and runs[-1][1] == bucket:
            runs[-1][1] = bucket + 1
        else:
            runs.append([bucket, bucket + 1])
    values: list[tuple[str, str, int]] = []
    for low, high in runs:
        values += iq.answers_between(conn, span, low * iq.BUCKET_US, high * iq.BUCKET_US)
    return values
