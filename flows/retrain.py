"""Scheduled retraining: when the corpora on disk changed since the last ingest, rerun the pipeline; the promote stage
then serves the new model only if evaluation says it beats the one in production.

    python -m flows.retrain                 # what the nightly / weekly deployments of prefect.yaml run
    python -m flows.retrain --force         # retrain even when no corpus changed

DVC tracks the pipeline's code and params but not the user's corpus folders, which live outside the repository: the
ingest stage records a fingerprint of them (``metrics/ingest.json`` ``sources``, see
``emotionthinker.corpora.sources``), and this flow compares it with the corpora now. New or changed data forces the
ingest stage (``dvc repro --force --single-item ingest``); DVC then reruns what depends on what changed. The report
(a Prefect artifact and the return value) says what changed, what ran, and what promote decided and why.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact

from flows.pipeline import REPO, StageFailed, _dvc, apply_params, train_pipeline


@task
def data_changed(repo: Path = REPO) -> dict:
    """Whether the corpora differ from what the last ingest read (or no ingest ran yet)."""
    from emotionthinker.corpora.sources import sources_fingerprint
    from stages.ingest import load_config

    cfg = load_config(repo / "params.yaml", Path("data"))
    now = sources_fingerprint(cfg, repo)
    metrics = repo / "metrics" / "ingest.json"
    before = (json.loads(metrics.read_text()).get("sources") or {}) if metrics.exists() else {}
    return {"changed": now["sha1"] != before.get("sha1"), "files_now": now["files"],
            "files_before": before.get("files"), "first_run": not before}  # fmt: skip


@flow(name="retrain", log_prints=True)
def retrain(force: bool = False, profile: str | None = None, gpu_deployment: str | None = None,
            remote: str | None = None) -> dict:  # fmt: skip
    """Retrain on new or changed data, promote only a better model, and report."""
    logger = get_run_logger()
    if profile:
        apply_params(REPO / "params.yaml", profile)
    change = data_changed()
    report: dict = {"data": change, "ran": [], "promote": None}
    if not (change["changed"] or force):
        logger.info("the corpora did not change since the last ingest (%s); nothing to retrain", change["files_now"])
        report["decision"] = "no new data"
    else:
        logger.info("corpora changed (%s -> %s): retraining", change["files_before"], change["files_now"])
        code, lines = _dvc(["repro", "--force", "--single-item", "ingest"], REPO, logger)
        if code != 0:
            raise StageFailed("ingest failed:\n" + "\n".join(lines[-25:]))
        results = train_pipeline(gpu_deployment=gpu_deployment, remote=remote)
        report["ran"] = ["ingest"] + [r["stage"] for r in results if not r.get("skipped") and r["stage"] != "ingest"]
        promote = REPO / "metrics" / "promote.json"
        report["promote"] = json.loads(promote.read_text()) if promote.exists() else None
        report["decision"] = (report["promote"] or {}).get("decision", "not promoted")
    corpora = f"- corpora: {change['files_before']} -> {change['files_now']}"
    lines = [f"# Retraining: {report['decision']}", "", corpora]
    if report["ran"]:
        lines.append(f"- stages run: {', '.join(report['ran'])}")
    if report["promote"]:
        p = report["promote"]
        lines.append(f"- promote: {p['decision']}: {p['reason']} (served: {p.get('served') or 'nothing yet'})")
    create_markdown_artifact("\n".join(lines) + "\n", key="retrain-report", description="scheduled retraining")
    return report


def cli(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--force", action="store_true", help="retrain even when no corpus changed")
    ap.add_argument("--profile", default=None, help="configs/profiles/<name>.yaml to merge into params.yaml first")
    args = ap.parse_args(argv)
    state = retrain(force=args.force, profile=args.profile, return_state=True)
    if not state.is_completed():
        print(f"retrain {state.name}: {state.message}", file=sys.stderr)
        return 1
    print(json.dumps({k: v for k, v in state.result().items() if k != "promote"}, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(cli())
