"""Unstructured (magnitude) pruning: :mod:`.criteria` turn weights into scores, :mod:`.schedule` says when and how
far to prune, :mod:`.targets` selects layers, :mod:`.masks` keeps pruned weights at zero; :mod:`.prune` and
:mod:`.sensitivity` are the stages (Han et al. 2015; Zhu & Gupta 2017)."""
