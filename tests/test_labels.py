import pytest

from emotionthinker.labels import DEFAULT_LABELS, FORMAT_LABEL_MAPS, LabelSet


def test_default_set_is_the_papers_nine():
    assert DEFAULT_LABELS == (
        "neutral", "happy", "sad", "angry", "contempt or disgust", "confused", "whisper", "surprise", "fear",
    )  # fmt: skip


@pytest.mark.parametrize("fmt", sorted(FORMAT_LABEL_MAPS))
def test_every_format_code_resolves_or_is_a_documented_drop(fmt):
    ls = LabelSet()
    resolved = {code: ls.resolve(code, fmt) for code in FORMAT_LABEL_MAPS[fmt]}
    assert all(v in DEFAULT_LABELS for v in resolved.values()), resolved


@pytest.mark.parametrize(
    "label, fmt, expected",
    [
        ("W", "emodb", "angry"), ("L", "emodb", "neutral"), ("E", "emodb", "contempt or disgust"),
        ("02", "ravdess", "neutral"), ("08", "ravdess", "surprise"), ("FEA", "cremad", "fear"),
        ("ps", "tess", "surprise"), ("su", "savee", "surprise"), ("exc", "iemocap", "happy"),
        ("fru", "iemocap", None), ("joy", "meld", "happy"), ("Fearful", "manifest", "fear"),
        ("Contempt-or-Disgust", "manifest", "contempt or disgust"), ("bogus", "manifest", None),
    ],
)  # fmt: skip
def test_resolve(label, fmt, expected):
    assert LabelSet().resolve(label, fmt) == expected


def test_overrides_win_and_can_drop():
    ls = LabelSet()
    assert ls.resolve("calm", "ravdess") == "neutral"
    assert ls.resolve("02", "ravdess", {"02": None}) is None
    assert ls.resolve("fru", "iemocap", {"fru": "angry"}) == "angry"


def test_extra_labels_are_kept_verbatim_and_beat_the_default_mapping():
    ls = LabelSet(extra=("boredom", "frustrated"))
    assert ls.resolve("L", "emodb") == "boredom"
    assert ls.resolve("Frustrated", "manifest") == "frustrated"
    assert ls.all[-2:] == ("boredom", "frustrated")


def test_a_smaller_set_drops_labels_outside_it():
    ls = LabelSet(labels=("neutral", "angry", "sad", "happy"))
    assert ls.resolve("fear", "manifest") is None
    assert ls.resolve("W", "emodb") == "angry"
