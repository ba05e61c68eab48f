"""The tables. Times are stored as integer microseconds since the epoch (UTC), so that they
compare and index the same on SQLite and PostgreSQL; money as integer hundredths."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.types import TypeDecorator

from returns_tui.timefmt import from_micros, to_micros


class UTCTime(TypeDecorator):
    """A pendulum DateTime in UTC, stored as BIGINT microseconds since the epoch."""

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return None if value is None else to_micros(value)

    def process_result_value(self, value, dialect):
        return None if value is None else from_micros(value)


metadata = MetaData()

requests = Table(
    "requests",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("order_id", String(64), nullable=False),
    Column("shop", String(64), nullable=False),
    Column("type", String(20), nullable=False),
    Column("buyer", Text, nullable=False),
    Column("product", Text, nullable=False),
    Column("sku", Text, nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("amount_cents", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("reason", Text, nullable=False),
    Column("buyer_note", Text, nullable=False),
    Column("created_at", UTCTime, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("status", String(24), nullable=False),
    # The tab the status belongs to, stored so that each tab is one index range.
    Column("tab", String(16), nullable=False),
    Column("arbitration", String(16)),
    Column("respond_by", UTCTime, nullable=False),
    Column("deadline_at", UTCTime),
    Column("rejected_at", UTCTime),
    Column("tracking", String(64)),
    Column("status_since", UTCTime, nullable=False),
    # Bumped by every record; equals the number of records. The compare-and-set key.
    Column("version", Integer, nullable=False),
    # The tamper-evident chain (store/chain.py): the MAC of the fixed fields, written at
    # submission and never again, and the head, the link of the last record. Nullable: rows
    # from before migration 0003 get theirs from it, and `check` reports a row without.
    Column("seal", LargeBinary),
    Column("chain", LargeBinary),
    # DESIGN §7 (migration 0006): the refund given or to come, the partial refund offered and
    # the buyer's deadline to answer it, whether the buyer kept the item, and the stage of the
    # latest rejection (request or receipt).
    Column("refund_cents", BigInteger),
    Column("offer_cents", BigInteger),
    Column("offer_by", UTCTime),
    Column("keep_item", Boolean, nullable=False, server_default=false()),
    Column("reject_stage", String(8)),
    # DESIGN §8 (migration 0007): where the request comes from (`local`, or `marketplace` for
    # one the sync brought in), the marketplace's raw status, and its limits on the seller's
    # decisions (NULL for a local request).
    Column("source", String(16), nullable=False, server_default="local"),
    Column("marketplace_status", String(64)),
    Column("can_keep_item", Boolean),
    Column("quick_refund", Boolean),
    # What a search looks in: the request's ids, shop, buyer, product, SKU and reason, folded
    # (store.search.search_text). Written with the request; indexed for search (migration 0004).
    Column("search_text", Text, nullable=False, server_default=""),
    # The request's first answer (DESIGN §9: its first `accepted`, `rejected` or `offered`
    # record, by a user or a rule, never the clock): when and by whom, written in the same
    # transaction as that record (store/writes.note_first_answers) and never changed after,
    # so that the Insights figures read it from an index instead of searching the records.
    # NULL while unanswered (migration 0010).
    Column("first_answer_at", UTCTime),
    Column("first_answer_by", String(64)),
    # Whether a later request on the same order exists (writes.LATER_ON_ORDER: by attempt,
    # creation time and id), kept by store/writes.mark_later in the transaction that adds a
    # request to the order, and checked by `check` (migration 0021). A rejection with one is
    # superseded: its buyer's window to ask again or appeal is closed.
    Column("has_later", Boolean, nullable=False, server_default=false()),
    # The deadline indexes hold the money: "due within"'s totals read no row (migration 0019),
    # and whether a later request superseded a rejection: "due within" reads Closed's open
    # windows from them alone (0021).
    Index(
        "ix_requests_tab_deadline",
        "tab", "deadline_at", "id", "currency", "amount_cents", "has_later",
    ),  # fmt: skip
    Index("ix_requests_tab_created", "tab", "created_at", "id"),
    Index("ix_requests_deadline", "deadline_at", "id"),
    Index("ix_requests_created", "created_at", "id"),
    # "Due within" on a page newest first, its deadline read from the index (migration 0011).
    Index("ix_requests_created_due", "created_at", "id", "deadline_at"),
    Index(
        "ix_requests_shop_tab_deadline",
        "shop", "tab", "deadline_at", "id", "currency", "amount_cents", "has_later",
    ),  # fmt: skip
    Index("ix_requests_shop_tab_created", "shop", "tab", "created_at", "id"),
    # "Longest waiting first": a tab's range in that order, for every shop or the viewer's
    # (migration 0023).
    Index("ix_requests_tab_waiting", "tab", "status_since", "id"),
    Index("ix_requests_shop_tab_waiting", "shop", "tab", "status_since", "id"),
    Index("ix_requests_order", "order_id"),
    Index("ix_requests_tracking", "tracking"),
    # The money at stake in a tab, per currency, summed from the index alone (queries.totals).
    Index("ix_requests_tab_money", "tab", "currency", "shop", "amount_cents"),
    # A currency or an amount range across every shop: a range per currency (migration 0014).
    Index("ix_requests_amount", "currency", "amount_cents", "tab", "shop"),
    # The Insights figures of a period, from the index alone (migration 0005).
    Index(
        "ix_requests_insight",
        "created_at", "shop", "status", "reason", "currency", "amount_cents", "sku",
    ),  # fmt: skip
    # The console's filters: every column a filter asks about, counted without the table
    # (migration 0009, queries.Filter.filters_index).
    Index(
        "ix_requests_filters",
        "tab", "shop", "type", "reason", "currency", "amount_cents", "deadline_at",
        "created_at", "id",
    ),  # fmt: skip
    # On PostgreSQL only (migration 0009): ix_requests_by_reason and ix_requests_by_type,
    # the counts of a reason or a type as one range; and (migrations 0004, 0020)
    # ix_requests_search_trgm, a GIN index of search_text's trigrams and the filters' type,
    # currency, reason and shop.
    # The buyer's history, from the index alone (migration 0009, queries.buyer_history).
    Index(
        "ix_requests_buyer",
        "buyer", "shop", "created_at", "order_id", "rejected_at", "arbitration",
    ),  # fmt: skip
)
# The exact times to the first answer within one stretch of time, whenever the requests were
# created (returns_tui.insights reads only those where a median or p90 falls; migration 0010).
Index(
    "ix_requests_answer_after",
    requests.c.first_answer_at - requests.c.created_at,
    requests.c.created_at,
    requests.c.shop,
    requests.c.first_answer_by,
)

records = Table(
    "records",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("request_id", String(64), ForeignKey("requests.id"), nullable=False),
    # The request's version after this record: unique per request, so no record is doubled.
    Column("seq", Integer, nullable=False),
    Column("at", UTCTime, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("from_status", String(24)),
    Column("to_status", String(24), nullable=False),
    Column("details", Text),
    # HMAC over this record and the link of the one before (store/chain.py).
    Column("chain", LargeBinary),
    UniqueConstraint("request_id", "seq", name="uq_records_request_seq"),
    # One range per kind and period for the Insights figures (migration 0005).
    Index("ix_records_kind_at", "kind", "at", "to_status", "request_id"),
)

# Who handled which request (store/handled.py, migration 0012), kept by triggers: a row for
# each person with a record on the request, with its tab, shop and time, for "handled by me".
handled = Table(
    "handled",
    metadata,
    Column("request_id", String(64), primary_key=True),
    Column("actor", String(64), primary_key=True),
    Column("tab", String(16), nullable=False),
    Column("shop", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),  # the request's, in microseconds
    Column("currency", String(3), nullable=False, server_default=""),  # the request's
    Column("amount_cents", BigInteger, nullable=False, server_default="0"),  # the request's
    # A person's requests of a tab (and shop) are one range, their ids and money in the index.
    Index("ix_handled_actor", "actor", "tab", "shop", "request_id", "currency", "amount_cents"),
    # And all of them newest first: the page of All.
    Index("ix_handled_created", "actor", "created_at", "request_id"),
    sqlite_with_rowid=False,
)

# The requests per tab, shop, type, reason and currency (store/tab_counts.py, migration 0013),
# kept by triggers on requests: the tab counts of those filters, summed from a few rows.
tab_counts = Table(
    "tab_counts",
    metadata,
    Column("tab", String(16), primary_key=True),
    Column("shop", String(64), primary_key=True),
    Column("type", String(20), primary_key=True),
    Column("reason", Text, primary_key=True),
    Column("currency", String(3), primary_key=True),
    Column("requests", BigInteger, nullable=False),
    Column("amount_cents", BigInteger, nullable=False, server_default="0"),  # their sum
    sqlite_with_rowid=False,
)

# One row per order: the compare-and-set key for the actions whose rules look at the whole
# order (submit, appeal), so that two of them cannot both pass on stale reads.
orders = Table(
    "orders",
    metadata,
    Column("order_id", String(64), primary_key=True),
    Column("shop", String(64), nullable=False),
    Column("version", Integer, nullable=False),
)

users = Table(
    "users",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("created_at", UTCTime, nullable=False),
)

user_shops = Table(
    "user_shops",
    metadata,
    Column("name", String(64), ForeignKey("users.name", ondelete="CASCADE"), primary_key=True),
    Column("shop", String(64), primary_key=True),
)

# Idempotency keys of `apply`: the verdict is stored in the same transaction as the effect.
applied_keys = Table(
    "applied_keys",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("verdict", Text, nullable=False),
    Column("at", UTCTime, nullable=False),
    # SHA-256 (hex) of the keyed line without its key: the key is bound to that content.
    # NULL for keys stored before migration 0003 (see services._check_key).
    Column("digest", String(64)),
)

# The fingerprint of the key the records are chained with (store/chain.py): one row, id 1.
chain_key = Table(
    "chain_key",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("fingerprint", String(64), nullable=False),
)


# ---------------------------------------------------------------------------------------------
# The marketplace sync (DESIGN §8, migration 0007). Times of these tables are plain BIGINT
# microseconds too (UTCTime).

# Per shop, the last update_time (Unix seconds) brought in: advanced in the same transaction.
sync_cursors = Table(
    "sync_cursors",
    metadata,
    Column("shop", String(64), primary_key=True),
    Column("cursor", BigInteger, nullable=False),
)

# Decisions on synced requests waiting to be sent, written in the operator's transaction.
# `action` and `fields` are what the operator decided, to write their record once the
# marketplace confirms; `body` is the API's JSON body for `verb` (approve or reject).
sync_outbox = Table(
    "sync_outbox",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("shop", String(64), nullable=False),
    Column("request_id", String(64), ForeignKey("requests.id"), nullable=False),
    Column("verb", String(8), nullable=False),
    Column("body", Text, nullable=False),
    Column("idempotency_key", String(64), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("action", String(16), nullable=False),
    Column("fields", Text, nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("created_at", UTCTime, nullable=False),
    UniqueConstraint("idempotency_key", name="uq_sync_outbox_key"),
    UniqueConstraint("request_id", name="uq_sync_outbox_request"),
    Index("ix_sync_outbox_shop", "shop", "id"),
)

# The reject reasons the marketplace offers for a request at a stage (request or receipt),
# in its order.
sync_reject_reasons = Table(
    "sync_reject_reasons",
    metadata,
    Column("request_id", String(64), ForeignKey("requests.id"), primary_key=True),
    Column("stage", String(8), primary_key=True),
    Column("position", Integer, primary_key=True, autoincrement=False),
    Column("name", String(200), nullable=False),
    Column("text", Text, nullable=False),
)

# The marketplace records already stored as records, by their hash (sync/ledger.py).
sync_record_keys = Table(
    "sync_record_keys",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("request_id", String(64), nullable=False),
)

# Webhook notification ids seen (tts_notification_id), so that a repeat fetches nothing.
sync_notifications = Table(
    "sync_notifications",
    metadata,
    Column("id", String(200), primary_key=True),
    Column("at", UTCTime, nullable=False),
)

# One sync per shop at a time.
sync_locks = Table(
    "sync_locks",
    metadata,
    Column("shop", String(64), primary_key=True),
    Column("holder", String(200), nullable=False),
    Column("taken_at", UTCTime, nullable=False),
)

# Automation rules (DESIGN §10, migration 0008): an operator's rule that accepts a request as
# it arrives. No foreign key to users: a removed owner's rule stays and does nothing.
rules = Table(
    "rules",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("owner", String(64), nullable=False),
    Column("name", String(64), nullable=False),
    Column("conditions", Text, nullable=False),  # JSON: automation.Conditions
    Column("keep_item", Boolean, nullable=False, server_default=false()),
    Column("created_at", UTCTime, nullable=False),
    Column("disabled", Boolean, nullable=False, server_default=false()),
    Column("disabled_by", String(64)),
    UniqueConstraint("owner", "name", name="uq_rules_owner_name"),
)

# The daily rollups of the Insights figures (store/insight_rollups.py, migration 0010), kept
# by triggers on requests and records in the transaction of each new row. `day` is the UTC
# day since the epoch: of the request's creation, or of the record.
insight_status = Table(
    "insight_status",
    metadata,
    Column("day", BigInteger, primary_key=True),
    Column("shop", String(64), primary_key=True),
    Column("status", String(24), primary_key=True),
    Column("requests", BigInteger, nullable=False),
)

insight_reasons = Table(
    "insight_reasons",
    metadata,
    Column("day", BigInteger, primary_key=True),
    Column("shop", String(64), primary_key=True),
    Column("reason", Text, primary_key=True),
    Column("requests", BigInteger, nullable=False),
)

insight_skus = Table(
    "insight_skus",
    metadata,
    Column("day", BigInteger, primary_key=True),
    Column("shop", String(64), primary_key=True),
    Column("sku", Text, primary_key=True),
    Column("currency", String(3), primary_key=True),
    Column("requests", BigInteger, nullable=False),
    Column("amount", BigInteger, nullable=False),
)

insight_sku_totals = Table(  # insight_skus of every shop at once
    "insight_sku_totals",
    metadata,
    Column("day", BigInteger, primary_key=True),
    Column("sku", Text, primary_key=True),
    Column("currency", String(3), primary_key=True),
    Column("requests", BigInteger, nullable=False),
    Column("amount", BigInteger, nullable=False),
)

insight_events = Table(
    "insight_events",
    metadata,
    Column("day", BigInteger, primary_key=True),
    Column("shop", String(64), primary_key=True),
    Column("currency", String(3), primary_key=True),
    Column("kind", String(16), primary_key=True),
    Column("to_status", String(24), primary_key=True),
    Column("records", BigInteger, nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("refund", BigInteger, nullable=False),
)

insight_answers = Table(
    "insight_answers",
    metadata,
    Column("day", BigInteger, primary_key=True),
    Column("shop", String(64), primary_key=True),
    Column("answered_by", String(64), primary_key=True),
    Column("bucket", BigInteger, primary_key=True),  # quarter hours to the first answer
    Column("requests", BigInteger, nullable=False),
)
