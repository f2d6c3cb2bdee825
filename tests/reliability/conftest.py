"""The portal world of the web unit tests (real app, migrated SQLite, seeded lifecycle)."""

from tests.unit.portal_web.conftest import portal_db_url, world  # noqa: F401
