"""Cluster operations: submit a run as a Ray job, schedule runs on cron, launch a scheduled run."""
