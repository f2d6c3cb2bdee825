"""Every model module, imported once so ``Base.metadata`` knows all tables (Alembic, tests).

Add a line here when a new ``storage/<area>.py`` (or ``storage/<area>/<part>.py``) defines
models.
"""

from __future__ import annotations

import storage.documents
import storage.feed_health
import storage.identity
import storage.lifecycle.stub_gateway
import storage.lifecycle.tables
import storage.models
import storage.notifier.conversations
import storage.notifier.deliveries
import storage.notifier.events
import storage.notifier.inbox
import storage.notifier.links
import storage.notifier.menus
import storage.notifier.rate_slots
import storage.notifier.sign_in_codes
import storage.notifier.sms
import storage.people
import storage.portal.sessions
import storage.portal.staff
import storage.portal.surveys
import storage.portal.throttles
import storage.receipts
import storage.stream_offsets  # noqa: F401
from storage.base import Base

__all__ = ["Base"]
