"""The store: SQLAlchemy models, sessions, migrations, change notification and secrets at rest."""
from engine.store.db import Store

__all__ = ["Store"]
