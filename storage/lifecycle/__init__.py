"""The return lifecycle in SQL: ``tables`` (returns, payments, disputes, the audit log, the
outbox, decisions, the gateway stub's ledger), ``repository`` (``LifecycleRepository``: the
one write path, ``apply``, on top of the queries in ``reads``) and ``stub_gateway``."""
