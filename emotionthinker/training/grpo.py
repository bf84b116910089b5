"""GRPO-PTR on audio prompts: TRL's ``GRPOTrainer`` taught to hear, and to combine the rewards the PTR way.

TRL 1.16's ``GRPOTrainer`` knows text and image prompts. A Qwen2-Audio / Qwen2.5-Omni policy needs log-mel features
beside the token ids in every forward: when sampling, when scoring the old policy (``num_iterations > 1``), the
reference model (``beta > 0``) and the policy in the loss. ``AudioGRPOTrainer`` supplies them:

* ``_tokenize_prompts`` reads each prompt's audio part (a path under ``audio_root``), runs the project's one encoder
  (``emotionthinker.model.encode_batch``, the same path SFT, evaluation and serving use) and hands the features to
  TRL's generation as multimodal fields; it keeps them for the log-prob passes of the same generation batch.
* ``_get_per_token_logps_and_entropies`` is TRL's loop with the audio rows sliced along (and, for Qwen2-Audio,
  positions numbered from the attention mask as generation numbers them, so that left padding does not shift them).
* ``_generate_and_score_completions`` puts the features into the batch it returns, so TRL's shuffle and split keep
  each completion with its clip; ``_compute_loss`` reads them from there.
* ``_calculate_rewards`` runs the three reward functions (format, outcome, reasoning R_t) through TRL, then the
  :class:`~emotionthinker.rewards.ptr.PTRCombiner` (trust tau per group, progressive gate) over the gathered batch,
  and returns columns whose sum (TRL's ``reward_weights`` are all 1) is the GRPO-PTR reward
  ``alpha_f*R_f + alpha_o*R_o + alpha_t*gate*tau*R_t``. TRL's ``rewards/<name>/mean`` are therefore each term's
  contribution; the raw components, tau and the schedule are logged as ``ptr/*`` (see ``PTRCombiner``).
* The schedule's state is saved as ``checkpoint-N/ptr_state.json`` and restored on resume; weights are restored with
  ``from_pretrained`` (transformers 5 saves Qwen2-Audio under its original key names, which Trainer's non-strict
  ``load_state_dict`` silently skips); the audio processor is saved beside every checkpoint and the final model, so
  each folder reloads with ``emotionthinker.model.load``.

    from emotionthinker.training.grpo import GRPOPTRConfig, grpo_dataset, train_grpo
    train = grpo_dataset(read_jsonl("data/emotioncot/train.jsonl"), labels)
    trainer = train_grpo("models/base", reasoning_reward, train, GRPOPTRConfig(output_dir="checkpoints/grpo"))
    trainer.save_model("models/thinker")
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path

import torch
from accelerate.utils import is_peft_model
from trl import GRPOConfig, GRPOTrainer

from emotionthinker.config.grpo import GRPOStageConfig
from emotionthinker.labels import DEFAULT_LABELS
from emotionthinker.labels import normalise as normalise_label
from emotionthinker.prompts import build_messages
from emotionthinker.rewards.ptr import (
    ProgressiveSchedule,
    PTRCombiner,
    PTRConfig,
    format_reward,
    outcome_reward,
)
from emotionthinker.training.checkpoints import last_checkpoint, load_checkpoint_weights, precision_flags
from emotionthinker.training.data import clean_messages

logger = logging.getLogger(__name__)

PTR_STATE = "ptr_state.json"
PTR_STATE_VERSION = 1
AUDIO_KEYS = ("input_features", "feature_attention_mask")
# Placeholders that only the processor may write: a sampled <|AUDIO|> makes the next forward fail ("Audio features
# and audio tokens do not match"), and the others would open a media span that has no media behind it.
MEDIA_TOKENS = (
    "<|AUDIO|>",
    "<|audio_bos|>",
    "<|audio_eos|>",
    "<|IMAGE|>",
    "<|VIDEO|>",
    "<|vision_bos|>",
    "<|vision_eos|>",
)
END_OF_TURN = "<|im_end|>"
REWARD_COLUMNS = ("format", "outcome", "reasoning")

_SCHEDULE = ProgressiveSchedule()  # defaults of the schedule fields, declared once in rewards/ptr.py
_PTR = PTRConfig()


# --------------------------------------------------------------------------------------------------------------------
# Config
# --------------------------------------------------------------------------------------------------------------------


@dataclass
class GRPOPTRConfig(GRPOConfig):
    """TRL's ``GRPOConfig`` with GRPO-PTR's fields and defaults that work for audio prompts on a CPU or a GPU.

    The reward weights are ``alpha_*`` (TRL's ``reward_weights`` stays [1, 1, 1]: the trainer combines the
    components itself). The schedule fields configure :class:`~emotionthinker.rewards.ptr.ProgressiveSchedule`.
    Batch sizes count completions: ``per_device_train_batch_size = prompts per step * num_generations`` when
    ``gradient_accumulation_steps`` is 1.
    """

    audio_root: str = field(
        default=".", metadata={"help": "Folder the prompts' audio paths are relative to (the repository root)."}
    )
    sample_rate: int = field(default=16000, metadata={"help": "Rate the clips are resampled to (the encoder's)."})
    labels: list[str] = field(
        default_factory=lambda: list(DEFAULT_LABELS),
        metadata={"help": "The label set: what the format reward accepts in <answer> and the outcome reward matches."},
    )
    alpha_format: float = field(default=_PTR.alpha_format, metadata={"help": "Weight of the format reward R_f."})
    alpha_outcome: float = field(default=_PTR.alpha_outcome, metadata={"help": "Weight of the outcome reward R_o."})
    alpha_reasoning: float = field(
        default=_PTR.alpha_reasoning, metadata={"help": "Weight of the reasoning reward R_t (0: plain GRPO)."}
    )
    trust: bool = field(
        default=_PTR.trust, metadata={"help": "Scale R_t by the group's trust weight tau (False: the ablation)."}
    )
    progressive: bool = field(
        default=_SCHEDULE.enabled,
        metadata={"help": "Keep R_t off until the running outcome accuracy reaches schedule_threshold (False: on)."},
    )
    schedule_threshold: float = field(
        default=_SCHEDULE.threshold, metadata={"help": "Running outcome accuracy that switches R_t on (paper ~0.5)."}
    )
    schedule_window: int = field(
        default=_SCHEDULE.window, metadata={"help": "Steps the running outcome accuracy is pooled over."}
    )
    schedule_min_steps: int = field(
        default=_SCHEDULE.min_steps, metadata={"help": "Steps completed before R_t may switch on."}
    )
    schedule_ramp_steps: int = field(
        default=_SCHEDULE.ramp_steps, metadata={"help": "Steps over which R_t's gate rises to 1 (0: at once)."}
    )
    resume: bool = field(
        default=True, metadata={"help": "Resume from the last checkpoint-N in output_dir when there is one."}
    )
    # TRL / transformers fields whose defaults differ here
    beta: float = field(default=0.04, metadata={"help": "KL coefficient against the reference model (paper: 0.04)."})
    disable_dropout: bool = field(
        default=True, metadata={"help": "No dropout in policy and reference, so their log-probs are comparable."}
    )
    bf16: bool | None = field(
        default=None,
        metadata={"help": "None: bf16 on a CUDA device that supports it, else fp32 (CPU bf16 is many times slower)."},
    )
    gradient_checkpointing: bool | None = field(
        default=None,
        metadata={"help": "None: on with a CUDA device, off on a CPU (where memory is not the limit)."},
    )

    def __post_init__(self):
        cuda = torch.cuda.is_available() and not self.use_cpu
        if self.bf16 is None:
            self.bf16 = bool(cuda and torch.cuda.is_bf16_supported()) and not self.fp16
        if self.activation_checkpointing is None and self.gradient_checkpointing is None:
            self.activation_checkpointing = bool(cuda)
        if self.reward_weights is None:
            self.reward_weights = [1.0] * len(REWARD_COLUMNS)
        elif [float(w) for w in self.reward_weights] != [1.0] * len(REWARD_COLUMNS):
            raise ValueError(
                f"reward_weights={self.reward_weights}: GRPO-PTR weighs its rewards itself; leave reward_weights "
                "unset and use alpha_format, alpha_outcome and alpha_reasoning"
            )
        super().__post_init__()
        if self.remove_unused_columns:
            raise ValueError(
                "remove_unused_columns=True would drop the emotion/facts columns the rewards read; set it to False"
            )
        if self.multi_objective_aggregation != "sum_then_normalize":
            raise ValueError(
                f"multi_objective_aggregation='{self.multi_objective_aggregation}' normalises each reward on its own, "
                "which undoes the trust weight and the gate; use 'sum_then_normalize'"
            )
        if self.use_vllm or self.use_transformers_continuous_batching:
            raise ValueError(
                "use_vllm / use_transformers_continuous_batching cannot take the audio features of the prompts; "
                "generate with transformers (set both to False)"
            )
        if not self.labels:
            raise ValueError("labels is empty: give the label set the answers are chosen from")
        self.ptr_config()  # PTRConfig and ProgressiveSchedule validate the values with messages that name the fix
        self.schedule()

    def ptr_config(self) -> PTRConfig:
        return PTRConfig(
            alpha_format=self.alpha_format,
            alpha_outcome=self.alpha_outcome,
            alpha_reasoning=self.alpha_reasoning,
            trust=self.trust,
        )

    def schedule(self) -> ProgressiveSchedule:
        return ProgressiveSchedule(
            threshold=self.schedule_threshold,
            window=self.schedule_window,
            min_steps=self.schedule_min_steps,
            ramp_steps=self.schedule_ramp_steps,
            enabled=self.progressive,
        )


# --------------------------------------------------------------------------------------------------------------------
# Dataset and rewards
# --------------------------------------------------------------------------------------------------------------------


def grpo_dataset(cot_records: Iterable[dict], labels: Sequence[str] = DEFAULT_LABELS, split: str | None = None):
    """A ``datasets.Dataset`` of GRPO prompts from EmotionCoT records (``data/emotioncot/*.jsonl``).

    Columns: ``prompt`` (``build_messages(audio_path, labels)``: system turn, user turn with the audio part and the
    question listing ``labels``), ``emotion`` (the gold label, normalised; the outcome reward reads it), ``facts``
    (the clip's measured facts; the reasoning reward reads them), ``caption``, ``transcript``, ``audio_path`` and
    ``utt_id``. TRL passes every column but ``prompt`` to the reward functions by name. ``split`` keeps only records
    of that split. Raises ValueError naming the record when a field is missing or the label is not in ``labels``.
    """
    from datasets import Dataset

    known = {normalise_label(x) for x in labels}
    rows = []
    for r in cot_records:
        if split is not None and r.get("split") != split:
            continue
        uid = r.get("utt_id", "?")
        if not r.get("audio_path") or not r.get("emotion"):
            raise ValueError(f"EmotionCoT record {uid}: 'audio_path' and 'emotion' are required for GRPO")
        emotion = normalise_label(r["emotion"])
        if emotion not in known:
            raise ValueError(
                f"EmotionCoT record {uid}: emotion '{r['emotion']}' is not in the label set {list(labels)}; "
                "map it at ingest (label_map) or add it to the labels"
            )
        facts = dict(r.get("facts") or {})
        rows.append(
            {
                "prompt": build_messages(r["audio_path"], labels),
                "emotion": emotion,
                "facts": facts,
                "caption": r.get("caption") or "",
                "transcript": facts.get("transcript") or r.get("transcript") or "",
                "audio_path": r["audio_path"],
                "utt_id": str(uid),
            }
        )
    if not rows:
        raise ValueError("grpo_dataset: no EmotionCoT records" + (f" of split '{split}'" if split else ""))
    logger.info("GRPO dataset: %d prompts", len(rows))
    return Dataset.from_list(rows)


class LabelledReward:
    """A reward of ``rewards.ptr`` (``format_reward``, ``outcome_reward``) bound to a label set.

    The label set cannot come from the dataset: a column named ``labels`` would reach every reward function. A small
    class rather than a closure so it pickles, with ``__name__`` set so TRL logs it under the function's name.

    >>> reward = LabelledReward(format_reward, ["calm", "tense"])
    >>> reward.__name__, reward(["<think>x</think><answer>tense</answer>", "<think>x</think><answer>sad</answer>"])
    ('format_reward', [1.0, 0.0])
    """

    def __init__(self, func, labels: Sequence[str]):
        self.func = func
        self.labels = tuple(labels)
        self.__name__ = func.__name__

    def __call__(self, completions, **kwargs) -> list[float]:
        return self.func(completions, labels=self.labels, **kwargs)


# --------------------------------------------------------------------------------------------------------------------
# Checkpoint weights (shared with SFT; see AudioSFTTrainer)
# --------------------------------------------------------------------------------------------------------------------


# --------------------------------------------------------------------------------------------------------------------
# Trainer
# --------------------------------------------------------------------------------------------------------------------


def _token_ids(tokenizer, tokens: Iterable[str]) -> list[int]:
    ids = []
    for t in tokens:
        i = tokenizer.convert_tokens_to_ids(t)
        if i is not None and i != tokenizer.unk_token_id:
            ids.append(int(i))
    return ids


def _eos_with_end_of_turn(model, tokenizer) -> None:
    """Make ``<|im_end|>`` end a completion: TRL stops at the generation config's eos ids and the tokenizer's eos."""
    end = _token_ids(tokenizer, [END_OF_TURN])
    if not end:
        raise ValueError(f"the tokenizer has no {END_OF_TURN} token; only Qwen-format checkpoints are supported")
    eos = model.generation_config.eos_token_id
    eos = [] if eos is None else [eos] if isinstance(eos, int) else list(eos)
    if end[0] not in eos:
        model.generation_config.eos_token_id = [*eos, end[0]]


def _check_reference_source(model, beta: float, peft: bool) -> None:
    """TRL rebuilds the reference model from ``model.config._name_or_path``: it must be this policy's own folder.

    Not needed with ``beta=0`` (no reference) or with PEFT (the reference is the model with its adapters off).
    """
    if beta == 0.0 or peft:
        return
    source = Path(str(getattr(model.config, "_name_or_path", "") or ""))
    config = source / "config.json"
    if not config.exists():
        raise ValueError(
            f"beta={beta} needs a reference model, which TRL reloads from the policy's folder "
            f"(model.config._name_or_path='{source}'); load the policy with emotionthinker.model.load(folder), or "
            "set beta=0"
        )
    saved = json.loads(config.read_text()).get("model_type")
    if saved != model.config.model_type:
        raise ValueError(
            f"{source} holds a '{saved}' model but the policy is '{model.config.model_type}' (e.g. a Qwen2.5-Omni "
            "thinker loaded from the full Omni checkpoint); TRL would build the reference from the folder. Save the "
            "policy on its own (model.save_pretrained + processor.save_pretrained) and train from that folder"
        )


def _feature_dtype(model) -> torch.dtype:
    """The dtype the audio encoder computes in (its first weight's), which the log-mel features must match."""
    for name, p in model.named_parameters():
        if "audio_tower" in name and p.is_floating_point():
            return p.dtype
    return next(model.parameters()).dtype


class AudioGRPOTrainer(GRPOTrainer):
    """``GRPOTrainer`` for audio prompts with the GRPO-PTR reward (see the module docstring for what changes).

    ``model`` must be loaded from a folder (``emotionthinker.model.load``) when ``args.beta > 0``: TRL rebuilds the
    reference model from it. ``reasoning_reward`` is R_t with TRL's signature ``(prompts, completions, **kwargs) ->
    list[float]`` (values in [0, 1]; it reads the dataset's ``facts``/``caption``/``transcript`` columns); the format
    and outcome rewards are the project's own. ``self.ptr`` holds the combiner and its schedule.
    """

    def __init__(
        self,
        model,
        processor,
        reasoning_reward,
        args: GRPOPTRConfig,
        train_dataset=None,
        eval_dataset=None,
        callbacks=None,
        peft_config=None,
        optimizers=(None, None),
    ):
        from emotionthinker.model.chat import model_kind

        if not isinstance(args, GRPOPTRConfig):
            raise TypeError(f"args must be a GRPOPTRConfig, got {type(args).__name__}")
        self.audio_processor = processor
        self.model_type = model_kind(model)
        self.ptr = PTRCombiner(args.ptr_config(), args.schedule())
        self._audio: dict[str, torch.Tensor] | None = None
        tokenizer = processor.tokenizer
        if tokenizer.pad_token is None:
            raise ValueError("the tokenizer has no pad token; load the model with emotionthinker.model.load")
        _check_reference_source(model, args.beta, peft_config is not None or is_peft_model(model))
        _eos_with_end_of_turn(model, tokenizer)
        suppress = set((args.generation_kwargs or {}).get("suppress_tokens") or [])
        suppress |= set(_token_ids(tokenizer, MEDIA_TOKENS))
        args.generation_kwargs = {**(args.generation_kwargs or {}), "suppress_tokens": sorted(suppress)}
        reward_funcs = [
            LabelledReward(format_reward, args.labels),
            LabelledReward(outcome_reward, args.labels),
            reasoning_reward,
        ]
        # The tokenizer, not the processor, is TRL's processing class: with a processor TRL takes the model for a
        # vision-language one (image tokens, image processors). Prompts are encoded by _tokenize_prompts instead.
        super().__init__(
            model=model,
            reward_funcs=reward_funcs,
            args=args,
            train_dataset=train_dataset,
            eval_dataset=eval_dataset,
            processing_class=tokenizer,
            callbacks=callbacks,
            optimizers=optimizers,
            peft_config=peft_config,
        )

    # -- audio in, ids out --------------------------------------------------------------------------------------------

    def _audio_path(self, messages: list[dict], row: int) -> Path:
        paths = [
            p.get("path") or p.get("audio")
            for m in messages
            if isinstance(m.get("content"), list)
            for p in m["content"]
            if p.get("type") == "audio"
        ]
        if len(paths) != 1 or not isinstance(paths[0], str):
            raise ValueError(
                f"prompt {row} has {len(paths)} audio part(s); GRPO prompts need exactly one "
                "{'type': 'audio', 'path': ...} part (see grpo_dataset)"
            )
        path = Path(paths[0])
        return path if path.is_absolute() else Path(self.args.audio_root) / path

    def _tokenize_prompts(self, prompts: list):
        """Prompt ids (unpadded lists) and the audio features of a generation batch, through ``encode_batch``.

        The features are returned as multimodal fields, which TRL passes to ``generate``, and kept in ``self._audio``
        for the old-policy and reference log-prob passes over the same rows.
        """
        from emotionthinker.audio import load
        from emotionthinker.model.chat import encode_batch

        messages = [clean_messages(p) for p in prompts]
        paths = [self._audio_path(m, i) for i, m in enumerate(messages)]
        clips: dict[Path, object] = {}  # each prompt appears num_generations times in a batch: read it once
        for path in paths:
            if path not in clips:
                clips[path] = load(path, self.args.sample_rate)
        batch = encode_batch(
            self.audio_processor, self.model_type, messages, [clips[p] for p in paths], padding_side="left"
        )
        prompt_ids = [
            row[mask.bool()].tolist() for row, mask in zip(batch["input_ids"], batch["attention_mask"], strict=True)
        ]
        device = self.accelerator.device
        dtype = _feature_dtype(self.accelerator.unwrap_model(self.model))
        self._audio = {
            "input_features": batch["input_features"].to(device, dtype=dtype),
            "feature_attention_mask": batch["feature_attention_mask"].to(device),
        }
        return prompt_ids, None, dict(self._audio)

    def _get_per_token_logps_and_entropies(
        self,
        model,
        input_ids,
        attention_mask,
        logits_to_keep,
        batch_size=None,
        compute_entropy=False,
        compute_aux_loss=False,
        input_features=None,
        feature_attention_mask=None,
        **image_kwargs,
    ):
        """TRL's chunked log-prob pass (fused LM head, completion tokens only), with each row's audio features.

        Serves the old-policy and reference passes of ``_generate_and_score_completions`` (features from
        ``self._audio``) and the policy pass of the loss (features from the batch, set by ``_compute_loss``).
        Returns ``(logps, entropies or None, aux_loss or None)`` as TRL's does.
        """
        from emotionthinker.model.chat import position_ids

        images = sorted(k for k, v in image_kwargs.items() if v is not None and k not in ("num_images", "num_tiles"))
        if images:
            raise ValueError(f"image inputs {images} are not supported by AudioGRPOTrainer")
        if input_features is None:
            if self._audio is None:
                raise RuntimeError("no audio features for this log-prob pass; they are set by _tokenize_prompts")
            input_features, feature_attention_mask = (self._audio[k] for k in AUDIO_KEYS)
        n = input_ids.size(0)
        if input_features.size(0) != n or feature_attention_mask.size(0) != n:
            raise RuntimeError(
                f"{n} sequences but {input_features.size(0)} audio feature rows: every completion needs its clip"
            )
        batch_size = batch_size or n
        all_logps, all_entropies, all_aux = [], [], []
        for start in range(0, n, batch_size):
            end = min(start + batch_size, n)
            ids, mask = input_ids[start:end], attention_mask[start:end]
            inputs = {
                "input_ids": ids,
                "attention_mask": mask,
                "input_features": input_features[start:end],
                "feature_attention_mask": feature_attention_mask[start:end],
            }
            if self.model_type == "qwen2_audio":
                # Qwen2-Audio numbers positions 0..L-1 whatever the mask, generation from the mask. RoPE only sees
                # differences, so both agree up to rounding; this numbers them as generation does.
                inputs["position_ids"] = position_ids(mask)
            if compute_aux_loss:
                inputs["output_router_logits"] = True
            labels = ids.masked_fill(mask == 0, -100)
            labels[:, :-logits_to_keep] = -100
            with self.accelerator.autocast():
                out = model(**inputs, labels=labels, fused_lm_head=True)
            all_logps.append(out.log_probs[:, -logits_to_keep:])
            if compute_entropy:
                all_entropies.append(out.entropy[:, -logits_to_keep:])
            if compute_aux_loss:
                all_aux.append(out.aux_loss)
        logps = torch.cat(all_logps, dim=0)
        entropies = torch.cat(all_entropies, dim=0) if compute_entropy else None
        aux_loss = torch.stack(all_aux).mean() if compute_aux_loss else None
        return logps, entropies, aux_loss

    def _generate_and_score_completions(self, inputs):
        try:
            output = super()._generate_and_score_completions(inputs)
            if self._audio is None:
                raise RuntimeError("_tokenize_prompts did not run for this batch; no audio features to keep")
            output.update(self._audio)  # shuffled and split with the rows by _prepare_inputs
        finally:
            self._audio = None
        return output

    def _compute_loss(self, model, inputs):
        self._audio = {k: inputs[k] for k in AUDIO_KEYS}
        try:
            return super()._compute_loss(model, inputs)
        finally:
            self._audio = None

    # -- rewards ------------------------------------------------------------------------------------------------------

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        rewards_per_func = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        return self._combine_ptr(rewards_per_func, "train" if self.model.training else "eval")

    def _combine_ptr(self, rewards_per_func: torch.Tensor, mode: str) -> torch.Tensor:
        """The gathered (completions, 3) components -> columns whose row sum is the GRPO-PTR reward.

        Columns: ``alpha_f * R_f``, ``alpha_o * R_o`` and ``alpha_t * gate * tau * R_t``, the last taken as the
        combiner's reward minus the first two so that the sum is exactly what the combiner computed. Training
        batches move the schedule (``update=True``); evaluation only reads it. The combiner's diagnostics go to the
        log as ``ptr/*``.
        """
        if rewards_per_func.size(1) != len(REWARD_COLUMNS):
            raise RuntimeError(f"expected {len(REWARD_COLUMNS)} reward columns, got {rewards_per_func.size(1)}")
        train = mode == "train"
        group = self.num_generations if train else self.num_generations_eval
        r_f, r_o, r_t = (rewards_per_func[:, i] for i in range(len(REWARD_COLUMNS)))
        result = self.ptr(r_f, r_o, r_t, group_size=group, step=self.state.global_step, update=train)
        cfg = self.ptr.config
        total = torch.tensor(result.rewards, dtype=rewards_per_func.dtype, device=rewards_per_func.device)
        f_term, o_term = cfg.alpha_format * r_f, cfg.alpha_outcome * r_o
        for key, value in result.metrics.items():
            self._metrics[mode][key].append(value)
        return torch.stack([f_term, o_term, total - f_term - o_term], dim=1)

    # -- checkpoints --------------------------------------------------------------------------------------------------

    def _ptr_state(self) -> dict:
        return {
            "version": PTR_STATE_VERSION,
            "global_step": self.state.global_step,
            "config": {f.name: getattr(self.ptr.config, f.name) for f in fields(self.ptr.config)},
            "combiner": self.ptr.state_dict(),
        }

    def _save_checkpoint(self, model, trial):
        # Written before Trainer's files: trainer_state.json, which marks a checkpoint complete, comes last.
        if self.args.should_save:
            from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

            folder = Path(self._get_output_dir(trial=trial)) / f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / PTR_STATE).write_text(json.dumps(self._ptr_state(), indent=1))
        super()._save_checkpoint(model, trial)

    def _load_optimizer_and_scheduler(self, checkpoint):
        super()._load_optimizer_and_scheduler(checkpoint)
        if checkpoint is not None:
            self._load_ptr_state(checkpoint)

    def restore_finished(self, checkpoint: str | Path) -> None:
        """Take the weights, the trainer state and the PTR schedule of a checkpoint that ends the run.

        Trainer's resume runs one more optimizer step before it checks ``max_steps``, so a rerun of a finished run
        (e.g. when only the evaluation code changed) would train a step beyond it; :func:`train_grpo` calls this
        instead of ``train`` then.
        """
        from transformers import TrainerState

        self._load_from_checkpoint(str(checkpoint))
        self.state = TrainerState.load_from_json(str(Path(checkpoint) / "trainer_state.json"))
        self._load_ptr_state(checkpoint)

    def _load_ptr_state(self, checkpoint) -> None:
        path = Path(checkpoint) / PTR_STATE
        if not path.exists():
            logger.warning("%s has no %s: the progressive schedule starts afresh", checkpoint, PTR_STATE)
            return
        state = json.loads(path.read_text())
        saved = state.get("config", {})
        mine = {f.name: getattr(self.ptr.config, f.name) for f in fields(self.ptr.config)}
        if saved != mine:
            raise ValueError(
                f"{path}: the checkpoint was trained with reward settings {saved}, this run has {mine}; resume with "
                "the same settings or start the run in a fresh output_dir"
            )
        self.ptr.load_state_dict(state["combiner"])
        on = self.ptr.schedule.switched_on_step
        logger.info("restored the GRPO-PTR schedule from %s (R_t switched on at step %s)", path, on)

    def _load_from_checkpoint(self, resume_from_checkpoint, model=None):
        target = self.model if model is None else model
        if (
            self.is_fsdp_enabled
            or self.is_deepspeed_enabled
            or not load_checkpoint_weights(target, resume_from_checkpoint)
        ):
            super()._load_from_checkpoint(resume_from_checkpoint, model)

    def _save(self, output_dir=None, state_dict=None):
        super()._save(output_dir, state_dict)
        # the processor (feature extractor, chat template) beside the weights: emotionthinker.model.load needs it
        self.audio_processor.save_pretrained(output_dir or self.args.output_dir)


def grpo_args(
    stage: GRPOStageConfig, output_dir: str | Path, audio_root: str | Path, labels: Sequence[str]
) -> GRPOPTRConfig:
    """The trainer's config for the grpo section of params; batch sizes from prompts per step and the group size."""
    cuda = torch.cuda.is_available()
    return GRPOPTRConfig(
        output_dir=str(output_dir),
        audio_root=str(audio_root),
        labels=list(labels),
        alpha_format=stage.alpha_format,
        alpha_outcome=stage.alpha_outcome,
        alpha_reasoning=stage.alpha_reasoning,
        trust=stage.trust,
        progressive=stage.progressive,
        schedule_threshold=stage.schedule_threshold,
        schedule_window=stage.schedule_window,
        schedule_min_steps=stage.schedule_min_steps,
        schedule_ramp_steps=stage.schedule_ramp_steps,
        num_generations=stage.num_generations,
        per_device_train_batch_size=stage.per_device_batch_size,
        gradient_accumulation_steps=stage.grad_accum,
        max_completion_length=stage.max_completion_length,
        temperature=stage.temperature,
        top_p=stage.top_p,
        beta=stage.beta,
        num_iterations=stage.num_iterations,
        epsilon=stage.epsilon,
        learning_rate=stage.learning_rate,
        warmup_steps=stage.warmup_ratio,  # a float below 1 is a ratio of the total steps
        num_train_epochs=stage.epochs,
        max_steps=stage.max_steps or -1,
        weight_decay=stage.weight_decay,
        max_grad_norm=stage.max_grad_norm,
        seed=stage.seed,
        data_seed=stage.seed,
        **precision_flags(stage.precision, "grpo.precision"),
        activation_checkpointing=stage.gradient_checkpointing,
        save_strategy="steps",
        save_steps=stage.save_steps,
        save_total_limit=stage.save_total_limit,
        logging_steps=stage.logging_steps,
        report_to=[],
        use_cpu=not cuda,
        deepspeed=str(stage.deepspeed) if stage.deepspeed else None,
    )


def train_grpo(
    model_path: str | Path,
    reasoning_reward,
    train_ds,
    cfg: GRPOPTRConfig,
    callbacks=None,
    eval_ds=None,
    peft_config=None,
    dtype: str | None = None,
) -> AudioGRPOTrainer:
    """Train the policy in ``model_path`` (e.g. models/base) with GRPO-PTR; returns the trainer.

    The policy is loaded from the folder so that TRL can rebuild the reference model from it (``cfg.beta > 0``).
    Resumes from the last checkpoint in ``cfg.output_dir`` when ``cfg.resume``: weights, optimizer, step, data
    order and the PTR schedule. The caller saves the result (``trainer.save_model(out)``, processor included).
    """
    from emotionthinker.model.builder import load

    model, processor = load(Path(model_path), dtype=dtype)
    trainer = AudioGRPOTrainer(
        model,
        processor,
        reasoning_reward,
        cfg,
        train_dataset=train_ds,
        eval_dataset=eval_ds,
        callbacks=callbacks,
        peft_config=peft_config,
    )
    resume = last_checkpoint(cfg.output_dir) if cfg.resume else None
    trainer.restored_from = None  # the checkpoint of a finished run, when this call trained nothing
    if resume:
        state = json.loads((Path(resume) / "trainer_state.json").read_text())
        if state.get("max_steps") and state["global_step"] >= state["max_steps"]:
            logger.info("%s ends the run (step %d of %d): not training again", resume, state["global_step"],
                        state["max_steps"])  # fmt: skip
            trainer.restore_finished(resume)
            trainer.restored_from = Path(resume).name
            return trainer
        logger.info("resuming GRPO from %s", resume)
    trainer.train(resume_from_checkpoint=resume)
    return trainer
