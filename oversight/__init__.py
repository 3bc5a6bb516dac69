"""Who looked at which child, and who may see what: the audit log, the unusual-access rules and
their alerts, the shield over shielded children, reading the register for people at a screen
within their authorities, retention and subject access."""
import lazy_loader

# The names other packages may import, each loaded from its module when first used.
__getattr__, __dir__, __all__ = lazy_loader.attach(__name__, submod_attrs={
    "access_alerts": ["alerts_for", "handle_alert", "mark_delivered", "raise_access_alert", "undelivered"],
    "audit": ["checkpoint", "entries", "key_file", "load_public_key", "record", "verify"],
    "lookup": ["child_authorities", "child_page", "child_visible", "in_caseload", "pair_for_review",
              "record_candidates", "record_key_of", "review_queue", "search_children"],
    "retention": ["apply_retention", "subject_access_report"],
    "settings": ["Limits", "OversightSettings", "Periods", "configure_oversight", "oversight_settings"],
    "shield": ["current_shield_scope", "keep_shield_scope", "shield_scope"],
    "unusual": ["check_access", "raise_findings"],
})
