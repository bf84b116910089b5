"""The ``emotionthinker`` command line: one command per pipeline stage, plus tools.

Stage commands run the same code as ``dvc repro <stage>`` but without DVC's caching, which is handy
while trying a params file. Run ``emotionthinker COMMAND --help`` for the options of each.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table

# the stages whose figures `summary` prints, in pipeline order
STAGES = ("ingest", "prosody", "annotate", "validate", "sft", "policy_samples", "reward_model", "grpo@grpo",
          "grpo@grpo_ptr", "evaluate", "promote")  # fmt: skip

app = typer.Typer(
    help="EmotionThinker: prosody-aware explainable speech emotion reasoning, from corpora to a served model.\n\n"
    "The full pipeline runs with `dvc repro` (or `make run`); these commands run single steps.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)
console = Console(stderr=True, soft_wrap=True)  # never break a path in an error message


def _logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(console=console, show_path=False)],
        force=True,
    )


def _fail(message: str) -> None:
    console.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(2)


@app.command()
def ingest(
    params: Path = typer.Option(Path("params.yaml"), help="Params file; its `data:` section lists the corpora."),
    out_dir: Path = typer.Option(Path("data"), help="Where manifest.jsonl, quarantine.jsonl and audio/ go."),
    metrics: Path = typer.Option(Path("metrics/ingest.json"), help="Counts per corpus, split, emotion and reason."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging."),
) -> None:
    """Read the corpora in params `data.corpora`, quarantine unusable clips, and write a speaker-split manifest.

    Every clip is decoded, checked (missing, unreadable, empty, NaN, too short/long, silent, clipped,
    unmapped label), resampled to 16 kHz mono and written to OUT_DIR/audio/<corpus>/<utt_id>.wav.
    Clips whose source is unchanged since the last run are not decoded again.
    """
    from pydantic import ValidationError

    from emotionthinker.corpora.ingest import IngestError
    from stages.ingest import main

    _logging(verbose)
    try:
        m = main(params, out_dir, metrics)
    except (ValidationError, ValueError, FileNotFoundError, IngestError) as e:
        _fail(str(e))
    table = Table(title=f"ingested {m['clips']} clips ({m['hours']:.2f} h), quarantined {m['quarantined']}")
    for col in ("corpus", "speakers", "train", "val", "test", "quarantined"):
        table.add_column(col, justify="left" if col == "corpus" else "right")
    for name, c in m["corpora"].items():
        table.add_row(name, str(c["speakers"]), *(str(c["split"].get(s, 0)) for s in ("train", "val", "test")),
                      str(c["quarantined"]))  # fmt: skip
    Console().print(table)
    if m["quarantined_by_reason"]:
        console.print(f"quarantine reasons: {m['quarantined_by_reason']}; details in {out_dir / 'quarantine.jsonl'}")


@app.command()
def synth(
    out: Path = typer.Option(Path("data/synth"), help="Folder for wav/ and manifest.jsonl."),
    speakers: int = typer.Option(12, help="Number of speakers (espeak-ng voice variants, alternating gender)."),
    neutral_sentences: int = typer.Option(3, help="Emotion-neutral sentences, each rendered in every emotion."),
    laden_sentences: int = typer.Option(2, help="Emotion-laden sentences per speaker and emotion."),
    disagree_share: float = typer.Option(0.25, help="Share of laden sentences whose words disagree with the prosody."),
    variation: float = typer.Option(1.0, help="Scale of the per-utterance random variation (0 = none)."),
    seed: int = typer.Option(7, help="Random seed; the same seed and sizes give byte-identical audio."),
    workers: int = typer.Option(0, help="Rendering processes; 0 = one per core."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging."),
) -> None:
    """Render the embedded synthetic emotional corpus with espeak-ng (no download needed).

    Emotion is carried by prosody (pitch level and range, rate, loudness, contour, tremor, voicing)
    following profiles from the acoustic literature. The manifest it writes can be ingested with
    format `manifest`, or use format `synthetic` in params to render and ingest in one go.
    """
    from pydantic import ValidationError

    from emotionthinker.config import SynthConfig
    from emotionthinker.synth import render_corpus

    _logging(verbose)
    try:
        cfg = SynthConfig(
            speakers=speakers, neutral_sentences=neutral_sentences, laden_sentences=laden_sentences,
            disagree_share=disagree_share, variation=variation, seed=seed,
        )  # fmt: skip
    except ValidationError as e:
        _fail(str(e))
    manifest = render_corpus(cfg, out, workers=workers)
    n = sum(1 for _ in manifest.open())
    console.print(f"{n} clips in {manifest}")


@app.command()
def prosody(
    params: Path = typer.Option(Path("params.yaml"), help="Params file; its `prosody:` section sets the analysis."),
    manifest: Path = typer.Option(Path("data/manifest.jsonl"), help="The ingest stage's manifest."),
    out_dir: Path = typer.Option(Path("data"), help="Where features.jsonl, thresholds.json and labels.jsonl go."),
    metrics: Path = typer.Option(Path("metrics/prosody.json"), help="Calibration report (JSON)."),
    plot: Path = typer.Option(Path("plots/calibration.png"), help="Calibration plot (PNG)."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging."),
) -> None:
    """Measure every clip's prosody (F0, level, rate, voice quality, contour, stress, speaker traits), calibrate
    low/medium/high levels per corpus (and gender for pitch), and label each clip. Runs on a Dask LocalCluster,
    or on the cluster at params `prosody.dask_scheduler`."""
    from pydantic import ValidationError

    from stages.prosody import main

    _logging(verbose)
    try:
        rep = main(params, manifest, out_dir, metrics, plot)
    except (ValidationError, ValueError, FileNotFoundError) as e:
        _fail(str(e))
    console.print(f"measured {rep['clips']} clips; status {rep['label_counts']['status']}; report in {metrics}")


@app.command()
def annotate(
    params: Path = typer.Option(Path("params.yaml"), help="Params file with `annotate:` and `data.labels`."),
    manifest: Path = typer.Option(Path("data/manifest.jsonl"), help="The ingest stage's manifest."),
    labels_path: Path = typer.Option(Path("data/labels.jsonl"), "--labels", help="The prosody stage's labels."),
    out_dir: Path = typer.Option(Path("data"), help="Where emotioncot/, sft_tasks/ and rm/ go."),
    metrics: Path = typer.Option(Path("metrics/annotate.json"), help="Counts, variety and judge scores (JSON)."),
    dry_run: int = typer.Option(0, "--dry-run", metavar="N", help="Print N filled LLM-writer prompts and stop."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging."),
) -> None:
    """Write EmotionCoT records (caption, grounded rationale, target), the prosody SFT task sets (attributes,
    stress, captions, contrastive pairs) and judge-scored reward-model data."""
    from stages.annotate import cli as stage_cli

    _logging(verbose)
    argv = ["--params", str(params), "--manifest", str(manifest), "--labels", str(labels_path), "--out-dir",
            str(out_dir), "--metrics", str(metrics)] + (["--dry-run", str(dry_run)] if dry_run else [])  # fmt: skip
    raise typer.Exit(stage_cli(argv))


@app.command()
def validate(
    params: Path = typer.Option(
        Path("params.yaml"), help="Params with `validate:` (thresholds, severities), `data:`."
    ),
    data_dir: Path = typer.Option(Path("data"), help="Folder of the pipeline's data files."),
    gx_dir: Path = typer.Option(Path("gx"), help="The Great Expectations file context."),
    report_dir: Path = typer.Option(Path("reports/validation"), help="Where the Data Docs site (HTML) goes."),
    metrics: Path = typer.Option(Path("metrics/validation.json"), help="Per-suite counts and failing rows (JSON)."),
) -> None:
    """Run the Great Expectations suites over every data file. Exits 1 when a critical expectation fails (with a
    summary naming each failure and sample rows); warnings are reported and do not stop the pipeline."""
    from stages.validate import cli as stage_cli

    raise typer.Exit(stage_cli(["--params", str(params), "--data-dir", str(data_dir), "--gx-dir", str(gx_dir),
                                "--report-dir", str(report_dir), "--metrics", str(metrics)]))  # fmt: skip


@app.command()
def measure(
    audio: Path = typer.Argument(..., help="An audio file (wav, flac, ogg, mp3; others through ffmpeg)."),
    transcript: str = typer.Option(None, help="What is said, for the text rate and word stress."),
    language: str = typer.Option("en", help="Language of the transcript (en, de, fr, es, it, nl, pt)."),
    gender: str = typer.Option(None, help="female or male, when known (else estimated from F0 and formants)."),
) -> None:
    """Measure the prosody of one clip and print every feature as JSON (physical units, no calibration)."""
    from emotionthinker.audio import AudioProblem, decode, normalise
    from emotionthinker.config import ProsodyConfig
    from emotionthinker.prosody.features import extract

    try:
        samples, sr = decode(audio)
    except AudioProblem as e:
        _fail(e.message)
    x = normalise(samples, sr, 16000)
    typer.echo(json.dumps(extract(x, 16000, ProsodyConfig(), transcript, language, gender), indent=2))


@app.command()
def summary(
    metrics_dir: Path = typer.Option(Path("metrics"), help="Folder of the stages' metrics JSON files."),
) -> None:
    """Print the key figures of the last run, stage by stage (what `make run` shows at the end)."""

    from emotionthinker.summary import stage_figures

    table = Table(title="EmotionThinker: last run", show_lines=False)
    table.add_column("stage")
    table.add_column("figures")
    for stage in STAGES:
        if (line := stage_figures(stage, metrics_dir)) is not None:
            table.add_row(stage, line)
    Console(soft_wrap=False).print(table)
    console.print(
        "Details: reports/leaderboard.md, metrics/*.json, plots/, data/quarantine.jsonl; "
        "`dvc metrics show`, `dvc plots show`"
    )


@app.command()
def labels(
    fmt: str = typer.Argument(..., help="Corpus format, e.g. emodb, ravdess, cremad, manifest."),
    label: list[str] = typer.Argument(..., help="Source labels or codes to resolve."),
) -> None:
    """Show how source labels of a corpus format map onto the canonical label set."""
    from emotionthinker.labels import LabelSet

    ls = LabelSet()
    typer.echo(json.dumps({x: ls.resolve(x, fmt) for x in label}, indent=2))


if __name__ == "__main__":
    app()
