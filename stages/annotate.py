"""Annotate stage: EmotionCoT records, prosody SFT task sets and reward-model data from measured facts.

    python -m stages.annotate --params params.yaml --manifest data/manifest.jsonl --labels data/labels.jsonl \
        --out-dir data --metrics metrics/annotate.json

Writes ``<out-dir>/emotioncot/{train,val,test}.jsonl``, ``<out-dir>/sft_tasks/<task>.jsonl`` (contrastive pair
audio under ``<out-dir>/sft_tasks/audio/``) and ``<out-dir>/rm/{train,val}.jsonl``. With ``annotate.writer: llm``
the rationales come from an OpenAI-compatible endpoint (resumable; see ``--dry-run``).
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
from pathlib import Path

from pydantic import ValidationError

from emotionthinker.annotate.build import counterfactual_rm_records, emotioncot_record, rm_records, summary
from emotionthinker.annotate.facts import Facts
from emotionthinker.annotate.llm import EndpointConfig, EndpointWriter, dry_run
from emotionthinker.annotate.tasks import attribute_tasks, caption_tasks, contrastive_tasks, stress_tasks
from emotionthinker.annotate.writer import write_rationale
from emotionthinker.config import AnnotateConfig, LabelsConfig, load_yaml
from emotionthinker.prompts import format_target
from emotionthinker.records import read_jsonl, write_jsonl

log = logging.getLogger("stages.annotate")


def _load(params: Path, manifest: Path, labels: Path) -> tuple[AnnotateConfig, LabelsConfig, list[dict], dict]:
    raw = load_yaml(params)
    cfg = AnnotateConfig.model_validate(raw.get("annotate") or {})
    label_cfg = LabelsConfig.model_validate((raw.get("data") or {}).get("labels") or {})
    for path, stage in ((manifest, "ingest"), (labels, "prosody")):
        if not path.exists():
            raise FileNotFoundError(f"{path}: missing; run the {stage} stage first (dvc repro {stage})")
    clips = read_jsonl(manifest)
    label_recs = {r["utt_id"]: r for r in read_jsonl(labels)}
    facts = {c["utt_id"]: Facts.from_records(c, label_recs.get(c["utt_id"], {})) for c in clips}
    return cfg, label_cfg, clips, facts


def extra_golds(cot: dict, facts: Facts, cfg: AnnotateConfig) -> list[str]:
    """The reward model's other gold completions of a train clip: ``rm_rationales_per_clip - 1`` more rationales by
    the grammar writer (whichever writer made the EmotionCoT one), each concluding on the clip's emotion."""
    return [format_target(write_rationale(facts, seed=cfg.seed, variant=k), cot["emotion"])
            for k in range(1, cfg.rm_rationales_per_clip)]  # fmt: skip


def main(params: Path, manifest: Path, labels: Path, out_dir: Path, metrics: Path) -> dict:
    cfg, label_cfg, clips, facts = _load(params, manifest, labels)
    label_set = label_cfg.names

    if cfg.writer == "llm":
        endpoint = EndpointConfig(**cfg.llm.model_dump())
        got = EndpointWriter(endpoint).write_all(list(facts.values()), out_dir / "emotioncot" / "llm_rationales.jsonl")
        rationales = {uid: got[uid] for uid in facts if uid in got}
    else:
        rationales = {uid: write_rationale(f, seed=cfg.seed) for uid, f in facts.items()}
    cot = [emotioncot_record(c, facts[c["utt_id"]], rationales[c["utt_id"]], label_set, cfg.writer)
           for c in clips if c["utt_id"] in rationales]  # fmt: skip
    for split in ("train", "val", "test"):
        write_jsonl(out_dir / "emotioncot" / f"{split}.jsonl", [r for r in cot if r["split"] == split])

    tasks = attribute_tasks(facts, clips)
    tasks["stress"] = stress_tasks(facts, clips)
    tasks["caption"] = caption_tasks(facts, clips)
    # contrastive audio only from train and val clips: test audio never feeds training
    tasks["contrastive"] = contrastive_tasks(
        [c for c in clips if c["split"] != "test"], facts, out_dir / "sft_tasks" / "audio", repo_root=Path.cwd(),
        rng_seed=cfg.seed, per_clip=cfg.contrastive_per_clip, semitones=cfg.contrastive_semitones,
        tempo=cfg.contrastive_tempo, gain_db=cfg.contrastive_gain_db, pause_s=cfg.contrastive_pause_s,
        max_half_s=cfg.contrastive_max_half_s,
        workers=cfg.workers,
    )  # fmt: skip
    for name, recs in tasks.items():
        write_jsonl(out_dir / "sft_tasks" / f"{name}.jsonl", recs)

    rng = random.Random(cfg.seed)
    rm = {split: [rec for r in cot if r["split"] == split
                  for rec in rm_records(r, facts[r["utt_id"]], label_set, rng, cfg.rm_degradations_per_clip,
                                        extra_golds(r, facts[r["utt_id"]], cfg) if split == "train" else ())]
          for split in ("train", "val")}  # fmt: skip
    donors: dict[str, list[Facts]] = {}  # train clips only: val and test cues never feed training
    for r in cot:
        if r["split"] == "train":
            donors.setdefault(r["emotion"], []).append(facts[r["utt_id"]])
    for r in (r for r in cot if r["split"] == "train"):
        rm["train"] += counterfactual_rm_records(r, facts[r["utt_id"]], donors[r["emotion"]], label_set, rng,
                                                 cfg.rm_counterfactuals_per_clip, cfg.seed,
                                                 first_variant=cfg.rm_rationales_per_clip)  # fmt: skip
    for split, recs in rm.items():
        write_jsonl(out_dir / "rm" / f"{split}.jsonl", recs)

    m = summary(cot, rm["train"] + rm["val"], tasks)
    metrics.parent.mkdir(parents=True, exist_ok=True)
    metrics.write_text(json.dumps(m, indent=2) + "\n")
    log.info("%d EmotionCoT records, tasks %s, %d reward-model records", len(cot), m["sft_tasks"], m["rm"]["records"])
    return m


def cli(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", type=Path, default=Path("params.yaml"), help="params with `annotate:` and `data:`")
    ap.add_argument("--manifest", type=Path, default=Path("data/manifest.jsonl"))
    ap.add_argument("--labels", type=Path, default=Path("data/labels.jsonl"), help="the prosody stage's labels")
    ap.add_argument("--out-dir", type=Path, default=Path("data"))
    ap.add_argument("--metrics", type=Path, default=Path("metrics/annotate.json"))
    ap.add_argument("--dry-run", type=int, metavar="N", default=0, help="print N filled LLM prompts and stop")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        if args.dry_run:
            _, _, _, facts = _load(args.params, args.manifest, args.labels)
            for prompt in dry_run(facts.values(), args.dry_run):
                print(prompt, end="\n\n" + "-" * 80 + "\n\n")
            return 0
        main(args.params, args.manifest, args.labels, args.out_dir, args.metrics)
    except (ValidationError, ValueError, FileNotFoundError) as e:
        log.error("annotate failed: %s", e)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(cli())
