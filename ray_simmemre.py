"""Batch inference on Ray Data, for corpora beyond one machine (not remote code; the optional extra
`pip install ".[ray]"`).

    >>> from simmemre.ray_simmemre import predict_with_ray
    >>> predict_with_ray("out/simmemre-cdr", ["corpus/"], "predictions/", actors=4)

Ray Data reads the inputs in blocks, an actor pool maps batches of documents through the `joint-re` pipeline (each
actor loads the model once, with `gpus_per_actor` GPUs when there are any) and the predictions are written back in
parallel, one output file per block. Each JSON Lines output line is exactly what `scripts/predict.py` writes for that
document (a prediction, or an error record `{"id", "error"}` naming the document and the field). Without a running
cluster (`address=None` and no `RAY_ADDRESS`), `ray.init` starts a local one, so the same call works on a laptop; on a
cluster pass `address="auto"` (or submit the script with `ray job submit`), and give a model path or Hub id that every
node can read.
"""

import json
import os
from typing import List, Optional, Sequence

from .streaming_simmemre import _decoded_line, _jsonl_documents, _line_document, _predicted_records, checked_input

PARQUET_INPUT_COLUMNS = ("id", "text", "words", "sentences")
# Ray reads a gzip-compressed file by its suffix (its datasources infer the codec), so .jsonl.gz needs no step of ours.
INPUT_SUFFIXES = (".jsonl", ".ndjson", ".jsonl.gz", ".ndjson.gz", ".parquet")
INPUT_KINDS = ".jsonl, .ndjson (optionally .gz) or .parquet"


def _is_uri(path: str) -> bool:
    """A cloud or other remote location (s3://, gs://, ...): not checked here, Ray reads it on the cluster."""
    return "://" in path


def _folder_inputs(folder: str) -> List[str]:
    """The input files (:data:`INPUT_SUFFIXES`) directly in a local folder, sorted (Ray would also read any other
    file)."""
    names = sorted(name for name in os.listdir(folder) if name.lower().endswith(INPUT_SUFFIXES))
    files = [os.path.join(folder, name) for name in names if os.path.isfile(os.path.join(folder, name))]
    if not files:
        raise SystemExit(f"{folder}: a folder without {INPUT_KINDS} files")
    return files


def check_ray_inputs(inputs: Sequence[str]) -> List[str]:
    """The input files to read (a local folder gives the input files in it); stops with one line naming the input
    when one is missing or of another kind, or when JSON Lines and Parquet are mixed."""
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    files = []
    for source in (str(path) for path in inputs):
        if not _is_uri(source) and os.path.isdir(source):
            files.extend(_folder_inputs(source))
            continue
        if not _is_uri(source) and not os.path.isfile(source):
            raise SystemExit(f"input not found: {source}")
        if not source.lower().endswith(INPUT_SUFFIXES):
            raise SystemExit(
                f"{source}: not a {INPUT_KINDS} file" + (" (a cloud folder: give its files)" if _is_uri(source) else "")
            )
        files.append(source)
    if not files:
        raise SystemExit("no inputs")
    kinds = {path.lower().endswith(".parquet") for path in files}
    if len(kinds) > 1:
        raise SystemExit(f"inputs mix JSON Lines and Parquet files ({', '.join(files)}); predict them separately")
    return files


def _inside(path: str, folder: str) -> bool:
    path, folder = os.path.realpath(path), os.path.realpath(folder)
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def check_ray_output(output: str, inputs: Sequence[str], setting: str = "output") -> None:
    """Stop, before any work, when the local output folder is an existing file, an input folder (or inside one), the
    folder of an input file, or a folder that already has files (Ray adds new part files next to them, so a rerun
    would give every document twice). A cloud URI is not checked."""
    output = str(output)
    if _is_uri(output):
        return
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    if os.path.exists(output) and not os.path.isdir(output):
        raise SystemExit(f"{setting} {output}: an existing file; give a folder for the output part files")
    for source in (str(path) for path in inputs):
        if _is_uri(source):
            continue
        if os.path.isdir(source) and _inside(output, source):
            raise SystemExit(
                f"{setting} {output}: inside the input folder {source}, so predictions would join the corpus; "
                "give a folder elsewhere"
            )
        if os.path.isfile(source) and os.path.realpath(output) == os.path.dirname(os.path.realpath(source)):
            raise SystemExit(f"{setting} {output}: the folder of the input {source}; give a new folder for the output")
    if os.path.isdir(output) and os.listdir(output):
        raise SystemExit(
            f"{setting} {output}: folder already has files (the new part files would be added next to them); "
            "give a new or empty folder, or remove it first"
        )


class JointREActor:
    """The per-actor model: `__call__` maps a batch of input rows to `{"id", "record"}` columns, `record` being the
    output line (JSON) of each document. Input rows are JSON Lines lines (`{"path", "line", "raw"}` from
    `_json_lines_datasource`, so that error records name the file and line as predict.py's do; plain `{"text": line}`
    rows are read too) or, with `parquet_input`, schema columns (`id`, `text`, optional `words`/`sentences`).
    `sources` maps the paths Ray reports to the names the user gave."""

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
        sources: Optional[dict] = None,
    ):
        import torch

        from .experiment_simmemre import load_pipeline

        if threads:
            torch.set_num_threads(threads)
        self.extractor = load_pipeline(model, device=device, batch_size=batch_size, dtype=dtype, serving=serving)
        self.parquet_input = parquet_input
        self.batch_size = batch_size
        self.pipeline_kwargs = pipeline_kwargs or {}
        self.sources = sources or {}

    def _documents(self, batch: dict) -> list:
        if not self.parquet_input and "raw" in batch:
            documents = (
                _line_document(_decoded_line(raw, where, int(line) == 1), where)
                for path, line, raw in zip(batch["path"], batch["line"], batch["raw"])
                for where in (f"{self.sources.get(path, path)}:{line}",)
            )
            return [document for document in documents if document is not None]
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

        # A Ray batch knows no document's position in the input: a bad document without an id is said to have none
        # (JSON Lines input names its file and line instead).
        items = [checked_input(self.extractor, document, None) for document in self._documents(batch)]
        records = _predicted_records(self.extractor, items, self.batch_size, self.pipeline_kwargs)
        return {
            "id": np.array([str(record.get("id")) for record in records], dtype=object),
            "record": np.array([json.dumps(record, ensure_ascii=False) for record in records], dtype=object),
        }


def _json_lines_datasource(paths: list):
    """JSON Lines files as rows `{"path", "line", "raw"}`: each line's bytes (split on \\n only, as predict.py splits
    them) with its file and 1-based line number, so that error records can name both."""
    from ray.data.datasource import FileBasedDatasource

    class JsonLinesDatasource(FileBasedDatasource):
        def _read_stream(self, f, path: str):
            import pyarrow as pa

            lines = f.readall().split(b"\n")
            if lines and not lines[-1]:
                lines.pop()
            for start in range(0, len(lines), 10000):  # blocks of bounded size for large files
                chunk = lines[start : start + 10000]
                yield pa.table(
                    {
                        "path": pa.array([path] * len(chunk), pa.string()),
                        "line": pa.array(range(start + 1, start + 1 + len(chunk)), pa.int64()),
                        "raw": pa.array(chunk, pa.binary()),
                    }
                )

    return JsonLinesDatasource(paths)


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
    """Predict every document of `inputs` (.jsonl/.ndjson files, optionally .gz, or .parquet files with schema
    columns; a local folder stands for those files in it) into the folder `output` (JSON Lines files, or Parquet files
    with `id` and `record` columns); returns the number of documents. The model, the inputs and a local `output` (a
    new or empty folder, outside the input folders) are checked before Ray starts; a failed check raises ValueError
    with one line.

    Args:
        model: a saved model folder or Hub id, loaded once by each actor.
        output_format: "jsonl" or "parquet".
        batch_size: documents per pipeline call in an actor (Ray hands each actor four batches at a time).
        actors: size of the actor pool (each loads the model once); `cpus_per_actor` is also its torch thread count.
        gpus_per_actor: GPUs reserved per actor (e.g. 1, or 0.25 to share one GPU among four actors); the actor then
            runs the model on `cuda`.
        address: a Ray cluster address ("auto" joins the cluster this machine belongs to); None starts a local
            cluster unless one is already running or `RAY_ADDRESS` is set.
        dtype: the weights' dtype ("auto": as saved; "bfloat16" / "float16" halve the memory).
        serving: "fp32", "bf16" (autocast) or "int8" (dynamically quantized encoder, CPU only), as for the pipeline.
        pipeline_kwargs: thresholds and `entity_types` / `relation_types`, passed to every pipeline call.
    """
    from .configuration_simmemre import SimMemREConfig
    from .experiment_simmemre import (
        TYPE_SELECTION_NAMES,
        check_model_location,
        checked_type_selection,
        refusals_as_value_errors,
    )

    if output_format not in ("jsonl", "parquet"):
        raise ValueError(f"output_format must be 'jsonl' or 'parquet', got {output_format!r}")
    if isinstance(actors, bool) or not isinstance(actors, int) or actors < 1:
        raise ValueError(f"actors must be a positive integer, got {actors!r}")
    if not cpus_per_actor > 0 or not gpus_per_actor >= 0:
        raise ValueError(f"need cpus_per_actor > 0 and gpus_per_actor >= 0, got {cpus_per_actor}, {gpus_per_actor}")
    # Checked before Ray starts: an actor that cannot load the model is restarted by Ray forever, its error hidden.
    with refusals_as_value_errors():  # ValueErrors here, like the ones above; SystemExit for the script
        check_model_location(model, "model")
        files = check_ray_inputs(inputs)
        check_ray_output(output, inputs)
        if any(pipeline_kwargs.get(name) is not None for name in TYPE_SELECTION_NAMES):  # an actor would fail late
            pipeline_kwargs.update(checked_type_selection(pipeline_kwargs, SimMemREConfig.from_pretrained(model)))
    parquet_input = files[0].lower().endswith(".parquet")

    import ray

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
        dataset = ray.data.read_parquet(files)
        dataset = dataset.select_columns([name for name in PARQUET_INPUT_COLUMNS if name in dataset.columns()])
    else:
        dataset = ray.data.read_datasource(_json_lines_datasource(files))
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
            # Ray reports local files by absolute path; error records name them as given, as predict.py does.
            "sources": {os.path.abspath(path): path for path in files if not _is_uri(path)},
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
    if not _is_uri(output):
        os.makedirs(output, exist_ok=True)  # Ray writes no folder for no rows; an empty corpus gives an empty one
    return predicted.count()


__all__ = ["JointREActor", "check_ray_inputs", "check_ray_output", "predict_with_ray"]
