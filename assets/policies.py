"""Policies every Rollcall asset shares: how fresh the register must be. No asset lives here."""
from datetime import timedelta

from dagster import FreshnessPolicy

# The register and the CME list are re-found every morning; a day and two hours without a
# successful run fails their freshness, an hour earlier warns.
DAILY = FreshnessPolicy.time_window(fail_window=timedelta(hours=26), warn_window=timedelta(hours=25))
