"""Optional rationale writer backed by any OpenAI-compatible chat endpoint.

The prompt gives the model the clip's facts and the same rules the offline writer follows. Requests run
concurrently with retries and exponential backoff; results are appended to a JSONL file keyed on
``utt_id`` as they arrive, so an interrupted run resumes where it stopped; clips that still fail go to
a sibling ``*.errors.jsonl`` file with the reason. ``dry_run`` returns the filled prompts without
calling anything.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import httpx
from tqdm.auto import tqdm

from emotionthinker.annotate.facts import Facts, caption
from emotionthinker.annotate.lexicon import PHRASES

log = logging.getLogger(__name__)

RULES = """Write the reasoning of an expert listener who explains which emotion a speech clip expresses.
Rules:
- 50 to 200 words, plain prose, no lists, no headings.
- Quote the transcript in double quotes.
- Mention the speaker (gender, age group when known).
- Discuss the prosodic cues listed below and how each supports (or argues against) the emotion; cite only these
  cues, never invent one. Describe levels with plain words such as: {vocabulary}.
- Treat the words as a secondary cue: say whether the content agrees with the prosody.
- Do not begin with the emotion label and do not name the emotion before the last sentence; let the conclusion
  follow from the cues, and name the emotion "{label}" in the last sentence.
Facts of the clip:
{facts}
Caption: {caption}
Reply with the reasoning text only."""


@dataclass(frozen=True)
class EndpointConfig:
    base_url: str  # e.g. http://localhost:8000/v1
    model: str
    api_key_env: str = "OPENAI_API_KEY"
    concurrency: int = 8
    max_retries: int = 5
    timeout_s: float = 60.0
    temperature: float = 0.7


def build_prompt(facts: Facts, label: str | None = None) -> str:
    vocab = ", ".join(sorted({p for a in ("pitch", "energy", "speed") for ps in PHRASES[a].values() for p in ps[:2]}))
    shown = {k: v for k, v in facts.to_dict().items() if v not in (None, [], ()) and k not in ("utt_id", "emotion")}
    return RULES.format(vocabulary=vocab, label=label or facts.emotion, facts=json.dumps(shown, ensure_ascii=False),
                        caption=caption(facts))  # fmt: skip


def dry_run(facts: Iterable[Facts], n: int) -> list[str]:
    """The first ``n`` filled prompts, without calling the endpoint."""
    return [build_prompt(f) for f, _ in zip(facts, range(n), strict=False)]


class EndpointWriter:
    def __init__(self, cfg: EndpointConfig, client: httpx.Client | None = None):
        self.cfg = cfg
        key = os.environ.get(cfg.api_key_env, "")
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.client = client or httpx.Client(base_url=cfg.base_url.rstrip("/"), headers=headers, timeout=cfg.timeout_s)

    def _call(self, prompt: str) -> str:
        body = {"model": self.cfg.model, "temperature": self.cfg.temperature,
                "messages": [{"role": "user", "content": prompt}]}  # fmt: skip
        delay = 1.0
        for attempt in range(self.cfg.max_retries + 1):
            try:
                r = self.client.post("/chat/completions", json=body)
                if r.status_code == 200:
                    text = r.json()["choices"][0]["message"]["content"].strip()
                    if text:
                        return text
                    raise ValueError("empty completion")
                if r.status_code not in (408, 409, 429) and r.status_code < 500:
                    raise ValueError(f"HTTP {r.status_code}: {r.text[:200]}")  # a client error will not heal
                why = f"HTTP {r.status_code}"
            except (httpx.TransportError, KeyError, json.JSONDecodeError) as e:
                why = f"{type(e).__name__}: {e}"
            if attempt == self.cfg.max_retries:
                raise RuntimeError(f"gave up after {attempt + 1} attempts ({why})")
            time.sleep(delay)
            delay = min(delay * 2, 30.0)
        raise AssertionError("unreachable")

    def write_all(self, facts: list[Facts], out_path: Path) -> dict[str, str]:
        """Rationales for every clip, appended to ``out_path`` as they arrive; resumes from what is there."""
        out_path = Path(out_path)
        errors_path = out_path.with_suffix(".errors.jsonl")
        done: dict[str, str] = {}
        if out_path.exists():
            for line in out_path.read_text().splitlines():
                if line.strip():
                    rec = json.loads(line)
                    done[rec["utt_id"]] = rec["rationale"]
        todo = [f for f in facts if f.utt_id not in done]
        log.info("%d rationales already written, %d to request from %s", len(done), len(todo), self.cfg.base_url)
        errors = []
        out_path.parent.mkdir(parents=True, exist_ok=True)
        with out_path.open("a") as out, ThreadPoolExecutor(self.cfg.concurrency) as pool:
            futures = {pool.submit(self._call, build_prompt(f)): f for f in todo}
            for fut in tqdm(as_completed(futures), total=len(futures), desc="llm rationales", unit="clip"):
                f = futures[fut]
                try:
                    done[f.utt_id] = fut.result()
                    out.write(json.dumps({"utt_id": f.utt_id, "rationale": done[f.utt_id]}) + "\n")
                    out.flush()
                except (RuntimeError, ValueError) as e:
                    errors.append({"utt_id": f.utt_id, "error": str(e)})
        if errors:
            errors_path.write_text("".join(json.dumps(e) + "\n" for e in errors))
            log.warning("%d clips failed; see %s", len(errors), errors_path)
        elif errors_path.exists():
            errors_path.unlink()
        return done
