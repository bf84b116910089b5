"""Load test of the BentoML service: concurrent clients on loopback for a fixed time, adaptive batching on and off.

    python benchmarks/serve_load.py                          # the tiny model of params.yaml, 8 clients x 60 s, on/off
    python benchmarks/serve_load.py --model micro            # the tests' 0.3M-parameter model instead
    python benchmarks/serve_load.py --clients 16 --duration 30 --modes on
    python benchmarks/serve_load.py --url http://127.0.0.1:3000 --token $EMOTIONTHINKER_API_TOKEN   # a running one

Without --url, it builds the tiny Qwen2-Audio of the ``model:`` section of params.yaml (~3M parameters; untrained,
so every reply runs to --max-new-tokens: the slowest case) in a temporary BentoML store, promotes it, and runs
``bentoml serve`` once per mode (EMOTIONTHINKER_BATCHING=1, then 0), one after the other so that the modes do not
share the cores. Each client loops: POST /analyze with a clip,
wait, repeat, until the time is up; requests still in flight then finish (each is bounded by --timeout). A warm-up
phase first lets BentoML's dispatcher fit its latency model (its first ~10 calls are not batched).

Reported per mode: requests, errors (by status), p50/p95/p99 latency, throughput, mean batch size the service
reported, and the server's resident memory (process tree) before and after the measured phase, with the growth
over its second half alone (sampled every 2 s): a leak keeps growing, allocator warm-up levels off.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.serving_fixtures import build_model, promote, serving, speech_like, wav_bytes  # noqa: E402


def rss_mb(pid: int | None) -> float | None:
    """Resident memory of a process and its children (the server's workers), MB."""
    if pid is None:
        return None
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return None
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total / 1024 / 1024


def percentile(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


async def client(http: httpx.AsyncClient, clips: list[bytes], index: int, until: float, options: dict,
                 record: dict) -> None:  # fmt: skip
    i = index
    while time.monotonic() < until:
        clip = clips[i % len(clips)]
        i += 1
        t0 = time.perf_counter()
        try:
            resp = await http.post("/analyze", files={"audio": ("clip.wav", clip, "audio/wav")}, data=options)
            status = resp.status_code
            body = resp.json() if status == 200 else None
        except httpx.HTTPError as e:
            status, body = type(e).__name__, None
        dt = time.perf_counter() - t0
        if status == 200:
            record["latencies"].append(dt)
            record["batch_sizes"].append(body.get("batch_size", 1))
        else:
            record["errors"][str(status)] += 1


async def run_load(url: str, clips: list[bytes], clients: int, duration: float, warmup: float, options: dict,
                   token: str | None, timeout: float, server_pid: int | None) -> dict:  # fmt: skip
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    limits = httpx.Limits(max_connections=clients + 2, max_keepalive_connections=clients + 2)
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=timeout, limits=limits) as http:
        if warmup > 0:
            scratch = {"latencies": [], "batch_sizes": [], "errors": collections.Counter()}
            until = time.monotonic() + warmup
            await asyncio.gather(*(client(http, clips, i, until, options, scratch) for i in range(clients)))
        rss_before = rss_mb(server_pid)
        record = {"latencies": [], "batch_sizes": [], "errors": collections.Counter()}
        started = time.monotonic()
        until = started + duration
        samples: list[float] = []

        async def sample_memory():  # every 2 s: is growth a leak (linear) or a plateau (allocator warm-up)?
            while time.monotonic() < until:
                if (mb := rss_mb(server_pid)) is not None:
                    samples.append(mb)
                await asyncio.sleep(2.0)

        await asyncio.gather(
            sample_memory(), *(client(http, clips, i, until, options, record) for i in range(clients))
        )
        elapsed = time.monotonic() - started
        rss_after = rss_mb(server_pid)
    lat = record["latencies"]
    return {
        "clients": clients,
        "seconds": round(elapsed, 2),
        "requests": len(lat) + sum(record["errors"].values()),
        "ok": len(lat),
        "errors": dict(record["errors"]),
        "error_count": sum(record["errors"].values()),
        "p50_ms": round(1000 * percentile(lat, 50), 1) if lat else None,
        "p95_ms": round(1000 * percentile(lat, 95), 1) if lat else None,
        "p99_ms": round(1000 * percentile(lat, 99), 1) if lat else None,
        "max_ms": round(1000 * max(lat), 1) if lat else None,
        "throughput_rps": round(len(lat) / elapsed, 2),
        "mean_batch_size": round(statistics.mean(record["batch_sizes"]), 2) if lat else None,
        "rss_before_mb": None if rss_before is None else round(rss_before, 1),
        "rss_after_mb": None if rss_after is None else round(rss_after, 1),
        "rss_growth_mb": None if rss_before is None or rss_after is None else round(rss_after - rss_before, 1),
        # growth over the second half alone: near 0 when the first half's growth was warm-up, not a leak
        "rss_growth_2nd_half_mb": round(samples[-1] - samples[len(samples) // 2], 1) if len(samples) > 3 else None,
    }


def make_clips(n: int, seconds: float) -> list[bytes]:
    """Speech-like clips of about ``seconds`` (within +-10%, so the duration groups are exercised), various F0."""
    rng = np.random.default_rng(1)
    out = []
    for i in range(n):
        s = seconds * rng.uniform(0.9, 1.1)
        f0 = rng.uniform(110, 260)
        out.append(wav_bytes(speech_like(s, f0, f0 * rng.uniform(0.7, 1.3), seed=i)))
    return out


def table(results: dict[str, dict]) -> str:
    cols = ("requests", "error_count", "p50_ms", "p95_ms", "p99_ms", "throughput_rps", "mean_batch_size",
            "rss_before_mb", "rss_after_mb", "rss_growth_mb", "rss_growth_2nd_half_mb")  # fmt: skip
    lines = [f"{'batching':<9}" + "".join(f"{c:>{len(c) + 2}}" for c in cols)]
    for mode, r in results.items():
        lines.append(f"{mode:<9}" + "".join(f"{'-' if r.get(c) is None else r[c]!s:>{len(c) + 2}}" for c in cols))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", help="a running service; default: start one per mode on a tiny model")
    ap.add_argument("--token", help="bearer token of a running service (EMOTIONTHINKER_API_TOKEN)")
    ap.add_argument("--modes", default="on,off", help="batching modes to run when starting servers: on,off")
    ap.add_argument("--clients", type=int, default=8, help="concurrent clients (default 8)")
    ap.add_argument("--duration", type=float, default=60.0, help="measured seconds per mode (default 60)")
    ap.add_argument("--warmup", type=float, default=8.0, help="unmeasured seconds first (default 8)")
    ap.add_argument("--clip-s", type=float, default=2.0, help="clip duration, +-10%% (default 2.0)")
    ap.add_argument("--max-new-tokens", type=int, default=16, help="generation budget per request (default 16)")
    ap.add_argument(
        "--model",
        default="project",
        choices=("project", "micro"),
        help="project: the tiny model of --params (default); micro: the serving tests' model",
    )
    ap.add_argument("--params", type=Path, default=REPO / "params.yaml", help="params file with a model: section")
    ap.add_argument("--max-batch-size", type=int, default=8, help="EMOTIONTHINKER_MAX_BATCH_SIZE (default 8)")
    ap.add_argument("--timeout", type=float, default=30.0, help="per-request timeout, s (default 30)")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args(argv)
    if args.clients < 1 or args.duration <= 0:
        ap.error("--clients must be >= 1 and --duration > 0")

    clips = make_clips(max(4, args.clients), args.clip_s)
    options = {"max_new_tokens": str(args.max_new_tokens)}
    results: dict[str, dict] = {}
    if args.url:
        results["server"] = asyncio.run(run_load(args.url, clips, args.clients, args.duration, args.warmup,
                                                 options, args.token, args.timeout, None))  # fmt: skip
    else:
        with tempfile.TemporaryDirectory(prefix="serve-load-") as tmp:
            home = Path(tmp) / "bentoml"
            config = None
            if args.model == "project":
                from emotionthinker.config import load_yaml

                config = load_yaml(args.params).get("model") or {}
                if config.get("backbone", "tiny") != "tiny":
                    ap.error(f"{args.params}: model.backbone is {config['backbone']}; this benchmark builds tiny ones")
            print(f"building the {args.model} tiny model in {tmp} ...", flush=True)
            model_dir = build_model(Path(tmp) / "tiny", max_audio_s=max(3.0, args.clip_s * 1.2), config=config)
            tag = promote(home, model_dir, max_new_tokens=args.max_new_tokens)
            for mode in [m.strip() for m in args.modes.split(",") if m.strip()]:
                if mode not in ("on", "off"):
                    ap.error(f"--modes: '{mode}' is not on or off")
                print(f"batching {mode}: starting the service on {tag} ...", flush=True)
                settings = {"batching": "1" if mode == "on" else "0", "max_batch_size": str(args.max_batch_size)}
                with serving(home, log=Path(tmp) / f"serve-{mode}.log", **settings) as (url, pid):
                    results[mode] = asyncio.run(run_load(url, clips, args.clients, args.duration, args.warmup,
                                                         options, None, args.timeout, pid))  # fmt: skip
                print(json.dumps(results[mode]), flush=True)
    print()
    print(table(results))
    if "on" in results and "off" in results and results["off"]["throughput_rps"]:
        ratio = results["on"]["throughput_rps"] / results["off"]["throughput_rps"]
        print(f"\nthroughput with batching / without: {ratio:.2f}x")
        results["speedup"] = round(ratio, 2)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0 if all(r.get("error_count", 0) == 0 for r in results.values() if isinstance(r, dict)) else 1


if __name__ == "__main__":
    sys.exit(main())
