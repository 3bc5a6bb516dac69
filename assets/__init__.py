"""The Dagster assets and their checks, thin: each parses its resources, calls one function of its
room and reports counts (never a child's data) as metadata."""
import lazy_loader

# The names other packages may import, each loaded from its module when first used.
__getattr__, __dir__, __all__ = lazy_loader.attach(__name__, submod_attrs={
    "cme_list": ["cme_flags"],
    "cnis_register": ["children_not_in_school"],
    "deliveries": ["provider_deliveries"],
    "digest": ["daily_digest"],
    "intake": ["provider_partitions", "raw_extracts", "validate_extracts"],
    "linkage": ["children", "links", "standardised_records"],
    "oversight": ["retention", "unusual_access"],
})
