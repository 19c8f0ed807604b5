"""Evaluation of building features: damage metrics and label-budget learning curves."""
