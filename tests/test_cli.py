import json

from typer.testing import CliRunner

from emotionthinker.cli import app
from tests.conftest import tone, write

runner = CliRunner()


def test_help_lists_one_command_per_stage_and_the_tools():
    out = runner.invoke(app, ["--help"]).output
    for command in ("ingest", "prosody", "annotate", "validate", "synth", "measure", "labels", "summary"):
        assert command in out
    assert "--dry-run" in runner.invoke(app, ["annotate", "--help"]).output


def test_measure_prints_features_of_one_clip(tmp_path):
    path = write(tmp_path / "a.wav", tone(1.0, sr=22050, f0=180.0), 22050)
    result = runner.invoke(app, ["measure", str(path), "--gender", "female"])
    assert result.exit_code == 0, result.output
    feats = json.loads(result.output)
    assert abs(feats["f0_median_hz"] - 180.0) < 3.6 and feats["gender_source"] == "metadata"


def test_measure_names_a_missing_file_and_exits_2(tmp_path):
    result = runner.invoke(app, ["measure", str(tmp_path / "nope.wav")])
    assert result.exit_code == 2 and "nope.wav: no such file" in result.output


def test_labels_shows_a_mapping():
    result = runner.invoke(app, ["labels", "emodb", "W", "L"])
    assert json.loads(result.output) == {"W": "angry", "L": "neutral"}


def test_summary_prints_the_key_figures_of_each_stage(tmp_path):
    (tmp_path / "ingest.json").write_text(json.dumps(
        {"clips": 12, "hours": 0.01, "split": {"train": 8, "val": 2, "test": 2}, "quarantined": 1,
         "quarantined_by_reason": {"silent": 1}}))  # fmt: skip
    result = runner.invoke(app, ["summary", "--metrics-dir", str(tmp_path)])
    assert result.exit_code == 0 and "12 clips" in result.output and "'silent': 1" in result.output
    assert "prosody" not in result.output.split("Details")[0]  # stages without metrics are left out
    (tmp_path / "policy_samples.json").write_text(json.dumps(
        {"per_clip": 4, "total_seconds": 104.3, "splits": {
            "train": {"rows": 1440, "format_rate": 0.7542, "accuracy": 0.1493,
                      "judge": {"interpretative_quality": 1.6}},
            "val": {"rows": 0, "seconds": 0.1}}}))  # fmt: skip
    out = runner.invoke(app, ["summary", "--metrics-dir", str(tmp_path)]).output
    text = " ".join(out.replace("│", " ").split())  # the table wraps long lines
    assert "train 1440 answers, format 0.754, accuracy 0.149, judge IQ" in text and "1.60; 104 s" in text
    assert "val 0 answers" not in text
