"""Benchmarks of the scheduling engine (pure, no Django): what the README's figures come from.

:mod:`.carbon` compares Pylon's carbon saving with simpler strategies on real UK traces;
:mod:`.engine_speed` times ``schedule_batch`` on a seeded synthetic problem. Production never
imports this package; the engine (``scheduling.engine``) holds only what production runs.
"""
