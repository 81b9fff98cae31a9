#!/usr/bin/env python
"""One process with N threads against N processes with one thread each (`predict.py --shard I/N`, then `--merge`),
on the same documents; prints one JSON object. The merged output must equal the single process's.

    python benchmarks/bench_sharding.py --model runs/cdr_minilm_memory/best_model [--documents 200] [--processes 2]

Wall times include each process's start and model load (the same for both layouts per process).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_TEST = REPO.parent / "shared" / "data" / "bc5cdr" / "CDR_TestSet.PubTator.txt"


def structure(document):
    return (
        [(e["type"], [(m["start"], m["end"]) for m in e["mentions"]]) for e in document.get("entities", [])],
        [(r["head"], r["tail"], r["type"]) for r in document.get("relations", [])],
    )


def run(command, threads, env):
    return subprocess.Popen(
        command,
        env={**env, "OMP_NUM_THREADS": str(threads)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", default=str(DEFAULT_TEST), help="BC5CDR PubTator file (default: the test set)")
    parser.add_argument("--documents", type=int, default=200)
    parser.add_argument("--processes", type=int, default=2)
    args = parser.parse_args(argv)

    from simmemre.data_simmemre import read_pubtator

    documents, _ = read_pubtator(args.data)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    predict = [sys.executable, str(REPO / "scripts" / "predict.py"), "--model", args.model, "--no-progress"]
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        corpus = folder / "corpus.jsonl"
        corpus.write_text(
            "".join(json.dumps({"id": d["id"], "text": d["text"]}) + "\n" for d in documents[: args.documents]),
            encoding="utf-8",
        )
        started = time.perf_counter()
        single = run(predict + [str(corpus), "--output", str(folder / "single.jsonl")], args.processes, env)
        if single.wait() != 0:
            raise SystemExit(single.stderr.read())
        single_seconds = time.perf_counter() - started

        started = time.perf_counter()
        parts = [
            run(
                predict
                + [str(corpus), "--output", str(folder / "sharded.jsonl"), "--shard", f"{index}/{args.processes}"],
                1,
                env,
            )
            for index in range(args.processes)
        ]
        for part in parts:
            if part.wait() != 0:
                raise SystemExit(part.stderr.read())
        merge = subprocess.run(
            predict + ["--output", str(folder / "sharded.jsonl"), "--merge", str(args.processes)],
            env=env,
            capture_output=True,
            text=True,
        )
        if merge.returncode != 0:
            raise SystemExit(merge.stderr)
        sharded_seconds = time.perf_counter() - started
        single_lines = [json.loads(line) for line in (folder / "single.jsonl").read_text().splitlines()]
        sharded_lines = [json.loads(line) for line in (folder / "sharded.jsonl").read_text().splitlines()]
        # Thread counts differ (GEMM reductions split differently), so scores may differ in the last bits.
        same_ids = [d["id"] for d in single_lines] == [d["id"] for d in sharded_lines]
        same_structure = [structure(d) for d in single_lines] == [structure(d) for d in sharded_lines]
    print(
        json.dumps(
            {
                "documents": args.documents,
                "processes": args.processes,
                f"one_process_{args.processes}_threads_seconds": round(single_seconds, 2),
                f"{args.processes}_processes_1_thread_seconds": round(sharded_seconds, 2),
                "speedup_of_processes": round(single_seconds / sharded_seconds, 3),
                "merged_ids_in_input_order": same_ids,
                "merged_mentions_entities_relations_identical": same_structure,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
