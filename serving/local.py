"""A ``bentoml serve`` process on a free loopback port, and the sample prediction that ends ``make run``.

    python -m serving.local                      # serve the promoted model, analyse one test clip, print, stop
    python -m serving.local --clip my.wav        # the same with your clip
    python -m serving.local --help

:func:`serving` is also what the serving tests and ``benchmarks/serve_load.py`` start the service with, so the
sample prediction goes through the same HTTP path as they do (guard, upload checks, batching step, the shared
inference path).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

REPO = Path(__file__).resolve().parents[1]


class Served(NamedTuple):
    url: str  # http://127.0.0.1:<port>
    pid: int  # the server's main process (its workers are children)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def service_env(home: Path | None, **settings: str) -> dict[str, str]:
    """The environment of a service process: the store (``home``; None keeps $BENTOML_HOME), settings as
    EMOTIONTHINKER_* variables (others from the caller's environment are dropped), 2 threads."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMOTIONTHINKER_")}
    env.update({"BENTOML_DO_NOT_TRACK": "True", "OMP_NUM_THREADS": "2", "TOKENIZERS_PARALLELISM": "false",
                "PYTHONPATH": str(REPO)})  # fmt: skip
    if home is not None:
        env["BENTOML_HOME"] = str(home)
    env.update({f"EMOTIONTHINKER_{k.upper()}": str(v) for k, v in settings.items()})
    return env


@contextlib.contextmanager
def serving(home: Path | None, target: str = "serving.service:EmotionThinker", log: Path | None = None,
            timeout_s: float = 180.0, cwd: Path = REPO, **settings: str) -> Iterator[Served]:  # fmt: skip
    """``bentoml serve`` on a free port (loopback only) until the block ends; yields its URL and process id.

    The server runs in its own process group, ended with SIGTERM (then SIGKILL) on exit, so no worker outlives
    the block. Start-up failures raise with the tail of the server's log.
    """
    import httpx

    port = free_port()
    log = log or (home or Path(os.environ.get("BENTOML_HOME", Path.home() / "bentoml"))) / f"serve-{port}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "bentoml", "serve", target, "--host", "127.0.0.1", "--port", str(port)]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=cwd, env=service_env(home, **settings), stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"bentoml serve exited with {proc.returncode}:\n{_tail(log)}")
            try:
                if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"bentoml serve not ready after {timeout_s} s:\n{_tail(log)}")
            time.sleep(0.5)
        yield Served(url, proc.pid)
    finally:
        _stop(proc)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def _tail(log: Path, n: int = 4000) -> str:
    try:
        return log.read_text(errors="replace")[-n:]
    except OSError:
        return "(no log)"


def _test_clip(repo: Path) -> tuple[Path, dict]:
    """The first test clip of the last run, with its manifest record (for the true label)."""
    from emotionthinker.records import read_jsonl

    manifest = repo / "data" / "manifest.jsonl"
    if not manifest.exists():
        raise SystemExit(f"{manifest} does not exist: run the pipeline first (make run), or pass --clip")
    test = [r for r in read_jsonl(manifest) if r.get("split") == "test"]
    if not test:
        raise SystemExit(f"{manifest} has no test clip; pass --clip")
    return repo / test[0]["audio_path"], test[0]


def _params_store(params: Path) -> Path | None:
    """``promote.store`` of params.yaml (where the promote stage saved the model), or None for $BENTOML_HOME."""
    from emotionthinker.config import load_yaml

    if not params.exists():
        return None
    store = (load_yaml(params).get("promote") or {}).get("store")
    return Path(store) if store else None


def describe(answer: dict, truth: str | None = None) -> str:
    """The lines a person reads: answer (and the truth when known), rationale, cited cues, timings, model."""
    lines = [f"emotion    {answer.get('emotion')}" + (f"   (labelled: {truth})" if truth else "")]
    lines.append(f"rationale  {answer.get('rationale') or answer.get('raw_output', '')[:300]}")
    for cue in answer.get("cues") or []:
        verdict = {True: "agrees with", False: "contradicts", None: "no measurement for"}[cue["agrees"]]
        measured = "" if cue["measured"] is None else f" ({cue['measured']})"
        lines.append(f"  cue '{cue['phrase']}' ({cue['attribute']} {cue['value']}) {verdict} the measured "
                     f"{cue['attribute']}{measured}")  # fmt: skip
    lines.append(f"caption    {answer.get('caption')}")
    t = answer.get("timings_ms") or {}
    lines.append(f"timings    total {t.get('total_ms')} ms (generation {t.get('generate_ms')} ms, prosody "
                 f"{t.get('prosody_ms')} ms), {answer.get('new_tokens')} new tokens")  # fmt: skip
    lines.append(f"model      {answer.get('model_tag')}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m serving.local",
        description="Start `bentoml serve serving.service:EmotionThinker` on a free loopback port with the promoted "
        "model (of $BENTOML_HOME, or --store), send one clip to POST /analyze, print the answer, the rationale and "
        "the cues it cites checked against the measured prosody, then stop the server. Without --clip, the first "
        "test clip of the last pipeline run.",
    )
    parser.add_argument("--clip", type=Path, help="an audio file (wav, flac, mp3, ogg); default: a test clip")
    store_help = "BentoML home of the promoted model (default: params' promote.store, else $BENTOML_HOME)"
    parser.add_argument("--store", type=Path, help=store_help)
    parser.add_argument("--json", action="store_true", help="print the whole JSON answer instead of a summary")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the answer (default 300)")
    args = parser.parse_args(argv)
    import httpx

    store = args.store or _params_store(REPO / "params.yaml")
    truth = None
    clip = args.clip
    if clip is None:
        clip, record = _test_clip(REPO)
        truth = record.get("emotion")
    if not clip.is_file():
        raise SystemExit(f"{clip}: no such file")
    log = Path(os.environ.get("TMPDIR", "/tmp")) / f"emotionthinker-serve-{os.getpid()}.log"
    print(f"serving the promoted model (log: {log}) ...", flush=True)
    try:
        with serving(store, log=log) as served:
            print(f"POST {served.url}/analyze  {clip}", flush=True)
            reply = httpx.post(served.url + "/analyze", files={"audio": ("clip", clip.read_bytes())},
                               timeout=args.timeout)  # fmt: skip
    except RuntimeError as e:  # the server did not start: its log says why (e.g. no promoted model)
        print(f"the service did not start: {e}", file=sys.stderr)
        return 1
    if reply.status_code != 200:
        print(f"{reply.status_code}: {reply.text[:1000]}", file=sys.stderr)
        return 1
    answer = reply.json()
    print(json.dumps(answer, indent=2) if args.json else describe(answer, truth))
    return 0


if __name__ == "__main__":
    sys.exit(main())
