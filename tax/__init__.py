"""The pure tax engine: Uzbek personal income tax as dated, cited, traceable rules.

Nothing here performs I/O except ``load_parameters()``, which reads the packaged
parameter YAML files once (see ``tax.parameters``). Money is integer tiyin; rates are
``fractions.Fraction``.
"""

from tax.engine import compute_return, rules_version
from tax.errors import InvalidFact, MissingParameter, ParameterFileError, TaxError
from tax.facts import (
    DeductionFact,
    DividendFact,
    Facts,
    PayrollFact,
    PropertySaleFact,
    RentalFact,
    facts_from_records,
)
from tax.interest import late_payment_interest, late_refund_interest, refund_due_date
from tax.lines import LINE_CODES, LINE_SPECS, TaxLine
from tax.model import TaxReturn, Totals
from tax.parameters import ParameterSet, load_parameters, parse_parameter_files
from tax.records import RecordEvent, RegistryRecord, SourceRef, active_records
from tax.rounding import RoundingRule, round_tiyin
from tax.version import ENGINE_VERSION

__all__ = [
    "ENGINE_VERSION",
    "LINE_CODES",
    "LINE_SPECS",
    "DeductionFact",
    "DividendFact",
    "Facts",
    "InvalidFact",
    "MissingParameter",
    "ParameterFileError",
    "ParameterSet",
    "PayrollFact",
    "PropertySaleFact",
    "RecordEvent",
    "RegistryRecord",
    "RentalFact",
    "RoundingRule",
    "SourceRef",
    "TaxError",
    "TaxLine",
    "TaxReturn",
    "Totals",
    "active_records",
    "compute_return",
    "facts_from_records",
    "late_payment_interest",
    "late_refund_interest",
    "load_parameters",
    "parse_parameter_files",
    "refund_due_date",
    "round_tiyin",
    "rules_version",
]
