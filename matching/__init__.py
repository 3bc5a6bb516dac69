"""Record linkage for the register, a pure library: standardise, block, compare, score,
cluster. Its public surface is what is named here; the rest may change without notice."""
import lazy_loader

# Bumped whenever the matcher's behaviour changes (blocking, comparison, scoring, decisions,
# clustering): a register linked by another version is re-linked in full.
MATCHER_VERSION = "2026.12.08.2"

# The names other packages may import, each loaded from its module when first used.
__getattr__, __dir__, __all__ = lazy_loader.attach(__name__, submod_attrs={
    "block": ["block_cap", "block_keys", "key_columns"],
    "compare": ["COMPARISONS", "Comparison", "Level", "MISSING"],
    "link": ["CONFLICT_MARK", "LinkResult", "LinkSettings", "link_records"],
    "partitioned": ["in_process", "on_dask", "partitioned_pairs"],
    "score": ["Model", "model_from_json"],
    "standardisation": ["diminutives", "standardise"],
})
__all__ = [*__all__, "MATCHER_VERSION"]
