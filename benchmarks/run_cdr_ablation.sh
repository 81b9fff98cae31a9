#!/usr/bin/env bash
# The README's CDR results table: SimMemRE (memory on) and the JEREX baseline (memory off), MRC with 3 seeds each
# and GRC with one seed, all with the packaged MiniLM encoder and the schedule of scripts/configs/cdr_minilm_*.yaml.
#
#   bash benchmarks/run_cdr_ablation.sh [OUT_DIR (default runs/cdr_ablation)] [extra train.py overrides ...]
#
# Two queues run side by side with one thread each (memory runs / JEREX runs; on 2 cores this is faster than one run
# at a time with two threads). Each run writes OUT_DIR/<run>/ (train.log, all_results.json, best_model/); its
# checkpoints are deleted once the run has finished. A finished run (all_results.json present) is skipped, so the
# script can be restarted. Record each finished run with scripts/results.py add, which generates the tables.
set -u
cd "$(dirname "$0")/.."
OUT=${1:-runs/cdr_ablation}
shift || true
PYTHON=${PYTHON:-.venv/bin/python}
SEEDS=${SEEDS:-"112 113 114"}  # MRC seeds
GRC=${GRC:-1}                  # 0: skip the GRC runs
mkdir -p "$OUT"

run() {  # name config extra-args...
    local name=$1 config=$2
    shift 2
    local dir="$OUT/$name"
    if [ -f "$dir/all_results.json" ]; then
        echo "$(date -u +%T) $name: done before, skipped"
        return 0
    fi
    mkdir -p "$dir"
    echo "$(date -u +%T) $name: start"
    local start=$SECONDS
    # A run that failed before left its checkpoints: start it afresh (train.py refuses a used folder otherwise).
    if OMP_NUM_THREADS=1 "$PYTHON" scripts/train.py "$config" --output_dir "$dir" --disable_tqdm true \
        --overwrite_output_dir true "$@" \
        > "$dir/train.log" 2>&1; then
        rm -rf "$dir"/checkpoint-*
        echo "$(date -u +%T) $name: finished in $((SECONDS - start)) s"
    else
        echo "$(date -u +%T) $name: FAILED after $((SECONDS - start)) s (see $dir/train.log)"
    fi
}

queue() {  # config prefix
    local config=$1 prefix=$2
    for seed in $SEEDS; do
        run "${prefix}_mrc_seed$seed" "$config" --seed "$seed" "${EXTRA[@]}"
    done
    if [ "$GRC" != 0 ]; then
        run "${prefix}_grc_seed112" "$config" --seed 112 --model.relation_classifier global "${EXTRA[@]}"
    fi
}

EXTRA=("$@")
queue scripts/configs/cdr_minilm_memory.yaml memory > "$OUT/queue_memory.log" 2>&1 &
queue scripts/configs/cdr_minilm_jerex.yaml jerex > "$OUT/queue_jerex.log" 2>&1 &
wait
cat "$OUT/queue_memory.log" "$OUT/queue_jerex.log"
echo "record the runs: $PYTHON scripts/results.py add $OUT/<run> --dataset cdr --name NAME"
