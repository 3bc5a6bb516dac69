"""Record linkage for the register, a pure library: standardise, block, compare, score,
cluster. Its public surface is what is named here; the rest may change without notice."""
from matching.compare import COMPARISONS, MISSING, Comparison, Level
from matching.link import CONFLICT_MARK, LinkResult, LinkSettings, link_records
from matching.score import Model

__all__ = ["COMPARISONS", "CONFLICT_MARK", "MISSING", "Comparison", "Level", "LinkResult", "LinkSettings", "Model",
           "link_records"]
