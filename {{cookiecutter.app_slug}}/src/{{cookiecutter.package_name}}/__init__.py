"""{{ (cookiecutter.app_name ~ ": " ~ cookiecutter.description) | wordwrap(100) }}

The flow reads left to right in the module names:
``cli`` → ``workflows`` → ``activities`` (``source`` reads, ``sink`` writes,
``state`` checkpoints, ``heartbeat`` keeps them alive) hosted by ``worker``.
"""

__version__ = "0.1.0"
