"""Speed of the SpeechLLM: parameters, generation latency for one 3 s clip, training throughput, peak memory.

    python benchmarks/model_latency.py                      # builds the tiny model from data/ into a temp folder
    python benchmarks/model_latency.py --path models/base   # any local Qwen2-Audio / Qwen2.5-Omni checkpoint
    python benchmarks/model_latency.py --hops 160,320       # tiny models at both mel hops, side by side

Generation: one clip of --clip-s seconds, greedy, exactly --new-tokens new tokens (an untrained model would stop
at random), median of --repeats runs after one warm-up. Training: batches of --batch clips with an EmotionCoT-
length target, forward + backward + AdamW step, samples per second over --steps steps after one warm-up. Peak
RSS is the process's high-water mark (building and loading included).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from emotionthinker.config.model import ModelConfig
from emotionthinker.model import (
    build_tiny,
    corpus_texts,
    encode_batch,
    generate,
    load,
    model_kind,
    parameter_count,
    to_device,
)
from emotionthinker.model.audio import SAMPLE_RATE, data_max_audio_s
from emotionthinker.prompts import SYSTEM_PROMPT, build_messages, format_target, question

RATIONALE = (
    'What we hear is a woman producing the line "The library closes at six on weekdays." Her high pitch is hard to '
    "miss. She speaks quickly, as if pushed by agitation. She speaks at a moderate volume, which is compatible with "
    "several readings. To be fair, there is little pitch movement, which on its own would point elsewhere. The "
    'prominence falls on "library", which singles it out as the point of the utterance. Everything here indicates '
    "that the speaker is happy."
)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def test_clip(seconds: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    f0 = 180 + 40 * np.sin(2 * np.pi * 0.7 * t)
    x = 0.3 * np.sin(2 * np.pi * np.cumsum(f0) / SAMPLE_RATE) + 0.02 * rng.standard_normal(len(t))
    return x.astype(np.float32)


def build(args, hop_length: int = 160) -> Path:
    data = Path(args.data)
    if (data / "emotioncot" / "train.jsonl").exists():
        texts = list(corpus_texts(data))
    else:
        texts = [SYSTEM_PROMPT, question(), RATIONALE, format_target(RATIONALE, "happy")]
    max_audio_s = args.max_audio_s
    if max_audio_s is None:
        try:
            max_audio_s = data_max_audio_s(data)
        except ValueError:
            max_audio_s = 10.0
    out = Path(args.tmp) / f"tiny{hop_length}"
    t = time.perf_counter()
    build_tiny(ModelConfig(seed=args.seed, hop_length=hop_length), texts, max_audio_s, out)
    took = time.perf_counter() - t
    print(f"built the tiny model (hop {hop_length}) in {took:.1f} s; longest clip {max_audio_s:.1f} s")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--path", type=Path, help="local checkpoint to load instead of building the tiny model")
    ap.add_argument("--data", default="data", help="data folder: corpus for the tokenizer, clip lengths")
    ap.add_argument("--max-audio-s", type=float, default=None, help="tiny model's longest clip (default: the data's)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--dtype", default=None, help="float32 | bfloat16 | float16 (default: the checkpoint's)")
    ap.add_argument("--clip-s", type=float, default=3.0)
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, help="also write the results here")
    ap.add_argument("--hops", default="320", help="tiny model mel hops to compare, e.g. 160,320 (the params default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    with tempfile.TemporaryDirectory(prefix="tiny_speechllm_") as tmp:
        args.tmp = tmp
        if args.path:
            run(args, args.path)
            return
        rows = [(int(h), run(args, build(args, int(h)))) for h in args.hops.split(",")]
    if len(rows) > 1:
        print(f"\n{'hop':>5} {'chunk s':>8} {'train samples/s':>16} {'generate ms':>12} {'peak RSS MB':>12}")
        for hop, r in rows:
            print(f"{hop:>5} {r['chunk_length_s']:>8} {r['train_samples_per_s']:>16.1f} "
                  f"{r['generate_latency_s'] * 1000:>12.0f} {r['peak_rss_mb']:>12.0f}")  # fmt: skip


def run(args, path: Path) -> dict:
    model, processor = load(path, device=args.device, dtype=args.dtype)
    kind = model_kind(model)
    n_params = parameter_count(model)
    fe = processor.feature_extractor
    print(f"{kind} from {path}: {n_params:,} parameters ({n_params / 1e6:.2f}M), {model.dtype}, {args.device}")
    print(f"feature extractor: {fe.feature_size} mel bins, {fe.chunk_length} s chunks ({fe.nb_max_frames} frames)")

    # generation latency, one clip
    messages, audio = [build_messages("bench.wav")], [test_clip(args.clip_s, 0)]
    model.eval()

    def one_reply() -> float:
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        t = time.perf_counter()
        generate(model, processor, messages, audio, args.new_tokens, min_new_tokens=args.new_tokens)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        return time.perf_counter() - t

    one_reply()
    latencies = [one_reply() for _ in range(args.repeats)]
    latency = statistics.median(latencies)
    print(
        f"generate: {args.new_tokens} new tokens for one {args.clip_s:.0f} s clip in {latency * 1000:.0f} ms "
        f"(median of {args.repeats}; {args.new_tokens / latency:.0f} tokens/s)"
    )

    # training throughput, batches of args.batch
    clips = [test_clip(args.clip_s, i + 1) for i in range(args.batch)]
    targets = [format_target(RATIONALE, "happy")] * args.batch
    batch = to_device(encode_batch(processor, kind, [messages[0]] * args.batch, clips, targets=targets), model)
    seq_len = batch["input_ids"].shape[1]
    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)

    def step() -> float:
        out = model(**batch)
        out.loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return out.loss.item()

    step()
    t = time.perf_counter()
    losses = [step() for _ in range(args.steps)]
    elapsed = time.perf_counter() - t
    throughput = args.batch * args.steps / elapsed
    print(
        f"train: batch {args.batch} x {seq_len} tokens, {elapsed / args.steps * 1000:.0f} ms/step, "
        f"{throughput:.1f} samples/s (loss {losses[0]:.2f} -> {losses[-1]:.2f})"
    )
    rss = peak_rss_mb()
    print(f"peak RSS: {rss:.0f} MB")
    if args.device.startswith("cuda"):
        print(f"peak GPU memory: {torch.cuda.max_memory_allocated() / 2**20:.0f} MB")
    result = {
        "model": kind,
        "parameters": n_params,
        "chunk_length_s": fe.chunk_length,
        "hop_length": fe.hop_length,
        "generate_latency_s": latency,
        "new_tokens": args.new_tokens,
        "train_samples_per_s": throughput,
        "train_seq_len": seq_len,
        "peak_rss_mb": rss,
    }
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
