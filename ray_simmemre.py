"""Batch inference on Ray Data, for corpora beyond one machine (not remote code; the optional extra
`pip install ".[ray]"`).

    >>> from simmemre.ray_simmemre import predict_with_ray
    >>> predict_with_ray("out/simmemre-cdr", ["corpus/part-*.jsonl"], "predictions/", actors=4)

Ray Data reads the inputs in blocks, an actor pool maps batches of documents through the `joint-re` pipeline (each
actor loads the model once, with `gpus_per_actor` GPUs when there are any) and the predictions are written back in
parallel, one output file per block. Each JSON Lines output line is exactly what `scripts/predict.py` writes for that
document (a prediction, or an error record `{"id", "error"}` naming the document and the field). Without a running
cluster (`address=None` and no `RAY_ADDRESS`), `ray.init` starts a local one, so the same call works on a laptop; on a
cluster pass `address="auto"` (or submit the script with `ray job submit`), and give a model path or Hub id that every
node can read.
"""

import json
from typing import Optional, Sequence

from .streaming_simmemre import _jsonl_documents, _predicted_records, checked_input

PARQUET_INPUT_COLUMNS = ("id", "text", "words", "sentences")


class JointREActor:
    """The per-actor model: `__call__` maps a batch of input rows to `{"id", "record"}` columns, `record` being the
    output line (JSON) of each document. Input rows are raw JSON Lines (`{"text": line}` from `read_text`) or, with
    `parquet_input`, schema columns (`id`, `text`, optional `words`/`sentences`)."""

    def __init__(
        self,
        model: str,
        parquet_input: bool = False,
        batch_size: int = 8,
        device: Optional[str] = None,
        dtype: str = "auto",
        threads: Optional[int] = None,
        pipeline_kwargs: Optional[dict] = None,
        serving: str = "fp32",
    ):
        import torch

        from .experiment_simmemre import load_pipeline

        if threads:
            torch.set_num_threads(threads)
        self.extractor = load_pipeline(model, device=device, batch_size=batch_size, dtype=dtype, serving=serving)
        self.parquet_input = parquet_input
        self.batch_size = batch_size
        self.pipeline_kwargs = pipeline_kwargs or {}

    def _documents(self, batch: dict) -> list:
        if not self.parquet_input:
            return list(_jsonl_documents(batch["text"], "<ray input>"))
        columns = [name for name in PARQUET_INPUT_COLUMNS if name in batch]
        rows = []
        for values in zip(*(batch[name] for name in columns)):
            row = {name: _plain(value) for name, value in zip(columns, values)}
            rows.append({name: value for name, value in row.items() if value is not None})
        return rows

    def __call__(self, batch: dict) -> dict:
        import numpy as np

        items = [
            checked_input(self.extractor, document, position)
            for position, document in enumerate(self._documents(batch))
        ]
        records = _predicted_records(self.extractor, items, self.batch_size, self.pipeline_kwargs)
        return {
            "id": np.array([str(record.get("id")) for record in records], dtype=object),
            "record": np.array([json.dumps(record, ensure_ascii=False) for record in records], dtype=object),
        }


def _plain(value):
    """numpy values of a Parquet batch as plain Python (lists of spans as lists of dicts)."""
    import numpy as np

    if isinstance(value, np.ndarray):
        return [_plain(item) for item in value.tolist()]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, np.generic):
        return value.item()
    return value


def _record_lines_datasink(path: str):
    from ray.data.datasource import BlockBasedFileDatasink

    class RecordLinesDatasink(BlockBasedFileDatasink):
        """Writes each block's `record` column as JSON Lines: one line per document, as predict.py writes it."""

        def write_block_to_file(self, block, file):
            lines = block.to_arrow().column("record").to_pylist()
            file.write("".join(line + "\n" for line in lines).encode("utf-8"))

    return RecordLinesDatasink(path, file_format="jsonl")


def predict_with_ray(
    model: str,
    inputs: Sequence[str],
    output: str,
    output_format: str = "jsonl",
    batch_size: int = 8,
    actors: int = 1,
    cpus_per_actor: float = 1,
    gpus_per_actor: float = 0,
    address: Optional[str] = None,
    dtype: str = "auto",
    serving: str = "fp32",
    **pipeline_kwargs,
) -> int:
    """Predict every document of `inputs` (.jsonl files, or .parquet files with schema columns) into the folder
    `output` (JSON Lines files, or Parquet files with `id` and `record` columns); returns the number of documents.

    Args:
        actors: size of the actor pool (each loads the model once); `cpus_per_actor` is also its torch thread count.
        gpus_per_actor: GPUs reserved per actor (e.g. 1, or 0.25 to share one GPU among four actors); the actor then
            runs the model on `cuda`.
        address: a Ray cluster address ("auto" joins the cluster this machine belongs to); None starts a local
            cluster unless one is already running or `RAY_ADDRESS` is set.
        pipeline_kwargs: thresholds, passed to every pipeline call.
    """
    import ray

    if output_format not in ("jsonl", "parquet"):
        raise ValueError(f"output_format must be 'jsonl' or 'parquet', got {output_format!r}")
    inputs = [str(path) for path in inputs]
    parquet_input = all(path.endswith(".parquet") for path in inputs)
    if not parquet_input and not all(path.endswith((".jsonl", ".ndjson")) for path in inputs):
        raise ValueError(f"inputs must be all .jsonl/.ndjson or all .parquet files, got {inputs}")
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    cpus = ray.cluster_resources().get("CPU", 0)
    if actors * cpus_per_actor >= cpus:
        # Reading and writing run as Ray tasks too: an actor pool holding every CPU would wait for them forever.
        raise ValueError(
            f"{actors} actors x {cpus_per_actor} CPUs take all {cpus:g} CPUs of the Ray cluster; leave "
            "at least one for reading and writing (fewer actors, or fewer CPUs per actor)"
        )
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True  # blocks, and so output files, in input order
    if parquet_input:
        dataset = ray.data.read_parquet(inputs)
        dataset = dataset.select_columns([name for name in PARQUET_INPUT_COLUMNS if name in dataset.columns()])
    else:
        dataset = ray.data.read_text(inputs)
    predicted = dataset.map_batches(
        JointREActor,
        fn_constructor_kwargs={
            "model": model,
            "parquet_input": parquet_input,
            "batch_size": batch_size,
            "device": "cuda" if gpus_per_actor else "cpu",
            "dtype": dtype,
            "threads": max(1, int(cpus_per_actor)),
            "pipeline_kwargs": pipeline_kwargs,
            "serving": serving,
        },
        batch_size=batch_size * 4,
        batch_format="numpy",
        concurrency=actors,
        num_cpus=cpus_per_actor,
        num_gpus=gpus_per_actor,
    ).materialize()
    if output_format == "parquet":
        predicted.write_parquet(output)
    else:
        predicted.write_datasink(_record_lines_datasink(output))
    return predicted.count()


__all__ = ["JointREActor", "predict_with_ray"]
