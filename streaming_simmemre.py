"""Corpus-scale prediction: lazy input, one JSON line per document written as its batch finishes, resumable, sharded.

`predict_corpus(extractor, documents, output)` is the library function under `scripts/predict.py`:

- Inputs are read lazily (`iter_documents`), so memory stays flat whatever the corpus size.
- Each document gives exactly one output line, in input order: its prediction, or an error record
  `{"id", "error"}` for a bad document (missing text, wrong type, invalid offsets). By default a bad document does
  not end the run: over a corpus of millions one malformed record should not cost hours of work, and the error record
  names the document and the field so that it can be fixed and rerun. `strict=True` stops at the first bad document.
- A batch's lines are written with one `write` and flushed; `resume=True` first cuts a torn last line (a write that a
  kill interrupted) and then skips as many input documents as the output holds complete lines. Output is in input
  order, so that count is exactly the set of documents already done (the id of the last line is checked against
  the input, so a resume on different input fails loudly). An interruption loses at most the batch in flight.
- `shard=(index, count)` keeps every count-th document, starting at index; under `torchrun` / `accelerate launch`
  the rank and world size are read from the environment (`shard_from_environment`). Each shard writes its own part
  (`part_path`), and `merge_parts` interleaves the parts back into input order.
"""

import json
import os
import sys
import time
from pathlib import Path
from typing import Iterable, Iterator, Optional, Tuple

JSONL_SUFFIXES = (".jsonl", ".json", ".ndjson")


class BadInput:
    """An input line that is not a document (invalid JSON, not an object): becomes an error record."""

    __slots__ = ("id", "error")

    def __init__(self, document_id: str, error: str):
        self.id = document_id
        self.error = error


def _stdin_text(stdin=None) -> str:
    stream = stdin if stdin is not None else sys.stdin
    raw = getattr(stream, "buffer", None)  # bytes: no newline translation, UTF-8 whatever the locale
    return raw.read().decode("utf-8") if raw is not None else stream.read()


def _looks_like_jsonl(content: str) -> bool:
    lines = [line for line in content.splitlines() if line.strip()]
    if not lines:
        return False
    try:
        return all(isinstance(json.loads(line), dict) for line in lines)
    except json.JSONDecodeError:
        return False


def _jsonl_documents(lines: Iterable[str], source: str) -> Iterator:
    """Documents of JSON Lines; a document without `id` gets `source:line` (ids are what error records name)."""
    for line_number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{source}:{line_number}"
        try:
            document = json.loads(line)
        except json.JSONDecodeError as error:
            yield BadInput(where, f"{where}: not valid JSON ({error.msg})")
            continue
        if not isinstance(document, dict):
            yield BadInput(where, f"{where}: expected a JSON object (a schema document), got {type(document).__name__}")
            continue
        if document.get("id") is None:
            document["id"] = where
        yield document


def iter_documents(inputs, fmt: str = "auto", stdin=None) -> Iterator:
    """Documents (dicts with `id` and `text`, or `BadInput`) from text files, JSON Lines files or "-" (stdin), lazily.

    A text file is one document (read byte-exactly as UTF-8, id = file name); a .jsonl/.ndjson/.json file is read line
    by line (a .json file holding one JSON array is loaded whole). Stdin is JSON Lines when every non-empty line is a
    JSON object, else one text (it is read whole to decide). A missing file stops with its name.
    """
    for source in inputs or ["-"]:
        if source == "-":
            content = _stdin_text(stdin)
            if fmt == "jsonl" or (fmt == "auto" and _looks_like_jsonl(content)):
                yield from _jsonl_documents(content.splitlines(), "<stdin>")
            else:
                yield {"id": "stdin", "text": content}
            continue
        path = Path(source)
        if not path.is_file():
            raise SystemExit(f"input not found: {source}")
        if fmt == "jsonl" or (fmt == "auto" and path.suffix.lower() in JSONL_SUFFIXES):
            with open(path, encoding="utf-8") as handle:
                first = handle.read(1)
                while first and first.isspace():
                    first = handle.read(1)
            if first == "[" and path.suffix.lower() == ".json":
                for index, document in enumerate(json.loads(path.read_text(encoding="utf-8"))):
                    if isinstance(document, dict) and document.get("id") is None:
                        document["id"] = f"{source}[{index}]"
                    yield (
                        document
                        if isinstance(document, dict)
                        else BadInput(
                            f"{source}[{index}]", f"{source}[{index}]: expected a JSON object (a schema document)"
                        )
                    )
                continue
            # newline="" keeps \r\n inside strings as written; lines are split on \n only.
            with open(path, encoding="utf-8", newline="") as handle:
                yield from _jsonl_documents(handle, source)
        else:
            with open(path, encoding="utf-8", newline="") as handle:  # offsets index the file's text exactly
                yield {"id": path.name, "text": handle.read()}


def shard_from_environment() -> Optional[Tuple[int, int]]:
    """(rank, world size) under torchrun / accelerate launch (RANK and WORLD_SIZE), else None."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return None
    return int(os.environ.get("RANK", "0")), world_size


def parse_shard(value: str) -> Tuple[int, int]:
    """ "I/N" (0-based I) as (I, N); raises ValueError naming the option."""
    try:
        index, count = (int(part) for part in value.split("/"))
    except ValueError:
        raise ValueError(f"--shard expects I/N (for example 0/4), got {value!r}") from None
    if count < 1 or not 0 <= index < count:
        raise ValueError(f"--shard {value}: need 0 <= I < N")
    return index, count


def part_path(output, shard: Tuple[int, int]) -> Path:
    index, count = shard
    return Path(f"{output}.part-{index:05d}-of-{count:05d}")


def _completed_lines(path: Path) -> Tuple[int, Optional[str]]:
    """Cut a torn last line (no newline: a write a kill interrupted) and count the complete lines; also return the
    last line's id."""
    if not path.exists():
        return 0, None
    with open(path, "rb+") as handle:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        keep = size
        # Walk back to the last newline; everything after it is a torn line.
        step = 1 << 16
        while keep > 0:
            start = max(0, keep - step)
            handle.seek(start)
            block = handle.read(keep - start)
            newline = block.rfind(b"\n")
            if newline >= 0:
                keep = start + newline + 1
                break
            keep = start
        if keep != size:
            handle.truncate(keep)
    count, last = 0, None
    with open(path, "rb") as handle:
        for line in handle:
            count += 1
            last = line
    last_id = json.loads(last).get("id") if last is not None else None
    return count, last_id


def _select_shard(documents: Iterable, shard: Optional[Tuple[int, int]]) -> Iterator:
    if shard is None:
        yield from documents
        return
    index, count = shard
    for position, document in enumerate(documents):
        if position % count == index:
            yield document


def _error_record(document_id, message: str) -> dict:
    return {"id": document_id, "error": message}


def checked_input(extractor, document, position: int, strict: bool = False) -> dict:
    """The pipeline's normalised input for one document, or its error record `{"id", "error"}` (naming the document
    and the field) when it is bad; `strict` raises instead."""
    if isinstance(document, BadInput):
        if strict:
            raise ValueError(document.error)
        return _error_record(document.id, document.error)
    try:
        return extractor.normalize_input(document, position)
    except (ValueError, TypeError) as error:
        if strict:
            raise
        document_id = document.get("id") if isinstance(document, dict) else None
        return _error_record(document_id if document_id is not None else f"#{position}", str(error))


def _predicted_records(extractor, items: list, batch_size: int, pipeline_kwargs: dict) -> list:
    """One output record per `checked_input` item, in order: predictions for documents, error records as they are."""
    valid = [item for item in items if "error" not in item]
    results = iter(extractor(valid, batch_size=batch_size, **pipeline_kwargs)) if valid else iter(())
    return [item if "error" in item else next(results) for item in items]


def predict_corpus(
    extractor,
    documents: Iterable,
    output,
    batch_size: int = 8,
    resume: bool = False,
    strict: bool = False,
    shard: Optional[Tuple[int, int]] = None,
    progress: bool = True,
    stream=None,
    **pipeline_kwargs,
) -> dict:
    """Run `extractor` (a joint-re pipeline) over `documents` and write one JSON line per document, batch by batch.

    Args:
        documents: an iterable of schema documents / strings (read lazily; `iter_documents` gives one).
        output: the JSON Lines file; with `shard`, the part file `part_path(output, shard)` is written instead.
            None writes to `stream` (default stdout; no resume).
        resume: continue a run whose output exists: cut a torn last line, skip the documents already written.
        strict: stop at the first bad document (ValueError / TypeError naming it) instead of writing an error record.
        shard: (index, count): keep every count-th document, starting at index.
        pipeline_kwargs: thresholds, passed to every pipeline call.
    Returns:
        `{"documents", "errors", "skipped", "entities", "relations", "seconds", "output"}` of this call.
    """
    from tqdm.auto import tqdm

    target = None if output is None else (part_path(output, shard) if shard is not None else Path(output))
    skip, last_id = (0, None)
    if resume:
        if target is None:
            raise ValueError("resume needs an output file")
        skip, last_id = _completed_lines(target)
    selected = _select_shard(documents, shard)
    for done in range(skip):
        document = next(selected, None)
        if document is None:
            raise ValueError(f"{target} holds {skip} predictions but the input has only {done} documents")
        if done == skip - 1:
            document_id = (
                document.id
                if isinstance(document, BadInput)
                else (document.get("id") if isinstance(document, dict) else None)
            )
            if last_id is not None and document_id is not None and str(document_id) != str(last_id):
                raise ValueError(
                    f"{target}: its last prediction is for document {last_id!r}, but input document "
                    f"{skip} is {document_id!r}; resume needs the same input (and shard) as the first run"
                )

    handle = None
    if target is not None:
        target.parent.mkdir(parents=True, exist_ok=True)
        handle = open(target, "ab" if resume else "wb")
    else:
        stream = stream or sys.stdout
    counts = {"documents": 0, "errors": 0, "skipped": skip, "entities": 0, "relations": 0}
    started = time.perf_counter()
    bar = tqdm(desc="Predicting", unit="doc", disable=not progress, initial=0)
    position = skip
    try:
        batch = []

        def flush(batch):
            records = _predicted_records(extractor, batch, batch_size, pipeline_kwargs)
            payload = "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records)
            if handle is not None:
                handle.write(payload.encode("utf-8"))  # one write per batch, then flush: no torn line but the last
                handle.flush()
            else:
                raw = getattr(stream, "buffer", None)
                if raw is not None:
                    stream.flush()
                    raw.write(payload.encode("utf-8"))
                    raw.flush()
                else:
                    stream.write(payload)
            counts["documents"] += len(records)
            counts["entities"] += sum(len(record.get("entities", ())) for record in records)
            counts["relations"] += sum(len(record.get("relations", ())) for record in records)
            bar.update(len(records))

        for document in selected:
            item = checked_input(extractor, document, position, strict)
            counts["errors"] += "error" in item
            batch.append(item)
            position += 1
            if len(batch) >= batch_size:
                flush(batch)
                batch = []
        if batch:
            flush(batch)
    finally:
        bar.close()
        if handle is not None:
            handle.close()
    counts["seconds"] = time.perf_counter() - started
    counts["output"] = None if target is None else str(target)
    return counts


def merge_parts(output, count: int, remove: bool = False) -> int:
    """Interleave `count` shard parts of `output` back into input order (document k is line k // count of part
    k % count); returns the number of lines written. Fails if a part is missing or the parts' lengths do not fit."""
    parts = [part_path(output, (index, count)) for index in range(count)]
    missing = [str(path) for path in parts if not path.is_file()]
    if missing:
        raise FileNotFoundError(f"missing shard part(s): {missing}")
    lengths = []
    for path in parts:
        with open(path, "rb") as handle:
            lengths.append(sum(1 for _ in handle))
    total = sum(lengths)
    expected = [total // count + (1 if index < total % count else 0) for index in range(count)]
    if lengths != expected:
        raise ValueError(
            f"shard parts of {output} hold {lengths} lines; round-robin sharding of {total} documents "
            f"gives {expected} (was a part interrupted? rerun it with --resume)"
        )
    handles = [open(path, "rb") for path in parts]
    try:
        with open(output, "wb") as merged:
            for line_number in range(total):
                merged.write(handles[line_number % count].readline())
    finally:
        for handle in handles:
            handle.close()
    if remove:
        for path in parts:
            path.unlink()
    return total


__all__ = [
    "BadInput",
    "iter_documents",
    "merge_parts",
    "parse_shard",
    "part_path",
    "predict_corpus",
    "shard_from_environment",
]
