"""Evaluation tables, gathered for ``db/all_tables.py`` (which imports each domain's ``tables`` module)."""

from xinyidai.evaluation.model_tables import EvaluationModelVersion, EvaluationPush, EvaluationSubscription
from xinyidai.evaluation.runs_tables import EvaluationCurrent, EvaluationRun, EvaluationWatermark

__all__ = [
    "EvaluationCurrent",
    "EvaluationModelVersion",
    "EvaluationPush",
    "EvaluationRun",
    "EvaluationSubscription",
    "EvaluationWatermark",
]
