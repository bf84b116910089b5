#!/usr/bin/env bash
# Builds the kit that benchmarks/gpu_check.sh needs, from the repository alone, in one command of a minute or two:
#
#     bash benchmarks/gpu_kit.sh [KIT_DIR]            # KIT_DIR defaults to .gpu in the repository root
#
# Why: the GPU check runs on a machine that reaches no network and has its own torch, transformers, accelerate and
# peft. Everything else the stages need (wheels, the micro profile's data, two small checkpoints) travels beside the
# checkout as a git-ignored folder, .gpu/; this script is how that folder is made. The kit is never committed.
#
# Where: a dev machine like the project's (Debian, the Python 3.11 venv at .venv with the project installed, git,
# PyPI reachable, no GPU needed), with about 150 MB free in /tmp. Everything is built in a scratch folder (TMPDIR) and
# moved into KIT_DIR only when the whole build succeeded (an existing kit is then replaced). What it builds:
#
#   whl/          CPython 3.12 manylinux x86_64 wheels (the GPU machine's Python), `pip download --no-deps` at the
#                 versions installed in .venv (read with importlib.metadata), of WHEELS below: what the stages import
#                 beyond torch, transformers, accelerate, peft and the scientific stack. deepspeed, an sdist on PyPI,
#                 is built here with DS_BUILD_OPS=0 (py3-none-any, no prebuilt ops).
#   whl-compat/   COMPAT_WHEELS below, the same way: .venv's transformers, accelerate, peft, huggingface_hub (+ deps).
#                 The project passes TrainingArguments(activation_checkpointing=...) (emotionthinker/training/run.py,
#                 training/grpo.py), which older transformers (e.g. 5.17) reject; GPU_CHECK_STACK=remote skips these.
#                 Not included: kernels (transformers 5.25 wants it for from_pretrained unless USE_HUB_KERNELS=0,
#                 which gpu_check.sh sets).
#   data/         the micro profile's data: a `git clone` of this repository into GPU_KIT_CLONE, with the working
#                 tree's uncommitted changes (the tracked files' diff and untracked, non-ignored files) so that the
#                 data comes from the code the check will run; configs/profiles/micro.yaml merged into its
#                 params.yaml (flows.pipeline.apply_params, as `python -m flows.pipeline --profile micro` does);
#                 `dvc repro --no-commit validate` there (ingest, prosody, annotate, validate); then its data/ copied
#                 without data/synth (the synthesizer's sources) and DVC's .gitignore files, WAV clips stored as
#                 lossless FLAC (PCM_16, read back and compared sample for sample; gpu_check.sh decodes them to WAV).
#                 Records hold repository-relative paths (data/audio/..., data/sft_tasks/audio/...).
#   ckpt/         qwen2-audio/ and causal-lm/: benchmarks/gpu_kit_ckpt.py on that data and params (tiny real
#                 architectures, bfloat16, tokenizers trained on the micro data), checked with the project's loaders.
#   README.txt    when, from which commit and with which versions the kit was built.
#
# It also adds /.gpu/ (and KIT_DIR, when that is another folder inside the repository) to .git/info/exclude. Nothing
# tracked in the repository is written, nor data/, models/, metrics/ or dvc.lock: DVC runs only in the clone.
#
# Environment knobs:
#   PYTHON=.venv/bin/python   the dev interpreter: its installed versions are the kit's, and its dvc renders the data
#   GPU_KIT_CLONE=/tmp/gpucheck   where the clone renders the data. The synthetic corpus's utt_ids do not depend on
#                             it, so two builds give the same kit file for file, except data/audio/.ingest_cache.json
#                             (its signatures hash the renders' mtimes). The folder is deleted at the end; an existing
#                             one is replaced only if this script made it.
#   GPU_KIT_KEEP=1            keep the scratch folder and the clone (logs, the render) instead of deleting them

set -euo pipefail

# what the stages need beyond the GPU machine's torch / transformers / accelerate / peft / scientific stack
# (distribution names; deepspeed is built, not downloaded)
WHEELS=(
    trl datasets dill multiprocess hjson
    pydantic pydantic-core annotated-types typing-extensions typing-inspection
    soundfile cffi pycparser soxr librosa audioread decorator pooch platformdirs praat-parselmouth
)
BUILT_WHEELS=(deepspeed)
COMPAT_WHEELS=(transformers accelerate peft huggingface-hub httpx2 httpcore2 h11 anyio idna truststore)
# glibc 2.28 at most, newest first (pip takes the first that matches; it expands manylinux2014 itself, not _2_NN)
PIP_TARGET=(--python-version 3.12 --implementation cp --abi cp312)
for glibc in $(seq 28 -1 17); do PIP_TARGET+=(--platform "manylinux_2_${glibc}_x86_64"); done
PIP_TARGET+=(--platform manylinux2014_x86_64)

KIT=${1:-}
CALLER=$PWD
cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$PWD
if [ -z "$KIT" ]; then
    KIT=$REPO/.gpu
else
    case $KIT in /*) ;; *) KIT=$CALLER/$KIT ;; esac
fi
KIT=$(realpath -m "$KIT")
PY=${PYTHON:-$REPO/.venv/bin/python}
case $PY in  # absolute, symlinks kept (a venv's python is a link to the base interpreter)
    /*) ;;
    */*) PY=$CALLER/$PY ;;
    *) PY=$(command -v "$PY") || { echo "gpu_kit: $PY not found" >&2; exit 1; } ;;
esac
T0=$(date +%s)

log() { echo "[gpu_kit $(($(date +%s) - T0))s] $*" >&2; }
die() { log "error: $*"; exit 1; }

# ------------------------------------------------------------------------------------------------------ checks
case $KIT/ in
    / | "$REPO"/ | "${HOME:-/}"/ | "$REPO"/data/* | "$REPO"/models/* | "$REPO"/metrics/* | "$REPO"/checkpoints/*)
        die "refusing to build the kit in $KIT" ;;
esac
case $REPO/ in "$KIT"/*) die "refusing to build the kit in $KIT, which holds the repository" ;; esac
if [ -e "$KIT" ]; then
    [ -d "$KIT" ] || die "$KIT exists and is not a folder"
    if [ -n "$(ls -A "$KIT")" ] && ! [ -d "$KIT/whl" ] && ! [ -d "$KIT/ckpt" ] && ! [ -f "$KIT/README.txt" ]; then
        die "$KIT is not empty and does not look like a kit (no whl/, ckpt/ or README.txt): not replacing it"
    fi
fi
[ -x "$PY" ] || die "no interpreter at $PY (create the venv: see README.md, or set PYTHON)"
"$PY" -m pip --version >/dev/null || die "$PY has no pip"
"$PY" -m dvc --version >/dev/null || die "$PY has no dvc"
command -v git >/dev/null || die "git not found"

# ---------------------------------------------------------------------------------------------- git exclude
EXCLUDE=$(git rev-parse --git-path info/exclude)
mkdir -p "$(dirname "$EXCLUDE")"
add_exclude() {  # add_exclude PATTERN: append it to .git/info/exclude unless it is there
    grep -qxF -- "$1" "$EXCLUDE" 2>/dev/null || { echo "$1" >> "$EXCLUDE" && log "added $1 to $EXCLUDE"; }
}
add_exclude /.gpu/
case $KIT in
    "$REPO"/.gpu) ;;
    "$REPO"/*) rel=${KIT#"$REPO"/}; git check-ignore -q "$rel/" || add_exclude "/$rel/" ;;
esac

CLONE=$(realpath -m "${GPU_KIT_CLONE:-/tmp/gpucheck}")
MARK=.git/gpu_kit_clone  # inside the clone: says this script made it
case $CLONE/ in
    / | "${HOME:-/}"/ | "$REPO"/* | "$KIT"/*) die "refusing to clone into $CLONE" ;;
esac
case $REPO/ in "$CLONE"/*) die "refusing to clone into $CLONE, which holds the repository" ;; esac
if [ -e "$CLONE" ] && ! [ -f "$CLONE/$MARK" ]; then
    die "$CLONE exists and was not made by this script: remove it, or set GPU_KIT_CLONE (see the header)"
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/gpu_kit.XXXXXX")
cleanup() {
    local rc=$?
    if [ "${GPU_KIT_KEEP:-0}" = 1 ]; then
        log "scratch folder kept: $WORK, clone: $CLONE"
    else
        rm -rf "$WORK"
        if [ -f "$CLONE/$MARK" ]; then rm -rf "$CLONE"; fi
    fi
    ((rc == 0)) || log "failed (exit $rc); $KIT is unchanged"
}
trap cleanup EXIT
STAGE=$WORK/kit
mkdir -p "$STAGE"/{whl,whl-compat,ckpt}
log "building the kit for $KIT in $WORK (clone $CLONE) with $PY"

# ------------------------------------------------------------------------------------------------------ wheels
pins() {  # pins NAME...: NAME==VERSION as installed for $PY
    "$PY" - "$@" <<'EOF'
import sys
from importlib.metadata import PackageNotFoundError, version

for name in sys.argv[1:]:
    try:
        print(f"{name}=={version(name)}")
    except PackageNotFoundError:
        sys.exit(f"{name} is not installed in {sys.prefix}: the kit takes the venv's versions")
EOF
}

download() {  # download DEST NAME...: cp312 manylinux wheels of the venv's versions, without dependencies
    local dest=$1 specs n
    shift
    specs=$(pins "$@") || exit 1
    log "pip download into $(basename "$dest"): $(echo "$specs" | tr '\n' ' ')"
    # shellcheck disable=SC2086  # one spec a line, no spaces
    "$PY" -m pip download -q --no-cache-dir --progress-bar off --no-deps --only-binary=:all: "${PIP_TARGET[@]}" \
        -d "$dest" $specs
    n=$(find "$dest" -name '*.whl' | wc -l)
    ((n == $#)) || die "$(basename "$dest"): $n wheels for $# packages"
}

download "$STAGE/whl" "${WHEELS[@]}"
download "$STAGE/whl-compat" "${COMPAT_WHEELS[@]}"

built_specs=$(pins "${BUILT_WHEELS[@]}")
for spec in $built_specs; do
    name=${spec%%==*}
    version=${spec#*==}
    log "building $spec (DS_BUILD_OPS=0: no prebuilt ops)"
    mkdir -p "$WORK/build"
    # no build isolation: the build imports torch, which the venv has (an isolated build would download it); a
    # fixed hash seed (METADATA lists extras from a set) and zip dates make the wheel the same from build to build
    DS_BUILD_OPS=0 PYTHONHASHSEED=0 SOURCE_DATE_EPOCH=315532800 \
        "$PY" -m pip wheel -q --no-cache-dir --progress-bar off --no-deps --no-build-isolation \
        --no-binary "$name" -w "$WORK/build" "$spec" > "$WORK/build.log" 2>&1 ||
        { tail -30 "$WORK/build.log" >&2; die "could not build $spec (log above)"; }
    whl=$WORK/build/${name//-/_}-$version-py3-none-any.whl
    [ -f "$whl" ] || die "the $spec build gave $(ls "$WORK/build"), not $(basename "$whl")"
    mv "$whl" "$STAGE/whl/"
done

# -------------------------------------------------------------------------------------------------------- data
log "cloning $REPO into $CLONE"
rm -rf "$CLONE"  # made by an earlier run (checked above)
mkdir -p "$(dirname "$CLONE")"
git clone -q --no-hardlinks "$REPO" "$CLONE"
touch "$CLONE/$MARK"
git diff --binary HEAD > "$WORK/uncommitted.patch"
if [ -s "$WORK/uncommitted.patch" ]; then
    log "applying the working tree's uncommitted changes to the clone: $(git diff --stat HEAD | tail -1)"
    git -C "$CLONE" apply --whitespace=nowarn "$WORK/uncommitted.patch"
fi
git ls-files -z --others --exclude-standard > "$WORK/untracked"
if [ -s "$WORK/untracked" ]; then
    log "copying $(tr -cd '\0' < "$WORK/untracked" | wc -c) untracked file(s) into the clone"
    tar -c --null -T "$WORK/untracked" | tar -x -C "$CLONE"
fi

# the clone's stages run with the venv's interpreter as `python` (dvc.yaml's commands) and the clone's code
BIN=$(dirname "$PY")
(
    cd "$CLONE"
    export PATH="$BIN:$PATH"
    "$PY" -c 'from pathlib import Path; from flows.pipeline import apply_params
print("params.yaml:", apply_params(Path("params.yaml"), "micro"))'
    log "dvc repro --no-commit validate in the clone (ingest, prosody, annotate, validate)"
    "$PY" -m dvc repro --no-commit validate
)

log "copying the data, WAV as FLAC"
"$PY" - "$CLONE/data" "$STAGE/data" <<'EOF'
import shutil
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

src, dst = Path(sys.argv[1]), Path(sys.argv[2])
clips = files = 0
for f in sorted(src.rglob("*")):
    rel = f.relative_to(src)
    if f.is_dir() or rel.parts[0] == "synth" or f.name == ".gitignore":
        continue
    out = dst / rel
    out.parent.mkdir(parents=True, exist_ok=True)
    if f.suffix == ".wav":
        info = sf.info(str(f))
        if info.subtype != "PCM_16":
            sys.exit(f"{f}: {info.subtype}; the kit stores PCM_16 clips as FLAC, which would not be lossless here")
        x, sr = sf.read(str(f), dtype="int16")
        out = out.with_suffix(".flac")
        sf.write(str(out), x, sr, format="FLAC", subtype="PCM_16")
        y, sr_back = sf.read(str(out), dtype="int16")
        if sr_back != sr or not np.array_equal(x, y):
            sys.exit(f"{out}: does not read back sample for sample")
        clips += 1
    else:
        shutil.copy2(f, out)
        files += 1
print(f"{clips} clips as FLAC (identical on read back), {files} other files")
EOF
[ -f "$STAGE/data/manifest.jsonl" ] || die "no data/manifest.jsonl in the render"

# ------------------------------------------------------------------------------------------------- checkpoints
log "building the checkpoints (benchmarks/gpu_kit_ckpt.py)"
(
    cd "$CLONE"  # anything written relative to the working directory lands in the scratch clone
    PYTHONPATH="$REPO" HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false \
        "$PY" "$REPO/benchmarks/gpu_kit_ckpt.py" --data-dir data --params params.yaml --out "$STAGE/ckpt"
) | tee "$WORK/ckpt.txt"

# ------------------------------------------------------------------------------------------------------ finish
{
    echo "Kit for benchmarks/gpu_check.sh (git-ignored; carry it as .gpu beside the checkout)."
    echo "Built by benchmarks/gpu_kit.sh, whose header says what is in it and why; rebuild with"
    echo "    bash benchmarks/gpu_kit.sh [KIT_DIR]"
    echo
    echo "built      $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname) with $("$PY" --version 2>&1)"
    echo "commit     $(git rev-parse HEAD)$([ -s "$WORK/uncommitted.patch" ] && echo ' + uncommitted changes')"
    for dir in whl whl-compat; do
        echo "$dir/"
        (cd "$STAGE/$dir" && ls | sed 's/^/    /')
    done
    echo "data/"
    echo "    $(find "$STAGE/data" -type f | wc -l) files," \
        "$(find "$STAGE/data" -name '*.flac' | wc -l) of them FLAC clips"
    echo "ckpt/"
    grep -E "^(qwen2-audio|causal-lm): " "$WORK/ckpt.txt" | sed 's/^/    /'
} > "$STAGE/README.txt"

mkdir -p "$(dirname "$KIT")"
rm -rf "$KIT"
mv "$STAGE" "$KIT"
log "done: $KIT ($(du -sh "$KIT" | cut -f1)): whl $(ls "$KIT/whl" | wc -l)," \
    "whl-compat $(ls "$KIT/whl-compat" | wc -l), data $(find "$KIT/data" -type f | wc -l) files," \
    "ckpt $(ls "$KIT/ckpt" | tr '\n' ' ')"
