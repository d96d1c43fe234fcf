"""Attribution scores of KAN nodes and edges, and pruning by score (returns new models)."""

from kanphys.pruning.prune import prune, prune_inputs, pruned_width
from kanphys.pruning.scores import Attribution, attribute, edge_scores, node_scores

__all__ = [
    "Attribution",
    "attribute",
    "edge_scores",
    "node_scores",
    "prune",
    "prune_inputs",
    "pruned_width",
]
