"""The store package: owns the database (models, sessions, migrations), the key file and
secrets at rest; importing it connects to nothing (a Store connects once built).

SQLAlchemy models, sessions, migrations, change notification and secrets at rest.
"""

from engine.store.db import Store

__all__ = ["Store"]
