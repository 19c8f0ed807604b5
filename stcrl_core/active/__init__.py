"""Which buildings to label next, shared by the Label page, ``stcrl suggest`` and the
budget engine's simulation: :mod:`~stcrl_core.active.strategies` (random,
uncertainty, diversity, hybrid, cold start) and :mod:`~stcrl_core.active.validation`
(the stratified sample behind a trustworthy estimate).

The strategies work on arrays (features, the current model's probabilities,
who is labelled); they import no model and no workspace.
"""
