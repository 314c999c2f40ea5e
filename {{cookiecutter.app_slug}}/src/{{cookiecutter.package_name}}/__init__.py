"""{{ (cookiecutter.app_name ~ ": " ~ cookiecutter.description) | wordwrap(100) }}

Three rooms, in the order a newcomer needs them:

- ``sources``: **your room.** What the source is, how it is planned into
  partitions and read page by page, and the record shapes. Change it freely.
- ``engine``: the reliability machinery every source shares: planning,
  activities, workflows, checkpoints, the sink and heartbeats. Leave it alone
  unless you are changing how every extraction behaves.
- ``runtime``: the process around the engine: worker, CLI, client, settings,
  logs, health and metrics. Change it to add settings or commands.
"""

__version__ = "0.1.0"
