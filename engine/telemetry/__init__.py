"""Prometheus metrics of one replica (docs/operations.md, Metrics): `instruments` defines every metric
object the engine and the server move, `scrape` renders `/metrics` (the store's gauges read at scrape
time, cached); nothing here is read on a request path but the scrape's own.
"""
