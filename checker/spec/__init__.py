"""Spec files and running a check: load a spec, search, judge the outcome against what was expected.

The top of the layering: imports every layer below; nothing but the CLI imports this.
"""

from .load import Spec, SpecError, load_spec, spec_for_model
from .run import CheckResult, check, combine_exit_codes

__all__ = ["CheckResult", "Spec", "SpecError", "check", "combine_exit_codes", "load_spec", "spec_for_model"]
