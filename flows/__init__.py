"""Prefect flows: orchestration only (order, retries, schedules, work pools); the work is in the DVC stages.

Prefect's anonymous usage reporting is switched off unless the environment says otherwise: the pipeline runs on
machines without internet access, where the report can only fail, and on a first run against a fresh local database
its write races the flow's own (``sqlite3.OperationalError: database is locked``).
"""

import os

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
