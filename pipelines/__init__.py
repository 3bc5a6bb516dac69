"""The entry points: Dagster definitions, jobs, sensors, schedules and resources, and the
`rollcall` command line (pipelines.cli). Nothing below imports them."""
