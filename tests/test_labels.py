"""One label per status, request type, record kind and buyer's reason (returns_tui.labels)."""

from __future__ import annotations

import pytest

from returns_tui import domain as d
from returns_tui import labels
from returns_tui.seed import BUYER_REASONS


@pytest.mark.parametrize(
    ("enum", "table"),
    [(d.Status, labels.STATUS), (d.RequestType, labels.TYPE), (d.Kind, labels.KIND)],
)
def test_every_code_has_its_own_label(enum, table):
    assert set(table) == {member.value for member in enum}
    assert len(set(table.values())) == len(table)  # no two codes read the same


def test_the_words_issue_10_picked():
    assert labels.status(d.Status.AWAITING_BUYER_SHIP) == "awaiting shipment"
    assert labels.request_type(d.RequestType.RETURN_AND_REFUND) == "return and refund"
    assert labels.request_type("refund") == "refund only"
    assert labels.kind(d.Kind.AUTO_APPROVED) == "auto-approved"


def test_buyer_reasons_read_as_words_and_keep_the_codes_words():
    """Every reason the seed and the demo use has a label, which keeps the code's words (a
    search for the label finds the code's requests, and the other way round)."""
    assert set(BUYER_REASONS) <= set(labels.BUYER_REASON)
    for code, label in labels.BUYER_REASON.items():
        assert all(word in label.split() for word in code.split("_")), code
    assert labels.buyer_reason("damaged") == "arrived damaged"


@pytest.mark.parametrize(
    ("code", "label"),
    [("lost_in_transit", "lost in transit"), ("SIZE_TOO_SMALL", "SIZE TOO SMALL"), ("", "")],
)
def test_an_unknown_code_reads_as_its_words(code, label):
    assert labels.buyer_reason(code) == label
    assert labels.status(code) == label and labels.kind(code) == label
