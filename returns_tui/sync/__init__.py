"""The sync with the marketplace: plain values (values.py), the database side (ledger.py).

The HTTP side (the rounds, the mapping, webhooks) lives beside these and never writes SQL;
the ledger never does HTTP.
"""
