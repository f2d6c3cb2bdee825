"""Every model module, imported once so ``Base.metadata`` knows all tables (Alembic, tests).

Add a line here when a new ``storage/<area>.py`` defines models.
"""

from __future__ import annotations

import storage.documents
import storage.feed_health
import storage.identity
import storage.lifecycle
import storage.models
import storage.notifier
import storage.people
import storage.portal
import storage.receipts
import storage.stream_offsets  # noqa: F401
from storage.base import Base

__all__ = ["Base"]
