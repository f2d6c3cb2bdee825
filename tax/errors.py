"""Typed errors of the tax engine: a bad input is reported, never turned into a number."""

from __future__ import annotations


class TaxError(Exception):
    """Base class of every error the tax engine raises on purpose."""


class InvalidFact(TaxError):
    """A registry record's data cannot be used: names the record and the field."""

    def __init__(self, registry: str, record_id: str, field: str, reason: str) -> None:
        self.registry = registry
        self.record_id = record_id
        self.field = field
        self.reason = reason
        super().__init__(f"{registry} record {record_id!r}, field {field!r}: {reason}")


class MissingParameter(TaxError):
    """The law parameters hold no value for the name and date (or year) asked for."""

    def __init__(self, name: str, detail: str) -> None:
        self.name = name
        self.detail = detail
        super().__init__(f"parameter {name!r}: {detail}")


class ParameterFileError(TaxError):
    """A parameter YAML file is malformed (a packaging bug, caught by the tests)."""
