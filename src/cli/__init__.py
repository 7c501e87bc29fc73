"""The ``custsat`` command line: thin Typer commands, one module per command group.

Nothing outside ``custsat.cli`` imports it. Each command parses its options, calls one
library function and prints the result; errors caused by inputs, models or settings are
shown as one line (``custsat --debug …`` shows the traceback).
"""

from custsat.cli.app import app, main

__all__ = ["app", "main"]
