"""The engine: planning, activities, workflows, checkpoints, the sink and heartbeats.

It is the same for every source and carries the guarantees (idempotent,
resumable, deterministic output). Change it only to change how every
extraction behaves; source-specific code belongs in ``..sources``.
"""
