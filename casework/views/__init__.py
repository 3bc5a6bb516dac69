"""Pages. Thin: each checks the user's role and authorities, asks the register package, and
renders a GOV.UK page. A child, pair or case outside the user's authorities is a 404, never a
403, so a page never says whether it exists.

One module per area (`people`, `children`, `cases`, `cnis`, `review`, `oversight`), over `common`; the
URLs name the views through this package."""
from casework.views.cases import case, cme_cases, cme_csv, dfe_export, providers, timescales, unowned
from casework.views.children import child, child_break_glass, child_cluster, identifier_kind, search
from casework.views.cnis import cnis_csv, cnis_entry, cnis_register, dfe_return
from casework.views.oversight import alerts, audit_log
from casework.views.people import SignInView, home, users
from casework.views.review import record, review, review_pair

__all__ = ["SignInView", "alerts", "audit_log", "case", "child", "child_break_glass", "child_cluster", "cme_cases",
           "cme_csv", "cnis_csv", "cnis_entry", "cnis_register", "dfe_export", "dfe_return", "home", "identifier_kind",
           "providers", "record", "review", "review_pair", "search", "timescales", "unowned", "users"]
