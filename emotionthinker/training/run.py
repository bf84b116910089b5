"""The sft stage's work: build or load the SpeechLLM, train the prosody phase, then the cold start, evaluating on val
before, between and after, with every step resumable.

Work goes to ``work_dir`` (checkpoints of each phase, the finished phases, the evaluations done). A rerun with the
same inputs picks up where the last one stopped: a finished phase is not retrained, an interrupted one resumes from
its last ``checkpoint-N``, an evaluation already written is not redone. A change of params or data (the
fingerprint in ``work_dir/fingerprint.json``) starts from scratch.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import torch

from emotionthinker.config.model import ModelConfig
from emotionthinker.config.sft import PhaseConfig, SFTConfig
from emotionthinker.records import read_jsonl
from emotionthinker.training.checkpoints import precision_flags, prepare_work_dir, source_hash
from emotionthinker.training.data import COT_TASK, cap_per_task, fit_targets, sft_examples
from emotionthinker.training.sft import EmotionSFTConfig, evaluate_tasks, majority_baseline, metric_name, train_sft
from emotionthinker.training.warmup import warm_up_audio

logger = logging.getLogger(__name__)

FINAL = "final"  # folder of a finished phase's model inside work_dir/<phase>/


# settings that do not change what is trained: editing them neither restarts training nor is resumed against
NOT_TRAINING = {k: True for k in ("eval", "save_steps", "save_total_limit", "logging_steps", "dataloader_workers")}
NOT_TRAINING["audio_warmup"] = {"workers"}


def fingerprint(cfg: SFTConfig, model_cfg: ModelConfig, labels: Sequence[str], files: Sequence[Path]) -> str:
    """SHA-1 over the training configs, the label set, the bytes of the input files and the code of the SFT modules
    and the model package: what a resume must match.

    The evaluation settings are left out (an evaluation is redone, not the training, when they change)."""
    import emotionthinker.model
    from emotionthinker.annotate import contrast
    from emotionthinker.training import augment, checkpoints, data, sft, warmup

    h = hashlib.sha1()
    # the modules SFT trains with (the sft stage's deps in dvc.yaml list them): a change to grpo.py keeps a resume
    modules = (augment, contrast, checkpoints, data, sft, warmup, sys.modules[__name__], emotionthinker.model)
    h.update(source_hash(*modules).encode())
    h.update(cfg.model_dump_json(exclude=NOT_TRAINING).encode())
    h.update(model_cfg.model_dump_json().encode())
    h.update(json.dumps(list(labels)).encode())
    for f in sorted(files):
        h.update(str(f).encode())
        h.update(Path(f).read_bytes())
    return h.hexdigest()


def input_files(data_dir: Path, tasks: Sequence[str]) -> list[Path]:
    """The data files the stage reads; a missing one is an error that names the stage to run."""
    files = [data_dir / "sft_tasks" / f"{t}.jsonl" for t in tasks]
    files += [data_dir / "manifest.jsonl", data_dir / "features.jsonl"]
    files += [data_dir / "emotioncot" / f"{s}.jsonl" for s in ("train", "val")]
    missing = [str(f) for f in files if not f.exists()]
    if missing:
        raise FileNotFoundError(f"{', '.join(missing)}: missing; run the annotate stage first (dvc repro annotate)")
    return files


def trainer_config(cfg: SFTConfig, phase: PhaseConfig, output_dir: Path, audio_root: Path) -> EmotionSFTConfig:
    """The TRL config of one phase."""
    cuda = torch.cuda.is_available()
    return EmotionSFTConfig(
        output_dir=str(output_dir),
        audio_root=str(audio_root),
        num_train_epochs=phase.epochs,
        learning_rate=phase.learning_rate,
        per_device_train_batch_size=phase.batch_size,
        gradient_accumulation_steps=phase.grad_accum,
        warmup_steps=phase.warmup_ratio,  # a float below 1 is a ratio of the total steps
        lr_scheduler_type="cosine",
        weight_decay=cfg.weight_decay,
        max_grad_norm=cfg.max_grad_norm,
        seed=cfg.seed,
        data_seed=cfg.seed,
        save_strategy="steps",
        save_steps=cfg.save_steps,
        save_total_limit=cfg.save_total_limit,
        logging_steps=cfg.logging_steps,
        logging_first_step=True,
        report_to=[],
        use_cpu=not cuda,
        activation_checkpointing=cfg.gradient_checkpointing,
        dataloader_num_workers=cfg.dataloader_workers,
        deepspeed=str(cfg.deepspeed) if cfg.deepspeed else None,
        **precision_flags(cfg.precision),
    )


def peft_config(cfg: SFTConfig):
    """A PEFT LoRA config for the language model's linear layers, or None."""
    if not cfg.lora.enabled:
        return None
    from peft import LoraConfig

    # a regex over the language model only: the audio encoder (audio_tower) keeps its weights
    names = "|".join(cfg.lora.target_modules)
    return LoraConfig(
        r=cfg.lora.r,
        lora_alpha=cfg.lora.alpha,
        lora_dropout=cfg.lora.dropout,
        target_modules=rf".*language_model.*\.({names})$",
        task_type="CAUSAL_LM",
    )


def _log_rows(trainer, phase: str, step_offset: int) -> list[dict]:
    rows = []
    for h in trainer.state.log_history:
        if "loss" not in h:
            continue
        rows.append(
            {
                "phase": phase,
                "step": step_offset + int(h["step"]),
                "epoch": round(float(h.get("epoch", 0.0)), 4),
                "loss": float(h["loss"]),
                "learning_rate": float(h.get("learning_rate", 0.0)),
                "grad_norm": float(h.get("grad_norm", float("nan"))),
                "token_accuracy": float(h.get("mean_token_accuracy", float("nan"))),
            }
        )
    return rows


def _phase_summary(trainer, n_examples: int, seconds: float) -> dict:
    state = trainer.state
    losses = [h["loss"] for h in state.log_history if "loss" in h]
    return {
        "examples": n_examples,
        "steps": int(state.global_step),
        "epochs": round(float(state.epoch or 0.0), 3),
        "first_loss": round(losses[0], 4) if losses else None,
        "final_loss": round(losses[-1], 4) if losses else None,
        "train_seconds": round(seconds, 1),
        "samples_per_second": round(n_examples * float(state.epoch or 0.0) / seconds, 2) if seconds else None,
    }


def _save_final(trainer, processor, folder: Path) -> None:
    """The phase's model (LoRA merged into the weights) and processor."""
    from peft import PeftModel

    model = trainer.model
    if isinstance(model, PeftModel):
        model = model.merge_and_unload()
    _save_model(model, processor, folder)


def _save_model(model, processor, folder: Path) -> None:
    """``save_pretrained`` into a temporary folder, then renamed: a kill never leaves a half-written model."""
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp, safe_serialization=True)
    processor.save_pretrained(tmp)
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)


def warmup_clips(data_dir: Path, contrastive: bool = True) -> list[tuple[str, dict | None]]:
    """(audio_path, features row) of the train clips whose prosody was measured, then (audio_path, how the second
    half differs from the first) of the train split's contrastive pairs (their frames are measured by the warm-up)."""
    from emotionthinker.training.warmup import pair_deltas

    train = {r["utt_id"]: r["audio_path"] for r in read_jsonl(data_dir / "manifest.jsonl") if r["split"] == "train"}
    clips: list[tuple[str, dict | None]] = [
        (train[f["utt_id"]], f)
        for f in read_jsonl(data_dir / "features.jsonl")
        if f["utt_id"] in train and f.get("status") != "error"
    ]
    pairs = data_dir / "sft_tasks" / "contrastive.jsonl"
    if contrastive and pairs.exists():
        for r in read_jsonl(pairs):
            if r.get("split") != "train":
                continue
            if not isinstance(r.get("meta"), dict):
                raise ValueError(f"{pairs}: pair {r.get('utt_id', '?')} has no 'meta' (kind, amount, modified_half); "
                                 "rebuild the pairs with `dvc repro annotate`")  # fmt: skip
            clips.append((r["audio_path"], pair_deltas(r["meta"])))
    return clips


def _cached(path: Path, compute, key: dict):
    """The JSON in ``path`` when it was computed for ``key``; else ``compute()``, written there with the key."""
    if path.exists():
        saved = json.loads(path.read_text())
        if saved.get("key") == key:
            logger.info("reusing %s", path)
            return saved
    value = {**compute(), "key": key}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(value, indent=2) + "\n")
    tmp.rename(path)
    return value


def run_sft(
    cfg: SFTConfig,
    model_cfg: ModelConfig,
    labels: Sequence[str],
    data_dir: Path,
    out_dir: Path,
    work_dir: Path,
    repo_root: Path = Path("."),
) -> tuple[dict, list[dict], list[dict]]:
    """Train EmotionThinker-Base and write it to ``out_dir``; returns ``(metrics, curve_rows, sample_predictions)``."""
    from datasets import concatenate_datasets

    from emotionthinker.model import build_tiny, corpus_texts, data_max_audio_s, freeze_audio, load, parameter_count

    started = time.perf_counter()
    data_dir, out_dir, work_dir = Path(data_dir), Path(out_dir), Path(work_dir)
    files = input_files(data_dir, cfg.tasks)
    prepare_work_dir(work_dir, fingerprint(cfg, model_cfg, labels, files))

    # data
    task_records = [r for t in cfg.tasks for r in read_jsonl(data_dir / "sft_tasks" / f"{t}.jsonl")]
    cot_train = read_jsonl(data_dir / "emotioncot" / "train.jsonl")
    cot_val = read_jsonl(data_dir / "emotioncot" / "val.jsonl")
    prosody_train = sft_examples(task_records, [], labels, "prosody", split="train").shuffle(seed=cfg.seed)
    prosody_val = sft_examples(task_records, [], labels, "prosody", split="val")
    prosody_val = cap_per_task(prosody_val, cfg.eval.max_per_task, cfg.seed)
    cot_examples = sft_examples([], cot_train, labels, "cold_start", cold_start_count=cfg.cold_start_count)
    cot_val_examples = cap_per_task(sft_examples([], cot_val, labels, "cold_start"), cfg.eval.max_per_task, cfg.seed)
    if len(cot_examples) < cfg.cold_start_count:
        logger.info("cold start: %d EmotionCoT train records (cold_start_count %d)", len(cot_examples),
                    cfg.cold_start_count)  # fmt: skip
    n_replay = min(len(prosody_train), round(cfg.replay_share * len(cot_examples)))
    cold_train = cot_examples
    if n_replay:
        cold_train = concatenate_datasets([cot_examples, prosody_train.select(range(n_replay))])
    cold_train = cold_train.shuffle(seed=cfg.seed + 1)

    # model
    device = "cuda" if torch.cuda.is_available() else "cpu"
    warmup: dict | None = None
    if model_cfg.backbone == "tiny":
        init = work_dir / "init"
        if not (init / "config.json").exists():
            built = build_tiny(
                model_cfg, corpus_texts(data_dir, labels), data_max_audio_s(data_dir), work_dir / "built"
            )
            model, processor = load(built, device=device)
            if cfg.audio_warmup.epochs > 0:
                w = cfg.audio_warmup
                warmup = warm_up_audio(
                    model, processor, warmup_clips(data_dir, w.contrastive), repo_root, w.epochs, w.learning_rate,
                    w.batch_size, cfg.seed, shifts_st=w.shifts_st, gains_db=w.gains_db, psola=w.psola,
                    frame_weight=w.frame_weight, workers=w.workers or os.cpu_count() or 1,
                )  # fmt: skip
            _save_model(model, processor, init)
            (work_dir / "warmup.json").write_text(json.dumps(warmup) + "\n")
            shutil.rmtree(work_dir / "built")
        warmup = json.loads((work_dir / "warmup.json").read_text())
    else:
        init = model_cfg.path
    model, processor = load(init, device=device, dtype=model_cfg.dtype)
    model_type = model.config.model_type
    prosody_train, n_cut_tasks = fit_targets(prosody_train, processor.tokenizer, cfg.max_target_tokens)
    cold_train, n_cut_cot = fit_targets(cold_train, processor.tokenizer, cfg.max_target_tokens)

    def evaluate(m, examples, name: str) -> dict:
        def compute():
            t0 = time.perf_counter()
            metrics, predictions = evaluate_tasks(
                m, processor, model_type, examples, cfg.eval.batch_size, repo_root,
                max_new_tokens=cfg.eval.cot_max_new_tokens, task_max_new_tokens=cfg.eval.task_max_new_tokens,
                free_text_max_new_tokens=cfg.eval.free_text_max_new_tokens, labels=labels, progress=True,
            )  # fmt: skip
            return {"metrics": metrics, "seconds": round(time.perf_counter() - t0, 1), "samples": predictions[::25]}

        return _cached(work_dir / f"eval_{name}.json", compute, cfg.eval.model_dump())

    val_all = concatenate_datasets([prosody_val, cot_val_examples])
    before_val = cap_per_task(prosody_val, cfg.eval.before_max_per_task, cfg.seed)  # 0: all of prosody_val
    before = evaluate(model, before_val, "before")
    curve: list[dict] = []
    phases: dict[str, dict] = {}
    evals: dict[str, dict] = {}
    step_offset = 0
    plan = (("prosody", cfg.prosody, prosody_train, prosody_val), ("cold_start", cfg.cold_start, cold_train, val_all))
    for phase, phase_cfg, train, val in plan:
        final = work_dir / phase / FINAL
        summary_file = work_dir / phase / "summary.json"
        if (final / "config.json").exists() and summary_file.exists():
            logger.info("phase %s finished before; loading %s", phase, final)
            model, processor = load(final, device=device, dtype=model_cfg.dtype)
            done = json.loads(summary_file.read_text())
        else:
            logger.info("phase %s: %d examples, %s epochs", phase, len(train), phase_cfg.epochs)
            t0 = time.perf_counter()
            if cfg.freeze_audio:
                logger.info("audio path frozen (%d parameters)", freeze_audio(model))
            trainer = train_sft(
                model, processor, model_type, train, None,
                trainer_config(cfg, phase_cfg, work_dir / phase, repo_root), peft_config=peft_config(cfg),
            )  # fmt: skip
            _save_final(trainer, processor, final)
            done = {"summary": _phase_summary(trainer, len(train), time.perf_counter() - t0),
                    "curve": _log_rows(trainer, phase, 0)}  # fmt: skip
            summary_file.write_text(json.dumps(done, indent=2) + "\n")
            model, processor = load(final, device=device, dtype=model_cfg.dtype)
        phases[phase] = done["summary"]
        curve += [{**r, "step": r["step"] + step_offset} for r in done["curve"]]
        step_offset += done["summary"]["steps"]
        evals[phase] = evaluate(model, val, f"after_{phase}")
    after_prosody, after = evals["prosody"], evals["cold_start"]

    tmp = out_dir.with_name(out_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(work_dir / "cold_start" / FINAL, tmp)
    shutil.rmtree(out_dir, ignore_errors=True)
    tmp.rename(out_dir)

    majority = majority_baseline(concatenate_datasets([prosody_train, cot_examples]), val_all)
    table = comparison_table(before["metrics"], after_prosody["metrics"], after["metrics"], majority)
    metrics = {
        "model": {
            "backbone": model_cfg.backbone,
            "model_type": model_type,
            "parameters": parameter_count(model),
            "audio_chunk_s": int(processor.feature_extractor.chunk_length),
            "lora": cfg.lora.enabled,
        },
        "data": {
            "prosody_train": len(prosody_train),
            "cold_start_train": len(cold_train),
            "cold_start_cot": len(cot_examples),
            "cold_start_replay": n_replay,
            "val": len(val_all),
            "targets_truncated": n_cut_tasks + n_cut_cot,
        },
        "audio_warmup": warmup,
        "phases": phases,
        "eval": table,
        "eval_seconds": {k: v["seconds"] for k, v in
                         (("before", before), ("after_prosody", after_prosody), ("after_cold_start", after))},
        "total_seconds": round(time.perf_counter() - started, 1),
    }  # fmt: skip
    samples = [
        {"stage": stage, **s}
        for stage, res in (("before", before), ("after_prosody", after_prosody), ("after_cold_start", after))
        for s in res["samples"]
    ]
    return metrics, curve, samples


def comparison_table(before: dict, after_prosody: dict, after: dict, majority: dict) -> dict:
    """Per task: its metric for the model before SFT, after the prosody phase, after the cold start, and for the
    majority class; for EmotionCoT also the format rate."""
    table = {}
    for task in sorted(set(after) | set(after_prosody)):
        name = metric_name(task)
        row = {"metric": name, "n": (after.get(task) or after_prosody.get(task))["n"]}
        for label, source in (("before", before), ("after_prosody", after_prosody), ("after_cold_start", after)):
            if task in source:
                row[label] = round(source[task][name], 4)
        row["majority"] = round(majority.get(task, 0.0), 4)
        if task == COT_TASK:
            row["format_rate"] = round(after[task]["format_rate"], 4)
        table[task] = row
    return table
