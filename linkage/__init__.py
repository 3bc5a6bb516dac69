"""The register's side of linking: the current records, the link index, relinking (full and
incremental), stable child ids, the review queue and analysts' rulings, and each child's history.
The pure linkage library it drives is `matching`."""
import lazy_loader

# The names other packages may import, each loaded from its module when first used.
__getattr__, __dir__, __all__ = lazy_loader.attach(__name__, submod_attrs={
    "current": ["active_records", "refresh_active"],
    "histories": ["current_child_id", "current_children", "history"],
    "identity": ["children_with_two_nhs_numbers", "live_children"],
    "relinking": ["RELINKED_FROM", "link_register", "regroup_register"],
    "review": ["DecisionConflict", "ReasonRequired", "decide", "decision_history", "newest_ruling_change",
              "review_quality", "rule_records", "split_record", "undecided_pairs", "undo"],
})
