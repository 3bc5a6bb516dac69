"""Children missing education: the rules (`cme.rules`, pure), the flags the list is made of, the
cases officers work, the watch on the list, the termly reports and the CME export, the digest."""
import lazy_loader

# The names other packages may import, each loaded from its module when first used.
__getattr__, __dir__, __all__ = lazy_loader.attach(__name__, submod_attrs={
    "missed_links": ["LikelyMissedLink", "likely_missed_links"],
    "cases": ["CHANGE_KINDS", "CaseConflict", "Closing", "FOUND_SOMEWHERE", "MAX_WORKING_DAYS", "NEXT_ACTIONS",
              "NOTE_KINDS", "OUTCOMES",
              "add_note", "assign_case", "birth_dates_and_sexes", "case_counts", "case_of", "cases_of_child", "closing_errors",
              "close_case", "default_due", "dfe_counts", "time_missing", "year_group",
              "age_on", "likely_missed_link_of", "open_cases", "set_next_action",
              "set_timescales", "timescales_of", "working_days_after"],
    "digest": ["authorities", "authority_digest"],
    "flags": ["BASIS", "compute_cme", "la_providers", "touch"],
    "reports": ["CME_PENDING", "ChildFacts", "NoCmeList", "facts_of_children",
                "write_private_csv", "cme_children", "cme_list_date", "export_cme", "export_register",
               "latest_cme_date", "mark_cme_pending"],
    "rules": ["REASONS", "ResidenceSettings", "compulsory_school_age_window", "deceased", "education_timeline",
              "learned_residence", "of_compulsory_school_age", "on_a_roll", "prepared_records", "residence_of",
              "roll_rows"],
    "watch": ["RELINK_STARTED", "authorities_without_current_roll", "compare_flag_counts", "compare_linked_share",
             "linked_share", "list_overdue", "mark_relinked", "relinked_since"],
    "worklist": ["Filters", "SORTS", "WorkItem", "cases_of", "choices", "cme_csv_rows", "days_at_least",
                 "in_school_order", "narrowed", "sort_asked", "sort_params", "work_list"],
})
