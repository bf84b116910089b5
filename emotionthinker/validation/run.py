"""Run the suites with Great Expectations: the file context, one checkpoint per suite, Data Docs, a summary.

The GX file context (``gx/``) is set up idempotently: a pandas data source with one dataframe asset per suite,
suites, validation definitions and checkpoints updated in place (unchanged expectations keep their ids), and a
Data Docs site whose store is the report folder. Each run replaces the stored validation results and the report,
so the report shows this run only. :func:`summarise` turns the results into the metrics: per suite, the
expectations evaluated, passed and failed, and for each failure its check, severity and a few failing rows.
"""

from __future__ import annotations

import datetime
import json
import logging
import math
import os
import shutil
from pathlib import Path
from typing import Any

import great_expectations as gx
import numpy as np
from great_expectations.core.run_identifier import RunIdentifier
from great_expectations.data_context.types.base import ProgressBarsConfig
from great_expectations.exceptions import DataContextError

from emotionthinker.records import read_jsonl
from emotionthinker.validation.suites import RM_SPLITS, SPLITS, Inputs, Suite

log = logging.getLogger(__name__)

SITE = "validation_report"
DATASOURCE = "emotionthinker"
BATCH = "whole_frame"


def open_context(gx_dir: Path, report_dir: Path) -> Any:
    """The file context at ``gx_dir`` (created if missing), its Data Docs site writing into ``report_dir``."""
    gx_dir, report_dir = Path(gx_dir).resolve(), Path(report_dir).resolve()
    context = gx.get_context(mode="file", context_root_dir=str(gx_dir))
    changed = False
    bars = context.variables.progress_bars  # an object when set here, a dict when read from the YAML
    bars = bars if isinstance(bars, dict) else vars(bars) if bars is not None else {}
    if bars.get("globally", True) or bars.get("metric_calculations", True):
        context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
        changed = True
    site = {
        "class_name": "SiteBuilder",
        "show_how_to_buttons": False,
        # relative to gx/, so the committed config works in any checkout
        "store_backend": {
            "class_name": "TupleFilesystemStoreBackend",
            "base_directory": os.path.relpath(report_dir, gx_dir) + "/",
        },
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
    }
    sites = dict(context.variables.data_docs_sites or {})
    if sites != {SITE: site}:
        context.variables.data_docs_sites = {SITE: site}  # the default local_site would build a second copy
        changed = True
    if changed:
        context.variables.save()
        context = gx.get_context(mode="file", context_root_dir=str(gx_dir))  # rebuild the sites from the config
    return context


def _batch_definition(context: Any, name: str) -> Any:
    try:
        source = context.data_sources.get(DATASOURCE)
    except KeyError:
        source = context.data_sources.add_pandas(DATASOURCE)
    try:
        asset = source.get_asset(name)
    except LookupError:
        asset = source.add_dataframe_asset(name)
    try:
        return asset.get_batch_definition(BATCH)
    except KeyError:
        return asset.add_batch_definition_whole_dataframe(BATCH)


def _keep_ids(context: Any, suite: Any) -> Any:
    """Give unchanged expectations their stored ids, so that a rerun leaves the committed suites as they are
    (GX's own matching compares ids too, so every expectation would get a new one)."""
    try:
        stored = context.suites.get(suite.name)
    except DataContextError:  # not stored yet
        return suite

    def key(e: Any) -> str:
        config = e.configuration.to_json_dict()
        return json.dumps({k: v for k, v in config.items() if k not in ("id", "rendered_content")}, sort_keys=True)

    ids = {key(e): e.id for e in stored.expectations}
    for e in suite.expectations:
        e.id = ids.get(key(e))
    return suite


def _clear_results(context: Any, report_dir: Path) -> None:
    store = context.validation_results_store
    for key in store.list_keys():
        store.remove_key(key)
    if report_dir.exists():
        shutil.rmtree(report_dir)


def run_suites(suites: list[Suite], gx_dir: Path, report_dir: Path, sample_rows: int = 5) -> dict[str, Any]:
    """Validate every suite, build Data Docs into ``report_dir``; returns {suite name: validation result}."""
    report_dir = Path(report_dir)
    context = open_context(gx_dir, report_dir)
    _clear_results(context, report_dir)
    run_id = RunIdentifier(run_name="validate", run_time=datetime.datetime.now(datetime.timezone.utc))
    results: dict[str, Any] = {}
    for s in suites:
        suite = gx.ExpectationSuite(name=s.name, expectations=s.expectations, meta={"description": s.description})
        suite = context.suites.add_or_update(_keep_ids(context, suite))
        definition = context.validation_definitions.add_or_update(
            gx.ValidationDefinition(name=s.name, data=_batch_definition(context, s.name), suite=suite)
        )
        checkpoint = context.checkpoints.add_or_update(
            gx.Checkpoint(
                name=f"validate_{s.name}",
                validation_definitions=[definition],
                actions=[],
                result_format={"result_format": "SUMMARY", "partial_unexpected_count": sample_rows},
            )
        )
        outcome = checkpoint.run(batch_parameters={"dataframe": s.frame}, run_id=run_id)
        results[s.name] = next(iter(outcome.run_results.values()))
    context.build_data_docs(site_names=[SITE])
    return results


# ---------------------------------------------------------------------------------------------------- summary


def _plain(x: Any) -> Any:
    """JSON-safe copy of a GX result value (numpy scalars, tuples, NaN)."""
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, list | tuple | set):
        return [_plain(v) for v in x]
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if x is None or isinstance(x, str | int | float | bool):
        return x
    return str(x)


def _error(exception_info: Any) -> str | None:
    """The first exception message of a result (GX nests them per metric when a metric failed)."""
    if not isinstance(exception_info, dict):
        return None
    if exception_info.get("raised_exception"):
        return str(exception_info.get("exception_message"))
    for v in exception_info.values():
        if isinstance(v, dict) and v.get("raised_exception"):
            return str(v.get("exception_message"))
    return None


def _failure(er: Any, sample_rows: int) -> dict[str, Any]:
    cfg = er.expectation_config
    kwargs = {k: v for k, v in cfg.kwargs.items() if k in ("column", "column_A", "column_B", "column_list")}
    result = dict(er.result or {})
    out: dict[str, Any] = {
        "check": (cfg.meta or {}).get("check"),
        "severity": str(getattr(cfg.severity, "value", cfg.severity)),
        "expectation": cfg.type,
        **_plain(kwargs),
    }
    if "unexpected_count" in result:
        out["unexpected_count"] = int(result["unexpected_count"])
        out["element_count"] = int(result.get("element_count") or 0)
        out["examples"] = _plain(
            result.get("partial_unexpected_index_list") or result.get("partial_unexpected_list") or []
        )[:sample_rows]
    else:
        mismatched = (result.get("details") or {}).get("mismatched")
        if isinstance(mismatched, dict):  # a table's columns: name the missing ones, not the whole table
            observed = {"missing_columns": mismatched.get("missing") or []}
        else:
            observed = {k: result[k] for k in ("observed_value", "partial_missing_list") if result.get(k) is not None}
        out["examples"] = [_plain(observed)] if observed else []
    err = _error(er.exception_info)
    if err:
        out["error"] = err
    return out


def summarise(results: dict[str, Any], suites: list[Suite], sample_rows: int = 5) -> dict[str, Any]:
    """Metrics of a run: totals, and per suite the rows, expectations evaluated, passed and failed, with the
    failures (check, severity, expectation, column, unexpected count, a few failing rows)."""
    rows = {s.name: len(s.frame) for s in suites}
    out: dict[str, Any] = {
        "success": True,
        "evaluated": 0,
        "passed": 0,
        "failed": 0,
        "critical_failures": 0,
        "warning_failures": 0,
        "info_failures": 0,
        "suites": {},
        "checks": {},
    }
    for name, res in results.items():
        suite = {"rows": rows.get(name, 0), "evaluated": 0, "passed": 0, "failed": 0, "failures": []}
        for er in res.results:
            check = (er.expectation_config.meta or {}).get("check")
            severity = str(getattr(er.expectation_config.severity, "value", er.expectation_config.severity))
            suite["evaluated"] += 1
            entry = out["checks"].setdefault(check, {"severity": severity, "success": True})
            if er.success:
                suite["passed"] += 1
                continue
            suite["failed"] += 1
            entry["success"] = False
            suite["failures"].append(_failure(er, sample_rows))
            out[f"{severity}_failures"] = out.get(f"{severity}_failures", 0) + 1
        for k in ("evaluated", "passed", "failed"):
            out[k] += suite[k]
        out["suites"][name] = suite
    out["success"] = out["critical_failures"] == 0
    return out


def format_summary(metrics: dict[str, Any], report: Path | str | None = None, sample_rows: int = 3) -> list[str]:
    """Short console lines: the totals, then one line per failure (critical first) with a few failing rows."""
    head = (
        f"validation {'passed' if metrics['success'] else 'FAILED'}: {metrics['evaluated']} expectations, "
        f"{metrics['passed']} passed, {metrics['critical_failures']} critical and "
        f"{metrics['warning_failures']} warning failures"
    )
    lines = [head + (f"; Data Docs: {report}" if report else "")]
    order = {"critical": 0, "warning": 1, "info": 2}
    failures = [(name, f) for name, s in metrics["suites"].items() for f in s["failures"]]
    for name, f in sorted(failures, key=lambda nf: order.get(nf[1]["severity"], 3)):
        cols = ",".join(str(f[k]) for k in ("column", "column_A", "column_B") if f.get(k))
        what = f"{f['expectation']}({cols})" if cols else f["expectation"]
        count = f" {f['unexpected_count']} of {f['element_count']} rows" if "unexpected_count" in f else ""
        lines.append(f"  {f['severity'].upper():8s} {f['check']} [{name}] {what}{count}")
        if f.get("error"):
            lines.append(f"           error: {f['error'][:300]}")
        for ex in f.get("examples", [])[:sample_rows]:
            lines.append(f"           e.g. {_short(ex)}")
    return lines


def _short(example: Any, limit: int = 240) -> str:
    if isinstance(example, dict):
        text = " ".join(f"{k}={v}" for k, v in example.items())
    else:
        text = str(example)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ----------------------------------------------------------------------------------------------------- inputs

# what the suites read under the data folder, and the stage that writes it
INPUT_FILES: dict[str, str] = {
    "manifest.jsonl": "ingest",
    "quarantine.jsonl": "ingest",
    "features.jsonl": "prosody",
    "labels.jsonl": "prosody",
    **{f"emotioncot/{s}.jsonl": "annotate" for s in SPLITS},
    **{f"rm/{s}.jsonl": "annotate" for s in RM_SPLITS},
}


def _missing(path: Path, stage: str) -> FileNotFoundError:
    return FileNotFoundError(f"{path}: missing; the {stage} stage makes it (dvc repro {stage})")


def load_inputs(data_dir: Path) -> Inputs:
    """Read every input under ``data_dir``; a missing one is an error naming it and the stage that makes it."""
    data_dir = Path(data_dir)
    for rel, stage in INPUT_FILES.items():
        if not (data_dir / rel).is_file():
            raise _missing(data_dir / rel, stage)
    task_files = sorted((data_dir / "sft_tasks").glob("*.jsonl"))
    if not task_files:
        raise _missing(data_dir / "sft_tasks" / "*.jsonl", "annotate")

    def read(path: Path) -> list[dict]:
        try:
            return read_jsonl(path)
        except ValueError as e:
            raise ValueError(f"{path}: not valid JSON lines: {e}") from e

    return Inputs(
        manifest=read(data_dir / "manifest.jsonl"),
        quarantine=read(data_dir / "quarantine.jsonl"),
        features=read(data_dir / "features.jsonl"),
        labels=read(data_dir / "labels.jsonl"),
        emotioncot={s: read(data_dir / "emotioncot" / f"{s}.jsonl") for s in SPLITS},
        sft_tasks={p.stem: read(p) for p in task_files},
        rm={s: read(data_dir / "rm" / f"{s}.jsonl") for s in RM_SPLITS},
    )
