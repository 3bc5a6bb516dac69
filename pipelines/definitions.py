"""The Dagster definitions `dagster dev` loads: every asset and check, the register job, its
daily schedule, the alert sensors and resources from the environment."""
from __future__ import annotations

from dagster import AssetSelection, Definitions, ScheduleDefinition, define_asset_job

from assets.intake import raw_extracts, validate_extracts
from assets.register import cme_flags, links, register, standardised_records
from pipelines.alerts import check_failure_alert, run_failure_alert
from pipelines.resources import resources_from_env

ALL_ASSETS = [raw_extracts, validate_extracts, standardised_records, links, register, cme_flags]

register_job = define_asset_job("register_job", selection=AssetSelection.all(),
                                description="Collect, validate, link, register and find children missing education.")
daily = ScheduleDefinition(name="register_daily", job=register_job, cron_schedule="0 6 * * *",
                           execution_timezone="Europe/London")

defs = Definitions(assets=ALL_ASSETS, jobs=[register_job], schedules=[daily],
                   sensors=[run_failure_alert, check_failure_alert], resources=resources_from_env())
