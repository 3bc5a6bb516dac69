"""Children not in school: the register every authority keeps under ss.436B-G of the Education
Act 1996 (the Children's Wellbeing and Schools Act 2026): who is on it (`cnis.membership`,
pure), the entries kept from run to run and their s.436C(1) items (`cnis.entries`), the duties
on them as case work (`cnis.duties`), the DfE's termly return (`cnis.dfe_return`) and the
export, and its settings (`cnis.settings`)."""
import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(__name__, submod_attrs={
    "settings": ["CnisSettings", "CnisSettingsError", "cnis_settings", "configure_cnis"],
    "membership": ["BASES", "END_REASONS", "OFF_ROLL", "register_members"],
    "entries": ["EntryItem", "NoRegister", "StaleEntry", "cme_children_off_register", "details_of", "entries_of",
                "entry_detail", "export_cnis", "export_columns", "export_rows",
                "lived_here_under_a_year", "previous_school_type", "register_as_of", "register_counts", "save_extra_items",
                "update_register"],
    "duties": ["DutyRefused", "OUTCOMES", "STEPS", "ask_parents", "ask_provider", "failures_on_record",
               "next_provider_request", "provider_key", "record_notice", "record_outcome", "steps_of"],
    "listing": ["SORTS", "RegisterFilters", "choices", "narrowed"],
    "dfe_return": ["COLUMNS", "authorities_on", "authority_return", "school_year_start", "write_returns"],
})
