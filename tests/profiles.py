"""Hypothesis profiles: `default` locally and in `make test`, `slow` (more examples) selected in CI with
HYPOTHESIS_PROFILE=slow. Tests that need a minimum number of examples ask for `examples(n)`: n by default,
SLOW_FACTOR x n under the slow profile."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "default")
SLOW_FACTOR = 4

settings.register_profile("default", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("slow", max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def examples(n: int) -> int:
    """How many examples a property test runs: `n` by default, more under the slow profile."""
    return n * SLOW_FACTOR if PROFILE == "slow" else n
