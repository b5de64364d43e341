"""Running a stack operation: owns the scheduler, its steps, runs, journal, lifecycle and
definitions; the package itself imports nothing and touches nothing.

One operation's way through it: the facade records the start (`lifecycle.start_operation`,
`prepare_rows`) and caches the stack's `definitions.Definition`, then hands the stack id to the
`scheduler.Scheduler`. The scheduler's one thread loads a `run.Run` (phases over the resources,
ordered by `graph.Readiness`), asks its `steps.Steps` to act on each resource whose turn comes,
records every transition through the `journal.Journal` (Event rows from `events`), and ends the
operation through `lifecycle` (a failed create or update may turn into a rollback). Nested
stacks are stacks of their own, reached by handlers through `nested.ChildStacks`.

This package's `__init__` imports nothing: `graph` is pure and the template package uses it.
"""
