"""Temporary: moved to `shared.problems.catalogue` (removed once every importer is updated)."""

from shared.problems.catalogue import CATALOGUE, ProblemCode, ProblemSpec

__all__ = ["CATALOGUE", "ProblemCode", "ProblemSpec"]
