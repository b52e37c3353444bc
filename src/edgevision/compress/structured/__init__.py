"""Structured pruning that removes channels: :mod:`.trace` records one forward pass, :mod:`.depgraph` groups the
channels that must go together, :mod:`.importance` scores them, :mod:`.layers` slices each layer kind, and
:mod:`.shrink` is the stage (Li et al. 2017; Fang et al. 2023, DepGraph)."""
