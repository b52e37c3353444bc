"""Hyper-parameter search over any recipe with Optuna: one objective (best trial, with pruning) or several
(Pareto front), shared by worker processes and machines through one study storage."""

from .run import SearchConfig, run_search, search

__all__ = ["SearchConfig", "run_search", "search"]
