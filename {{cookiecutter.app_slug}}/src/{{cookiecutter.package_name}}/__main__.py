"""Allow ``python -m <package>`` as an alias of the console script."""

from .runtime.cli import run

run()
