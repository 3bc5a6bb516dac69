"""Record linkage for the register, a pure library: standardise, block, compare, score,
cluster. Its public surface is what is named here; the rest may change without notice."""
from matching.compare import COMPARISONS, MISSING, Comparison, Level
from matching.link import CONFLICT_MARK, LinkResult, LinkSettings, link_records
from matching.score import Model

# Bumped whenever the matcher's behaviour changes (blocking, comparison, scoring, decisions,
# clustering): a register linked by another version is re-linked in full.
MATCHER_VERSION = "2026.11.30.4"

__all__ = ["MATCHER_VERSION", "COMPARISONS", "CONFLICT_MARK", "MISSING", "Comparison", "Level", "LinkResult",
           "LinkSettings", "Model", "link_records"]
