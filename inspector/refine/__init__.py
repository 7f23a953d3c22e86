"""Training-set refinement: SROC (seed 001) and its baselines."""
from inspector.refine.sroc import (
    METHODS,
    RefinementRanking,
    cross_validation_refinement,
    random_refinement,
    refine,
    refinement_prf,
    sroc,
    stoc_refinement,
)

__all__ = [
    "METHODS",
    "RefinementRanking",
    "cross_validation_refinement",
    "random_refinement",
    "refine",
    "refinement_prf",
    "sroc",
    "stoc_refinement",
]
