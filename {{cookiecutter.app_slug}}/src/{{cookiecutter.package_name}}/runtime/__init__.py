"""The runtime: the processes around the engine.

Worker, CLI, run client, settings, logs, health probes and metrics. Change it
to add a setting or a command; it holds no extraction logic.
"""
