"""The notifier's tables and repositories, one module per thing stored: Telegram links and
one-time link tokens (``links``), button menus (``menus``, opaque callback data),
conversation state (``conversations``), the delivery outbox (``deliveries``), the
status-event outbox (``events``), the portal inbox (``inbox``), sign-in codes
(``sign_in_codes``), the fleet-wide rate-limit slots (``rate_slots``) and the SMS stub
(``sms``).

Secrets are stored hashed (link tokens, button tokens, sign-in codes). Every time is UTC
(``columns.UtcDateTime`` makes SQLite's naive values aware again). Callers get frozen
dataclasses, never ORM rows. The rules (what a status means, when to retry) live in
``notifier``; this package only stores, claims atomically and answers queries.
"""
