"""The Dagster definitions `dagster dev` loads: every asset and check, the intake job (one
partition per provider) and the relink job, the daily schedule, the sensors that start runs
and raise alerts, and resources from the environment."""
from dagster import AssetSelection, DefaultScheduleStatus, Definitions, ScheduleDefinition, define_asset_job

from assets import (
                   children,
                   children_not_in_school,
                   cme_flags,
                   daily_digest,
                   links,
                   provider_deliveries,
                   raw_extracts,
                   retention,
                   standardised_records,
                   unusual_access,
                   validate_extracts,
)
from pipelines.environment import configure_rooms
from pipelines.failure_alerts import check_failure_alert, run_failure_alert
from pipelines.resources import resources_from_env
from pipelines.sensors import cme_watch, inbox_sensor, relink_sensor, review_sensor
from register import owner_only_umask

configure_rooms()  # the rooms' settings, from the environment Dagster runs the code in
owner_only_umask()  # a run worker's compute logs and storage are its owner's only, like every file Rollcall writes

PIPELINE_ASSETS = [raw_extracts, validate_extracts, provider_deliveries, standardised_records, links, children,
                   cme_flags, children_not_in_school]
ALL_ASSETS = [*PIPELINE_ASSETS, unusual_access, retention, daily_digest]
INTAKE = AssetSelection.assets(raw_extracts, validate_extracts)
ACCESS = AssetSelection.assets(unusual_access)
RETENTION = AssetSelection.assets(retention)
DIGEST = AssetSelection.assets(daily_digest)

# What `rollcall run` runs, in one run over every provider partition, under its own name.
pipeline_job = define_asset_job("pipeline_job", selection=AssetSelection.assets(*PIPELINE_ASSETS),
                                tags={"rollcall/stage": "relink"},
                                description="Everything `rollcall run` does: collect and validate every provider's "
                                            "extracts, check deliveries, link, and find CME.")
intake_job = define_asset_job("intake_job", selection=INTAKE,
                              description="Collect and validate one provider's new extracts.")
# Every schedule runs from the start, as the README says (relink_daily at 06:00): a schedule an
# operator must remember to switch on is a CME list that silently stops.
RUNNING = DefaultScheduleStatus.RUNNING
relink_job = define_asset_job("relink_job", selection=AssetSelection.all() - INTAKE - ACCESS - RETENTION - DIGEST,
                              tags={"rollcall/stage": "relink"},
                              description="Link the register's records and find children missing education.")
relink_daily = ScheduleDefinition(name="relink_daily", default_status=RUNNING, job=relink_job, cron_schedule="0 6 * * *",
                                  execution_timezone="Europe/London",
                                  description="Re-finds CME every morning: children change age even when no file "
                                              "arrives.")

access_job = define_asset_job("access_job", selection=ACCESS,
                              description="Read the audit log for unusual access and alert the privacy officers.")
access_hourly = ScheduleDefinition(name="access_hourly", default_status=RUNNING, job=access_job, cron_schedule="5 * * * *",
                                   execution_timezone="Europe/London",
                                   description="Unusual access is looked for every hour, and alerts not yet sent "
                                               "are sent again.")
retention_job = define_asset_job("retention_job", selection=RETENTION,
                                 description="Delete what has outlived its retention period, and report counts.")
retention_weekly = ScheduleDefinition(name="retention_weekly", default_status=RUNNING, job=retention_job,
                                      cron_schedule="0 2 * * 0",
                                      execution_timezone="Europe/London",
                                      description="Retention periods are applied every Sunday night.")

digest_job = define_asset_job("digest_job", selection=DIGEST,
                              description="Send each authority its daily digest.")
digest_daily = ScheduleDefinition(name="digest_daily", default_status=RUNNING, job=digest_job, cron_schedule="30 7 * * *",
                                  execution_timezone="Europe/London",
                                  description="Each authority's digest every morning, after the relink: a digest "
                                              "that does not come is itself an alarm.")

defs = Definitions(assets=ALL_ASSETS, jobs=[pipeline_job, intake_job, relink_job, access_job, retention_job, digest_job],
                   schedules=[relink_daily, access_hourly, retention_weekly, digest_daily],
                   sensors=[inbox_sensor, relink_sensor, review_sensor, cme_watch, run_failure_alert,
                            check_failure_alert],
                   resources=resources_from_env())
