"""Statistical scorecards: monotonic optimal binning, WoE/IV, logistic regression, points, PD, reason codes.

A pure library (numpy, scipy, scikit-learn, polars, pyarrow and ``xinyidai.kernel`` only). Fit with
:func:`fit_scorecard`, score one dict with :meth:`Scorecard.score_one` or a batch with
:meth:`Scorecard.score_columns`, export with :meth:`Scorecard.to_sql`, validate with :func:`validate` and
render the report with :func:`render_validation_html`.
"""

from xinyidai.scorecard.card import Reason, Scorecard, ScoredRow, top_k_smallest
from xinyidai.scorecard.errors import CardFormatError, ScorecardError, ScorecardInputError
from xinyidai.scorecard.fit import FitOptions, FitResult, fit_scorecard
from xinyidai.scorecard.io import load_card, read_table, save_card
from xinyidai.scorecard.report import render_validation_html, render_validation_page
from xinyidai.scorecard.validate import ValidationReport, score_metrics, validate

__all__ = [
    "CardFormatError",
    "FitOptions",
    "FitResult",
    "Reason",
    "Scorecard",
    "ScorecardError",
    "ScorecardInputError",
    "ScoredRow",
    "ValidationReport",
    "fit_scorecard",
    "load_card",
    "read_table",
    "render_validation_html",
    "render_validation_page",
    "save_card",
    "score_metrics",
    "top_k_smallest",
    "validate",
]
