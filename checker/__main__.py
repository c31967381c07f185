"""`python -m checker` is the `faultcheck` command, and `entry` its console script.

The hash seed is fixed first (`checker.hashseed`: the interpreter re-executes itself with
PYTHONHASHSEED=0), while almost nothing is imported: `import checker` loads its public names on
first use, so the command line and everything under it is imported once, by the process that runs it.
"""

from .hashseed import fix_hash_seed


def entry() -> None:
    """The `faultcheck` command: with PYTHONHASHSEED=0, then `checker.cli.entry`."""
    fix_hash_seed()
    from .cli import entry as run

    run()


if __name__ == "__main__":
    entry()
