"""The two small checkpoints of benchmarks/gpu_check.sh's kit (KIT/ckpt), built from the micro profile's data.

    python benchmarks/gpu_kit_ckpt.py --data-dir CLONE/data --params CLONE/params.yaml --out .gpu/ckpt
    python benchmarks/gpu_kit_ckpt.py --check-only --out .gpu/ckpt      # load an existing pair and report it

benchmarks/gpu_kit.sh runs it on the data it renders in a temporary clone; run it by hand only to rebuild the
checkpoints of a kit. Both are real architectures at toy sizes, saved in bfloat16 as the released checkpoints are:

qwen2-audio/  a Qwen2AudioForConditionalGeneration from the project's build_tiny (BPE trained on the micro corpus),
              with the released checkpoints' audio front end (128 mel bins, hop 160, n_fft 400, 30 s chunks,
              1500 encoder positions).
causal-lm/    a Qwen2ForCausalLM (tied embeddings, rope_theta 1e6, as Qwen2.5-0.5B) with a BPE trained on the reward
              model's train texts; no pad token (as Qwen2.5: the loader pads with eos).

Both are then loaded with the project's own loaders (emotionthinker.model.load, and
emotionthinker.rewards.rm_training.load_causal_lm with and without LoRA), as the GPU check's stages load them; a
checkpoint they reject fails the script. Deterministic for the same data and library versions (fixed seeds).
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import torch

from emotionthinker.config import LabelsConfig, ModelConfig, RewardModelConfig, load_yaml
from emotionthinker.model import build_tiny, corpus_texts, load, parameter_count
from emotionthinker.model.tokenizer import train_tokenizer
from emotionthinker.records import read_jsonl
from emotionthinker.rewards.rm_training import load_causal_lm, tokenizer_texts

AUDIO_DIR = "qwen2-audio"
LM_DIR = "causal-lm"
CHUNK_S = 30  # the released Whisper front end: 30 s windows, 1500 encoder positions


def build_qwen2_audio(data_dir: Path, labels: list[str], out: Path) -> Path:
    """A tiny Qwen2-Audio with the released front end, saved in bfloat16 to ``out`` (replaced if present)."""
    shutil.rmtree(out, ignore_errors=True)
    cfg = ModelConfig(
        backbone="tiny", seed=3, max_audio_s=CHUNK_S - 1.0,  # padded to ceil(29) + 1 = 30 s: 1500 positions
        vocab_size=4096, num_mel_bins=128, hop_length=160, n_fft=400,
        audio_layers=2, audio_d_model=256, audio_heads=4, audio_ffn_dim=512,
        text_layers=3, hidden_size=256, heads=4, kv_heads=2, intermediate_size=512, max_positions=4096,
    )  # fmt: skip
    fp32 = out.with_name(out.name + ".fp32")
    shutil.rmtree(fp32, ignore_errors=True)
    built = build_tiny(cfg, corpus_texts(data_dir, labels), cfg.max_audio_s, fp32)
    model, processor = load(built)
    model.to(torch.bfloat16).save_pretrained(out, safe_serialization=True)
    processor.save_pretrained(out)
    shutil.rmtree(built)
    return out


def build_causal_lm(data_dir: Path, out: Path) -> Path:
    """A small Qwen2ForCausalLM with a BPE of the reward model's train texts, saved in bfloat16 to ``out``."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    shutil.rmtree(out, ignore_errors=True)
    tok = train_tokenizer(tokenizer_texts(read_jsonl(data_dir / "rm" / "train.jsonl")), 4096)
    config = Qwen2Config(
        vocab_size=len(tok), hidden_size=256, intermediate_size=512, num_hidden_layers=4, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=4096, tie_word_embeddings=True,
        rope_parameters={"rope_type": "default", "rope_theta": 1000000.0},
        bos_token_id=None, eos_token_id=tok.eos_token_id, pad_token_id=None,  # as Qwen2.5: the loader pads with eos
    )  # fmt: skip
    torch.manual_seed(5)
    Qwen2ForCausalLM(config).to(torch.bfloat16).save_pretrained(out, safe_serialization=True)
    tok.save_pretrained(out)
    return out


def check(ckpt_dir: Path) -> list[str]:
    """Load both checkpoints as the stages do; one line per checkpoint, or an error naming what is wrong."""
    model, processor = load(ckpt_dir / AUDIO_DIR, dtype="bfloat16")
    chunk = processor.feature_extractor.chunk_length
    if chunk != CHUNK_S:
        raise SystemExit(f"{ckpt_dir / AUDIO_DIR}: feature extractor chunk_length {chunk}, expected {CHUNK_S}")
    lines = [
        f"{AUDIO_DIR}: {parameter_count(model) / 1e6:.2f}M parameters, {model.dtype}, "
        f"vocab {len(processor.tokenizer)}, {processor.feature_extractor.feature_size} mel bins, {chunk} s chunks"
    ]
    rm_cfg = RewardModelConfig.model_validate({"backbone": "causal-lm", "path": str(ckpt_dir / LM_DIR)})
    rm, rm_tok = load_causal_lm(rm_cfg)
    lora = load_causal_lm(rm_cfg.model_copy(update={"lora": rm_cfg.lora.model_copy(update={"enabled": True})}))[0]
    saved = json.loads((ckpt_dir / LM_DIR / "config.json").read_text())
    lines.append(
        f"{LM_DIR}: saved in {saved.get('dtype') or saved.get('torch_dtype')}, loads as {type(rm).__name__} "
        f"({parameter_count(rm) / 1e6:.2f}M parameters, {next(rm.parameters()).dtype}, vocab {len(rm_tok)}), "
        f"with LoRA as {type(lora).__name__}"
    )
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path, help="the micro profile's data (emotioncot/, sft_tasks/, rm/)")
    ap.add_argument("--params", type=Path, help="the params.yaml that data was rendered with (for the labels)")
    ap.add_argument("--out", type=Path, default=Path(".gpu/ckpt"), help="folder for qwen2-audio/ and causal-lm/")
    ap.add_argument("--check-only", action="store_true", help="only load the checkpoints in --out and report them")
    args = ap.parse_args()

    if not args.check_only:
        if args.data_dir is None or args.params is None:
            ap.error("--data-dir and --params are needed to build (or pass --check-only)")
        labels = LabelsConfig.from_params(load_yaml(args.params)).names
        args.out.mkdir(parents=True, exist_ok=True)
        build_qwen2_audio(args.data_dir, labels, args.out / AUDIO_DIR)
        build_causal_lm(args.data_dir, args.out / LM_DIR)
    for line in check(args.out):
        print(line)


if __name__ == "__main__":
    main()
