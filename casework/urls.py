from django.contrib.auth import views as auth_views
from django.urls import path

from casework import views

urlpatterns = [
    path("", views.home, name="home"),
    path("sign-in", views.SignInView.as_view(), name="sign-in"),
    path("sign-out", auth_views.LogoutView.as_view(), name="sign-out"),
    path("children/<str:child_id>", views.child, name="child"),
    path("children/<str:child_id>/cluster", views.child_cluster, name="child-cluster"),
    path("children/<str:child_id>/break-glass", views.child_break_glass, name="child-break-glass"),
    path("cme", views.cme_cases, name="cme"),
    path("cme/dfe-counts.csv", views.dfe_export, name="dfe-export"),
    path("cases/<int:case_id>", views.case, name="case"),
    path("review", views.review, name="review"),
    path("search", views.search, name="search"),
    path("users", views.users, name="users"),
    path("review/<int:pair_id>", views.review_pair, name="review-pair"),
    path("records/<str:record_key>", views.record, name="record"),
    path("audit", views.audit_log, name="audit"),
    path("alerts", views.alerts, name="alerts"),
    path("providers", views.providers, name="providers"),
]
