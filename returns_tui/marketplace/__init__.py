"""TikTok Shop's Return & Refund API: the request signature (signing), a signed client with
retries (client), the wire facts both share (protocol), and a simulator of the API (simulator)
that tests, benchmarks and the demo run in-process or as `python -m
returns_tui.marketplace.simulator`."""
