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
  scripts/predict.py reads the rank and world size from the environment (a library caller passes
  `shard=shard_from_environment()`; with `shard=None` every rank writes the whole corpus). Each shard writes its own
  part (`part_path`), and `merge_parts` interleaves the parts back into input order.
"""

import contextlib
import gzip
import itertools
import json
import os
import sys
import time
import zlib
from pathlib import Path
from typing import Iterable, Iterator, Optional, Tuple

from .data_simmemre import is_stream_path, json_line, parse_json, replacing_file, write_text_file

JSONL_SUFFIXES = (".jsonl", ".json", ".ndjson")


class BadInput:
    """An input line (or text file) that is not a document (invalid JSON, not an object, not UTF-8): becomes an error
    record."""

    __slots__ = ("id", "error")

    def __init__(self, document_id: str, error: str):
        self.id = document_id
        self.error = error


def _stdin_text(stdin=None) -> str:
    stream = stdin if stdin is not None else sys.stdin
    raw = getattr(stream, "buffer", None)  # bytes: no newline translation, UTF-8 whatever the locale
    if raw is not None:
        return _stdin_bytes_text(raw.read())
    text = stream.read()
    return text[1:] if text.startswith("\ufeff") else text


def _stdin_bytes_text(data: bytes) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise SystemExit(f"<stdin>: not UTF-8 ({error.reason} at byte {error.start + 1})") from None
    return text[1:] if text.startswith("\ufeff") else text  # a byte-order mark is no content


def _is_json_object(line: str) -> bool:
    try:
        return isinstance(parse_json(line), dict)
    except json.JSONDecodeError:
        return False


def _stdin_stream_documents(stdin, fmt: str) -> Iterator:
    """Stdin's documents as they arrive when it is JSON Lines (given, or its first non-empty line a JSON object):
    decoded and predicted line by line, as a .jsonl file is (`producer | predict.py -` waited for the producer's end
    and held the whole input in memory). Otherwise read whole, see `_stdin_documents`."""
    stream = stdin if stdin is not None else sys.stdin
    raw = getattr(stream, "buffer", None)
    if raw is None:  # a text stream (a caller's StringIO): read whole
        content = _stdin_text(stdin)
        yield from _jsonl_documents(content.split("\n"), "<stdin>") if fmt == "jsonl" else _stdin_documents(content)
        return
    peeked = []
    if fmt == "auto":
        for line in raw:  # up to the first non-empty line
            peeked.append(line)
            if line.strip(b"\xef\xbb\xbf \t\r\n"):
                break
        first = _decoded_line(peeked[-1], "<stdin>", len(peeked) == 1) if peeked else ""
        if isinstance(first, BadInput) or not _is_json_object(first):
            yield from _stdin_documents(_stdin_bytes_text(b"".join(peeked) + raw.read()))
            return
    yield from _jsonl_documents(_decoded_lines(itertools.chain(peeked, raw), "<stdin>"), "<stdin>")


def _stdin_documents(content: str) -> Iterator:
    """Stdin's documents: JSON Lines when its first non-empty line is a JSON object (a bad later line is an error
    record, as in a file: one truncated line made the whole corpus one text), one JSON document or an array of them
    when the whole input is one JSON value (pretty-printed), else one text."""
    lines = content.split("\n")  # JSON strings may hold U+2028 or U+0085
    first = next((line for line in lines if line.strip()), None)
    if first is not None and _is_json_object(first):
        yield from _jsonl_documents(lines, "<stdin>")
        return
    if content.lstrip()[:1] in ("{", "["):
        try:
            value = parse_json(content)
        except json.JSONDecodeError:
            value = None
        if isinstance(value, dict):
            value.setdefault("id", "stdin")
            yield value
            return
        if isinstance(value, list) and any(isinstance(item, dict) for item in value):
            yield from _array_documents(value, "<stdin>")
            return
    yield {"id": "stdin", "text": content}


def _schema_document(document, where: str):
    """`document` with `where` as its id when it has none (ids are what error records name), or an error record when
    it is not a JSON object."""
    if not isinstance(document, dict):
        return BadInput(where, f"{where}: expected a JSON object (a schema document), got {type(document).__name__}")
    if document.get("id") is None:
        document["id"] = where
    return document


def _array_documents(array: list, source: str) -> Iterator:
    """The documents of a JSON array, an element without id named by its position."""
    for index, document in enumerate(array):
        yield _schema_document(document, f"{source}[{index}]")


def _first_line_is_json_object(path: Path, source: str) -> bool:
    """Whether a .json file is JSON Lines (its first non-empty line one whole object), read without loading it all."""
    with _reading(source), _open_input(path) as handle:
        for line in _decoded_lines(handle, source):
            if isinstance(line, BadInput):
                return True  # decoded line by line, the bad line becomes an error record
            if line.strip():
                return _is_json_object(line)
    return True


def _decoded_line(raw: bytes, where: str, first: bool):
    """One line's bytes as UTF-8 text (a byte-order mark on the first line dropped), or a `BadInput` naming `where`."""
    if first and raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        return BadInput(where, f"{where}: not UTF-8 ({error.reason} at byte {error.start + 1} of the line)")


def _decoded_lines(handle, source: str) -> Iterator:
    """A binary file's lines split on \n only (JSON strings keep \r, U+2028 and U+0085), each decoded as UTF-8 (a
    leading byte-order mark dropped); a line that is not UTF-8 comes as a `BadInput` naming the file and line."""
    for line_number, raw in enumerate(handle, start=1):
        yield _decoded_line(raw, f"{source}:{line_number}", line_number == 1)


def _line_document(line, where: str):
    """One JSON Lines line (text, or the `BadInput` of its decoding) as a document named `where` when it has no id, a
    `BadInput`, or None for a blank line: what predict.py and the Ray actors read alike."""
    if isinstance(line, BadInput):
        return line
    if not line.strip():
        return None
    try:
        document = parse_json(line)
    except json.JSONDecodeError as error:
        return BadInput(where, f"{where}: not valid JSON ({error.msg})")
    return _schema_document(document, where)


def _jsonl_documents(lines: Iterable[str], source: str) -> Iterator:
    """Documents of JSON Lines; a document without `id` gets `source:line` (ids are what error records name)."""
    for line_number, line in enumerate(lines, start=1):
        document = _line_document(line, f"{source}:{line_number}")
        if document is not None:
            yield document


def _suffix(path: Path) -> str:
    """The suffix that says how to read `path`; for a gzip file the one before .gz (data.jsonl.gz is JSON Lines)."""
    return (path.with_suffix("") if path.suffix.lower() == ".gz" else path).suffix.lower()


def _open_input(path: Path, mode: str = "rb", **kwargs):
    # .gz is decompressed on the fly, as data_simmemre.read_jsonl and train.py read it
    return gzip.open(path, mode, **kwargs) if path.suffix.lower() == ".gz" else open(path, mode, **kwargs)


@contextlib.contextmanager
def _reading(source: str):
    """A .gz input that is not gzip or was cut short stops the run naming the file, not with a zlib traceback."""
    try:
        yield
    except (OSError, EOFError, zlib.error) as error:
        raise SystemExit(f"{source}: cannot read it ({error})") from None


def check_inputs(inputs) -> None:
    """Stop, naming it, on an input that is not a file (a script calls this before it loads a model for them)."""
    if list(inputs or ()).count("-") > 1:  # (the second read found nothing and predicted an empty document)
        raise SystemExit("- (standard input) is given more than once")
    for source in inputs or ():
        if source == "-":
            continue
        if os.path.isdir(source):
            raise SystemExit(f"{source}: is a folder; give the files in it (e.g. {os.path.join(source, '*.txt')})")
        if not os.path.isfile(source):
            raise SystemExit(f"input not found: {source}")


def check_output_name(output) -> None:
    """Refuse (ValueError) a gzip output name: the output is appended to batch by batch and --resume cuts a torn last
    line in place, which a gzip stream does not allow, and plain text under a .gz name is unreadable as gzip."""
    if output is not None and str(output).lower().endswith(".gz"):
        raise ValueError(f"{output}: gzip output is not supported; write .jsonl and gzip it afterwards")


def iter_documents(inputs, fmt: str = "auto", stdin=None) -> Iterator:
    """Documents (dicts with `id` and `text`, or `BadInput`) from text files, JSON Lines files or "-" (stdin), lazily.

    A text file is one document (read byte-exactly as UTF-8 but for a leading byte-order mark, id = file name; one
    that is not UTF-8 comes as a `BadInput`); a .jsonl/.ndjson/.json file is read line
    by line (a .json file holding one multi-line JSON value, an array of documents or one pretty-printed document, is
    loaded whole); a .gz file is decompressed, its format given by the suffix before .gz. Stdin is JSON Lines, read
    line by line as they arrive, when its first non-empty line is a JSON object; else it is read whole: a JSON
    document or array when it is one JSON value, else one text. A missing file or a folder stops with its name.
    """
    for source in inputs or ["-"]:
        if source == "-":
            if fmt in ("jsonl", "auto"):
                yield from _stdin_stream_documents(stdin, fmt)
            else:
                yield {"id": "stdin", "text": _stdin_text(stdin)}
            continue
        path = Path(source)
        check_inputs([source])
        if fmt == "jsonl" or (fmt == "auto" and _suffix(path) in JSONL_SUFFIXES):
            with _reading(source), _open_input(path) as handle:  # the first visible byte, after a byte-order mark
                head = handle.read(3)
                first = (b"" if head == b"\xef\xbb\xbf" else head).lstrip()[:1]
                while not first:
                    chunk = handle.read(4096)
                    if not chunk:
                        break
                    first = chunk.lstrip()[:1]
            if first in (b"[", b"{") and _suffix(path) == ".json" and not _first_line_is_json_object(path, source):
                # One JSON value over several lines: an array of documents, or one pretty-printed document.
                with _reading(source), _open_input(path) as handle:
                    content = handle.read()
                try:
                    value = parse_json(content.decode("utf-8-sig"))
                except (json.JSONDecodeError, UnicodeDecodeError) as error:
                    raise SystemExit(f"{source}: not a valid JSON document or array of documents ({error})") from None
                if isinstance(value, dict):
                    value.setdefault("id", source)
                    yield value
                else:
                    yield from _array_documents(value, source)
                continue
            # newline="" keeps \r\n inside strings as written; lines are split on \n only.
            with _reading(source), _open_input(path) as handle:  # decoded line by line: a bad line is an error record
                yield from _jsonl_documents(_decoded_lines(handle, source), source)
        else:
            # newline="": offsets index the text exactly; a byte-order mark is no content (as on stdin and in JSONL)
            try:
                with _reading(source), _open_input(path, "rt", encoding="utf-8-sig", newline="") as handle:
                    text = handle.read()
            except UnicodeDecodeError as error:  # one bad document: an error record, as for a bad JSON Lines line
                yield BadInput(path.name, f"{source}: not UTF-8 text ({error.reason} at byte {error.start + 1})")
                continue
            yield {"id": path.name, "text": text}


def shard_from_environment() -> Optional[Tuple[int, int]]:
    """(rank, world size) under torchrun / accelerate launch (RANK and WORLD_SIZE), else None."""
    values = {}
    for name, default in (("WORLD_SIZE", "1"), ("RANK", "0")):
        try:
            values[name] = int(os.environ.get(name, default))
        except ValueError:
            raise ValueError(f"environment variable {name} must be an integer, got {os.environ[name]!r}") from None
    world_size, rank = values["WORLD_SIZE"], values["RANK"]
    if world_size <= 1:
        return None
    if not 0 <= rank < world_size:
        raise ValueError(f"environment variables RANK={rank}, WORLD_SIZE={world_size}: need 0 <= RANK < WORLD_SIZE")
    return rank, world_size


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


def done_path(part: Path) -> Path:
    """The completion marker a finished shard run writes beside its part: `{"input_documents", "lines"}`."""
    return Path(f"{part}.done")


def settings_path(target) -> Path:
    """Beside a predictions file: the settings that wrote it (model, thresholds, type selection, serving options), so
    that a resume or a merge does not join lines that other settings wrote."""
    return Path(f"{target}.settings.json")


def _check_same_settings(target: Path, settings: dict) -> None:
    path = settings_path(target)
    if not path.is_file():
        return  # written before the settings were recorded: nothing to compare
    try:
        saved = parse_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise ValueError(f"{path}: not a settings record; remove it to resume without the check") from None
    differing = sorted(key for key in set(saved) | set(settings) if saved.get(key) != settings.get(key))
    if differing:
        changes = "; ".join(f"{key}: {saved.get(key)!r} then, {settings.get(key)!r} now" for key in differing)
        raise ValueError(
            f"{target} was written with other settings ({changes}); resume with the same ones, or replace it "
            "(--overwrite)"
        )


class _Counted:
    """An iterator over `items` that counts what it has yielded (the input documents a shard run read)."""

    def __init__(self, items):
        self.items, self.count = iter(items), 0

    def __iter__(self):
        return self

    def __next__(self):
        item = next(self.items)
        self.count += 1
        return item


def _completed_lines(path: Path) -> Tuple[int, Optional[str]]:
    """Count the complete lines of an earlier output and return the last one's id; a torn last line (no newline: a
    write a kill interrupted) is cut, but only once the complete lines read as predict.py records (a resume aimed at
    another file, a gold file say, cut its last line)."""
    if not path.exists():
        return 0, None
    with open(path, "rb") as handle:
        handle.seek(0, os.SEEK_END)
        size = keep = handle.tell()
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
        handle.seek(0)
        count, last, torn = 0, None, b""
        for line in handle:
            if not line.endswith(b"\n"):  # only the last line can be torn
                torn = line
                break
            count, last = count + 1, line
    where = f"{path}:{count}" if last is not None else str(path)
    if last is None and torn and not torn.startswith(b"{"):
        raise ValueError(f"{path}: holds no complete line and is not a predict.py output; give another --output")
    if last is not None:
        try:
            record = parse_json(last)
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise ValueError(f"{where}: the last line is not a JSON record ({error}); is this a predict.py output?")
        if not isinstance(record, dict) or not ({"entities", "error"} & set(record)):
            raise ValueError(
                f"{where}: the last line is not a predict.py record (an object with 'entities' or 'error')"
            )
    if keep != size:
        with open(path, "rb+") as handle:
            handle.truncate(keep)
    return count, (None if last is None else record.get("id"))


def _select_shard(documents: Iterable, shard: Optional[Tuple[int, int]]) -> Iterator:
    """`(input position, document)` of the shard's documents: error records name a document without an id by its
    position in the whole input, not in the shard."""
    index, count = shard if shard is not None else (0, 1)
    for position, document in enumerate(documents):
        if position % count == index:
            yield position, document


def _error_record(document_id, message: str) -> dict:
    return {"id": document_id, "error": message}


def checked_input(extractor, document, position: Optional[int], strict: bool = False) -> dict:
    """The pipeline's normalised input for one document, or its error record `{"id", "error"}` (naming the document
    and the field) when it is bad; `strict` raises instead. `position` (in the whole input; None where unknown) names
    a document without an id."""
    if isinstance(document, BadInput):
        if strict:
            raise ValueError(document.error)
        return _error_record(document.id, document.error)
    try:
        return extractor.normalize_input(document, position)
    except (ValueError, TypeError) as error:
        if strict:  # as a ValueError, which the scripts print as one line (a wrongly typed field is a TypeError)
            raise ValueError(str(error)) from error
        document_id = document.get("id") if isinstance(document, dict) else None
        placeholder = None if position is None else f"#{position}"
        return _error_record(document_id if document_id is not None else placeholder, str(error))


def _predicted_records(extractor, items: list, batch_size: int, pipeline_kwargs: dict) -> list:
    """One output record per `checked_input` item, in order: predictions for documents, error records as they are."""
    valid = [item for item in items if "error" not in item]
    results = iter(extractor(valid, batch_size=batch_size, **pipeline_kwargs)) if valid else iter(())
    return [item if "error" in item else next(results) for item in items]


def check_output_is_new(output, shard: Optional[Tuple[int, int]] = None, resume=False, overwrite=False) -> None:
    """Raise ValueError when `output` (its shard's part file with `shard`) already holds predictions and the run
    neither resumes nor overwrites them: a rerun without resume emptied an interrupted run's file at its start."""
    if output is None or resume or overwrite or is_stream_path(output):  # (a stream holds no earlier predictions)
        return
    target = part_path(output, shard) if shard is not None else Path(output)
    if target.is_file() and target.stat().st_size > 0:
        raise ValueError(
            f"{target} holds earlier predictions; continue them with --resume (resume=True) or replace them with "
            "--overwrite (overwrite=True)"
        )


def predict_corpus(
    extractor,
    documents: Iterable,
    output,
    batch_size: int = 8,
    resume: bool = False,
    overwrite: bool = False,
    strict: bool = False,
    shard: Optional[Tuple[int, int]] = None,
    progress: bool = True,
    stream=None,
    settings: Optional[dict] = None,
    **pipeline_kwargs,
) -> dict:
    """Run `extractor` (a joint-re pipeline) over `documents` and write one JSON line per document, batch by batch.

    Args:
        documents: an iterable of schema documents / strings (read lazily; `iter_documents` gives one).
        output: the JSON Lines file; with `shard`, the part file `part_path(output, shard)` is written instead.
            None writes to `stream` (default stdout; no resume).
        batch_size: documents per pipeline call; a batch's lines are written (and flushed) together.
        resume: continue a run whose output exists: cut a torn last line, skip the documents already written.
        overwrite: replace an output that holds predictions (without `resume` or `overwrite` it is refused).
        strict: stop at the first bad document (ValueError / TypeError naming it) instead of writing an error record.
        shard: (index, count): keep every count-th document, starting at index.
        progress: show a tqdm bar (on stderr) counting documents; where no one watches it (a log file), a line every
            `PROGRESS_LINE_SECONDS` instead.
        stream: the text stream written when `output` is None (default ``sys.stdout``).
        settings: what produces the predictions (model, thresholds, type selection, serving), a JSON-able dict
            written beside the output (`settings_path`); a resume with other settings is refused.
        pipeline_kwargs: thresholds, passed to every pipeline call.
    Returns:
        `{"documents", "errors", "skipped", "entities", "relations", "seconds", "output"}` of this call.
    """
    from tqdm.auto import tqdm

    check_output_name(output)
    if resume and overwrite:
        raise ValueError("resume keeps the output's predictions and overwrite replaces them: give one of them")
    check_output_is_new(output, shard, resume, overwrite)
    target = None if output is None else (part_path(output, shard) if shard is not None else Path(output))
    # A device or pipe (/dev/null, /dev/stdout) is written as a stream: no settings file beside it (it wrote
    # /dev/null.settings.json), nothing to resume or merge.
    device = output is not None and is_stream_path(output)
    if device and (resume or shard is not None):
        raise ValueError(f"{output}: not a regular file; resume and sharding need one")
    skip, last_id = (0, None)
    if resume:
        if target is None:
            raise ValueError("resume needs an output file")
        if settings is not None:  # before anything is cut or unmarked: a refused resume leaves the output as it was
            _check_same_settings(target, settings)
        skip, last_id = _completed_lines(target)
    if shard is not None:
        done_path(target).unlink(missing_ok=True)  # the part is being written again: not finished until it says so
    counted = _Counted(documents)
    selected = _select_shard(counted, shard)
    for done in range(skip):
        _, document = next(selected, (None, None))
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
    if device:
        handle = open(target, "ab")  # (through /dev/stdout, "wb" would empty a >> log)
    elif target is not None:
        target.parent.mkdir(parents=True, exist_ok=True)
        if settings is not None:
            write_text_file(settings_path(target), json.dumps(settings, sort_keys=True) + "\n")
        elif not resume:  # an earlier run's settings would describe these new lines
            settings_path(target).unlink(missing_ok=True)
        handle = open(target, "ab" if resume else "wb")
    else:
        stream = stream or sys.stdout
    counts = {"documents": 0, "errors": 0, "skipped": skip, "entities": 0, "relations": 0}
    started = time.perf_counter()
    from .training_simmemre import watched_output

    label = "Predicting" if shard is None else f"Predicting shard {shard[0]}/{shard[1]}"  # (shards share a terminal)
    watched = watched_output()
    bar = tqdm(desc=label, unit="doc", disable=not (progress and watched), initial=0)
    # In a log file (nohup, CI) a bar writes a frame per batch: a plain line at most every PROGRESS_LINE_SECONDS.
    plain_lines, last_line = progress and not watched, started
    try:
        batch = []

        def flush(batch):
            nonlocal last_line
            records = _predicted_records(extractor, batch, batch_size, pipeline_kwargs)
            payload = b"".join(json_line(record) for record in records)
            if handle is not None:
                handle.write(payload)  # one write per batch, then flush: no torn line but the last
                handle.flush()
            else:
                raw = getattr(stream, "buffer", None)
                if raw is not None:
                    stream.flush()
                    raw.write(payload)
                    raw.flush()
                else:
                    stream.write(payload.decode("utf-8"))
            counts["documents"] += len(records)
            counts["entities"] += sum(len(record.get("entities", ())) for record in records)
            counts["relations"] += sum(len(record.get("relations", ())) for record in records)
            bar.update(len(records))
            now = time.perf_counter()
            if plain_lines and now - last_line >= PROGRESS_LINE_SECONDS:
                rate = counts["documents"] / max(now - started, 1e-9)
                print(f"{label}: {counts['documents']} document(s), {rate:.2f} doc/s", file=sys.stderr, flush=True)
                last_line = now

        for position, document in selected:
            item = checked_input(extractor, document, position, strict)
            counts["errors"] += "error" in item
            batch.append(item)
            if len(batch) >= batch_size:
                flush(batch)
                batch = []
        if batch:
            flush(batch)
    finally:
        bar.close()
        if handle is not None:
            handle.close()
    if shard is not None:  # reached only when the whole input was read: the marker merge_parts checks
        marker = {"input_documents": counted.count, "lines": skip + counts["documents"]}
        done_path(target).write_text(json.dumps(marker) + "\n", encoding="utf-8")
    counts["seconds"] = time.perf_counter() - started
    counts["output"] = None if target is None else str(target)
    return counts


# How often `predict_corpus` writes a progress line where no one watches a bar.
PROGRESS_LINE_SECONDS = 60.0


def merge_parts(output, count: int, remove: bool = False) -> int:
    """Interleave `count` shard parts of `output` back into input order (document k is line k // count of part
    k % count); returns the number of lines written. Each part must be finished: its completion marker (`done_path`)
    present, its last line complete, its line count the marker's, and the markers' input sizes equal to the parts'
    total, so a part that lost lines is refused instead of merged short. Raises ValueError naming the part."""
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"the number of parts to merge must be a positive integer, got {count!r}")
    parts = [part_path(output, (index, count)) for index in range(count)]
    missing = [str(path) for path in parts if not path.is_file()]
    if missing:
        raise ValueError(f"missing shard part(s): {', '.join(missing)}")
    rerun = "rerun its shard with --resume"
    lengths, inputs = [], set()
    for path in parts:
        marker_path = done_path(path)
        if not marker_path.is_file():
            raise ValueError(f"{path}: its run has not finished (no {marker_path.name}); {rerun}")
        try:
            marker = parse_json(marker_path.read_text(encoding="utf-8"))
            expected_lines, input_documents = int(marker["lines"]), int(marker["input_documents"])
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(f"{marker_path}: not a completion marker ({error}); {rerun}") from None
        lines, last = 0, b"\n"
        with open(path, "rb") as handle:
            for line in handle:
                lines, last = lines + 1, line
        if not last.endswith(b"\n"):
            raise ValueError(f"{path}: its last line is torn (no newline); {rerun}")
        if lines != expected_lines:
            raise ValueError(f"{path}: holds {lines} lines, but its run wrote {expected_lines}; {rerun}")
        lengths.append(lines)
        inputs.add(input_documents)
    total = sum(lengths)
    if inputs != {total}:
        raise ValueError(
            f"shard parts of {output} hold {total} lines, but their runs read {sorted(inputs)} input documents "
            "(parts of different runs or inputs?)"
        )
    expected = [total // count + (1 if index < total % count else 0) for index in range(count)]
    if lengths != expected:
        raise ValueError(
            f"shard parts of {output} hold {lengths} lines; round-robin sharding of {total} documents gives {expected}"
        )
    recorded = [settings_path(path) for path in parts if settings_path(path).is_file()]
    texts = {path.read_text(encoding="utf-8") for path in recorded}
    if len(texts) > 1:
        raise ValueError(f"shard parts of {output} were written with other settings (see their .settings.json files)")
    handles = [open(path, "rb") for path in parts]
    try:
        with replacing_file(output) as merged:  # a merge stopped midway leaves the earlier output, not part of one
            for line_number in range(total):
                merged.write(handles[line_number % count].readline())
    finally:
        for handle in handles:
            handle.close()
    if texts and len(recorded) == len(parts):
        write_text_file(settings_path(output), texts.pop())
    else:  # some parts recorded none: what wrote the merged lines is not known
        settings_path(output).unlink(missing_ok=True)
    if remove:
        for path in parts:
            path.unlink()
            done_path(path).unlink()
            settings_path(path).unlink(missing_ok=True)
    return total


__all__ = [
    "BadInput",
    "check_inputs",
    "check_output_is_new",
    "check_output_name",
    "iter_documents",
    "merge_parts",
    "parse_shard",
    "part_path",
    "predict_corpus",
    "settings_path",
    "shard_from_environment",
]
