"""Facts, a stack tree's data bag (docs/facts.md): `keys` (the pure rules of keys, values,
prefixes and the keys a template reads), `store` (rows, indexes and tombstones in the caller's
session) and `reruns` (the thread that re-runs what reads a changed fact). Imports nothing here."""
