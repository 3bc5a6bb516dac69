from django.contrib.auth import views as auth_views
from django.urls import path, register_converter

from casework import views


class RowNumber:
    """A case, pair or record number: digits that fit a database integer. A longer run of digits
    is no page (404), never a number the database cannot hold (500)."""
    regex = "[0-9]{1,18}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value) -> str:
        return str(int(value))


register_converter(RowNumber, "row")

urlpatterns = [
    path("", views.home, name="home"),
    path("sign-in", views.SignInView.as_view(), name="sign-in"),
    path("sign-out", auth_views.LogoutView.as_view(), name="sign-out"),
    path("children/<str:child_id>", views.child, name="child"),
    path("children/<str:child_id>/cluster", views.child_cluster, name="child-cluster"),
    path("children/<str:child_id>/break-glass", views.child_break_glass, name="child-break-glass"),
    path("cme", views.cme_cases, name="cme"),
    path("cme/dfe-counts.csv", views.dfe_export, name="dfe-export"),
    path("cme.csv", views.cme_csv, name="cme-csv"),
    path("unowned", views.unowned, name="unowned"),
    path("not-in-school", views.cnis_register, name="cnis"),
    path("not-in-school.csv", views.cnis_csv, name="cnis-csv"),
    path("not-in-school/dfe-return.csv", views.dfe_return, name="dfe-return"),
    path("not-in-school/<row:entry_id>", views.cnis_entry, name="cnis-entry"),
    path("timescales", views.timescales, name="timescales"),
    path("cases/<row:case_id>", views.case, name="case"),
    path("review", views.review, name="review"),
    path("search", views.search, name="search"),
    path("users", views.users, name="users"),
    path("review/<row:pair_id>", views.review_pair, name="review-pair"),
    path("records/<row:ref>", views.record, name="record"),
    path("audit", views.audit_log, name="audit"),
    path("alerts", views.alerts, name="alerts"),
    path("providers", views.providers, name="providers"),
]
