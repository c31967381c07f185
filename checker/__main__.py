"""`python -m checker` is the `faultcheck` command."""

from .cli import entry

entry()
