#!/usr/bin/env python
r"""Predict a corpus on Ray Data (a local cluster by default, or `--address auto` on a Ray cluster); needs
`pip install ".[ray]"`. See simmemre.ray_simmemre.

Each JSON Lines output line is what scripts/predict.py writes for that document; OUTPUT is a new (or empty) folder of
part files. INPUT: .jsonl/.ndjson files (optionally .gz), or .parquet files, or local folders of them.

Examples:
    python scripts/predict_ray.py --model out/simmemre-cdr corpus.jsonl --output predictions/ --actors 1
    python scripts/predict_ray.py --model out/simmemre-cdr corpus.parquet --output predictions/ --output-format parquet
    ray job submit --address http://head:8265 --working-dir . -- \
        python scripts/predict_ray.py --address auto --model org/simmemre-cdr \
        s3://bucket/corpus/part-0.jsonl s3://bucket/corpus/part-1.jsonl --output s3://bucket/out/ \
        --actors 16 --gpus-per-actor 1
"""

import argparse
import json
import sys
import time

# (the package, which imports torch, is imported after parsing: see cli_options)
from cli_options import add_inference_arguments, add_type_selection_arguments, positive_int


def number_from(minimum: float, strictly_above: bool):
    """An argparse type: a number above `minimum` (or at least it)."""

    def parse(value: str) -> float:
        try:
            number = float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {value!r}") from None
        if not (number > minimum if strictly_above else number >= minimum):
            raise argparse.ArgumentTypeError(
                f"must be {'more than' if strictly_above else 'at least'} {minimum:g}, got {value}"
            )
        return number

    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="saved model folder or Hub id, readable on every node")
    parser.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help=".jsonl/.ndjson files (optionally .gz) or .parquet files (local paths or cloud URIs), or local folders "
        "of them",
    )
    parser.add_argument(
        "--output", "-o", required=True, help="a new or empty output folder (local path or a cloud URI)"
    )
    parser.add_argument("--output-format", choices=("jsonl", "parquet"), default="jsonl")
    parser.add_argument("--actors", type=positive_int, default=1, help="actor pool size (each loads the model once)")
    parser.add_argument("--cpus-per-actor", type=number_from(0, strictly_above=True), default=1)
    parser.add_argument("--gpus-per-actor", type=number_from(0, strictly_above=False), default=0)
    parser.add_argument(
        "--address", help="Ray cluster address ('auto': the cluster of this machine); default: a local cluster"
    )
    add_inference_arguments(parser, device_help=None)  # (the actors run on a GPU exactly when --gpus-per-actor > 0)
    add_type_selection_arguments(parser)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)

    from simmemre.experiment_simmemre import check_model_location, checked_type_selection, thresholds_from
    from simmemre.ray_simmemre import check_ray_inputs, check_ray_output, predict_with_ray

    # Before Ray starts (predict_with_ray checks again, naming its arguments): a model its actors cannot load would
    # otherwise be restarted forever, and a used output folder would get a second copy of the predictions.
    check_model_location(args.model, "--model")
    if args.entity_types or args.relation_types:
        from simmemre import SimMemREConfig

        checked_type_selection(vars(args), SimMemREConfig.from_pretrained(args.model), as_options=True)
    check_ray_inputs(args.inputs)
    check_ray_output(args.output, args.inputs, "--output")

    started = time.perf_counter()
    try:
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
            entity_types=args.entity_types,
            relation_types=args.relation_types,
        )
    except ValueError as error:  # a refusal found once Ray runs (an actor pool holding every CPU of the cluster)
        raise SystemExit(f"predict_ray.py: {error}") from None
    seconds = time.perf_counter() - started
    print(json.dumps({"documents": count, "seconds": round(seconds, 2), "output": args.output}))
    return 0


if __name__ == "__main__":
    build_parser().parse_args()  # --help and usage errors before the package's import (main parses again)
    from simmemre.experiment_simmemre import run_script

    sys.exit(run_script(main))
