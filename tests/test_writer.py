"""The offline rationale writer and the OpenAI-compatible endpoint writer (against a loopback server)."""

import itertools
import json
import random
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from emotionthinker.annotate.facts import Facts, caption, content_emotion
from emotionthinker.annotate.lexicon import evidence, find_claims
from emotionthinker.annotate.llm import EndpointConfig, EndpointWriter, build_prompt, dry_run
from emotionthinker.annotate.writer import EMOTION_WORDS, distinct_ngram_ratio, write_rationale
from emotionthinker.labels import DEFAULT_LABELS

TEXTS = ["I will be there at nine.", "Nobody told me the train was cancelled.", "Put the box on the table.",
         "We won the final last night!", "Why would you do that to me?", "Der Lappen liegt auf dem Eisschrank.",
         "The results come out tomorrow morning.", "Is that really what you want?"]  # fmt: skip
LEVELS = ["low", "medium", "high", None]
CONTOURS = ["rising", "falling", "rising-falling", "falling-rising", "flat", "expressive", None]


def all_facts(n=1000):
    combos = itertools.product(DEFAULT_LABELS, ["female", "male", None], LEVELS, LEVELS, LEVELS, CONTOURS)
    out = []
    for i, (emo, g, p, e, s, c) in enumerate(itertools.islice(combos, 0, None, 7)):
        if len(out) == n:
            break
        t = TEXTS[i % len(TEXTS)]
        whisper = emo == "whisper" and i % 2 == 0
        out.append(Facts(f"u{i}", emo, t, "en", g, ["adult", None][i % 2], None if whisper else p, e, s,
                         None if whisper else c, "unvoiced" if whisper else "voiced",
                         (t.split()[1].strip(".,!?"),) if i % 3 else (), content_emotion(t)))  # fmt: skip
    return out


FACTS = all_facts()


def _outside_quotes(text):
    return re.sub(r'"[^"]*"', " ", text)


def test_every_rationale_keeps_the_rules():
    for f in FACTS:
        text = write_rationale(f)
        words = text.split()
        assert 50 <= len(words) <= 200, (len(words), text)
        assert f'"{f.transcript}"' in text
        assert not text.lower().startswith(f.emotion)
        last = re.split(r"(?<=[.!?])\s+", text)[-1].lower()
        nouns, adjs = EMOTION_WORDS[f.emotion]
        assert any(w in last for w in nouns + adjs), last  # the label is named in the closing sentence


def test_every_claim_agrees_with_the_facts():
    for f in FACTS:
        cues = f.cues()
        for attribute, value, phrase in find_claims(_outside_quotes(write_rationale(f))):
            assert cues.get(attribute) == value, (f, phrase)


def test_all_known_cues_are_discussed_and_cues_against_the_label_are_conceded():
    f = Facts("x", "sad", "Put the box on the table.", "en", "female", None, "low", "high", "low", "falling", "voiced")
    text = write_rationale(f)
    claimed = {(a, v) for a, v, _ in find_claims(_outside_quotes(text))}
    assert {("pitch", "low"), ("energy", "high"), ("speed", "low"), ("intonation", "falling")} <= claimed
    assert evidence("sad", "energy", "high") < 0
    sentence = [s for s in re.split(r"(?<=[.!?])\s+", text) if find_claims(s) == find_claims(s) and
                any(a == "energy" for a, _, _ in find_claims(s))][0]  # fmt: skip
    assert re.search(
        r"\b(although|even though|while|admittedly|granted|to be fair|less well|less typical|less comfortably|"
        r"other way)\b",
        sentence,
        re.I,
    ), sentence


def test_content_conflict_is_addressed():
    f = Facts("x", "angry", "We won the final last night!", "en", "male", None, "high", "high", "high", "falling",
              "voiced", (), "happy")  # fmt: skip
    text = write_rationale(f)
    assert re.search(r"(happiness|joy).*\b(but|yet|although|does not)\b|\b(although)\b.*(happiness|joy)", text)


def test_deterministic_for_a_clip_and_a_seed():
    f = FACTS[10]
    assert write_rationale(f) == write_rationale(f)
    assert write_rationale(f, seed=1) != write_rationale(f)
    assert write_rationale(f, variant=0) == write_rationale(f)  # variant 0 is the EmotionCoT rationale


def test_variants_are_other_rationales_for_the_same_facts():
    from emotionthinker.annotate.build import rm_records
    from emotionthinker.judge import judge
    from emotionthinker.prompts import format_target

    f = FACTS[10]
    variants = [write_rationale(f, variant=k) for k in range(6)]
    assert len(set(variants)) == 6 and variants[3] == write_rationale(f, variant=3)
    golds = [format_target(v, f.emotion) for v in variants]
    assert [judge(g, f).factual_alignment for g in golds] == [judge(golds[0], f).factual_alignment] * 6
    cot = {"utt_id": f.utt_id, "target": golds[0], "caption": caption(f)}
    rows = rm_records(cot, f, DEFAULT_LABELS, random.Random(0), per_clip=2, extra=golds[1:])
    assert [r["kind"] == "gold" for r in rows] == [True, False, False] * 6
    assert [r["completion"] for r in rows if r["kind"] == "gold"] == golds
    assert rows[:3] == rm_records(cot, f, DEFAULT_LABELS, random.Random(0), per_clip=2)  # the first gold: unchanged


def test_counterfactual_clips_take_other_clips_cues_and_their_rationales_agree_with_them():
    from emotionthinker.annotate.build import CUE_GROUPS, counterfactual_rm_records
    from emotionthinker.judge import judge
    from emotionthinker.judge.text import words_of

    f = FACTS[10]
    donors = [d for d in FACTS if d.emotion == f.emotion and d.utt_id != f.utt_id]
    cot = {"utt_id": f.utt_id, "emotion": f.emotion}
    rows = counterfactual_rm_records(cot, f, donors, DEFAULT_LABELS, random.Random(0), count=4)
    golds = [r for r in rows if r["kind"] == "gold"]
    assert len(rows) == 4 * 10 and [r["counterfactual"] for r in golds] == [1, 2, 3, 4]
    assert {r["utt_id"] for r in rows} == {f.utt_id}  # the clip's id: its split and manifest entry
    cues = {tuple(tuple(r["facts"][name] or ()) for group in CUE_GROUPS[:4] for name in group) for r in golds}
    assert len(cues) > 1  # cues from other clips, not the clip's own
    for r in golds:
        cf = Facts.from_dict(r["facts"])
        assert (cf.emotion, cf.transcript) == (f.emotion, f.transcript) and r["caption"] == caption(cf)
        assert set(cf.stressed_words) <= set(words_of(f.transcript))
        assert r["completion"].endswith(f"<answer>{f.emotion}</answer>")
        assert judge(r["completion"], cf, DEFAULT_LABELS).factual_alignment >= 4.0  # written for these facts
    assert rows == counterfactual_rm_records(cot, f, donors, DEFAULT_LABELS, random.Random(0), count=4)


def test_variety_over_1000_rationales():
    texts = [write_rationale(f) for f in FACTS]
    assert len(texts) == 1000
    assert len(set(texts)) == 1000
    assert distinct_ngram_ratio([_outside_quotes(t) for t in texts]) > 0.12


def test_caption_covers_the_facts():
    f = FACTS[3]
    c = caption(f)
    assert f.transcript in c and (f.gender or "speaker") in c


# --- endpoint writer -------------------------------------------------------------------------------------------------


class _Fake(BaseHTTPRequestHandler):
    calls: list = []
    flaky: set = set()

    def log_message(self, *a):
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        prompt = body["messages"][0]["content"]
        uid = re.search(r"quote=(\w+)", prompt)
        _Fake.calls.append(prompt)
        if "FORBIDDEN" in prompt:
            self.send_response(400)
            self.end_headers()
            self.wfile.write(b'{"error": "bad request"}')
            return
        key = prompt[-60:]
        if "Nobody" in prompt and key not in _Fake.flaky:  # fail once, then succeed
            _Fake.flaky.add(key)
            self.send_response(503)
            self.end_headers()
            return
        out = {"choices": [{"message": {"content": f"A reasoned answer {uid}."}}]}
        data = json.dumps(out).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def server():
    _Fake.calls, _Fake.flaky = [], set()
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Fake)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/v1"
    srv.shutdown()


def test_endpoint_writer_retries_records_failures_and_resumes(server, tmp_path, monkeypatch):
    monkeypatch.setattr("emotionthinker.annotate.llm.time.sleep", lambda s: None)
    facts = FACTS[:6] + [Facts("bad", "sad", "FORBIDDEN words", "en", None, None, "low", None, None, None, "voiced")]
    writer = EndpointWriter(EndpointConfig(base_url=server, model="m", concurrency=3, max_retries=2))
    out = tmp_path / "rationales.jsonl"
    got = writer.write_all(facts, out)
    assert set(got) == {f.utt_id for f in facts[:6]}
    errors = [json.loads(x) for x in (tmp_path / "rationales.errors.jsonl").read_text().splitlines()]
    assert errors[0]["utt_id"] == "bad" and "HTTP 400" in errors[0]["error"]
    retried = sum(1 for f in facts[:6] if "Nobody" in f.transcript)
    assert len(_Fake.calls) == 7 + retried  # each flaky prompt was sent twice
    before = len(_Fake.calls)
    again = EndpointWriter(EndpointConfig(base_url=server, model="m")).write_all(facts[:6], out)
    assert again == got and len(_Fake.calls) == before  # resumed: nothing requested again
    assert not (tmp_path / "rationales.errors.jsonl").exists()


def test_dry_run_fills_prompts_without_calling(server):
    prompts = dry_run(FACTS, 3)
    assert len(prompts) == 3 and not _Fake.calls
    assert FACTS[0].transcript in prompts[0] and f'"{FACTS[0].emotion}"' in prompts[0]
    assert build_prompt(FACTS[1]).count("Rules:") == 1


def test_the_judge_gives_every_written_rationale_full_factual_alignment():
    from emotionthinker.judge import judge
    from emotionthinker.prompts import format_target

    checked = 0
    for f in FACTS:
        if sum(1 for a, v in f.cues().items() if a != "gender" and v != "voiced") < 2:
            continue  # the judge caps a lone claim at 4: too little to be fully grounded
        j = judge(format_target(write_rationale(f), f.emotion), f)
        assert j.factual_alignment == 5.0, (f, [(c.phrase, c.verdict) for c in j.claims])
        assert j.caption_completeness >= 4.5 and j.fluency_structure >= 4.5
        checked += 1
    assert checked > 500
