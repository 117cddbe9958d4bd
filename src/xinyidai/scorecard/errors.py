"""Scorecard errors: each has a stable code (the app turns them into problem+json)."""

from __future__ import annotations

from xinyidai.kernel.errors import InvalidInput


class ScorecardError(InvalidInput):
    """A scorecard cannot be fitted, loaded or applied with the given data or options."""

    code = "scorecard_error"
    title = "评分卡无法处理该请求"


class ScorecardInputError(ScorecardError):
    """The input table cannot be read, or lacks a column the card or the fit needs."""

    code = "scorecard_input"
    title = "评分卡输入数据无法读取或缺少必需的列"


class CardFormatError(ScorecardError):
    """A stored card is not a card this version can read."""

    code = "scorecard_format"
    title = "评分卡文件格式不受支持"
