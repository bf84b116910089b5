"""Prefect flows: orchestration only (order, retries, schedules, work pools); the work is in the DVC stages.

Two Prefect settings get defaults here, unless the environment sets them:

* the local (ephemeral) API server may take 3 minutes to start instead of 20 s: its first start on a fresh
  PREFECT_HOME creates and migrates the database, which on 2 busy cores took longer than 20 s in 2 of 3 tries
  ("Timed out while attempting to connect to ephemeral Prefect API server");
* anonymous usage reporting is off: the pipeline runs on machines without internet access, where the report can
  only fail, and on a fresh database its write raced the flow's own (``sqlite3.OperationalError: database is
  locked``).
"""

import os

os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
