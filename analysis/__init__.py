"""Transcript -> Analysis: rules, intents, sentiment, metrics, summary."""

from analysis.analyze import AnalysisModels, analyze, stage_version
from analysis.rules import RuleError, RuleSet, load_rules

__all__ = ["AnalysisModels", "RuleError", "RuleSet", "analyze", "load_rules", "stage_version"]
