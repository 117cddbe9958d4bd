"""Synthetic source data: the files departments deliver, drawn from a model with a known ground truth."""

from xinyidai.demodata.generator import DEFAULT_AS_OF, FileSummary, GenerationSummary, generate
from xinyidai.demodata.model import ModelParameters

__all__ = ["DEFAULT_AS_OF", "FileSummary", "GenerationSummary", "ModelParameters", "generate"]
