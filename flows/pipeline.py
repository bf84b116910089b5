"""The training pipeline as a Prefect flow: one task per DVC stage, in dvc.yaml order; DVC decides what to skip.

    python -m flows.pipeline                          # the embedded default, Prefect's local mode (no server)
    python -m flows.pipeline --profile micro          # a profile of configs/profiles/ merged into params.yaml
    python -m flows.pipeline --set grpo.max_steps=20 --set sft.prosody.epochs=2
    prefect deploy --all                              # the deployments of prefect.yaml (see README)

Each task runs ``dvc repro --single-item <stage>`` in the repository and streams its output to the Prefect log, so
progress shows while a stage runs; a stage whose code, params and inputs did not change is skipped by DVC. After
each stage a Markdown artifact records its key figures, and at the end the leaderboard. A failed stage fails the flow
with the stage's own error; a failed validation stops it with the validation summary (the failed expectations and
sample rows). The tasks that touch the outside world (ingest reads the corpora, an LLM writer calls its endpoint,
promote writes the BentoML store) are retried.

GPU stages (sft, policy_samples, reward_model, grpo@*) run in this flow unless ``gpu_deployment`` names a deployment of
``flows.pipeline:gpu_stage`` (prefect.yaml's ``gpu-stage``, on the ``gpu`` work pool): then each is sent there and the
outputs travel through the DVC remote (the GPU worker pulls its inputs and pushes its outputs; this flow pulls them).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact

REPO = Path(__file__).resolve().parents[1]
GPU_STAGES = ("sft", "policy_samples", "reward_model", "grpo")
OUTSIDE_WORLD = {"ingest": 2, "annotate": 2, "promote": 2}  # stage -> retries


class StageFailed(RuntimeError):
    """A DVC stage exited with an error; the message carries the end of its output."""


# --------------------------------------------------------------------------------------------------------------------
# params: profiles and overrides, applied to params.yaml as `dvc exp run --set-param` would
# --------------------------------------------------------------------------------------------------------------------


def _merge(base, override):
    """Deep merge of mappings (``override`` wins; lists and scalars are replaced), preserving ruamel comments."""
    for key, value in override.items():
        if key in base and hasattr(base[key], "items") and hasattr(value, "items"):
            _merge(base[key], value)
        else:
            base[key] = value
    return base


def _parse_value(text: str):
    """A ``--set`` value as YAML would read it, and numbers PyYAML leaves as strings ("1e-6") as numbers."""
    import yaml

    value = yaml.safe_load(text)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def apply_params(params: Path, profile: str | None = None, overrides: Sequence[str] | dict | None = None) -> dict:
    """Merge ``configs/profiles/<profile>.yaml`` and ``key.sub=value`` overrides into ``params``, keeping its comments;
    returns what was set. DVC sees the edited params.yaml exactly as after ``dvc exp run --set-param``."""
    from ruamel.yaml import YAML

    yaml = YAML()
    yaml.preserve_quotes = True
    doc = yaml.load(params.read_text())
    applied: dict = {}
    if profile:
        path = REPO / "configs" / "profiles" / f"{profile}.yaml"
        if not path.exists():
            known = sorted(p.stem for p in (REPO / "configs" / "profiles").glob("*.yaml"))
            raise ValueError(f"profile '{profile}': no {path.relative_to(REPO)}; known profiles: {', '.join(known)}")
        changes = YAML(typ="safe").load(path.read_text()) or {}
        _merge(doc, changes)
        applied["profile"] = profile
    items = overrides.items() if isinstance(overrides, dict) else (o.split("=", 1) for o in overrides or ())
    for key, value in items:
        value = _parse_value(value) if isinstance(value, str) else value
        node = doc
        parts = key.split(".")
        for part in parts[:-1]:
            if part not in node or not hasattr(node[part], "items"):
                raise ValueError(f"--set {key}: params.yaml has no section '{part}' on that path")
            node = node[part]
        node[parts[-1]] = value
        applied[key] = value
    if applied:
        with params.open("w") as f:
            yaml.dump(doc, f)
    return applied


# --------------------------------------------------------------------------------------------------------------------
# stages
# --------------------------------------------------------------------------------------------------------------------


def stage_names(repo: Path = REPO) -> list[str]:
    """The stages of dvc.yaml in file order (foreach stages expanded, e.g. grpo@grpo_ptr)."""
    out = subprocess.run(["dvc", "stage", "list", "--name-only"], cwd=repo, capture_output=True, text=True)
    if out.returncode != 0:
        raise StageFailed(f"dvc stage list failed in {repo}: {out.stderr.strip()}")
    return [line.strip() for line in out.stdout.splitlines() if line.strip()]


def _dvc(args: list[str], repo: Path, logger) -> tuple[int, list[str]]:
    """Run dvc, streaming its output to the log; returns (exit status, output lines)."""
    proc = subprocess.Popen(["dvc", *args], cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            bufsize=1)  # fmt: skip
    lines = []
    for raw in proc.stdout:
        for line in raw.replace("\r", "\n").splitlines():
            if line.strip():
                lines.append(line)
                if "it/s]" not in line and "s/it]" not in line or len(lines) % 50 == 0:  # progress bars, thinned
                    logger.info("%s", line)
    return proc.wait(), lines


def validation_summary(repo: Path) -> str:
    """The validate stage's own summary of metrics/validation.json: totals, then each failure with sample rows."""
    from emotionthinker.validation.run import format_summary

    path = repo / "metrics" / "validation.json"
    if not path.exists():
        return "validation failed before writing metrics/validation.json; see the stage log"
    return "\n".join(format_summary(json.loads(path.read_text()), repo / "reports" / "validation" / "index.html"))


@task(task_run_name="{stage}")
def run_stage(stage: str, repo: Path = REPO) -> dict:
    """``dvc repro --single-item <stage>``: runs the stage when its code, params or inputs changed."""
    from emotionthinker.summary import stage_figures

    logger = get_run_logger()
    code, lines = _dvc(["repro", "--single-item", stage], repo, logger)
    if code != 0:
        if stage == "validate":
            raise StageFailed(validation_summary(repo))
        tail = "\n".join(lines[-25:])
        raise StageFailed(f"stage {stage} failed (dvc exit {code}); its last output:\n{tail}")
    skipped = any(f"Stage '{stage}' didn't change, skipping" in line for line in lines)
    figures = stage_figures(stage, repo / "metrics")
    if figures:
        key = "stage-" + stage.replace("@", "-").replace("_", "-")
        create_markdown_artifact(f"**{stage}**{' (unchanged, skipped)' if skipped else ''}: {figures}", key=key,
                                 description=f"key figures of the {stage} stage")  # fmt: skip
    return {"stage": stage, "skipped": skipped, "figures": figures}


@flow(name="gpu-stage", log_prints=True)
def gpu_stage(stage: str, remote: str | None = None) -> dict:
    """One GPU stage on a GPU worker: pull its inputs from the DVC remote, run it, push its outputs."""
    logger = get_run_logger()
    pull = ["pull", stage, "--with-deps"] + (["--remote", remote] if remote else [])
    code, _ = _dvc(pull, REPO, logger)
    if code != 0:
        logger.warning("dvc pull exited %s; running with what is here", code)
    result = run_stage(stage)
    push = ["push", stage] + (["--remote", remote] if remote else [])
    if _dvc(push, REPO, logger)[0] != 0:
        raise StageFailed(f"dvc push of {stage}'s outputs failed; the CPU flow could not read them")
    return result


@flow(name="train-pipeline", log_prints=True)
def train_pipeline(
    profile: str | None = None,
    overrides: dict[str, str] | None = None,
    stages: list[str] | None = None,
    gpu_deployment: str | None = None,
    remote: str | None = None,
) -> list[dict]:
    """Every stage of dvc.yaml in order (or ``stages``), after applying a params profile and overrides."""
    logger = get_run_logger()
    applied = apply_params(REPO / "params.yaml", profile, overrides)
    if applied:
        logger.info("params.yaml: %s", applied)
    results = []
    for stage in stages or stage_names():
        if gpu_deployment and stage.split("@")[0] in GPU_STAGES:
            from prefect.deployments import run_deployment

            run = run_deployment(gpu_deployment, parameters={"stage": stage, "remote": remote})
            if not run.state.is_completed():
                raise StageFailed(f"stage {stage} failed on the GPU pool ({run.state.name}): {run.state.message}")
            _dvc(["pull", stage] + (["--remote", remote] if remote else []), REPO, logger)
            results.append({"stage": stage, "skipped": False, "figures": None, "gpu": True})
            continue
        retries = OUTSIDE_WORLD.get(stage, 0)
        results.append(run_stage.with_options(retries=retries, retry_delay_seconds=10)(stage))
    board = REPO / "reports" / "leaderboard.md"
    if board.exists():
        create_markdown_artifact(board.read_text(), key="leaderboard", description="evaluate: the leaderboard")
    return results


def cli(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default=None, help="configs/profiles/<name>.yaml to merge into params.yaml")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="a params override, e.g. grpo.max_steps=20 (repeatable)")  # fmt: skip
    ap.add_argument("--stage", dest="stages", action="append", default=None, help="run only these stages")
    args = ap.parse_args(argv)
    try:
        overrides = dict(o.split("=", 1) for o in args.overrides)
    except ValueError:
        print(f"--set takes KEY=VALUE, got {args.overrides}", file=sys.stderr)
        return 2
    state = train_pipeline(profile=args.profile, overrides=overrides, stages=args.stages, return_state=True)
    if not state.is_completed():
        print(f"train-pipeline {state.name}: {state.message}", file=sys.stderr)
        return 1
    ran = [r["stage"] for r in state.result() if not r.get("skipped")]
    print(f"train-pipeline completed; ran {', '.join(ran) or 'nothing (all up to date)'}")
    return 0


if __name__ == "__main__":
    sys.exit(cli())
