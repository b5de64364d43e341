"""The hearth-agent package, no code of its own: its modules import only the standard library,
requests, PyYAML, watchdog and each other, never engine/ or metadata_server/.

hearth-agent fetches a server's deployments, runs them through hooks and delivers the signals
durably.
"""
