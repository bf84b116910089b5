#!/usr/bin/env bash
# GPU smoke check of the real-scale code path, in one command of a few minutes on one GPU.
#
#     bash benchmarks/gpu_check.sh [OUT_DIR]          # from the repository root; OUT_DIR defaults to /tmp/gpu_check
#
# It runs the training stages the way configs/profiles/gpu.yaml runs them (checkpoints loaded by path, bf16,
# gradient checkpointing, DeepSpeed ZeRO-2 under `accelerate launch`), on the micro profile's data and step counts,
# with small checkpoints of the real architectures:
#
#   (`accelerate launch` is run as `python -m accelerate.commands.launch`, so no console script is needed)
#   imports             every stage module, TRL's trainers, DeepSpeed, datasets, librosa, parselmouth, soundfile,
#                       soxr, peft
#   sft                 accelerate launch (deepspeed_zero2.yaml, 1 process) -m stages.sft: Qwen2-Audio from
#                       .gpu/ckpt/qwen2-audio, bf16, gradient checkpointing, sft.deepspeed zero2.json
#   policy_samples      python -m stages.policy_samples on the SFT model
#   reward_model        python -m stages.reward_model: causal-lm backbone from .gpu/ckpt/causal-lm, bf16
#   grpo                accelerate launch (deepspeed_zero2.yaml) -m stages.grpo --variant grpo_ptr, bf16, zero2.json
#   evaluate            python -m stages.evaluate on the SFT and GRPO models, with the reward model
#   reward_model_lora   the reward model again with reward_model.lora.enabled
#   reward_model_accel  the reward model under accelerate launch deepspeed_zero2.yaml, as dvc.yaml runs it with the
#                       gpu profile's launcher
#
# Each step has a timeout and a log in OUT_DIR; a failed step does not stop the others (a step whose inputs are
# missing is skipped, or falls back: grpo runs the `grpo` variant without a reward model). At the end: a table of
# pass/fail, wall seconds and peak GPU memory per step (nvidia-smi's memory.used sampled every 0.5 s, minus the
# idle level; and torch.cuda.max_memory_allocated of each stage process, from a sitecustomize hook), and the stages'
# metrics JSON copied to OUT_DIR/metrics.
#
# What it needs: a kit in .gpu/ (git-ignored, carried to the GPU machine beside the checkout), built on a dev machine
# by `bash benchmarks/gpu_kit.sh` (its header says how each part is made):
#   .gpu/whl/          wheels (CPython 3.12, manylinux x86_64) of what the stages need beyond torch, transformers,
#                      accelerate, peft and the scientific stack: trl, deepspeed, datasets, pydantic, soundfile, ...
#   .gpu/whl-compat/   transformers, accelerate, peft, huggingface_hub (+ deps) at the versions of the project's venv:
#                      the code passes TrainingArguments(activation_checkpointing=...), which older transformers
#                      (e.g. 5.17) reject. Installed unless GPU_CHECK_STACK=remote.
#   .gpu/data/         the micro profile's data (4 voices) from ingest..annotate; audio as lossless FLAC, decoded to
#                      WAV here. Records hold paths relative to the repository root (data/audio/..., data/sft_tasks/
#                      audio/...), so data/audio and data/sft_tasks are linked to the decoded copy for the run (and
#                      unlinked at the end); the check refuses to run where data/ holds the pipeline's own data.
#   .gpu/ckpt/         qwen2-audio/ (Qwen2AudioForConditionalGeneration, 30 s Whisper front end, bf16) and causal-lm/
#                      (Qwen2ForCausalLM, bf16), tokenizers trained on the micro data.
# Nothing is downloaded. Models, checkpoints and metrics go to GPU_CHECK_RUN (default /tmp/gpu_run), never to the
# pipeline's models/, checkpoints/ or metrics/.
#
# Environment knobs:
#   BUDGET_S=450         wall seconds for the whole check; a step gets min(its timeout, what is left), and is skipped
#                        when less than 30 s are left
#   GPU_CHECK_STACK=project | remote   project: install .gpu/whl-compat too (default); remote: keep the machine's
#                        transformers / accelerate / peft
#   SKIP_WHEELS=1        install nothing (the Python environment already has everything)
#   PYTHON=python3       the interpreter
#   GPU_CHECK_SITE=/tmp/site   where the wheels go (pip --target), first on PYTHONPATH
#   GPU_CHECK_SET="k=v ..."    extra params overrides (dotted keys, YAML values), applied last
#   CPU_FALLBACK=1       dry run on a machine without a GPU: fp32, no DeepSpeed, plain python instead of accelerate

set -u
set -o pipefail

OUT_DIR=${1:-/tmp/gpu_check}
case $OUT_DIR in /*) ;; *) OUT_DIR=$PWD/$OUT_DIR ;; esac
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 2
REPO=$PWD
RUN=${GPU_CHECK_RUN:-/tmp/gpu_run}
PY=${PYTHON:-python3}
SITE=${GPU_CHECK_SITE:-/tmp/site}
BUDGET_S=${BUDGET_S:-450}
STACK=${GPU_CHECK_STACK:-project}
SKIP_WHEELS=${SKIP_WHEELS:-0}
CPU_FALLBACK=${CPU_FALLBACK:-0}
ZERO2_ACCEL=configs/accelerate/deepspeed_zero2.yaml
ZERO2_JSON=configs/deepspeed/zero2.json
T0=$(date +%s)
for dir in "$RUN" "$SITE"; do  # both are emptied first
    case $dir in
        / | "$REPO" | "$REPO"/* | "${HOME:-/}" | "") echo "refusing to use $dir as a scratch folder" >&2; exit 2 ;;
    esac
done

mkdir -p "$OUT_DIR" "$OUT_DIR/metrics"
rm -rf "$RUN"
mkdir -p "$RUN"/{models,work,metrics,plots,reports,hook,hf}
: > "$OUT_DIR/summary.tsv"
: > "$OUT_DIR/check.log"
SUMMARY=()
CREATED_LINKS=()

log() { echo "[gpu_check $(($(date +%s) - T0))s] $*" | tee -a "$OUT_DIR/check.log"; }

cleanup() {
    local link
    for link in "${CREATED_LINKS[@]+"${CREATED_LINKS[@]}"}"; do
        rm -f "$link"
    done
}
trap cleanup EXIT

for need in .gpu/ckpt/qwen2-audio/config.json .gpu/ckpt/causal-lm/config.json .gpu/data/manifest.jsonl; do
    [ -e "$need" ] || { log "missing $need: this check needs the .gpu kit (carry .gpu)"; exit 2; }
done

# ------------------------------------------------------------------------------------------------- environment
log "repository $REPO, outputs $OUT_DIR, run folder $RUN, budget ${BUDGET_S}s, stack $STACK"
{
    command -v nvidia-smi >/dev/null && nvidia-smi || echo "nvidia-smi: not found"
    echo
    "$PY" - <<'EOF' 2>&1
import dataclasses
try:
    import transformers
    fields = {f.name for f in dataclasses.fields(transformers.TrainingArguments)}
    print(f"machine's transformers {transformers.__version__}: TrainingArguments has activation_checkpointing: "
          f"{'activation_checkpointing' in fields}")
except Exception as e:  # noqa: BLE001
    print(f"machine's transformers: {type(e).__name__}: {e}")
EOF
} 2>&1 | tee "$OUT_DIR/env.txt"

if [ "$SKIP_WHEELS" != 1 ]; then
    wheels=(.gpu/whl/*.whl)
    if [ "$STACK" = project ] && compgen -G ".gpu/whl-compat/*.whl" >/dev/null; then
        wheels+=(.gpu/whl-compat/*.whl)
    fi
    rm -rf "$SITE"
    log "installing ${#wheels[@]} wheels into $SITE"
    if ! "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$SITE" "${wheels[@]}" \
            >"$OUT_DIR/pip.log" 2>&1; then
        log "pip install failed (see pip.log); unpacking the wheels with zipfile instead"
        mkdir -p "$SITE"
        for w in "${wheels[@]}"; do "$PY" -m zipfile -e "$w" "$SITE" || log "could not unpack $w"; done
    fi
    export PYTHONPATH="$SITE:$REPO${PYTHONPATH:+:$PYTHONPATH}"
else
    export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
fi

# A hook in every Python process of the run: at exit it appends the process's CUDA peak memory and where its
# third-party modules came from to OUT_DIR/processes.jsonl.
cat > "$RUN/hook/sitecustomize.py" <<'EOF'
import atexit
import json
import os
import sys


def _gpu_check_report():
    path = os.environ.get("GPU_CHECK_HOOK_FILE")
    if not path:
        return
    rec = {"step": os.environ.get("GPU_CHECK_STEP"), "pid": os.getpid(), "argv": sys.argv[:2]}
    torch = sys.modules.get("torch")
    try:
        if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
            rec["cuda_max_allocated_mib"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
            rec["cuda_max_reserved_mib"] = round(torch.cuda.max_memory_reserved() / 2**20, 1)
    except Exception as e:  # noqa: BLE001
        rec["cuda_error"] = repr(e)
    site = os.environ.get("GPU_CHECK_SITE_DIR") or "//none"
    mods = {}
    for name in sorted({m.split(".")[0] for m in list(sys.modules)}):
        f = getattr(sys.modules.get(name), "__file__", None) or ""
        if f.startswith(site):
            mods[name] = "kit"
        elif "site-packages" in f or "dist-packages" in f:
            mods[name] = "machine"
    rec["modules"] = mods
    with open(path, "a") as fh:
        fh.write(json.dumps(rec) + "\n")


atexit.register(_gpu_check_report)
EOF
export PYTHONPATH="$RUN/hook:$PYTHONPATH"
export GPU_CHECK_HOOK_FILE="$OUT_DIR/processes.jsonl" GPU_CHECK_SITE_DIR="$SITE"
: > "$GPU_CHECK_HOOK_FILE"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 HF_HOME="$RUN/hf" TOKENIZERS_PARALLELISM=false
export TQDM_DISABLE=1 PYTHONUNBUFFERED=1 MPLBACKEND=Agg
# transformers >= 5.2x kernelizes every from_pretrained model with Hub kernels by default and then needs the
# `kernels` package (not in the kit; offline it would fall back to torch anyway): off, as on a machine without it
export USE_HUB_KERNELS=0

"$PY" - <<'EOF' 2>&1 | tee -a "$OUT_DIR/env.txt"
import importlib, platform
print("python", platform.python_version())
for name in ("torch", "transformers", "accelerate", "peft", "trl", "deepspeed", "datasets", "huggingface_hub",
             "pydantic", "numpy", "soundfile", "librosa"):
    try:
        m = importlib.import_module(name)
        print(f"{name:16} {getattr(m, '__version__', '?'):12} {m.__file__}")
    except Exception as e:  # noqa: BLE001
        print(f"{name:16} NOT IMPORTABLE: {type(e).__name__}: {e}")
try:
    import torch
    if torch.cuda.is_available():
        print("cuda", torch.version.cuda, torch.cuda.get_device_name(0), "bf16", torch.cuda.is_bf16_supported())
    else:
        print("cuda: not available")
except Exception as e:  # noqa: BLE001
    print("torch.cuda:", e)
EOF

# ------------------------------------------------------------------------------------------------ data and params
DATA="$RUN/data"
log "decoding .gpu/data into $DATA"
if ! "$PY" - "$REPO/.gpu/data" "$DATA" <<'EOF' 2>&1 | tee -a "$OUT_DIR/check.log"
import shutil
import sys
from pathlib import Path

import soundfile as sf

src, dst = Path(sys.argv[1]), Path(sys.argv[2])
n = 0
for f in sorted(src.rglob("*")):
    if f.is_dir():
        continue
    out = dst / f.relative_to(src)
    out.parent.mkdir(parents=True, exist_ok=True)
    if f.suffix == ".flac":  # lossless: the pipeline's PCM_16 WAV, sample for sample
        x, sr = sf.read(str(f), dtype="int16")
        sf.write(str(out.with_suffix(".wav")), x, sr, subtype="PCM_16")
        n += 1
    else:
        shutil.copy2(f, out)
print(f"{n} clips decoded")
EOF
then
    log "could not decode the data: the stages cannot run"
fi
mkdir -p data
for name in audio sft_tasks; do
    if [ -L "data/$name" ] && [ "$(readlink "data/$name")" = "$DATA/$name" ]; then
        continue
    elif [ -e "data/$name" ] || [ -L "data/$name" ]; then
        log "data/$name exists (the pipeline's own data?); the records' paths (data/$name/...) would not find the" \
            "check's clips. Run this check in a fresh checkout (git clone) with .gpu copied in."
        exit 2
    fi
    ln -s "$DATA/$name" "data/$name" && CREATED_LINKS+=("data/$name")
done

# params: params.yaml, then configs/profiles/micro.yaml (sizes, steps), then the gpu profile's settings that change
# the code path, with the kit's checkpoints and a handful of steps
cat > "$RUN/gpu_overlay.yaml" <<EOF
model: {backbone: qwen2-audio, path: .gpu/ckpt/qwen2-audio, dtype: bfloat16}
sft:
  precision: bf16
  gradient_checkpointing: true
  deepspeed: $ZERO2_JSON
  audio_warmup: {epochs: 0.0}
  prosody: {epochs: 0.25, learning_rate: 1.0e-4, batch_size: 4, grad_accum: 2}
  cold_start: {epochs: 0.5, learning_rate: 1.0e-4, batch_size: 4, grad_accum: 2}
  save_steps: 2
  logging_steps: 1
  eval: {batch_size: 32, max_per_task: 4}
reward_model:
  backbone: causal-lm
  path: .gpu/ckpt/causal-lm
  precision: bf16
  max_length: 512
  batch_size: 16
  learning_rate: 1.0e-4
  save_steps: 10
  logging_steps: 5
  lora: {enabled: false, r: 8, alpha: 16}
  policy_samples: {temperature: 1.0, batch_size: 32}
grpo:
  learning_rate: 1.0e-6
  precision: bf16
  gradient_checkpointing: true
  deepspeed: $ZERO2_JSON
  max_steps: 3
  num_generations: 4
  prompts_per_step: 2
  grad_accum: 2
  max_completion_length: 32
  temperature: 1.0
  schedule_threshold: 0.0
  schedule_min_steps: 0
  save_steps: 2
  eval_clips: 4
  eval_batch_size: 32
evaluate: {batch_size: 32}
EOF
if [ "$CPU_FALLBACK" = 1 ]; then
    log "CPU_FALLBACK=1: fp32, no DeepSpeed, plain python (a dry run of paths and arguments, not the GPU path)"
    FALLBACK_SETS="sft.precision=fp32 sft.deepspeed=null sft.gradient_checkpointing=false reward_model.precision=fp32
                   grpo.precision=fp32 grpo.deepspeed=null grpo.gradient_checkpointing=false"
else
    FALLBACK_SETS=""
fi
# mkparams OUT BASE [key.sub=value ...]: BASE with the overrides (values read as YAML)
mkparams() {
    "$PY" - "$@" <<'EOF'
import sys

import yaml

out, base, *sets = sys.argv[1:]
doc = yaml.safe_load(open(base))
for item in sets:
    key, value = item.split("=", 1)
    node = doc
    *parents, last = key.split(".")
    for p in parents:
        node = node.setdefault(p, {})
    node[last] = yaml.safe_load(value)
with open(out, "w") as f:
    yaml.safe_dump(doc, f, sort_keys=False)
EOF
}
"$PY" - params.yaml configs/profiles/micro.yaml "$RUN/gpu_overlay.yaml" "$RUN/params.base.yaml" <<'EOF'
import sys

import yaml


def merge(base, override):  # as flows/pipeline.py's profiles: mappings merged, lists and scalars replaced
    for key, value in override.items():
        if isinstance(base.get(key), dict) and isinstance(value, dict):
            merge(base[key], value)
        else:
            base[key] = value
    return base


*sources, out = sys.argv[1:]
docs = [yaml.safe_load(open(s)) or {} for s in sources]
params = merge(docs[0], docs[1])
params["model"] = {}  # the tiny model's sizes do not apply to a checkpoint
merge(params, docs[2])
with open(out, "w") as f:
    yaml.safe_dump(params, f, sort_keys=False)
EOF
# shellcheck disable=SC2086
mkparams "$RUN/params.yaml" "$RUN/params.base.yaml" $FALLBACK_SETS ${GPU_CHECK_SET:-} || log "params failed"
cp "$RUN/params.yaml" "$OUT_DIR/params.yaml"

if [ "$CPU_FALLBACK" = 1 ]; then
    LAUNCH=("$PY" -m)
else
    LAUNCH=("$PY" -m accelerate.commands.launch --config_file "$ZERO2_ACCEL" --num_processes 1 -m)
fi

# ----------------------------------------------------------------------------------------------------- steps
BASELINE_MIB=0
if command -v nvidia-smi >/dev/null; then
    BASELINE_MIB=$(nvidia-smi -i 0 --query-gpu=memory.used --format=csv,noheader,nounits 2>/dev/null |
        awk 'NR == 1 && $1 ~ /^[0-9]+$/ {print $1}')
    BASELINE_MIB=${BASELINE_MIB:-0}
fi

record() {  # record NAME STATUS SECONDS PEAK NOTE
    SUMMARY+=("$(printf '%s\t%s\t%s\t%s\t%s' "$@")")
    printf '%s\t%s\t%s\t%s\t%s\n' "$@" >> "$OUT_DIR/summary.tsv"
}

run_step() {  # run_step NAME TIMEOUT_S COMMAND...: the command with a timeout, its output in OUT_DIR/NAME.log
    local name=$1 limit=$2 left sampler="" t0 t1 rc status secs peak="-" note
    shift 2
    left=$((BUDGET_S - ($(date +%s) - T0) - 10))
    if ((left < 30)); then
        log "$name: skipped, ${left}s of the budget left"
        record "$name" SKIP - - "budget"
        return
    fi
    ((limit > left)) && limit=$left
    log "$name (timeout ${limit}s): $*"
    echo "\$ $*" > "$OUT_DIR/$name.log"
    if command -v nvidia-smi >/dev/null; then
        nvidia-smi -i 0 --query-gpu=memory.used --format=csv,noheader,nounits -lms 500 \
            > "$OUT_DIR/gpumem_$name.csv" 2>/dev/null &
        sampler=$!
    fi
    t0=$(date +%s.%N)
    GPU_CHECK_STEP=$name timeout --kill-after=15 "$limit" "$@" 2>&1 | tee -a "$OUT_DIR/$name.log"
    rc=${PIPESTATUS[0]}
    t1=$(date +%s.%N)
    if [ -n "$sampler" ]; then
        kill "$sampler" 2>/dev/null
        wait "$sampler" 2>/dev/null
        peak=$(awk -v base="$BASELINE_MIB" '$1 ~ /^[0-9]+$/ && $1 > max {max = $1}
            END {if (max == "") print "-"; else print max - base}' "$OUT_DIR/gpumem_$name.csv" 2>/dev/null)
    fi
    secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.0f", b - a}')
    case $rc in
        0) status=PASS ;;
        124 | 137) status=TIMEOUT ;;
        *) status="FAIL($rc)" ;;
    esac
    log "$name: $status in ${secs}s, GPU memory peak ${peak} MiB over idle"
    note=""
    if [ "$rc" != 0 ]; then  # the stage's own error line, else the last exception line
        note=$(grep -E ' ERROR |^[A-Za-z_.]*(Error|Exception)(: |$)' "$OUT_DIR/$name.log" | grep -v ChildFailedError |
            tail -1 | cut -c1-160)
    fi
    record "$name" "$status" "$secs" "$peak" "$note"
}

skip() {  # skip NAME WHY
    log "$1: skipped ($2)"
    record "$1" SKIP - - "$2"
}

M=$RUN/models
P=$RUN/params.yaml

run_step imports 120 "$PY" -c "
import stages.sft, stages.policy_samples, stages.reward_model, stages.grpo, stages.evaluate
import emotionthinker.training.run, emotionthinker.training.grpo, emotionthinker.rewards.rm_training
import emotionthinker.evaluation.baseline, emotionthinker.evaluation.report, emotionthinker.training.plots
import emotionthinker.annotate.contrast  # parselmouth: the sft fingerprint hashes this module
import datasets, deepspeed, librosa, parselmouth, peft, soundfile, soxr, trl
from trl import GRPOTrainer, SFTTrainer
print('imports ok: trl', trl.__version__, 'deepspeed', deepspeed.__version__, 'datasets', datasets.__version__)
"

run_step sft 200 "${LAUNCH[@]}" stages.sft --params "$P" --data-dir "$DATA" --out "$M/base" \
    --work-dir "$RUN/work/sft" --metrics "$RUN/metrics/sft.json" --curve "$RUN/plots/sft.csv" \
    --plot "$RUN/plots/sft_eval.png" --samples "$RUN/metrics/sft_samples.jsonl"

if [ -e "$M/base/config.json" ]; then
    run_step policy_samples 100 "$PY" -m stages.policy_samples --params "$P" --data-dir "$DATA" --base "$M/base" \
        --out-dir "$DATA/rm_policy" --metrics "$RUN/metrics/policy_samples.json"
else
    skip policy_samples "no SFT model"
fi

RM_SETS=()
[ -e "$DATA/rm_policy/train.jsonl" ] || RM_SETS=(reward_model.policy_samples.per_clip=0)
rm_args() {  # rm_args NAME: the reward_model stage's arguments for a run called NAME
    echo --data-dir "$DATA" --out "$M/$1" --metrics "$RUN/metrics/$1.json" --plot "$RUN/plots/$1.csv" \
        --work-dir "$RUN/work/$1"
}
mkparams "$RUN/params_rm.yaml" "$P" "${RM_SETS[@]+"${RM_SETS[@]}"}"
# shellcheck disable=SC2046
run_step reward_model 100 "$PY" -m stages.reward_model --params "$RUN/params_rm.yaml" $(rm_args reward_model)

if [ -e "$M/base/config.json" ]; then
    if [ -e "$M/reward_model/config.json" ]; then
        VARIANT=grpo_ptr
    else
        VARIANT=grpo  # alpha_reasoning 0: no reward model needed
    fi
    run_step grpo 200 "${LAUNCH[@]}" stages.grpo --params "$P" --variant "$VARIANT" --base "$M/base" \
        --reward-model "$M/reward_model" --data-dir "$DATA" --out "$M/$VARIANT" --work-dir "$RUN/work/$VARIANT" \
        --metrics "$RUN/metrics/$VARIANT.json" --curve "$RUN/plots/$VARIANT.csv"
else
    skip grpo "no SFT model"
fi

CANDIDATES=()
[ -e "$M/base/config.json" ] && CANDIDATES+=("{name: sft, path: $M/base}")
for v in grpo_ptr grpo; do
    [ -e "$M/$v/config.json" ] && CANDIDATES+=("{name: $v, path: $M/$v}")
done
if ((${#CANDIDATES[@]})); then
    joined=$(IFS=,; echo "${CANDIDATES[*]}")
    mkparams "$RUN/params_eval.yaml" "$P" "evaluate.candidates=[$joined]"
    RM_FLAG=()
    [ -e "$M/reward_model/config.json" ] && RM_FLAG=(--reward-model "$M/reward_model")
    run_step evaluate 140 "$PY" -m stages.evaluate --params "$RUN/params_eval.yaml" --data-dir "$DATA" \
        "${RM_FLAG[@]+"${RM_FLAG[@]}"}" --metrics "$RUN/metrics/eval.json" --report "$RUN/reports/leaderboard.md" \
        --plots-dir "$RUN/plots" --answers-dir "$RUN/reports/answers"
else
    skip evaluate "no model to evaluate"
fi

mkparams "$RUN/params_rm_lora.yaml" "$RUN/params_rm.yaml" reward_model.lora.enabled=true
# shellcheck disable=SC2046
run_step reward_model_lora 90 "$PY" -m stages.reward_model --params "$RUN/params_rm_lora.yaml" \
    $(rm_args reward_model_lora)

# shellcheck disable=SC2046
run_step reward_model_accel 100 "${LAUNCH[@]}" stages.reward_model --params "$RUN/params_rm.yaml" \
    $(rm_args reward_model_accel)

# ----------------------------------------------------------------------------------------------------- summary
cp "$RUN"/metrics/*.json "$RUN"/metrics/*.jsonl "$OUT_DIR/metrics/" 2>/dev/null
cp "$RUN"/plots/*.csv "$RUN"/reports/leaderboard.md "$RUN"/params*.yaml "$OUT_DIR/metrics/" 2>/dev/null

{
    echo
    echo "GPU check summary ($(($(date +%s) - T0)) s in all; GPU memory: peak of nvidia-smi memory.used over idle)"
    printf '%-20s %-10s %6s %10s  %s\n' step status seconds "peak MiB" note
    for row in "${SUMMARY[@]}"; do
        IFS=$'\t' read -r n s t p note <<< "$row"
        printf '%-20s %-10s %6s %10s  %s\n' "$n" "$s" "$t" "$p" "$note"
    done
    echo
    "$PY" - "$OUT_DIR" <<'EOF'
import json
import sys
from pathlib import Path

out = Path(sys.argv[1])
peaks = {}
for line in (out / "processes.jsonl").read_text().splitlines() if (out / "processes.jsonl").exists() else []:
    rec = json.loads(line)
    if "cuda_max_allocated_mib" in rec:
        peaks[rec["step"]] = max(peaks.get(rec["step"], 0.0), rec["cuda_max_allocated_mib"])
print("torch.cuda.max_memory_allocated per step (MiB):", peaks or "none (no process used CUDA)")


def get(d, *keys):
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


m = out / "metrics"
figures = {
    "sft.json": [("model", "parameters"), ("phases", "prosody", "steps"), ("phases", "cold_start", "steps"),
                 ("phases", "prosody", "samples_per_second"), ("total_seconds",)],
    "policy_samples.json": [("splits", "train", "rows"), ("splits", "train", "format_rate"), ("total_seconds",)],
    "reward_model.json": [("model", "parameters"), ("training", "steps"), ("training", "device"),
                          ("training", "samples_per_second")],
    "reward_model_lora.json": [("model", "trainable_parameters"), ("training", "steps"), ("training", "device")],
    "reward_model_accel.json": [("training", "steps"), ("training", "device")],
    "grpo_ptr.json": [("training", "steps"), ("training", "seconds_per_step"),
                      ("training", "reasoning_switched_on_step"), ("total_seconds",)],
    "grpo.json": [("training", "steps"), ("training", "seconds_per_step"), ("total_seconds",)],
    "eval.json": [("settings", "device"), ("data", "clips")],
}
for name, keys in figures.items():
    if (m / name).exists():
        d = json.loads((m / name).read_text())
        print(f"{name}: " + ", ".join(f"{'.'.join(k)}={get(d, *k)}" for k in keys))
EOF
} 2>&1 | tee "$OUT_DIR/summary.txt"

failed=$(grep -cv $'\tPASS\t' "$OUT_DIR/summary.tsv")
log "done: $failed step(s) not passed; logs, metrics and summary in $OUT_DIR"
[ "$failed" = 0 ]
