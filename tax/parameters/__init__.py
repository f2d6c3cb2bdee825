"""Law parameters: dated YAML files in this folder, loaded once into frozen objects.

``load_parameters()`` is the only place in ``tax/`` that reads a file: it reads the
packaged ``*.yaml`` files of this folder through ``importlib.resources`` on first call
(never at import time) and caches the result for the life of the process.
"""

from __future__ import annotations

import functools
from importlib import resources

from tax.parameters.model import (
    CONFIDENCE,
    Parameter,
    ParameterSet,
    ParameterValue,
    Reference,
    parse_parameter_files,
)

__all__ = [
    "CONFIDENCE",
    "Parameter",
    "ParameterSet",
    "ParameterValue",
    "Reference",
    "load_parameters",
    "packaged_parameter_files",
    "parse_parameter_files",
]


def packaged_parameter_files() -> dict[str, str]:
    """The text of every packaged parameter file, by file name."""
    folder = resources.files(__name__)
    return {
        entry.name: entry.read_text(encoding="utf-8")
        for entry in folder.iterdir()
        if entry.name.endswith(".yaml")
    }


@functools.cache
def load_parameters() -> ParameterSet:
    """The packaged parameter set, parsed on first use and cached."""
    return parse_parameter_files(packaged_parameter_files())
