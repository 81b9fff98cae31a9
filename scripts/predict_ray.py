#!/usr/bin/env python
"""Predict a corpus on Ray Data (a local cluster by default, or `--address auto` on a Ray cluster); needs
`pip install ".[ray]"`. See simmemre.ray_simmemre.

Each JSON Lines output line is what scripts/predict.py writes for that document; OUTPUT is a folder of part files.

Examples:
    python scripts/predict_ray.py --model out/simmemre-cdr corpus.jsonl --output predictions/ --actors 2
    python scripts/predict_ray.py --model out/simmemre-cdr corpus.parquet --output predictions/ --output-format parquet
    ray job submit --address http://head:8265 --working-dir . -- \
        python scripts/predict_ray.py --address auto --model org/simmemre-cdr s3://bucket/corpus/ \
        --output s3://bucket/out/ \
        --actors 16 --gpus-per-actor 1
"""

import argparse
import json
import time

from simmemre.experiment_simmemre import add_inference_arguments, thresholds_from


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="saved model folder or Hub id, readable on every node")
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help=".jsonl or .parquet files (or folders of them)")
    parser.add_argument("--output", "-o", required=True, help="output folder (local path or a cloud URI)")
    parser.add_argument("--output-format", choices=("jsonl", "parquet"), default="jsonl")
    parser.add_argument("--actors", type=int, default=1, help="actor pool size (each loads the model once)")
    parser.add_argument("--cpus-per-actor", type=float, default=1)
    parser.add_argument("--gpus-per-actor", type=float, default=0)
    parser.add_argument(
        "--address", help="Ray cluster address ('auto': the cluster of this machine); default: a local cluster"
    )
    add_inference_arguments(parser)
    args = parser.parse_args(argv)

    from simmemre.ray_simmemre import predict_with_ray

    started = time.perf_counter()
    count = predict_with_ray(
        args.model,
        args.inputs,
        args.output,
        output_format=args.output_format,
        batch_size=args.batch_size,
        actors=args.actors,
        cpus_per_actor=args.cpus_per_actor,
        gpus_per_actor=args.gpus_per_actor,
        address=args.address,
        dtype=args.dtype,
        serving=args.serving,
        **thresholds_from(args),
    )
    seconds = time.perf_counter() - started
    print(json.dumps({"documents": count, "seconds": round(seconds, 2), "output": args.output}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
