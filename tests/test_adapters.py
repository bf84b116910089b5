"""Directory-layout corpus adapters, on small fixture trees built here (0.5 s sine waves, real file names)."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from emotionthinker.config import CorpusSpec
from emotionthinker.corpora.adapters.cremad import read_cremad
from emotionthinker.corpora.adapters.emodb import read_emodb
from emotionthinker.corpora.adapters.esd import read_esd
from emotionthinker.corpora.adapters.iemocap import read_iemocap
from emotionthinker.corpora.adapters.meld import read_meld
from emotionthinker.corpora.adapters.ravdess import read_ravdess
from emotionthinker.corpora.adapters.savee import read_savee
from emotionthinker.corpora.adapters.tess import read_tess
from emotionthinker.corpora.base import SourceClip, SourceProblem, get_adapter
from emotionthinker.labels import LabelSet
from tests.conftest import EMODB

REAL_EMODB = EMODB
SR = 16000
TONE = (0.3 * np.sin(2 * np.pi * 200 * np.arange(SR // 2) / SR)).astype(np.float32)


def wav(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, TONE, SR)
    return path


def touch(path: Path, content: bytes = b"x") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)


def run(adapter, root: Path, fmt: str, **kw) -> tuple[dict[str, SourceClip], list[SourceProblem]]:
    """Clips keyed by file name, and the problems, after checking every output is well formed."""
    out = list(adapter(CorpusSpec(name=fmt, format=fmt, root=root, **kw)))
    clips = [o for o in out if isinstance(o, SourceClip)]
    problems = [o for o in out if isinstance(o, SourceProblem)]
    assert len(clips) + len(problems) == len(out)
    for c in clips:
        assert c.source_path.is_absolute() and c.source_path.is_file()
        assert c.gender in ("female", "male", None)
        assert c.source_label and c.speaker
    for p in problems:
        assert str(Path(p.source_path).name) in p.message
    assert out == list(adapter(CorpusSpec(name=fmt, format=fmt, root=root, **kw))), "output must be deterministic"
    by_name = {c.source_path.name: c for c in clips}
    assert len(by_name) == len(clips)
    return by_name, problems


def reasons(problems: list[SourceProblem]) -> Counter:
    return Counter(p.reason for p in problems)


@pytest.mark.parametrize("sub", ["wav", ""])
def test_emodb(tmp_path: Path, sub: str) -> None:
    folder = tmp_path / sub if sub else tmp_path
    for name in ("03a01Fa.wav", "08b10Wb.wav", "16a05Lc.wav", "03x01Fa.wav"):
        wav(folder / name)
    touch(tmp_path / "README.md")
    touch(folder / ".DS_Store")
    clips, problems = run(read_emodb, tmp_path, "emodb")
    assert len(clips) == 3
    assert reasons(problems) == {"bad_filename": 1} and Path(problems[0].source_path).name == "03x01Fa.wav"
    c = clips["08b10Wb.wav"]
    assert (c.source_label, c.speaker, c.gender, c.age, c.language) == ("W", "08", "female", 34.0, "de")
    assert c.transcription == "Die wird auf dem Platz sein, wo wir sie immer hinlegen."
    assert c.meta == {"sentence": "b10", "version": "b"}
    assert clips["03a01Fa.wav"].gender == "male"


def test_emodb_language_override(tmp_path: Path) -> None:
    wav(tmp_path / "03a01Fa.wav")
    clips, _ = run(read_emodb, tmp_path, "emodb", language="de-AT")
    assert clips["03a01Fa.wav"].language == "de-AT"


@pytest.mark.skipif(not (REAL_EMODB / "manifest.csv").is_file(), reason="real EmoDB folder not present")
def test_emodb_real_folder_agrees_with_manifest() -> None:
    out = list(read_emodb(CorpusSpec(name="emodb", format="emodb", root=REAL_EMODB)))
    assert all(isinstance(o, SourceClip) for o in out)
    assert len(out) == 535
    labels = LabelSet()
    ours = {c.source_path.name: (c.speaker, labels.resolve(c.source_label, fmt="emodb"), c.gender) for c in out}
    with open(REAL_EMODB / "manifest.csv", newline="", encoding="utf-8") as f:
        theirs = {
            r["path"]: (
                r["speaker"].removeprefix("emodb_spk"),
                labels.resolve(r["emotion"], fmt="manifest"),
                r["gender"],
            )
            for r in csv.DictReader(f)
        }
    assert ours == theirs
    assert None not in {v[1] for v in ours.values()}


def test_ravdess(tmp_path: Path) -> None:
    wav(tmp_path / "Actor_01" / "03-01-05-02-01-02-01.wav")  # speech, angry, strong, statement 1, rep 2
    wav(tmp_path / "Actor_02" / "03-02-03-01-02-01-02.wav")  # song, happy
    wav(tmp_path / "Actor_02" / "03-01-01-01-02-02-02.wav")  # speech, neutral
    wav(tmp_path / "Actor_02" / "01-01-05-01-01-01-02.wav")  # audio-visual: skipped silently
    wav(tmp_path / "Actor_01" / "03-01-09-01-01-01-01.wav")  # emotion 09 does not exist
    touch(tmp_path / "Actor_01" / "notes.txt")
    clips, problems = run(read_ravdess, tmp_path, "ravdess")
    assert len(clips) == 3
    assert reasons(problems) == {"bad_filename": 1}
    c = clips["03-01-05-02-01-02-01.wav"]
    assert (c.source_label, c.speaker, c.gender, c.language) == ("05", "01", "male", "en")
    assert c.transcription == "Kids are talking by the door"
    assert c.meta == {"vocal_channel": "speech", "intensity": "strong", "statement": "01", "repetition": 2}
    song = clips["03-02-03-01-02-01-02.wav"]
    assert (song.gender, song.meta["vocal_channel"], song.transcription) == (
        "female",
        "song",
        "Dogs are sitting by the door",
    )
    no_song, _ = run(read_ravdess, tmp_path, "ravdess", options={"include_song": False})
    assert sorted(no_song) == ["03-01-01-01-02-02-02.wav", "03-01-05-02-01-02-01.wav"]


def test_cremad(tmp_path: Path) -> None:
    for name in ("1001_DFA_ANG_XX.wav", "1002_IEO_HAP_HI.wav", "1091_TSI_SAD_LO.wav", "1001_DFA_ANG.wav"):
        wav(tmp_path / "AudioWAV" / name)
    demo = "ActorID,Age,Sex,Race,Ethnicity\n1001,51,Male,Caucasian,Not Hispanic\n1002,21,Female,Asian,Not Hispanic\n"
    touch(tmp_path / "VideoDemographics.csv", demo.encode())
    clips, problems = run(read_cremad, tmp_path, "cremad")
    assert len(clips) == 3
    assert reasons(problems) == {"bad_filename": 1}
    c = clips["1002_IEO_HAP_HI.wav"]
    assert (c.source_label, c.speaker, c.gender, c.age, c.transcription) == (
        "HAP",
        "1002",
        "female",
        21.0,
        "It's eleven o'clock.",
    )
    assert c.meta["sentence"] == "IEO" and c.meta["intensity"] == "high"
    assert clips["1001_DFA_ANG_XX.wav"].meta["intensity"] == "unspecified"
    assert clips["1091_TSI_SAD_LO.wav"].gender is None  # not in the demographics file
    (tmp_path / "VideoDemographics.csv").unlink()
    clips, _ = run(read_cremad, tmp_path, "cremad")
    assert {c.gender for c in clips.values()} == {None}


def test_tess(tmp_path: Path) -> None:
    wav(tmp_path / "OAF_angry" / "OAF_back_angry.wav")
    wav(tmp_path / "YAF_pleasant_surprised" / "YAF_word_ps.wav")
    wav(tmp_path / "OAF_neutral" / "OA_bite_neutral.wav")  # the corpus's own misspelt speaker
    wav(tmp_path / "OAF_angry" / "OAF_back.wav")
    touch(tmp_path / "OAF_angry" / ".DS_Store")
    clips, problems = run(read_tess, tmp_path, "tess")
    assert len(clips) == 3
    assert reasons(problems) == {"bad_filename": 1}
    c = clips["YAF_word_ps.wav"]
    assert (c.source_label, c.speaker, c.gender, c.age, c.transcription) == (
        "ps",
        "YAF",
        "female",
        26.0,
        "Say the word word",
    )
    assert LabelSet().resolve(c.source_label, fmt="tess") == "surprise"
    assert (clips["OA_bite_neutral.wav"].speaker, clips["OA_bite_neutral.wav"].age) == ("OAF", 64.0)
    assert clips["OAF_back_angry.wav"].source_label == "angry"


def test_esd(tmp_path: Path) -> None:
    wav(tmp_path / "0001" / "Angry" / "0001_000351.wav")
    wav(tmp_path / "0001" / "Neutral" / "0001_000001.wav")
    wav(tmp_path / "0001" / "Sad" / "0002_000701.wav")  # another speaker's file in 0001
    wav(tmp_path / "0011" / "Happy" / "evaluation" / "0011_000721.wav")
    zh = (
        "0001_000001\t打远一看，它们的确很是美丽，\t中立\n"
        "0001_000351\t今天天气很好。\t生气\n"
        "0001_000352\t缺了。\t生气\n"
        "broken\n"
    )
    touch(tmp_path / "0001" / "0001.txt", zh.encode("gb18030"))
    touch(tmp_path / "0011" / "0011.txt", "0011_000721\tThe nine the eggs, I keep.\tHappy\n".encode("utf-16"))
    clips, problems = run(read_esd, tmp_path, "esd", options={"genders": {"0001": "F", 11: "male"}})
    assert len(clips) == 3
    assert reasons(problems) == {"bad_filename": 1, "missing_file": 1, "bad_metadata": 1}
    missing = next(p for p in problems if p.reason == "missing_file")
    assert missing.source_path == tmp_path / "0001" / "Angry" / "0001_000352.wav"
    c = clips["0001_000351.wav"]
    assert (c.source_label, c.speaker, c.gender, c.language, c.transcription) == (
        "Angry",
        "0001",
        "female",
        "zh",
        "今天天气很好。",
    )
    en = clips["0011_000721.wav"]
    assert (en.source_label, en.gender, en.language, en.transcription) == (
        "Happy",
        "male",
        "en",
        "The nine the eggs, I keep.",
    )
    assert en.meta["part"] == "evaluation"
    clips, _ = run(read_esd, tmp_path, "esd")
    assert {c.gender for c in clips.values()} == {None}


def test_savee(tmp_path: Path) -> None:
    wav(tmp_path / "AudioData" / "DC" / "a01.wav")
    wav(tmp_path / "AudioData" / "JK" / "sa15.wav")
    wav(tmp_path / "AudioData" / "KL" / "x01.wav")
    wav(tmp_path / "ALL" / "JE_su03.wav")
    touch(tmp_path / "AudioData" / "Info.txt")
    clips, problems = run(read_savee, tmp_path, "savee")
    assert len(clips) == 3
    assert reasons(problems) == {"bad_filename": 1}
    c = clips["sa15.wav"]
    assert (c.source_label, c.speaker, c.gender, c.language, c.transcription) == ("sa", "JK", "male", "en", None)
    assert c.meta == {"sentence_number": 15}
    flat = clips["JE_su03.wav"]
    assert (flat.source_label, flat.speaker) == ("su", "JE")


def _iemocap_tree(root: Path) -> None:
    s1 = root / "Session1"
    evaluation = (
        "% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n\n"
        "[6.2901 - 8.2357]\tSes01F_impro01_F000\tneu\t[2.5000, 2.5000, 2.5000]\n"
        "C-E2:\tNeutral;\t()\n"
        "[10.0100 - 11.3925]\tSes01F_impro01_M000\tfru\t[2.0000, 3.5000, 3.5000]\n"
        "[14.8872 - 18.0175]\tSes01F_impro01_F001\texc\t[4.0000, 4.0000, 3.0000]\n"
        "[1.0 - 2.0]\tbroken\n"
    )
    touch(s1 / "dialog" / "EmoEvaluation" / "Ses01F_impro01.txt", evaluation.encode())
    touch(
        s1 / "dialog" / "EmoEvaluation" / "Ses01F_script01_1.txt",
        b"[1.5000 - 3.2500]\tSes01F_script01_1_M000\tang\t[1.5000, 4.0000, 4.5000]\n",
    )
    touch(s1 / "dialog" / "EmoEvaluation" / "Categorical" / "Ses01F_impro01_e1_cat.txt", b"ignored\n")
    touch(
        s1 / "dialog" / "transcriptions" / "Ses01F_impro01.txt",
        b"Ses01F_impro01_F000 [006.2901-008.2357]: Excuse me.\nSes01F_impro01_M000 [010.0100-011.3925]: Do you have"
        b" your forms?\nM: [BREATHING]\n",
    )
    wav(s1 / "sentences" / "wav" / "Ses01F_impro01" / "Ses01F_impro01_F000.wav")
    wav(s1 / "sentences" / "wav" / "Ses01F_impro01" / "Ses01F_impro01_M000.wav")
    wav(s1 / "sentences" / "wav" / "Ses01F_script01_1" / "Ses01F_script01_1_M000.wav")


def test_iemocap(tmp_path: Path) -> None:
    _iemocap_tree(tmp_path)
    clips, problems = run(read_iemocap, tmp_path, "iemocap")
    assert len(clips) == 3
    assert reasons(problems) == {"missing_file": 1, "bad_metadata": 1}
    assert "Ses01F_impro01_F001" in next(p for p in problems if p.reason == "missing_file").message
    c = clips["Ses01F_impro01_M000.wav"]
    assert (c.source_label, c.speaker, c.gender, c.language, c.transcription) == (
        "fru",
        "Ses01_M",
        "male",
        "en",
        "Do you have your forms?",
    )
    assert c.meta == {
        "session": "Ses01",
        "dialogue": "Ses01F_impro01",
        "scripted": False,
        "dialogue_start_s": 10.01,
        "dialogue_end_s": 11.3925,
        "valence": 2.0,
        "activation": 3.5,
        "dominance": 3.5,
    }
    assert (clips["Ses01F_impro01_F000.wav"].speaker, clips["Ses01F_impro01_F000.wav"].gender) == ("Ses01_F", "female")
    assert clips["Ses01F_script01_1_M000.wav"].meta["scripted"] is True
    unscripted, _ = run(read_iemocap, tmp_path, "iemocap", options={"include_scripted": False})
    assert sorted(unscripted) == ["Ses01F_impro01_F000.wav", "Ses01F_impro01_M000.wav"]


def test_meld(tmp_path: Path) -> None:
    header = "Sr No.,Utterance,Speaker,Emotion,Sentiment,Dialogue_ID,Utterance_ID,Season,Episode,StartTime,EndTime\n"
    train = header + (
        "1,\"Oh my God, he's lost it. He's totally lost it.\",Phoebe,sadness,negative,0,1,4,7,"
        '"00:20:57,256","00:21:00,049"\n'
        '2,also there is you know.,Chandler,neutral,neutral,0,0,4,7,"00:16:16,059","00:16:21,731"\n'
        '3,Nobody here.,Joey,joy,positive,1,0,4,7,"00:01:00,000","00:01:01,000"\n'
        "4,Bad row.,Ross,anger,negative,x,0,1,1,,\n"
    )
    touch(tmp_path / "train_sent_emo.csv", train.encode())
    touch(tmp_path / "dev_sent_emo.csv", (header + "1,Hi!,Monica,surprise,positive,3,2,1,1,,\n").encode())
    touch(tmp_path / "train_splits" / "dia0_utt0.mp4")
    touch(tmp_path / "train_splits" / "dia0_utt1.mp4")
    wav(tmp_path / "train_splits" / "dia0_utt1.wav")  # preferred over the mp4
    touch(tmp_path / "train_splits" / "._dia1_utt0.mp4")  # macOS resource fork, not the media
    touch(tmp_path / "dev" / "dia3_utt2.mp4")
    clips, problems = run(read_meld, tmp_path, "meld")
    assert sorted(clips) == ["dia0_utt0.mp4", "dia0_utt1.wav", "dia3_utt2.mp4"]
    assert reasons(problems) == {"missing_file": 1, "bad_metadata": 1}
    assert "dia1_utt0" in next(p for p in problems if p.reason == "missing_file").message
    c = clips["dia0_utt1.wav"]
    assert (c.source_label, c.speaker, c.gender, c.language) == ("sadness", "Phoebe", None, "en")
    assert c.transcription == "Oh my God, he's lost it. He's totally lost it."
    assert c.meta["source_split"] == "train" and c.meta["sentiment"] == "negative"
    assert (c.meta["dialogue_id"], c.meta["utterance_id"], c.meta["start_time"]) == (0, 1, "00:20:57,256")
    assert clips["dia3_utt2.mp4"].meta["source_split"] == "dev"


@pytest.mark.parametrize(
    ("fmt", "fn"),
    [
        ("emodb", read_emodb),
        ("ravdess", read_ravdess),
        ("cremad", read_cremad),
        ("tess", read_tess),
        ("esd", read_esd),
        ("savee", read_savee),
        ("iemocap", read_iemocap),
        ("meld", read_meld),
    ],
)
def test_registered(fmt: str, fn) -> None:
    assert get_adapter(fmt) is fn


def test_missing_root_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="root"):
        list(read_emodb(CorpusSpec(name="emodb", format="emodb", root=tmp_path / "nope")))
