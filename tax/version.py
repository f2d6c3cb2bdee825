"""The engine version: part of every return's ``rules_version`` and reproducibility hash.

Bump it whenever a rule's arithmetic changes, so that a re-run with the same facts and
parameters can tell which engine produced a figure.
"""

ENGINE_VERSION = "1.0.0"
