"""Event sinks (docs/webhooks.md): each top-level stack's `event_sinks` delivered its tree's
events in sequence order; `wire` (pure: bodies, signatures, backoff), `targets` (the `DELIVERERS`
registry), `records` (the store), `delivery` (the loop). The package imports nothing itself."""
