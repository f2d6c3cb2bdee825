"""The portal's own tables and its read-only queries, one module per thing: staff accounts
and their exports (``staff``), web sessions (``sessions``), sign-in throttles
(``throttles``), satisfaction surveys (``surveys``), and the queries over the other
areas' tables for the cabinet (``cabinet``) and the STC dashboard (``dashboard``).
Callers get plain values, never ORM rows."""
