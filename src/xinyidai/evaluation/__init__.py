"""Credit evaluation (信用评价): indicators over point-in-time snapshots, rule-based and scorecard models, batch runs."""

from xinyidai.evaluation.batch import PUSH_JOB, EngineUnknown, Models, RunSummary, load_models, read_current, run_evaluation
from xinyidai.evaluation.engine import compute_indicators, evidence
from xinyidai.evaluation.facts import EvaluationFacts
from xinyidai.evaluation.incremental import RefreshSummary, refresh, refresh_changed
from xinyidai.evaluation.indicators import INDICATOR_SET_VERSION, INDICATORS, IndicatorDef, IndicatorKind, indicator
from xinyidai.evaluation.kernel import EVALUATION_SCHEMA, score_batch
from xinyidai.evaluation.model import ModelFamily, ModelRole, ModelStatus
from xinyidai.evaluation.models import (
    ActiveModels,
    ModelVersion,
    active_models,
    approve_version,
    create_rules_draft,
    get_version,
    list_versions,
    set_role,
)
from xinyidai.evaluation.push import push_run, register_push_jobs
from xinyidai.evaluation.rules import (
    GRADES,
    Rule,
    RuleHit,
    RuleScores,
    RuleTable,
    RuleTableInvalid,
    default_rules,
    explain,
    score_rules,
)
from xinyidai.evaluation.service import distribution, get_evaluation
from xinyidai.evaluation.snapshot import Snapshot, write_snapshot
from xinyidai.evaluation.training import prepare_demo, train_scorecard

__all__ = [
    "EVALUATION_SCHEMA",
    "GRADES",
    "INDICATORS",
    "INDICATOR_SET_VERSION",
    "PUSH_JOB",
    "ActiveModels",
    "EngineUnknown",
    "EvaluationFacts",
    "IndicatorDef",
    "IndicatorKind",
    "ModelFamily",
    "ModelRole",
    "ModelStatus",
    "ModelVersion",
    "Models",
    "RefreshSummary",
    "Rule",
    "RuleHit",
    "RuleScores",
    "RuleTable",
    "RuleTableInvalid",
    "RunSummary",
    "Snapshot",
    "active_models",
    "approve_version",
    "compute_indicators",
    "create_rules_draft",
    "default_rules",
    "distribution",
    "evidence",
    "explain",
    "get_evaluation",
    "get_version",
    "indicator",
    "list_versions",
    "load_models",
    "prepare_demo",
    "push_run",
    "read_current",
    "refresh",
    "refresh_changed",
    "register_push_jobs",
    "run_evaluation",
    "score_batch",
    "score_rules",
    "set_role",
    "train_scorecard",
    "write_snapshot",
]
