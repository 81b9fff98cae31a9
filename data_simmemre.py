# coding=utf-8
"""Data layer of SimMemRE: one JSON Lines document schema, validation, and corpus converters.

Document schema (one JSON object per line of a ``.jsonl`` file)::

    {"id": "227508",
     "text": "Naloxone reverses the antihypertensive effect of clonidine. In ...",
     "sentences": [{"start": 0, "end": 59}, ...],          # optional
     "words": [{"start": 0, "end": 8}, ...],               # optional
     "entities": [{"type": "Chemical", "ids": ["D009270"],  # ids optional
                   "mentions": [{"start": 0, "end": 8}, ...]}, ...],
     "relations": [{"head": 0, "tail": 3, "type": "CID"}]}  # head/tail index into entities

Offsets are Python ``str`` indices into ``text`` (end exclusive). Pipeline output may add ``score`` on
mentions/entities/relations and ``text`` on mentions; validation ignores such extra keys.

``labels.json`` next to the split files is ``{"entity_types": [...], "relation_types": [...]}``, both lists
**sorted** (Python string order), so the label inventory does not depend on which splits were converted
or in which order documents were read.

Converters: BC5CDR PubTator (:func:`read_pubtator`), DocRED / Re-DocRED / JEREX-joint JSON (:func:`read_docred`),
brat standoff (:func:`read_brat`, and :func:`write_brat` back) and BioC XML or JSON (:func:`read_bioc`, and
:func:`write_bioc` back); :func:`convert_corpus` converts a folder or a single file, split by split.

This module uses the standard library, the span checks of :mod:`processing_simmemre` (the one input validation,
shared with the processor and the pipeline) and ``datasets`` (imported lazily, for
:func:`load_documents_as_datasetdict`).
"""

from __future__ import annotations

import bisect
import contextlib
import errno
import gzip
import itertools
import json
import numbers
import os
import re
import secrets
import time
from collections import Counter
from typing import Any, Iterable, Iterator, Mapping
from xml.etree import ElementTree

from .cli_simmemre import FORMATS, SPLIT_NAMES, convert_parser  # noqa: F401  (convert_parser: importable as before)
from .processing_simmemre import check_span, check_span_list, is_integer
from .segmentation_simmemre import segment_text, split_sentences, split_words

SPLITS = ("train", "dev", "test")
STATS_KEYS = ("split", "documents", "mentions", "entities", "relations")


# ----------------------------------------------------------------------------------------------------
# Errors and validation
# ----------------------------------------------------------------------------------------------------


class DocumentError(ValueError):
    """A document (or a line of an input file) is malformed.

    The message always names the source (``path:line`` or ``path[document i]``) and, for a document, its id and the
    field path (e.g. ``entities[3].mentions[1].end``). The parts are also available as attributes.
    """

    def __init__(self, message: str, *, source: str = "<memory>", doc_id: Any = None, field: str = "<document>"):
        self.source = source
        self.doc_id = doc_id
        self.field = field
        self.reason = message
        if doc_id is None and field == "<document>":  # about the file (or a line), not one document's field
            super().__init__(f"{source}: {message}")
            return
        shown = "?" if doc_id is None else repr(doc_id) if doc_id == "" else doc_id
        super().__init__(f"{source}: document {shown!s}: {field}: {message}")


def _open_text(path: str | os.PathLike, newline: str | None = None):
    # utf-8-sig: a leading byte-order mark (Windows Notepad, PowerShell 5) is dropped, as predict.py and score.py do.
    path = os.fspath(path)
    if path.endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8-sig", newline=newline)
    return open(path, encoding="utf-8-sig", newline=newline)


@contextlib.contextmanager
def _readable_compression(path: str):
    """A truncated or damaged ``.gz`` file (an interrupted download) as a `DocumentError` naming it, not a traceback
    from inside gzip."""
    import zlib

    try:
        yield
    except (EOFError, gzip.BadGzipFile, zlib.error) as error:
        raise DocumentError(f"not a readable gzip file ({error or type(error).__name__})", source=path) from None


def _not_utf8(path: str) -> DocumentError:
    """The error for a file that is not UTF-8, naming its first undecodable line (the decoder's own position is an
    offset into the chunk it read, not into the file)."""
    with (gzip.open if path.endswith(".gz") else open)(path, "rb") as handle:
        for line_number, line in enumerate(handle, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as error:
                return DocumentError(
                    f"not valid UTF-8 (byte 0x{line[error.start]:02x} at byte {error.start + 1} of the line)",
                    source=f"{path}:{line_number}",
                )
    return DocumentError("not valid UTF-8", source=path)


# The hints for a file given with the wrong format (a copied config's `format: bc5cdr` left over a JSON Lines file):
# train.py reads SimMemRE documents with no data.format, convert_dataset.py with --format jsonl.
JSON_LINES_HINT = (
    "it looks like JSON: SimMemRE JSON Lines documents are read without a format "
    "(leave data.format out; convert_dataset.py: --format jsonl)"
)
# What a corpus file given as SimMemRE JSON Lines looks like, by format (`corpus_format_of`).
CORPUS_FORMAT_LOOKS = {
    "bc5cdr": "PubTator (PMID|t|title)",
    "bioc": "a BioC collection",
    "docred": "DocRED JSON (a list of documents with vertexSet)",
}


def corpus_format_hint(format: str) -> str:
    """The hint that names a corpus file's `format` and how train.py and convert_dataset.py read it."""
    return (
        f"it looks like {CORPUS_FORMAT_LOOKS[format]}: read it with data.format {format} "
        f"(convert_dataset.py: --format {format})"
    )


PUBTATOR_HINT = corpus_format_hint("bc5cdr")


def _is_json_object_line(line: str) -> bool:
    """Whether `line` is one JSON object on its own: a line of a JSON Lines file, never a PubTator line."""
    if not line.lstrip().startswith("{"):
        return False
    try:
        return isinstance(json.loads(line), dict)
    except (ValueError, RecursionError):
        return False


def _json_lines_hint(path: str) -> str:
    """`JSON_LINES_HINT` (with "; " before it) when the first non-blank line of `path` is a SimMemRE document of its
    own (a JSON object with a ``text``), so that a JSON reader's "Extra data" names the cause; else ""."""
    try:
        with _open_text(path) as handle:
            first = next((line for line in handle if line.strip()), "")
    except (OSError, UnicodeDecodeError, EOFError, gzip.BadGzipFile):
        return ""
    # (JSON Lines of DocRED documents, say, are no SimMemRE documents: no hint rather than a wrong one)
    return f"; {JSON_LINES_HINT}" if _is_json_object_line(first) and '"text"' in first else ""


# How much of a file `corpus_format_of` reads: a PubTator title line, a BioC collection's header and first passage, a
# DocRED document's first keys.
_FORMAT_SNIFF_BYTES = 1 << 16
_BIOC_XML_START = re.compile(
    r"(?:<\?xml[^>]*\?>\s*)?(?:<!--.*?-->\s*)*(?:<!DOCTYPE\s+collection[^>]*>\s*)?"
    r"<collection(?:\s[^>]*)?>\s*<(?:source|date|key|infon|document)[\s>]",  # (BioC's DTD: source, date, key first)
    re.S,
)
# The keys a BioC JSON collection starts with (BioC's DTD: source, date, key, infons, then the documents).
_BIOC_COLLECTION_KEYS = ("source", "date", "key", "infons", "documents")
# A JSON string (group 1; one cut off at the end runs to it), and ":" after it when it is a key (group 2), or a bracket.
_JSON_TOKEN = re.compile(r'"((?:[^"\\]|\\.)*)"?(\s*:)?|[\[\]{}]')


def _json_key_paths(text: str) -> Iterator[tuple[str, ...]]:
    """The object keys of `text`, the start of a JSON value cut off anywhere, each as its path from the top:
    ``("documents", "[", "passages")`` is the key ``passages`` of an object in the top-level list ``documents``.
    Brackets and quotes alone are read, so a value too large to parse from its first bytes still shows which keys are
    top-level."""
    path = []  # per open bracket: "[" for a list; an object's latest key ("" before its first)
    for token in _JSON_TOKEN.finditer(text):
        if token.group(2):
            if path and path[-1] != "[":
                path[-1] = token.group(1)
                yield tuple(path)
        elif token.group() in ("{", "["):
            path.append("" if token.group() == "{" else "[")
        elif token.group() in ("}", "]") and path:
            path.pop()


def _json_corpus_format(value: Any) -> str | None:
    """The corpus format of a parsed JSON value by its top-level keys: a BioC collection (a ``documents`` list whose
    first object has ``passages``), DocRED (a list of documents with ``vertexSet``). A SimMemRE document (``text`` or
    ``words`` at its top, whatever its other fields hold) and anything else are None."""
    if isinstance(value, dict):
        documents = value.get("documents")
        if "text" in value or "words" in value or not isinstance(documents, list) or not documents:
            return None
        # (by its first document, as `_cut_json_corpus_format` judges a file too large to parse)
        return "bioc" if isinstance(documents[0], dict) and "passages" in documents[0] else None
    if isinstance(value, list) and value:
        if all(
            isinstance(item, dict) and "vertexSet" in item and not {"text", "words"} & item.keys() for item in value
        ):
            return "docred"
    return None


def _cut_json_corpus_format(start: str) -> str | None:
    """The corpus format of `start`, the first bytes of a JSON value too large to parse from them, by all the keys
    seen: a BioC collection whose first key is a collection's and whose ``documents`` list holds an object with
    ``passages``; DocRED, an array whose documents have ``vertexSet``. Another first key (a document's ``id``), or a
    ``text`` or ``words`` at the top of the object or of an array's document (SimMemRE documents), is None."""
    paths = list(_json_key_paths(start))
    if start.startswith("["):
        documents = {path[1] for path in paths if len(path) == 2}
        return "docred" if "vertexSet" in documents and not documents & {"text", "words"} else None
    top_level = [path[0] for path in paths if len(path) == 1]
    if not top_level or top_level[0] not in _BIOC_COLLECTION_KEYS or {"text", "words"} & set(top_level):
        return None
    return "bioc" if ("documents", "[", "passages") in paths else None


def corpus_format_of(path: str | os.PathLike) -> str | None:
    """The corpus format (a key of :data:`CORPUS_FORMAT_LOOKS`) that the start of the file `path` is written in, else
    None: PubTator (a ``PMID|t|title`` line, the next one of the same PMID), a BioC collection (XML, or a JSON object
    whose top-level ``documents`` list holds objects with ``passages``), DocRED JSON (a list of documents with
    ``vertexSet``). JSON is judged by the top-level keys of its first value (the first line of JSON Lines): a SimMemRE
    document (``text`` or ``words``) is None whatever its other fields hold. SimMemRE JSON Lines, plain text, and a
    file that cannot be read are None. For the messages of the readers of SimMemRE documents (`read_jsonl`,
    predict.py), which a corpus file reaches under a copied config or the wrong script."""
    path = os.fspath(path)
    try:
        with (gzip.open if path.endswith(".gz") else open)(path, "rb") as handle:
            data = handle.read(_FORMAT_SNIFF_BYTES)
    except (OSError, EOFError, ValueError):  # (a damaged .gz: its reader names that)
        return None
    head = data.decode("utf-8", errors="replace").removeprefix("\ufeff")
    lines = [line.rstrip("\r") for line in head.split("\n") if line.strip()][:2]
    start = head.lstrip()
    if not lines:
        return None
    title = _PUBTATOR_PASSAGE.match(lines[0])
    if title and title.group(2) == "t" and not start.startswith(("{", "[")) and not title.group(1).split()[1:]:
        pmid = title.group(1)
        # (one line "1|t|..." alone, a title without abstract, still reads as PubTator)
        if len(lines) == 1 or lines[1].startswith((f"{pmid}|a|", f"{pmid}\t")):
            return "bc5cdr"
    if _BIOC_XML_START.match(start):
        return "bioc"
    if not start.startswith(("{", "[")):
        return None
    try:
        value, end = json.JSONDecoder().raw_decode(start)
    except (ValueError, RecursionError):
        # Cut off by the bytes read (a large collection), or no JSON: only a cut-off value is judged, by its keys.
        return _cut_json_corpus_format(start) if len(data) == _FORMAT_SNIFF_BYTES else None
    if start[end:].partition("\n")[0].strip():  # (more on its line: a plain text that begins with braces)
        return None
    return _json_corpus_format(value)


def _corpus_file_hint(path: str) -> str:
    """`corpus_format_hint` of the format `path` is written in (with "; " before it), or ""."""
    format = corpus_format_of(path)
    return f"; {corpus_format_hint(format)}" if format else ""


def with_str_id(doc: Any) -> Any:
    """`doc` with an integer ``id`` as its string: the pipeline and the metric take integer ids (numeric PubMed ids
    read as numbers), the schema's files and names want a string."""
    if isinstance(doc, Mapping) and is_integer(doc.get("id")):
        return {**doc, "id": str(doc["id"])}
    return doc


def validate_document(doc: Any, source: str = "<memory>") -> dict:
    """Check that `doc` follows the document schema; return it unchanged or raise :class:`DocumentError`.

    Checks: ``id`` (non-empty str), ``text`` (str), ``entities`` and ``relations`` (lists) are present and
    typed; every entity has a str ``type``, a list of str ``ids`` if present and a non-empty list of
    ``mentions`` whose offsets lie inside the text with start < end; optional ``sentences``/``words`` are
    valid spans in increasing, non-overlapping order; relation ``head``/``tail`` index an existing entity
    and relation ``type`` is a str; a mention's ``text``, when given, is what its offsets slice. Unknown keys
    (``score``, ...) are ignored.
    """
    doc_id = doc.get("id") if isinstance(doc, Mapping) else None

    def fail(message: str, field: str):
        raise DocumentError(message, source=source, doc_id=doc_id, field=field)

    def fail_span(_error_class, message: str, field: str):  # the span checks of processing_simmemre
        fail(message, field)

    if not isinstance(doc, Mapping):
        fail(f"expected a JSON object, got {type(doc).__name__}", "<document>")
    for key, kind in (("id", str), ("text", str), ("entities", list), ("relations", list)):
        if key not in doc:
            fail("missing required field", key)
        if not isinstance(doc[key], kind):
            fail(f"expected {kind.__name__}, got {type(doc[key]).__name__}", key)
    if not doc["id"]:
        fail("must be a non-empty string", "id")
    text_length = len(doc["text"])

    for key in ("sentences", "words"):
        if key not in doc or doc[key] is None:
            continue
        check_span_list(doc[key], text_length, key, fail_span)

    for i, entity in enumerate(doc["entities"]):
        field = f"entities[{i}]"
        if not isinstance(entity, Mapping):
            fail(f"expected an object, got {type(entity).__name__}", field)
        if "type" not in entity:
            fail("missing required field", f"{field}.type")
        if not isinstance(entity["type"], str):
            fail(f"expected str, got {type(entity['type']).__name__}", f"{field}.type")
        if not entity["type"].strip():  # the model config refuses it later, naming no file or document
            fail("a type name needs a visible character", f"{field}.type")
        if "ids" in entity and entity["ids"] is not None:
            if not isinstance(entity["ids"], list):
                fail(f"expected a list of str, got {type(entity['ids']).__name__}", f"{field}.ids")
            for j, kb_id in enumerate(entity["ids"]):
                if not isinstance(kb_id, str):
                    fail(f"expected str, got {type(kb_id).__name__}", f"{field}.ids[{j}]")
        if "mentions" not in entity:
            fail("missing required field", f"{field}.mentions")
        if not isinstance(entity["mentions"], list):
            fail(f"expected list, got {type(entity['mentions']).__name__}", f"{field}.mentions")
        if not entity["mentions"]:
            fail("an entity needs at least one mention", f"{field}.mentions")
        for j, mention in enumerate(entity["mentions"]):
            start, end = check_span(mention, text_length, f"{field}.mentions[{j}]", fail_span)
            surface = mention.get("text")
            if surface is not None and not isinstance(surface, str):  # (the offsets check below would be skipped)
                fail(f"expected str, got {type(surface).__name__}", f"{field}.mentions[{j}].text")
            if isinstance(surface, str) and doc["text"][start:end] != surface:
                # Offsets counted in UTF-16 units (JavaScript tools) or bytes slip past the span checks after an emoji.
                fail(
                    f"the offsets ({start}, {end}) slice {doc['text'][start:end]!r}, not the mention's text "
                    f"{surface!r} (offsets count code points, as Python indexes a str, not UTF-16 units or bytes)",
                    f"{field}.mentions[{j}].text",
                )

    n_entities = len(doc["entities"])
    for i, relation in enumerate(doc["relations"]):
        field = f"relations[{i}]"
        if not isinstance(relation, Mapping):
            fail(f"expected an object, got {type(relation).__name__}", field)
        for key in ("head", "tail"):
            if key not in relation:
                fail("missing required field", f"{field}.{key}")
            if not is_integer(relation[key]):
                fail(f"expected an integer entity index, got {relation[key]!r}", f"{field}.{key}")
            if not 0 <= relation[key] < n_entities:
                fail(
                    f"entity index {relation[key]} does not exist (document has {n_entities} entities)",
                    f"{field}.{key}",
                )
        if "type" not in relation:
            fail("missing required field", f"{field}.type")
        if not isinstance(relation["type"], str):
            fail(f"expected str, got {type(relation['type']).__name__}", f"{field}.type")
        if not relation["type"].strip():
            fail("a type name needs a visible character", f"{field}.type")
    return doc


# ----------------------------------------------------------------------------------------------------
# JSON Lines and labels.json
# ----------------------------------------------------------------------------------------------------


# In a convert_dataset.py output folder while it is being written: a conversion stopped midway leaves it, and the
# folder's split files are refused until a conversion completes.
CONVERSION_MARKER = ".conversion-incomplete"


def read_jsonl(path: str | os.PathLike, validate: bool = True) -> list[dict]:
    """Read a JSON Lines file of documents (``.gz`` transparently); each document is validated.

    Blank lines are skipped. Errors name ``path:line``; a repeated document id is one (the metric matches
    documents by id, and the PubTator reader and score.py refuse repeats too). ``validate=False`` skips both
    checks (schema and repeated ids) and only parses JSON, for files already checked.
    """
    path = os.fspath(path)
    marker = os.path.join(os.path.dirname(path), CONVERSION_MARKER)
    if os.path.exists(marker):  # some splits new, some of the earlier conversion: a mix nothing else would show
        raise DocumentError(
            f"its folder holds an interrupted conversion ({CONVERSION_MARKER}); convert the whole corpus again "
            "(convert_dataset.py with a folder --input)",
            source=path,
        )
    documents = []
    first_line_of_id = {}
    try:
        with _open_text(path) as handle:
            for line_number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                source = f"{path}:{line_number}"
                try:
                    doc = parse_json(line)
                except json.JSONDecodeError as error:
                    hint = f"; {PUBTATOR_HINT}" if _PUBTATOR_PASSAGE.match(line.rstrip("\r\n")) else ""
                    hint = hint or (_corpus_file_hint(path) if not documents else "")
                    raise DocumentError(
                        f"invalid JSON ({error.msg} at column {error.colno}){hint}", source=source
                    ) from None
                if validate:
                    try:
                        validate_document(doc, source=source)
                    except DocumentError as error:  # (a corpus file fails at its first line: named with its format)
                        hint = "" if documents else _corpus_file_hint(path)
                        if not hint:
                            raise
                        raise DocumentError(
                            error.reason + hint, source=error.source, doc_id=error.doc_id, field=error.field
                        ) from None
                    if doc["id"] in first_line_of_id:
                        raise DocumentError(
                            f"duplicate document id (first document at line {first_line_of_id[doc['id']]})",
                            source=source,
                            doc_id=doc["id"],
                            field="id",
                        )
                    first_line_of_id[doc["id"]] = line_number
                documents.append(doc)
    except UnicodeDecodeError:
        raise _not_utf8(path) from None
    return documents


def append_jsonl(rows: Iterable[Mapping], path: str | os.PathLike, sort_keys: bool = False) -> None:
    """Append `rows` to the JSON Lines file `path` (created with its folder if missing), one ``json.dumps`` line
    each: how the benchmarks record their runs in ``results/*.jsonl``."""
    path = os.fspath(path)
    if os.path.dirname(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "a", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, sort_keys=sort_keys) + "\n")


def is_stream_path(path: str | os.PathLike) -> bool:
    """Whether `path` is written into as a stream, not replaced as a file: a character device or a pipe itself
    (/dev/null), or a standard alias under /dev or /proc (/dev/stdout, /dev/fd/1) for a stream or an open file. A link
    elsewhere is not followed (a planted link is replaced, never written through); a block device is refused."""
    import stat

    path = os.fspath(path)
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return False
    if stat.S_ISLNK(mode) and os.path.abspath(path).startswith(("/dev/", "/proc/")):
        try:
            mode = os.stat(path).st_mode
        except OSError:
            return False
        if stat.S_ISREG(mode):  # (standard output redirected to a file: write into it, as the shell opened it)
            return True
    if stat.S_ISBLK(mode):
        raise ValueError(f"{path}: a block device, not an output file")
    return stat.S_ISCHR(mode) or stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


# replacing_file's temporary name: PATH.<12 hex digits>.tmp (its length bounds the ids write_brat takes).
_TEMPORARY_HEX_BYTES = 6
_TEMPORARY_SUFFIX = re.compile(rf"\.[0-9a-f]{{{2 * _TEMPORARY_HEX_BYTES}}}\.tmp$")
_TEMPORARY_SUFFIX_LENGTH = len(".tmp") + 1 + 2 * _TEMPORARY_HEX_BYTES


@contextlib.contextmanager
def replacing_file(path: str | os.PathLike):
    """A binary handle on a new temporary file beside `path`, renamed over `path` when the block ends without error:
    a failure midway (an exception, a full disk, an interrupt) leaves the earlier file or none, never a partly
    written one. The temporary name is unguessable and created exclusively, so no planted link is written through."""
    path = os.fspath(path)
    if is_stream_path(path):  # (renamed over, /dev/null itself was replaced by a regular file)
        with open(path, "ab") as handle:  # (appended: through /dev/stdout, "wb" would empty a >> log)
            yield handle
        return
    directory = os.path.dirname(path)
    if directory:
        os.makedirs(directory, exist_ok=True)
    temporary = f"{path}.{secrets.token_hex(_TEMPORARY_HEX_BYTES)}.tmp"
    try:
        with open(temporary, "xb") as handle:
            yield handle
        os.replace(temporary, path)
    except BaseException:
        if os.path.lexists(temporary):
            os.remove(temporary)
        raise


def write_text_file(path: str | os.PathLike, text: str) -> None:
    """Write `text` (UTF-8) to `path` through `replacing_file`: a config or results file rewritten in place was left
    truncated when the write failed."""
    with replacing_file(path) as handle:
        handle.write(text.encode("utf-8"))


def write_jsonl(docs: Iterable[Mapping], path: str | os.PathLike) -> int:
    """Write documents as JSON Lines (UTF-8, non-ASCII kept; ``.gz`` if the path ends so) through `replacing_file`,
    so a failure midway never leaves a partly written split. Returns the count."""
    path = os.fspath(path)
    count = 0
    with replacing_file(path) as handle:
        # GzipFile names `path` in the gzip header, not the temporary file.
        output = gzip.GzipFile(path, "wb", fileobj=handle) if path.endswith(".gz") else handle
        for doc in docs:
            output.write(json_line(doc))
            count += 1
        output.close()
    return count


def json_line(record: Mapping) -> bytes:
    """One JSON Lines line, UTF-8 encoded. Non-ASCII text is written as such, except in a record holding a lone
    surrogate (no UTF-8 form): that one is written with \\u escapes, which JSON readers read back as the same string."""
    try:
        return (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
    except UnicodeEncodeError:
        return (json.dumps(record) + "\n").encode("utf-8")


LABELS_FILE = "labels.json"


def write_labels(directory: str | os.PathLike, entity_types: Iterable[str], relation_types: Iterable[str]) -> dict:
    """Write ``directory/labels.json`` with both type lists de-duplicated and sorted; return the dict."""
    labels = {"entity_types": sorted(set(entity_types)), "relation_types": sorted(set(relation_types))}
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, LABELS_FILE), "w", encoding="utf-8") as handle:
        json.dump(labels, handle, ensure_ascii=False, indent=2)
        handle.write("\n")
    return labels


def read_labels(directory: str | os.PathLike) -> dict:
    """Read ``directory/labels.json`` -> ``{"entity_types": [...], "relation_types": [...]}``."""
    path = os.path.join(directory, LABELS_FILE)
    labels = _load_json(path)
    for key in ("entity_types", "relation_types"):
        if not isinstance(labels.get(key), list) or not all(isinstance(x, str) for x in labels[key]):
            raise DocumentError("expected a list of strings", source=path, doc_id="labels.json", field=key)
    return labels


def labels_for(docs_by_split: Mapping[str, Any]) -> dict:
    """Sorted entity and relation types over all splits.

    Values of `docs_by_split` are document lists or ``(documents, stats)`` tuples (as returned by
    :func:`convert_corpus`).
    """
    entity_types, relation_types = set(), set()
    for value in docs_by_split.values():
        docs = value[0] if isinstance(value, tuple) else value
        for doc in docs:
            entity_types.update(entity["type"] for entity in doc["entities"])
            relation_types.update(relation["type"] for relation in doc["relations"])
    return {"entity_types": sorted(entity_types), "relation_types": sorted(relation_types)}


def declared_types(format: str | None, input_path=None, rel_info: Any = None) -> dict:
    """``{"entity_types", "relation_types"}`` (sorted) that a corpus declares beside its documents, used or not:

    - docred: the relation names of its rel_info (given, or found in the corpus folder as :func:`convert_corpus`
      finds it: `find_relation_names_file`), and the entity types of a JEREX ``types.json``;
    - brat: the ``[entities]`` and ``[relations]`` of its ``annotation.conf`` files (`read_brat_declared_types`);
    - other formats: none."""
    if format == "brat" and input_path is not None and os.path.exists(input_path):
        return read_brat_declared_types(input_path)
    declared = {"entity_types": [], "relation_types": []}
    if format != "docred":
        return declared
    if rel_info is None and input_path is not None and os.path.isdir(input_path):
        rel_info = find_relation_names_file(input_path)
    names = load_relation_names(rel_info) if rel_info is not None else None
    declared["relation_types"] = sorted(set((names or {}).values()))
    if isinstance(rel_info, (str, os.PathLike)):
        entities = _load_json(rel_info).get("entities")  # (a JEREX types.json; a rel_info.json has no such key)
        if isinstance(entities, Mapping):
            declared["entity_types"] = sorted(str(key) for key in entities)
    elif isinstance(rel_info, Mapping) and isinstance(rel_info.get("entities"), Mapping):
        declared["entity_types"] = sorted(str(key) for key in rel_info["entities"])
    return declared


# The files naming a DocRED-format corpus's relation ids, looked for beside its split files in this order: DocRED's
# rel_info.json, and the types.json of JEREX's joint split (train_joint.json, dev_joint.json, test_joint.json and
# types.json are what JEREX distributes; without it the relation types stayed ids such as P131).
RELATION_NAME_FILES = ("rel_info.json", "types.json")


def find_relation_names_file(folder: str | os.PathLike) -> str | None:
    """The first of :data:`RELATION_NAME_FILES` in `folder`, or None. A ``types.json`` counts only in JEREX's layout
    (a ``relations`` mapping): the name is common, and another tool's file there was not given by the user."""
    for name in RELATION_NAME_FILES:
        candidate = os.path.join(os.fspath(folder), name)
        if not os.path.isfile(candidate):
            continue
        if name == "types.json":
            try:
                content = _load_json(candidate)
            except (ValueError, OSError, DocumentError):
                continue
            if not isinstance(content, Mapping) or not isinstance(content.get("relations"), Mapping):
                continue
        return candidate
    return None


def boundary_words(documents: Iterable[Mapping], min_count: int = 100) -> dict:
    """The lower-cased words seen at least `min_count` times in `documents` (a training corpus) that never begin
    (end) one of their gold mentions: ``{"non_initial_words": [...], "non_final_words": [...]}``, sorted, the
    `SimMemREConfig` fields that spare the model scoring candidate spans no mention looks like. Documents without
    ``words`` are segmented first (on a copy)."""
    if not isinstance(min_count, int) or isinstance(min_count, bool) or min_count < 1:
        raise ValueError(f"boundary_words: min_count must be a positive integer, got {min_count!r}")
    seen, initial, final = {}, set(), set()
    for doc in documents:
        if not doc.get("words"):
            doc = add_segmentation(dict(doc))
        text = doc["text"]
        starts = [word["start"] for word in doc["words"]]
        texts = [text[word["start"] : word["end"]].lower() for word in doc["words"]]
        for word in texts:
            seen[word] = seen.get(word, 0) + 1
        for start, end in _mention_spans(doc):
            first = bisect.bisect_right(starts, start) - 1  # the word holding the mention's first character
            last = bisect.bisect_left(starts, end) - 1  # ... and its last one
            if first >= 0:
                initial.add(texts[first])
            if last >= 0:
                final.add(texts[last])
    frequent = [word for word, count in seen.items() if count >= min_count]
    return {
        "non_initial_words": sorted(word for word in frequent if word not in initial),
        "non_final_words": sorted(word for word in frequent if word not in final),
    }


def relation_argument_types(documents: Iterable[Mapping]) -> dict:
    """``{relation type: [[head entity type, tail entity type], ...]}``, sorted: the argument types each relation
    type joins in `documents` (a training corpus), the `SimMemREConfig.relation_argument_types` that spares the
    model scoring entity pairs no relation of the corpus joins."""
    signatures = {}
    for doc in documents:
        entities = doc["entities"]
        for relation in doc["relations"]:
            pair = [entities[relation["head"]]["type"], entities[relation["tail"]]["type"]]
            signatures.setdefault(relation["type"], set()).add(tuple(pair))
    return {relation: [list(pair) for pair in sorted(pairs)] for relation, pairs in sorted(signatures.items())}


def coreference_lexicon(documents: Iterable[Mapping]) -> list[list[str]]:
    """Groups of mention strings that name one entity in `documents` (a training corpus), the
    `SimMemREConfig.coreference_lexicon` that joins synonyms the model's coreference splits. Two differently written
    strings (compared by `lexicon_key`: lower-cased, single-spaced) are linked where the documents write them as
    mentions of one entity more often than as mentions of two entities of one document; the groups are the connected
    strings, sorted. On BC5CDR train: 822 links in 411 groups; on dev, 227 of the 232 string pairs it joins are
    mentions of one entity."""
    import numpy as np

    from .modeling_simmemre import lexicon_key, merge_linked_clusters

    together, apart = Counter(), Counter()
    for doc in documents:
        text = doc["text"]
        entity_strings = [
            sorted({lexicon_key(text[m["start"] : m["end"]]) for m in entity["mentions"]} - {""})
            for entity in doc["entities"]
        ]
        for strings in entity_strings:
            together.update(itertools.combinations(strings, 2))
        for first, second in itertools.combinations(entity_strings, 2):
            apart.update(tuple(sorted((a, b))) for a in first for b in second if a != b)
    links = [pair for pair, count in together.items() if count > apart[pair]]
    strings = sorted({string for pair in links for string in pair})
    index = {string: number for number, string in enumerate(strings)}
    # the connected strings: the union-find that merges clusters after clustering, over one "cluster" per string
    labels = merge_linked_clusters(np.arange(len(strings)), [[index[a], index[b]] for a, b in links])
    groups = {}
    for string, label in zip(strings, labels.tolist()):
        groups.setdefault(label, []).append(string)
    return sorted(groups.values())


# ----------------------------------------------------------------------------------------------------
# Segmentation
# ----------------------------------------------------------------------------------------------------


def _mention_spans(doc: Mapping) -> list[tuple[int, int]]:
    return sorted({(m["start"], m["end"]) for entity in doc["entities"] for m in entity["mentions"]})


def count_forced_word_splits(text: str, split_points: Iterable[int]) -> int:
    """Number of words of ``split_words(text)`` that contain one of `split_points` strictly inside."""
    points = sorted(set(split_points))
    if not points:
        return 0
    count = 0
    for start, end in split_words(text):
        k = bisect.bisect_right(points, start)
        if k < len(points) and points[k] < end:
            count += 1
    return count


def forced_split_note(documents: Iterable[Mapping], share: float = 0.01) -> str | None:
    """A warning when more than `share` of the gold mentions of the `documents` without ``words`` begin or end inside
    a word of the text's own segmentation (None otherwise). Segmenting them splits those words at the gold boundaries,
    which raw text never gets: in Thai, Lao, Khmer or Burmese, written without spaces, nearly every mention does."""
    forced = mentions = 0
    example = None
    for doc in documents:
        try:
            if doc.get("words") is not None:
                continue
            spans = _mention_spans(doc)
            words = split_words(doc["text"])
            starts = [start for start, _ in words]

            def inside_a_word(offset):
                index = bisect.bisect_right(starts, offset) - 1  # the word starting at or before `offset`
                return index >= 0 and words[index][0] < offset < words[index][1]

            count = sum(inside_a_word(start) or inside_a_word(end) for start, end in spans)
        except (AttributeError, KeyError, TypeError, ValueError):
            continue  # a malformed document: the validation that follows names it and its field
        forced, mentions = forced + count, mentions + len(spans)
        if count and example is None:
            example = doc.get("id")
    if not mentions or forced <= share * mentions:
        return None
    return (
        f"{forced} of {mentions} gold mentions ({100 * forced / mentions:.1f} %, e.g. in document {example!r}) begin "
        "or end inside a word of the text's own segmentation: training splits those words at the gold boundaries, but "
        "the pipeline on raw text cannot, so raw-text scores will fall below dev and test scores. Give each "
        "document's `words` (for Thai, Lao, Khmer or Burmese, from a tokenizer for that language)"
    )


def add_segmentation(doc: dict, sentence_breaks: Iterable[int] = ()) -> dict:
    """Fill missing ``sentences``/``words`` of `doc` (in place; returns it).

    Uses :func:`segment_text` with ``split_points`` = all mention boundaries and ``no_break_spans`` = all
    mention spans, so gold mentions are always whole words and never cross a sentence boundary.
    `sentence_breaks` are extra character offsets where a new sentence must start (e.g. the start of a
    PubTator abstract after its title) unless a mention spans them. Existing fields are kept: if only
    ``words`` is given, sentences are grouped from those words; if only ``sentences`` is given, words are
    split with the sentence boundaries as extra split points.
    """
    has_sentences = doc.get("sentences") is not None
    has_words = doc.get("words") is not None
    if has_sentences and has_words:
        return doc
    text = doc["text"]
    spans = _mention_spans(doc)
    points = {p for span in spans for p in span}

    if has_words:
        words = [(w["start"], w["end"]) for w in doc["words"]]
        ranges = split_sentences(text, words, spans)
        doc["sentences"] = [{"start": words[a][0], "end": words[b - 1][1]} for a, b in ranges]
        return doc
    if has_sentences:
        points.update(p for s in doc["sentences"] for p in (s["start"], s["end"]))
        doc["words"] = [{"start": s, "end": e} for s, e in split_words(text, points)]
        return doc

    # Cut the text into chunks at the forced sentence breaks that no mention straddles.
    cuts = sorted({b for b in sentence_breaks if 0 < b < len(text) and not any(s < b < e for s, e in spans)})
    bounds = [0, *cuts, len(text)]
    sentences, words = [], []
    for chunk_start, chunk_end in zip(bounds, bounds[1:]):
        chunk = text[chunk_start:chunk_end]
        chunk_points = [p - chunk_start for p in points if chunk_start < p < chunk_end]
        chunk_spans = [(s - chunk_start, e - chunk_start) for s, e in spans if chunk_start <= s and e <= chunk_end]
        chunk_sentences, chunk_words = segment_text(chunk, chunk_points, chunk_spans)
        sentences += [{"start": s["start"] + chunk_start, "end": s["end"] + chunk_start} for s in chunk_sentences]
        words += [{"start": w["start"] + chunk_start, "end": w["end"] + chunk_start} for w in chunk_words]
    doc["sentences"], doc["words"] = sentences, words
    return doc


# ----------------------------------------------------------------------------------------------------
# BC5CDR PubTator
# ----------------------------------------------------------------------------------------------------

_PUBTATOR_PASSAGE = re.compile(r"^([^|\t]+)\|([ta])\|(.*)$")
# A carriage return followed by the start of another PubTator line: a file whose lines end in "\r" alone.
_CLASSIC_MAC_LINE_END = re.compile(r"\r[^|\t\r\n]+(?:\|[ta]\||\t[0-9]+\t[0-9]+\t|\tCID\t)")


def _new_stats(split: str | None = None) -> dict:
    return {"split": split, "documents": 0, "mentions": 0, "entities": 0, "relations": 0}


def _count_document(stats: dict, doc: Mapping) -> None:
    stats["documents"] += 1
    stats["entities"] += len(doc["entities"])
    stats["mentions"] += sum(len(entity["mentions"]) for entity in doc["entities"])
    stats["relations"] += len(doc["relations"])


# Counters of the grouping of id-annotated mentions into entities (`_pubtator_entities`: PubTator and BioC).
_ENTITY_GROUPING_COUNTERS = (
    "multi_id_mentions",
    "composite_mentions",
    "ungrounded_mentions",
    "ungrounded_entities",
    "dropped_ungrounded_mentions",
    "dropped_ungrounded_entities",
)
# Reader-specific counters, in the order they appear in the stats dict after the common keys.
_PUBTATOR_COUNTERS = (
    "mention_lines",
    *_ENTITY_GROUPING_COUNTERS,
    "dropped_documents",
    "dropped_document_mentions",
    "dropped_document_entities",
    "duplicate_mentions",
    "duplicate_relations",
    "forced_word_splits",
)


def read_pubtator(
    path: str | os.PathLike, drop_ungrounded: bool = False, require_relations: bool = False
) -> tuple[list[dict], dict]:
    """Read a BC5CDR PubTator file -> ``(documents, stats)``.

    - ``text`` = title + " " + abstract (the offsets of the files index exactly that; every mention is
      checked: ``text[start:end]`` must equal the mention string).
    - Entities are grouped per document by ``(type, MeSH id)``, in order of first mention; mentions are
      sorted by offset. A span with several ids (``D1|D2``, with or without the 7th column listing the
      individual mentions of a composite mention) becomes a mention of *each* of its ids' entities
      (``multi_id_mentions``; ``composite_mentions`` = those with a 7th column).
    - Ungrounded mentions (id ``-1``) are grouped per document into entities keyed by
      ``(type, lower-cased mention text)`` with ``ids: []`` (for a ``-1`` part of a composite mention,
      the text of that part); with ``drop_ungrounded=True`` they are dropped.
    - ``CID`` lines become relations head = Chemical entity of the chemical id, tail = Disease entity of
      the disease id; an id without an entity is a :class:`DocumentError`.
    - ``require_relations=True`` drops documents without any relation.
    - Sentences and words come from :func:`add_segmentation` with a forced sentence break between title
      and abstract.
    """
    path = os.fspath(path)
    stats = _new_stats()
    counts = dict.fromkeys(_PUBTATOR_COUNTERS, 0)
    documents: list[dict] = []
    first_line_of_pmid: dict[str, int] = {}
    try:
        # Lines end at "\n" only: a carriage return inside a title or abstract is a character its offsets count,
        # and universal newlines split the passage there ("\r\n" endings are stripped below).
        with _readable_compression(path), _open_text(path, newline="\n") as handle:
            # Each block is converted as soon as it ends, so its errors come before those of later lines.
            for block in _pubtator_blocks(handle, path):
                doc = _pubtator_document(block, path, first_line_of_pmid, counts, drop_ungrounded, require_relations)
                if doc is not None:
                    documents.append(doc)
                    _count_document(stats, doc)
    except UnicodeDecodeError:
        raise _not_utf8(path) from None
    stats.update(counts)
    return documents, stats


def _fail_at_line(path: str, message: str, line_number: int, doc_id: Any, field: str):
    raise DocumentError(message, source=f"{path}:{line_number}", doc_id=doc_id, field=field)


def _pubtator_blocks(lines: Iterable[str], path: str):
    """Yield the raw block of each document (title, abstract, parsed mention and relation lines).

    A block ends at a blank line, at the next title line or at the end of the file."""
    block: dict | None = None
    for line_number, raw in enumerate(lines, start=1):
        line = raw.rstrip("\r\n")
        if _CLASSIC_MAC_LINE_END.search(line):
            _fail_at_line(
                path,
                "lines end with a lone carriage return (\\r): convert the file to \\n line endings",
                line_number,
                line.split("|", 1)[0][:40],
                "line",
            )
        if not line.strip():
            if block is not None:
                yield block
                block = None
            continue
        # A JSON document whose text holds "|t|" matched as a title line (its id the JSON up to the "|"): refused as a
        # malformed line, with the JSON Lines hint.
        passage = None if _is_json_object_line(line) else _PUBTATOR_PASSAGE.match(line)
        if not passage:
            _add_pubtator_annotation(block, line, path, line_number)
            continue
        pmid, kind, content = passage.groups()
        if kind == "a":
            _add_pubtator_abstract(block, pmid, content, path, line_number)
            continue
        if block is not None:  # no blank line before a new document: close the previous one
            yield block
        block = {"pmid": pmid, "line": line_number, "title": content, "abstract": None, "mentions": [], "relations": []}
    if block is not None:
        yield block


def _add_pubtator_abstract(block: dict | None, pmid: str, content: str, path: str, line_number: int) -> None:
    if block is None or block["pmid"] != pmid:
        _fail_at_line(
            path, "abstract line without a preceding title line of the same PMID", line_number, pmid, "abstract"
        )
    if block["abstract"] is not None:
        _fail_at_line(path, "second abstract line", line_number, pmid, "abstract")
    if block["mentions"] or block["relations"]:
        _fail_at_line(path, "abstract line after annotation lines", line_number, pmid, "abstract")
    block["abstract"] = content


def _add_pubtator_annotation(block: dict | None, line: str, path: str, line_number: int) -> None:
    """Parse a mention or relation line into `block` (which must be the document of its PMID)."""
    columns = line.split("\t")
    pmid = columns[0]
    if len(columns) < 4:
        hint = ""
        if line.lstrip().startswith("{"):  # a schema document read with format bc5cdr (the README's own-data steps)
            hint = f"; {JSON_LINES_HINT}"
        _fail_at_line(
            path,
            f"malformed line (expected 'PMID|t|', 'PMID|a|', a mention or a relation line): {line[:80]!r}{hint}",
            line_number,
            *((pmid, "line") if len(pmid) <= 40 else (None, "<document>")),  # a line without tabs names no PMID
        )
    if block is None:
        _fail_at_line(path, "annotation line outside a document (no title line before it)", line_number, pmid, "line")
    if pmid != block["pmid"]:
        _fail_at_line(
            path,
            f"annotation line for PMID {pmid} inside the document of PMID {block['pmid']}",
            line_number,
            pmid,
            "line",
        )
    if len(columns) == 4:
        block["relations"].append(_parse_pubtator_relation(columns, path, line_number))
    else:
        block["mentions"].append(_parse_pubtator_mention(columns, path, line_number))


def _parse_pubtator_relation(columns: list[str], path: str, line_number: int) -> tuple:
    """``PMID CID chemical_id disease_id`` -> ``(line_number, type, chemical_id, disease_id)``."""
    pmid, relation_type, chemical_id, disease_id = columns
    if relation_type.isdigit():
        _fail_at_line(path, "malformed mention line (expected 6 or 7 columns, got 4)", line_number, pmid, "mention")
    if not chemical_id or not disease_id:
        _fail_at_line(path, "empty id in relation line", line_number, pmid, "relation")
    return (line_number, relation_type, chemical_id, disease_id)


def _parse_pubtator_mention(columns: list[str], path: str, line_number: int) -> tuple:
    """``PMID start end text type ids [individual mentions]`` ->
    ``(line_number, start, end, text, type, (id, surface) pairs, composite)``."""
    pmid = columns[0]
    if len(columns) not in (6, 7):
        _fail_at_line(
            path,
            f"malformed line: expected 4 (relation), 6 or 7 (mention) tab-separated columns, got {len(columns)}",
            line_number,
            pmid,
            "line",
        )
    _, start, end, mention_text, entity_type, id_field = columns[:6]
    for name, value in (("start", start), ("end", end)):
        if not (value.isascii() and value.isdigit()):  # str.isdigit alone accepts "²" and non-ASCII digits
            _fail_at_line(
                path, f"expected a non-negative integer offset, got {value!r}", line_number, pmid, f"mention.{name}"
            )
    start, end = int(start), int(end)
    if start >= end:
        _fail_at_line(path, f"start {start} must be smaller than end {end}", line_number, pmid, "mention.end")
    if not entity_type:
        _fail_at_line(path, "empty entity type", line_number, pmid, "mention.type")
    ids = [kb_id.strip() for kb_id in id_field.split("|")]
    if any(not kb_id for kb_id in ids):
        _fail_at_line(path, f"empty id in {id_field!r}", line_number, pmid, "mention.ids")
    parts = [mention_text] * len(ids)
    composite = len(columns) == 7 and bool(columns[6].strip())
    if composite:
        parts = columns[6].split("|")
        if len(parts) != len(ids):
            _fail_at_line(
                path,
                f"{len(parts)} individual mentions for {len(ids)} ids",
                line_number,
                pmid,
                "mention.individual_mentions",
            )
    # (id, surface) pairs; a repeated id counts once, a repeated "-1" once per distinct surface.
    pairs = list(dict.fromkeys((kb_id, part.lower() if kb_id == "-1" else None) for kb_id, part in zip(ids, parts)))
    return (line_number, start, end, mention_text, entity_type, pairs, composite)


def _pubtator_document(
    block: dict, path: str, first_line_of_pmid: dict, counts: dict, drop_ungrounded: bool, require_relations: bool
) -> dict | None:
    """The schema document of one block; None when `require_relations` drops it."""
    pmid = block["pmid"]
    if block["abstract"] is None and block["title"] is None:
        _fail_at_line(path, "document block without title line", block["line"], pmid, "title")
    if pmid in first_line_of_pmid:
        _fail_at_line(
            path, f"duplicate PMID (first document at line {first_line_of_pmid[pmid]})", block["line"], pmid, "id"
        )
    first_line_of_pmid[pmid] = block["line"]
    title = block["title"] or ""
    text = title if block["abstract"] is None else title + " " + block["abstract"]
    entities, entity_index = _pubtator_entities(block, text, path, counts, drop_ungrounded)
    relations = _pubtator_relations(block, entity_index, path, counts)
    doc = {"id": pmid, "text": text, "entities": entities, "relations": relations}
    if require_relations and not relations:
        counts["dropped_documents"] += 1
        counts["dropped_document_entities"] += len(entities)
        counts["dropped_document_mentions"] += sum(len(e["mentions"]) for e in entities)
        return None
    breaks = [len(title) + 1] if block["abstract"] is not None else []
    add_segmentation(doc, sentence_breaks=breaks)
    doc = {key: doc[key] for key in ("id", "text", "sentences", "words", "entities", "relations")}
    counts["forced_word_splits"] += count_forced_word_splits(text, {p for s in _mention_spans(doc) for p in s})
    validate_document(doc, source=f"{path}:{block['line']}")
    return doc


def _pubtator_entities(
    block: dict, text: str, path: str, counts: dict, drop_ungrounded: bool
) -> tuple[list[dict], dict]:
    """Group the block's mentions into entities -> ``(entities, {entity key: index})``.

    The key is ``(type, id)`` for a grounded mention and ``(type, None, lower-cased surface)`` for an ungrounded one."""
    pmid = block["pmid"]
    entities: list[dict] = []
    entity_index: dict[tuple, int] = {}
    ungrounded_keys: set = set()
    dropped_keys: set = set()
    for line_number, start, end, mention_text, entity_type, pairs, composite in block["mentions"]:
        if end > len(text):
            _fail_at_line(path, f"offset {end} outside the text (length {len(text)})", line_number, pmid, "mention.end")
        if text[start:end] != mention_text:
            _fail_at_line(
                path,
                f"text[{start}:{end}] is {text[start:end]!r}, but the mention string is {mention_text!r}",
                line_number,
                pmid,
                "mention.text",
            )
        counts["mention_lines"] += 1
        if len(pairs) > 1:
            counts["multi_id_mentions"] += 1
            if composite:
                counts["composite_mentions"] += 1
        for kb_id, surface in pairs:
            if kb_id == "-1":
                key = (entity_type, None, surface)
                if drop_ungrounded:
                    counts["dropped_ungrounded_mentions"] += 1
                    dropped_keys.add(key)
                    continue
                counts["ungrounded_mentions"] += 1
                ungrounded_keys.add(key)
            else:
                key = (entity_type, kb_id)
            _add_mention_to_entity(entities, entity_index, key, start, end, counts)
    for entity in entities:
        entity["mentions"].sort(key=lambda m: (m["start"], m["end"]))
    counts["ungrounded_entities"] += len(ungrounded_keys)
    counts["dropped_ungrounded_entities"] += len(dropped_keys)
    return entities, entity_index


def _add_mention_to_entity(
    entities: list[dict], entity_index: dict, key: tuple, start: int, end: int, counts: dict
) -> None:
    """Add the span to the entity of `key` (created on first use) unless it is already one of its mentions."""
    if key not in entity_index:
        entity_type, kb_id = key[0], key[1]
        entity_index[key] = len(entities)
        entities.append({"type": entity_type, "ids": [kb_id] if kb_id is not None else [], "mentions": []})
    mentions = entities[entity_index[key]]["mentions"]
    if {"start": start, "end": end} in mentions:
        counts["duplicate_mentions"] += 1
        return
    mentions.append({"start": start, "end": end})


def _pubtator_relations(block: dict, entity_index: dict, path: str, counts: dict) -> list[dict]:
    """The block's CID lines as relations between its Chemical and Disease entities; repeats counted, not kept."""
    pmid = block["pmid"]
    relations: list[dict] = []
    for line_number, relation_type, chemical_id, disease_id in block["relations"]:
        head = entity_index.get(("Chemical", chemical_id))
        if head is None:
            _fail_at_line(
                path,
                f"no Chemical entity with id {chemical_id!r} in this document",
                line_number,
                pmid,
                "relation.chemical_id",
            )
        tail = entity_index.get(("Disease", disease_id))
        if tail is None:
            _fail_at_line(
                path,
                f"no Disease entity with id {disease_id!r} in this document",
                line_number,
                pmid,
                "relation.disease_id",
            )
        relation = {"head": head, "tail": tail, "type": relation_type}
        if relation in relations:
            counts["duplicate_relations"] += 1
            continue
        relations.append(relation)
    return relations


# ----------------------------------------------------------------------------------------------------
# DocRED / Re-DocRED / JEREX joint
# ----------------------------------------------------------------------------------------------------


def parse_json(text: str | bytes) -> Any:
    """`json.loads`, with a value nested too deeply for the parser (its RecursionError, a traceback) raised as the
    `json.JSONDecodeError` that every reader already turns into a message naming the file and line."""
    try:
        return json.loads(text)
    except RecursionError:
        document = text if isinstance(text, str) else text.decode("utf-8", "replace")
        raise json.JSONDecodeError("nested too deeply to read", document, 0) from None


def _load_json(path: str | os.PathLike) -> Any:
    path = os.fspath(path)
    try:
        with _readable_compression(path), _open_text(path) as handle:
            return parse_json(handle.read())
    except UnicodeDecodeError:
        raise _not_utf8(path) from None


def load_relation_names(rel_info: Any) -> dict[str, str] | None:
    """Relation id -> name from a DocRED ``rel_info.json`` (``{"P17": "country"}``), a JEREX ``types.json``
    (``{"relations": {"P17": {"verbose": "country"}}}``), a path to either, or a dict; None passes through."""
    if rel_info is None:
        return None
    source = "rel_info"
    if isinstance(rel_info, (str, os.PathLike)):
        # Errors name the file: json's own message ("Extra data: line 1 column 4") does not say which one.
        source = os.fspath(rel_info)
        try:
            rel_info = _load_json(source)
        except json.JSONDecodeError as error:
            raise DocumentError(f"invalid JSON ({error.msg})", source=f"{source}:{error.lineno}") from None
        except OSError as error:
            raise DocumentError(f"cannot read the rel_info file ({error.strerror or error})", source=source) from None
    if isinstance(rel_info, Mapping) and isinstance(rel_info.get("relations"), Mapping):
        if all(isinstance(value, Mapping) for value in rel_info["relations"].values()):
            return {key: value.get("verbose", key) for key, value in rel_info["relations"].items()}
    if not isinstance(rel_info, Mapping) or not all(isinstance(v, str) for v in rel_info.values()):
        got = type(rel_info).__name__
        if isinstance(rel_info, Mapping):
            key, value = next((k, v) for k, v in rel_info.items() if not isinstance(v, str))
            got = f"{key!r} -> {type(value).__name__}"
        raise DocumentError(
            f'rel_info must map relation ids to names ({{"P17": "country"}}, or a JEREX types.json), got {got}',
            source=source,
        )
    return dict(rel_info)


# Reader-specific counters, in the order they appear in the stats dict after the common keys.
_DOCRED_COUNTERS = (
    "sentences",
    "words",
    "whitespace_tokens",
    "empty_sentences",
    "duplicate_titles",
    "duplicate_mentions",
    "duplicate_relations",
    "entity_type_conflicts",
    "shared_mention_spans",
    "unnamed_relation_types",
    "documents_without_labels",
)


def read_docred(path: str | os.PathLike, rel_info: Any = None) -> tuple[list[dict], dict]:
    """Read a DocRED-format JSON list (DocRED, Re-DocRED, JEREX joint; ``.gz`` transparent).

    - ``text`` = the words joined by single spaces, sentences joined by single spaces; ``sentences`` and
      ``words`` keep the original segmentation. Whitespace-only tokens (Re-DocRED has U+00A0 tokens, e.g.
      ``"130", "\\xa0", "million"``) stay in the text but are not words (``whitespace_tokens``); mention
      spans start/end at their first/last non-whitespace token.
    - ``id`` = ``title``; a title seen before in the same file gets ``"#<document index>"`` appended
      (``duplicate_titles``; one more ``"#n"`` while that is a title of the file too).
    - Entity type = type of its first mention (as JEREX); ``entity_type_conflicts`` counts entities whose
      mentions disagree. Duplicate mentions within an entity and duplicate ``(h, t, r)`` labels are
      removed (``duplicate_mentions``, ``duplicate_relations``). ``evidence`` is not kept.
    - Relation type = name from `rel_info` when given (see :func:`load_relation_names`), else the raw id
      (``unnamed_relation_types`` counts labels whose id is missing from a given `rel_info`).
    - A document without ``labels`` (the unlabelled DocRED test set) has no relations
      (``documents_without_labels`` counts them).
    """
    path = os.fspath(path)
    names = load_relation_names(rel_info)
    data = _load_docred_list(path)
    stats = _new_stats()
    counts = dict.fromkeys(_DOCRED_COUNTERS, 0)
    documents = []
    seen_titles: set[str] = set()
    # A suffixed id must not be a title of the file either (titles "Paris#2", "Paris", "Paris" gave two "Paris#2").
    titles = {item.get("title") for item in data if isinstance(item, Mapping) and isinstance(item.get("title"), str)}
    for index, item in enumerate(data):
        source = f"{path}[document {index}]"
        # Errors name the document by its title as written in the file (before any "#<index>" suffix).
        fail = _document_failure(source, item.get("title") if isinstance(item, Mapping) else None)
        labels = _checked_docred_labels(item, fail)
        # The unlabelled DocRED test set has no `labels`; counted, so a labelled file that lost some shows it.
        counts["documents_without_labels"] += "labels" not in item
        text, token_spans, sentences, words = _docred_text(item["sents"], fail, counts)
        entities = _docred_entities(item["vertexSet"], token_spans, fail, counts)
        relations = _docred_relations(labels, len(entities), names, fail, counts)
        doc_id = item["title"]
        if doc_id in seen_titles:
            counts["duplicate_titles"] += 1
            suffixed, extra = f"{doc_id}#{index}", 1
            while suffixed in seen_titles or suffixed in titles:
                suffixed, extra = f"{doc_id}#{index}#{extra}", extra + 1
            doc_id = suffixed
        seen_titles.add(doc_id)
        doc = {
            "id": doc_id,
            "text": text,
            "sentences": sentences,
            "words": words,
            "entities": entities,
            "relations": relations,
        }
        validate_document(doc, source=source)
        documents.append(doc)
        _count_document(stats, doc)
        counts["sentences"] += len(sentences)
        counts["words"] += len(words)
    stats.update(counts)
    return documents, stats


def _load_docred_list(path: str) -> list:
    try:
        data = _load_json(path)
    except json.JSONDecodeError as error:
        hint = _json_lines_hint(path) if error.msg == "Extra data" else ""
        raise DocumentError(f"invalid JSON ({error.msg}){hint}", source=f"{path}:{error.lineno}") from None
    if not isinstance(data, list):
        hint = _json_lines_hint(path) if isinstance(data, dict) else ""  # (JSON Lines of one document)
        raise DocumentError(f"expected a JSON list of documents, got {type(data).__name__}{hint}", source=path)
    return data


def _document_failure(source: str, doc_id: Any):
    """``fail(message, field)``: raise the :class:`DocumentError` of one document."""

    def fail(message: str, field: str):
        raise DocumentError(message, source=source, doc_id=doc_id, field=field)

    return fail


def _checked_docred_labels(item: Any, fail) -> list:
    """Check the document's required fields and return its labels (``[]`` when it has none)."""
    if not isinstance(item, Mapping):
        fail(f"expected a JSON object, got {type(item).__name__}", "<document>")
    for key, kind in (("title", str), ("sents", list), ("vertexSet", list)):
        if key not in item:
            fail("missing required field", key)
        if not isinstance(item[key], kind):
            fail(f"expected {kind.__name__}, got {type(item[key]).__name__}", key)
    labels = item.get("labels", [])  # the unlabelled DocRED test set has no labels
    if not isinstance(labels, list):
        fail(f"expected list, got {type(labels).__name__}", "labels")
    return labels


def _docred_text(sents: list, fail, counts: dict) -> tuple[str, list, list[dict], list[dict]]:
    """Tokens joined by single spaces -> ``(text, token spans, sentences, words)``.

    ``token spans[s][w]`` is the character span of token w of sentence s without surrounding whitespace,
    or None for a whitespace-only token (which is not a word)."""
    pieces: list[str] = []
    offset = 0
    token_spans: list[list[tuple[int, int] | None]] = []
    sentences, words = [], []
    for s, sentence in enumerate(sents):
        if not isinstance(sentence, list):
            fail(f"expected a list of tokens, got {type(sentence).__name__}", f"sents[{s}]")
        spans: list[tuple[int, int] | None] = []
        first_word = len(words)
        for w, token in enumerate(sentence):
            if not isinstance(token, str):
                fail(f"expected str, got {type(token).__name__}", f"sents[{s}][{w}]")
            if pieces:
                pieces.append(" ")
                offset += 1
            stripped = token.strip()
            if stripped:
                start = offset + (len(token) - len(token.lstrip()))
                spans.append((start, start + len(stripped)))
                words.append({"start": start, "end": start + len(stripped)})
            else:
                spans.append(None)
                counts["whitespace_tokens"] += 1
            pieces.append(token)
            offset += len(token)
        token_spans.append(spans)
        if len(words) > first_word:
            sentences.append({"start": words[first_word]["start"], "end": words[-1]["end"]})
        else:
            counts["empty_sentences"] += 1
    return "".join(pieces), token_spans, sentences, words


def _docred_entities(vertex_set: list, token_spans: list, fail, counts: dict) -> list[dict]:
    """One entity per ``vertexSet`` cluster: type of its first mention, duplicate spans removed."""
    entities = []
    for e, cluster in enumerate(vertex_set):
        if not isinstance(cluster, list) or not cluster:
            fail("an entity must be a non-empty list of mentions", f"vertexSet[{e}]")
        mentions, types = [], []
        for m, mention in enumerate(cluster):
            span = _docred_mention_span(mention, f"vertexSet[{e}][{m}]", token_spans, fail)
            types.append(mention["type"])
            if span in mentions:
                counts["duplicate_mentions"] += 1
                continue
            mentions.append(span)
        if len(set(types)) > 1:
            counts["entity_type_conflicts"] += 1
        entities.append({"type": types[0], "mentions": mentions})
    all_spans = [(m["start"], m["end"]) for entity in entities for m in entity["mentions"]]
    counts["shared_mention_spans"] += len(all_spans) - len(set(all_spans))
    return entities


def _docred_mention_span(mention: Any, field: str, token_spans: list, fail) -> dict:
    """Character span ``{"start", "end"}`` of a checked mention, from its first to its last non-whitespace token."""
    if not isinstance(mention, Mapping):
        fail(f"expected an object, got {type(mention).__name__}", field)
    for key in ("sent_id", "pos", "type"):
        if key not in mention:
            fail("missing required field", f"{field}.{key}")
    sent_id, pos = mention["sent_id"], mention["pos"]
    if not is_integer(sent_id) or not 0 <= sent_id < len(token_spans):
        fail(f"sentence {sent_id!r} does not exist ({len(token_spans)} sentences)", f"{field}.sent_id")
    if not (isinstance(pos, list) and len(pos) == 2 and all(is_integer(p) for p in pos)):
        fail(f"expected [start, end] token indices, got {pos!r}", f"{field}.pos")
    if not 0 <= pos[0] < pos[1] <= len(token_spans[sent_id]):
        fail(f"token span {pos} outside sentence {sent_id} ({len(token_spans[sent_id])} tokens)", f"{field}.pos")
    if not isinstance(mention["type"], str):
        fail(f"expected str, got {type(mention['type']).__name__}", f"{field}.type")
    spans = [span for span in token_spans[sent_id][pos[0] : pos[1]] if span is not None]
    if not spans:
        fail("the mention covers only whitespace tokens", f"{field}.pos")
    return {"start": spans[0][0], "end": spans[-1][1]}


def _docred_relations(labels: list, entity_count: int, names: dict[str, str] | None, fail, counts: dict) -> list[dict]:
    """Checked ``(h, t, r)`` labels as relations, repeats removed, ``r`` renamed through `names` when given."""
    relations, seen_labels = [], set()
    for k, label in enumerate(labels):
        field = f"labels[{k}]"
        if not isinstance(label, Mapping):
            fail(f"expected an object, got {type(label).__name__}", field)
        for key in ("h", "t", "r"):
            if key not in label:
                fail("missing required field", f"{field}.{key}")
        for key in ("h", "t"):
            if not is_integer(label[key]) or not 0 <= label[key] < entity_count:
                fail(f"entity index {label[key]!r} does not exist ({entity_count} entities)", f"{field}.{key}")
        if not isinstance(label["r"], str):
            fail(f"expected str, got {type(label['r']).__name__}", f"{field}.r")
        key = (label["h"], label["t"], label["r"])
        if key in seen_labels:
            counts["duplicate_relations"] += 1
            continue
        seen_labels.add(key)
        relation_type = label["r"]
        if names is not None:
            if relation_type in names:
                relation_type = names[relation_type]
            else:
                counts["unnamed_relation_types"] += 1
        relations.append({"head": label["h"], "tail": label["t"], "type": relation_type})
    return relations


# ----------------------------------------------------------------------------------------------------
# brat standoff
# ----------------------------------------------------------------------------------------------------

_BRAT_COUNTERS = (
    "dropped_discontinuous_mentions",
    "dropped_relations",
    "dropped_events",
    "dropped_event_triggers",
    "dropped_attributes",
    "dropped_texts_without_ann",
    "dropped_structure_annotations",
    "duplicate_mentions",
    "duplicate_relations",
    "self_relations",
    "entity_type_conflicts",
    "shared_mention_spans",
)
# Text-bound annotations of a BioNLP .a1 file that mark the text's layout, not entities (Bacteria Biotopes: "Title",
# "Paragraph"; BigBio's loader leaves them out too).
BIONLP_STRUCTURE_TYPES = ("Title", "Paragraph")
# "Type start end" or discontinuous "Type s1 e1;s2 e2": a type may hold spaces (DocRED's, as write_brat writes them).
_BRAT_SPAN = re.compile(r"(?P<type>.+?) (?P<offsets>[0-9]+ [0-9]+(?:;[0-9]+ [0-9]+)*)")
_BRAT_ARGUMENT = re.compile(r"[^\s:]+:[TE][0-9]+")


def read_brat(path: str | os.PathLike) -> tuple[list[dict], dict]:
    """Read a brat standoff collection (a folder, searched recursively, of ``NAME.txt`` + ``NAME.ann`` pairs, or the
    BioNLP shared tasks' ``NAME.txt`` + ``NAME.a1`` (given annotations) + ``NAME.a2`` (the others), read as one
    ``.ann``, an ``.a1``'s Title and Paragraph spans left out and counted) or one ``.ann`` / ``.a1`` file (beside its
    ``.txt``) -> ``(documents, stats)``.

    - ``id`` = the ``.ann`` file's path inside the folder without its extension; ``text`` = the ``.txt`` file as
      written (line ends kept: brat's offsets count every character). A text-bound annotation ``T1\\tType start
      end\\ttext`` is a mention; its text must be what the offsets slice (whitespace runs compared as one space).
    - Entities: mentions joined by an equivalence (``*\\tEquiv T1 T2``) are one entity, whose ``ids`` are their
      normalizations (``N1\\tReference T1 MESH:D009270``); any other mention is an entity of its own. Entity type =
      the type of its first mention (``entity_type_conflicts`` counts others). BioNLP's normalizations
      (``N1\\tNCBI_Taxonomy Annotation:T4 Referent:1423``) give ids ``NCBI_Taxonomy:1423``.
    - A relation ``R1\\tType Arg1:T1 Arg2:T2`` joins the entities of its two mentions; the head is ``Arg1``'s (with
      other role names, the first argument's). One whose arguments are in one entity is kept (``self_relations``).
    - Counted and left out: discontinuous mentions (``0 5;9 14``), events (``E``) and their trigger mentions, and the
      relations that name any of them; attributes (``A``/``M``); a ``.txt`` without its ``.ann``. Notes (``#``) are
      comments. Any other line is refused, naming file and line.
    """
    path = os.fspath(path)
    counts = dict.fromkeys(_BRAT_COUNTERS, 0)
    if os.path.isfile(path):
        pairs = [(os.path.splitext(os.path.basename(path))[0], path)]
    else:
        files = _brat_files(path, with_texts=True)
        annotations = _annotation_files(files)
        pairs = [(os.path.relpath(os.path.splitext(name)[0], path).replace(os.sep, "/"), name) for name in annotations]
        annotated = {os.path.splitext(name)[0] for name in annotations}
        counts["dropped_texts_without_ann"] = sum(name[:-4] not in annotated for name in files if name.endswith(".txt"))
    stats = _new_stats()
    documents = []
    for doc_id, ann in pairs:
        doc = _read_brat_document(doc_id, ann, counts)
        validate_document(doc, source=ann)
        documents.append(doc)
        _count_document(stats, doc)
    stats.update(counts)
    return documents, stats


def _brat_files(folder: str, with_texts: bool = False) -> list[str]:
    """The annotation files (``.ann``, BioNLP's ``.a1``) under `folder` (and with `with_texts` the ``.txt`` files), in
    sorted order; linked folders are followed, each folder read once."""
    found, seen = [], set()
    endings = (".ann", ".a1", ".txt") if with_texts else (".ann", ".a1")
    for root, folders, names in os.walk(folder, followlinks=True):
        real = os.path.realpath(root)
        if real in seen:  # (a link back up the tree)
            folders[:] = []
            continue
        seen.add(real)
        folders.sort()
        found.extend(os.path.join(root, name) for name in sorted(names) if name.endswith(endings))
    return found


def _annotation_files(files: list) -> list:
    """The documents' annotation files among `files`: each ``.ann``, and BioNLP's ``.a1`` where no ``.ann`` of its
    name is (its ``.a2`` is read with it)."""
    names = set(files)
    return [
        name
        for name in files
        if name.endswith(".ann") or (name.endswith(".a1") and os.path.splitext(name)[0] + ".ann" not in names)
    ]


def _read_brat_document(doc_id: str, ann: str, counts: dict) -> dict:
    txt = os.path.splitext(ann)[0] + ".txt"
    if not os.path.isfile(txt):
        raise DocumentError(f"no text file {os.path.basename(txt)} beside it", source=ann)
    # newline="": brat's offsets count "\r" too; the .txt keeps a byte-order mark, a character brat counts. Lines end
    # at "\n" only: a mention's text may hold U+2028 and the like, which str.splitlines() breaks at.
    text = _read_utf8(txt, "utf-8")
    # BioNLP shared tasks split a document's annotations: the given ones in NAME.a1, the ones to predict in NAME.a2.
    a2 = os.path.splitext(ann)[0] + ".a2"
    sources = [ann, a2] if ann.endswith(".a1") and os.path.isfile(a2) else [ann]
    lines = [
        (source, number, line.removesuffix("\r"))
        for source in sources
        for number, line in enumerate(_read_utf8(source, "utf-8-sig").split("\n"), start=1)
    ]
    mentions, equivalences, normalizations, relations, triggers = {}, [], [], [], {}
    for source, number, line in lines:
        if not line.strip() or line.startswith("#"):
            continue
        fail = _document_failure(f"{source}:{number}", doc_id)
        key, _, rest = line.partition("\t")
        kind, fields = key[:1], rest.split("\t")
        if kind == "T" and source.endswith(".a1") and fields[0].split(" ")[0] in BIONLP_STRUCTURE_TYPES:
            counts["dropped_structure_annotations"] += 1  # (a title or paragraph: the text's layout, no entity)
            mentions[key] = None
        elif kind == "T":
            _brat_mention(key, fields, text, mentions, counts, fail)
        elif kind == "*":
            equivalences.append((key, fields[0].split()[1:], fail))
        elif kind == "N":
            parts = fields[0].split()
            if len(parts) != 3:
                fail("expected 'N<n>\\tReference T<n> DB:ID\\ttext'", key)
            if parts[1].startswith("Annotation:") and parts[2].startswith("Referent:"):  # BioNLP's form
                parts = [
                    parts[0],
                    parts[1].removeprefix("Annotation:"),
                    f"{parts[0]}:{parts[2].removeprefix('Referent:')}",
                ]
            normalizations.append((key, parts[1], parts[2], fail))
        elif kind == "R":
            relations.append((key, *_brat_relation(key, fields[0], fail), fail))
        elif kind == "E":
            counts["dropped_events"] += 1
            triggers[key] = fields[0].split()[0].partition(":")[2] if fields[0].split() else ""
        elif kind in ("A", "M"):
            counts["dropped_attributes"] += 1
        else:
            fail(f"not a brat annotation line ({line[:40]!r}): expected T, R, E, A, M, N, * or #", "<document>")
    for trigger in triggers.values():  # an event's trigger is no entity
        if mentions.get(trigger) is not None:
            mentions[trigger] = None
            counts["dropped_event_triggers"] += 1
    return _brat_entities(doc_id, text, mentions, equivalences, normalizations, relations, set(triggers), counts)


def _brat_relation(key: str, field: str, fail) -> tuple[str, list]:
    """`(type, [head, tail])` of an R line's first field."""
    parts = field.split(" ")
    arguments = parts[-2:]
    kind = " ".join(parts[:-2])
    if (
        len(parts) < 3
        or not all(_BRAT_ARGUMENT.fullmatch(argument) for argument in arguments)
        or not kind.strip()
        or any(_BRAT_ARGUMENT.fullmatch(part) for part in parts[:-2])  # (a third argument)
    ):
        fail(f"expected 'R<n>\\tType Arg1:T<n> Arg2:T<n>', got {field!r}", key)
    roles = [argument.partition(":") for argument in arguments]
    if [role[0] for role in roles] == ["Arg2", "Arg1"]:  # head = Arg1 wherever it is written
        roles.reverse()
    return kind, [role[2] for role in roles]


def _read_utf8(path: str, encoding: str) -> str:
    try:
        with open(path, encoding=encoding, newline="") as handle:
            return handle.read()
    except UnicodeDecodeError:
        raise _not_utf8(path) from None


def _brat_mention(key: str, fields: list, text: str, mentions: dict, counts: dict, fail) -> None:
    if key in mentions:
        fail("a second annotation with this id", key)
    span = _BRAT_SPAN.fullmatch(fields[0])
    if span is None or not span["type"].strip():
        fail(f"expected 'T<n>\\tType start end\\ttext', got {fields[0]!r}", key)
    if ";" in span["offsets"]:
        counts["dropped_discontinuous_mentions"] += 1
        mentions[key] = None  # (a relation naming it is dropped with it)
        return
    start, end = map(int, span["offsets"].split())
    if not 0 <= start < end <= len(text):
        fail(f"offsets ({start}, {end}) are not a span of the text ({len(text)} characters)", key)
    written = "\t".join(fields[1:])
    if len(fields) > 1 and " ".join(written.split()) != " ".join(text[start:end].split()):
        fail(
            f"the offsets ({start}, {end}) slice {text[start:end]!r}, not the annotation's text {written!r} (brat "
            "counts every character of the .txt file, line ends included)",
            key,
        )
    mentions[key] = (span["type"], start, end)


def _brat_entities(doc_id, text, mentions, equivalences, normalizations, relations, events, counts) -> dict:
    """Mentions -> entities (joined by equivalences) and relations between entities."""
    parent = {key: key for key, mention in mentions.items() if mention is not None}

    def root(key):
        while parent[key] != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    def known(key, reference, fail):
        """Whether `reference` is a mention kept as an entity's (not a discontinuous one, nor an event or its
        trigger); a name that is no annotation of the file is refused."""
        if reference not in mentions and reference not in events:
            fail(f"names {reference!r}, which is no text-bound annotation (T) or event (E) of the file", key)
        return mentions.get(reference) is not None

    for key, members, fail in equivalences:
        kept = [member for member in members if known(key, member, fail)]
        for member in kept[1:]:
            parent[root(member)] = root(kept[0])
    ids_of = {}
    for key, reference, kb_id, fail in normalizations:
        if known(key, reference, fail):
            ids_of.setdefault(reference, set()).add(kb_id)
    groups = {}
    for key in sorted(parent, key=lambda k: mentions[k][1:]):
        groups.setdefault(root(key), []).append(key)
    entities, entity_of = [], {}
    for members in sorted(groups.values(), key=lambda keys: mentions[keys[0]][1:]):
        types = [mentions[key][0] for key in members]
        counts["entity_type_conflicts"] += any(kind != types[0] for kind in types)
        spans = sorted({mentions[key][1:] for key in members})
        counts["duplicate_mentions"] += len(members) - len(spans)
        ids = sorted(set().union(*(ids_of.get(key, set()) for key in members)))
        entity_of.update((key, len(entities)) for key in members)
        entities.append({"type": types[0], "ids": ids, "mentions": [{"start": s, "end": e} for s, e in spans]})
    spans_seen = [(m["start"], m["end"]) for entity in entities for m in entity["mentions"]]
    counts["shared_mention_spans"] += len(spans_seen) - len(set(spans_seen))
    found, kept = set(), []
    for key, kind, (head, tail), fail in relations:
        if not (known(key, head, fail) & known(key, tail, fail)):
            counts["dropped_relations"] += 1
            continue
        relation = (entity_of[head], entity_of[tail], kind)
        if relation in found:
            counts["duplicate_relations"] += 1
            continue
        found.add(relation)
        counts["self_relations"] += relation[0] == relation[1]
        kept.append({"head": relation[0], "tail": relation[1], "type": kind})
    return {"id": doc_id, "text": text, "entities": entities, "relations": kept}


BRAT_CONFIGURATION = "annotation.conf"
# The last line of the annotation.conf that write_brat writes: a later export may replace a file with it, never one
# without it (the user's own brat configuration, or ours edited with this line removed).
BRAT_CONFIGURATION_MARK = (
    "# written by SimMemRE (write_brat); a later export replaces this file unless this line is removed"
)


def read_brat_declared_types(path: str | os.PathLike) -> dict:
    """``{"entity_types", "relation_types"}`` (sorted) declared by the ``annotation.conf`` files of a brat collection:
    those of the folders its splits' documents are read from and of the folders above them up to the folder `path`
    (brat reads a document's configuration from its folder or one above it), or the one beside the annotation file
    `path`. A folder no document is read from (a copy of another schema, a folder of texts only) declares nothing.
    Entity types are the ``[entities]`` lines, relation types the names of the ``[relations]`` lines; left out are
    brat's macros and special lines (``<OVERLAP>``, ``<ENTITY>=...``), abstract types (``!Name``), separators
    (``-----``) and equivalence types (``<REL-TYPE>:symmetric-transitive``: they join mentions, read as one entity).
    These keep the types that no document uses (the documents alone lose them)."""
    path = os.fspath(path)
    folders = [os.path.dirname(path)] if os.path.isfile(path) else _brat_document_folders(path)
    declared = {"entity_types": set(), "relation_types": set()}
    for folder in folders:
        file = os.path.join(folder, BRAT_CONFIGURATION)
        if os.path.isfile(file):
            for kind, names in _brat_configuration_types(file).items():
                declared[kind].update(names)
    return {kind: sorted(names) for kind, names in declared.items()}


def _brat_document_folders(root: str) -> list[str]:
    """`root` and, in sorted order, the folders under it that hold the annotation files of its splits (the folders
    :func:`read_brat` reads documents from, split by split as :func:`find_split_files` finds them) and those between
    them and `root`."""
    root = os.path.normpath(root)
    try:
        locations = _brat_split_folders(root).values()
    except FileNotFoundError:  # (no documents: the collection's own configuration only)
        return [root]
    folders = {root}
    for location in locations:
        for file in [location] if os.path.isfile(location) else _brat_files(location):
            folder = os.path.normpath(os.path.dirname(file))
            while folder not in folders and folder != os.path.dirname(folder):
                folders.add(folder)
                folder = os.path.dirname(folder)
    return sorted(folders)


def _brat_configuration_types(file: str) -> dict:
    sections = {"entities": "entity_types", "relations": "relation_types"}
    declared = {"entity_types": set(), "relation_types": set()}
    kind = None
    for line in _read_utf8(file, "utf-8-sig").split("\n"):
        line = line.strip()  # (leading tabs nest entity types in brat's hierarchy)
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            kind = sections.get(line[1:-1].strip().lower())  # (events and attributes are not read)
            continue
        name, _, arguments = line.partition("\t")
        name = name.strip()
        if kind is None or not name or name.startswith(("<", "!")) or not name.strip("-"):
            continue
        if kind == "relation_types" and "<REL-TYPE>:symmetric-transitive" in arguments:
            continue
        declared[kind].add(name)
    return declared


def write_brat(
    documents: Iterable[Mapping],
    folder: str | os.PathLike,
    entity_types: Iterable[str] = (),
    relation_types: Iterable[str] = (),
) -> int:
    """Write schema documents (gold, or predictions with scores) as a brat collection in `folder`: ``ID.txt`` and
    ``ID.ann`` per document (an id with ``/`` makes subfolders). Mentions are ``T`` lines, an entity of several
    mentions an ``Equiv`` line, its ids ``N`` lines, a relation an ``R`` line between the first mentions of its
    entities; scores go into ``AnnotatorNotes``. Returns the number of documents written; :func:`read_brat` reads
    the folder back to the same documents (without scores). Type names are written as they are: brat's own tools
    need them without spaces. An ``annotation.conf`` declares the types written and `entity_types` and
    `relation_types` (a corpus's label lists: types no document uses are kept so, as
    :func:`read_brat_declared_types` reads them back), and ``Equiv`` and overlapping mentions, so that brat shows the
    collection without configuration errors. An ``annotation.conf`` in `folder` is replaced only when an earlier
    export wrote it (:data:`BRAT_CONFIGURATION_MARK`); the user's own is kept."""
    folder = os.fspath(folder)
    checked, targets, name_limit = [], {}, _name_limit(folder)
    for index, doc in enumerate(documents):  # every document checked before any is written
        doc = validate_document(with_str_id(doc), source=f"documents[{index}]")
        fail = _document_failure(f"documents[{index}]", doc["id"])
        for field, name in _brat_names(doc):
            if not name.strip() or any(char in name for char in "\t\r\n") or (field.endswith("ids") and " " in name):
                fail(f"{name!r} cannot be written on a brat line", field)
            if field.startswith("relations") and any(_BRAT_ARGUMENT.fullmatch(part) for part in name.split(" ")):
                fail(f"{name!r} would be read as a relation argument", field)
        target = os.path.realpath(os.path.join(folder, doc["id"]))
        if not target.startswith(os.path.realpath(folder) + os.sep) or doc["id"].endswith("/"):
            raise DocumentError("not usable as a file name inside the folder", source=folder, doc_id=doc["id"],
                                field="id")  # fmt: skip
        if WINDOWS_FILE_NAMES and (problem := windows_file_name_problem(doc["id"])):
            fail(f"not usable as a file name on Windows ({problem}); give the document another id", "id")
        # The longest name written is the .ann file's temporary name (a 245-character id stopped the export halfway).
        longest = len(os.fsencode(os.path.basename(target) + ".ann")) + _TEMPORARY_SUFFIX_LENGTH
        if longest > name_limit:
            fail(f"too long for a file name here ({longest} of {name_limit} bytes with its suffixes)", "id")
        # (casefolded: on macOS and Windows "A" and "a" are one file)
        first = targets.setdefault(os.path.normcase(target).casefold(), index)
        if first != index:
            fail(f"document {first} has this id (or one differing in case): its files would be written over", "id")
        checked.append((doc, target, _brat_lines(doc, fail)))
    types = {"entities": set(entity_types), "relations": set(relation_types)}
    for doc, target, lines in checked:
        write_text_file(target + ".txt", doc["text"])  # (bytes: line ends as they are; folders made)
        write_text_file(target + ".ann", "".join(line + "\n" for line in lines))
        types["entities"].update(entity["type"] for entity in doc["entities"])
        types["relations"].update(relation["type"] for relation in doc["relations"])
    written = len(checked)
    configuration = os.path.join(folder, BRAT_CONFIGURATION)
    if written and (not os.path.exists(configuration) or _written_by_write_brat(configuration)):
        any_entities = "Arg1:<ENTITY>, Arg2:<ENTITY>"
        lines = ["[entities]", *sorted(types["entities"]), "[relations]"]
        lines += [f"{kind}\t{any_entities}" for kind in sorted(types["relations"])]
        lines += [f"Equiv\t{any_entities}, <REL-TYPE>:symmetric-transitive"]
        lines += [f"<OVERLAP>\t{any_entities}, <OVL-TYPE>:<ANY>", "[events]", "[attributes]", BRAT_CONFIGURATION_MARK]
        write_text_file(configuration, "\n".join(lines) + "\n")
    return written


def _written_by_write_brat(configuration: str) -> bool:
    try:
        with open(configuration, encoding="utf-8", errors="replace") as handle:
            return any(line.rstrip("\r\n") == BRAT_CONFIGURATION_MARK for line in handle)
    except OSError:
        return False


# Whether file names must be ones Windows accepts (document ids written as brat files).
WINDOWS_FILE_NAMES = os.name == "nt"
_WINDOWS_RESERVED = re.compile(r"(?i)(CON|PRN|AUX|NUL|CONIN\$|CONOUT\$|COM[0-9¹²³]|LPT[0-9¹²³])(\..*)?")


def _name_limit(folder: str) -> int:
    """The longest file name (bytes) the file system of `folder` (or of its nearest existing parent) takes."""
    while folder and not os.path.isdir(folder) and os.path.dirname(folder) != folder:
        folder = os.path.dirname(folder)
    try:
        limit = os.pathconf(folder or ".", "PC_NAME_MAX")
    except (AttributeError, OSError, ValueError):  # (no pathconf on Windows: NTFS takes 255 characters)
        return 255
    return limit if limit > 0 else 255  # (-1: no fixed limit)


def windows_file_name_problem(name: str) -> str | None:
    """Why Windows refuses `name` as a relative file path (``/`` separating folders; the last part gets ``.txt`` or
    ``.ann``), or None: Re-DocRED's titles ("Extreme Makeover: Home Edition") hold ``:`` and ``?``, which stopped a
    brat export there halfway."""
    parts = name.split("/")
    for position, part in enumerate(parts):
        bad = sorted({char for char in part if char in '<>:"\\|?*' or ord(char) < 32})
        if bad:
            return f"it holds {' '.join(map(repr, bad))}"
        if position < len(parts) - 1 and part.endswith((".", " ")):  # (a file's name ends with its suffix)
            return f"folder {part!r} ends with a dot or a space"
        if _WINDOWS_RESERVED.fullmatch(part):
            return f"{part!r} is a device name"
    return None


def _brat_names(doc: Mapping):
    for i, entity in enumerate(doc["entities"]):
        yield f"entities[{i}].type", entity["type"]
        yield from ((f"entities[{i}].ids", kb_id) for kb_id in entity.get("ids") or [])
    yield from ((f"relations[{i}].type", relation["type"]) for i, relation in enumerate(doc["relations"]))


def _brat_lines(doc: Mapping, fail) -> list[str]:
    """The ``.ann`` lines of one document; a score that is no number fails (`fail(message, field)`)."""

    def score(owner: Mapping, field: str) -> str | None:
        value = owner.get("score")  # (None: no score, as the HTML page reads it)
        if value is not None and (isinstance(value, bool) or not isinstance(value, numbers.Real)):
            fail(f"expected a number, got {value!r}", f"{field}.score")
        return None if value is None else f"{float(value):.4f}"

    lines, first_of, notes = [], [], []
    number = normalizations = 0
    for index, entity in enumerate(doc["entities"]):
        keys = []
        for position, mention in enumerate(entity["mentions"]):
            number += 1
            start, end = mention["start"], mention["end"]
            surface = " ".join(doc["text"][start:end].split())
            lines.append(f"T{number}\t{entity['type']} {start} {end}\t{surface}")
            keys.append(f"T{number}")
            if (shown := score(mention, f"entities[{index}].mentions[{position}]")) is not None:
                notes.append((keys[-1], f"mention score {shown}"))
        first_of.append(keys[0])
        if len(keys) > 1:
            lines.append("*\tEquiv " + " ".join(keys))
        if (shown := score(entity, f"entities[{index}]")) is not None:
            notes.append((keys[0], f"entity score {shown}"))
        for kb_id in entity.get("ids") or []:
            normalizations += 1
            lines.append(f"N{normalizations}\tReference {keys[0]} {kb_id}\t")
    for number, relation in enumerate(doc["relations"], start=1):
        head, tail = first_of[relation["head"]], first_of[relation["tail"]]
        lines.append(f"R{number}\t{relation['type']} Arg1:{head} Arg2:{tail}")
        if (shown := score(relation, f"relations[{number - 1}]")) is not None:
            notes.append((f"R{number}", f"relation score {shown}"))
    lines.extend(f"#{number}\tAnnotatorNotes {key}\t{note}" for number, (key, note) in enumerate(notes, start=1))
    return lines


# ----------------------------------------------------------------------------------------------------
# BioC (XML or JSON): BC5CDR's BioC copies, and the corpora PubTator and BioCreative share in it
# ----------------------------------------------------------------------------------------------------

# Infon keys that hold an annotation's knowledge-base ids, in the order they are looked for, and what separates
# several ids in them: "identifier" is PubTator's and BioRED's key ("D003924,D007333"); "MESH" BC5CDR's, whose ids
# are joined by "|" as in its PubTator files (a BioRED variant id holds "|": "p|SUB|V|600|E").
BIOC_ID_KEYS = {"identifier": ",", "Identifier": ",", "MESH": "|", "MeSH": "|", "NCBI Gene": ","}
# The most characters between two passages (filled with spaces): PMC's full texts leave out a figure or a table, not
# millions of characters.
BIOC_MAX_GAP = 1_000_000
# The annotation infon that names the entity of the document an annotation is a mention of (write_bioc writes it):
# the mentions of an entity without ids, of several ids, or sharing its (type, id) with another entity stay together.
BIOC_ENTITY_KEY = "simmemre_entity"
# Infon keys that name a relation's type, in the order they are looked for ("relation" in BC5CDR).
BIOC_RELATION_TYPE_KEYS = ("type", "relation")
_BIOC_COUNTERS = (
    "passages",
    *_ENTITY_GROUPING_COUNTERS,
    "dropped_composite_parts",
    "dropped_discontinuous_mentions",
    "dropped_annotations_without_location",
    "dropped_relations",
    "dropped_ambiguous_relations",
    "duplicate_mentions",
    "duplicate_relations",
    "self_relations",
    "forced_word_splits",
)


def read_bioc(path: str | os.PathLike, drop_ungrounded: bool = False) -> tuple[list[dict], dict]:
    """Read a BioC collection, XML (``.xml``) or JSON (``.json``), optionally gzipped -> ``(documents, stats)``.

    - ``text``: the passages (and, in a passage without text, its sentences) placed at their offsets; a gap between
      them is spaces (BC5CDR: title, one space, abstract, as its PubTator files give it). Each passage starts a
      sentence. A passage that overlaps the one before is an error.
    - Annotations are mentions, checked against their text; their type is the ``type`` infon, their ids the first of
      :data:`BIOC_ID_KEYS` present (``D1|D2`` in BC5CDR, ``D1,D2`` in BioRED: a mention of each id's entity).
      Entities group mentions by (type, id) as :func:`read_pubtator` does; mentions without an id (or id ``-1``) by
      (type, lower-cased text), or dropped with `drop_ungrounded`. Left out and counted: annotations with several
      locations (discontinuous) or none, and the parts of a composite mention (``CompositeRole``
      ``IndividualMention``; the composite span is kept). Annotations with a :data:`BIOC_ENTITY_KEY` infon (those
      :func:`write_bioc` writes) are grouped by it instead, into entities with the ids of their ``identifier``
      (none when it is that infon's value), placed after the others.
    - Relations (document or passage level): the type is the first of :data:`BIOC_RELATION_TYPE_KEYS`; arguments,
      head first, are two ``node`` refids (annotation ids; roles Arg1/Arg2 order them, else the written order), or
      ``entity1``/``entity2`` infons holding ids, or two infons
      named by entity types holding ids (BC5CDR: ``Chemical``, ``Disease``). A relation naming a left-out annotation
      is left out and counted; an id or refid that names nothing is an error.

    Errors name the file, the document and the annotation or relation.
    """
    path = os.fspath(path)
    stats = _new_stats()
    counts = dict.fromkeys(_BIOC_COUNTERS, 0)
    documents: list[dict] = []
    seen: set = set()
    lowered = path.lower().removesuffix(".gz")
    reader = _bioc_json_documents if lowered.endswith(".json") else _bioc_xml_documents
    with _readable_compression(path):  # (the XML is read document by document, inside the loop)
        for raw in reader(path):
            doc = _bioc_document(raw, path, counts, drop_ungrounded)
            if doc["id"] in seen:
                raise DocumentError("duplicate document id", source=path, doc_id=doc["id"], field="id")
            seen.add(doc["id"])
            documents.append(doc)
            _count_document(stats, doc)
    stats.update(counts)
    return documents, stats


def _bioc_xml_documents(path: str):
    """Each ``<document>`` of a BioC XML file as the dict BioC JSON gives, read one at a time (a corpus need not fit in
    memory as a tree)."""

    def infons(element) -> dict:
        return {infon.get("key"): infon.text or "" for infon in element.findall("infon")}

    def annotation(element) -> dict:
        return {
            "id": element.get("id"),
            "infons": infons(element),
            "locations": [
                {"offset": at.get("offset"), "length": at.get("length")} for at in element.findall("location")
            ],
            "text": element.findtext("text"),
        }

    def relation(element) -> dict:
        nodes = [{"refid": node.get("refid"), "role": node.get("role")} for node in element.findall("node")]
        return {"id": element.get("id"), "infons": infons(element), "nodes": nodes}

    def sized(element) -> dict:
        return {
            "offset": element.findtext("offset"),
            "text": element.findtext("text"),
            "annotations": [annotation(a) for a in element.findall("annotation")],
            "relations": [relation(r) for r in element.findall("relation")],
        }

    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as handle:
            for _, element in ElementTree.iterparse(handle, events=("end",)):
                if element.tag != "document":
                    continue
                passages = []
                for passage in element.findall("passage"):
                    passages.append({**sized(passage), "sentences": [sized(s) for s in passage.findall("sentence")]})
                yield {
                    "id": element.findtext("id"),
                    "passages": passages,
                    "annotations": [annotation(a) for a in element.findall("annotation")],
                    "relations": [relation(r) for r in element.findall("relation")],
                }
                element.clear()  # (the collection keeps its emptied children: a few bytes per document)
    except ElementTree.ParseError as error:
        hint = _json_lines_hint(path)  # (a .jsonl file given as BioC is read as XML: its suffix is not .json)
        raise DocumentError(f"not well-formed BioC XML ({error}){hint}", source=f"{path}:{error.position[0]}") from None


def _bioc_json_documents(path: str):
    try:
        collection = _load_json(path)
    except json.JSONDecodeError as error:
        hint = _json_lines_hint(path) if error.msg == "Extra data" else ""
        raise DocumentError(f"invalid JSON ({error.msg}){hint}", source=f"{path}:{error.lineno}") from None
    if not isinstance(collection, Mapping) or not isinstance(collection.get("documents"), list):
        hint = _json_lines_hint(path) if isinstance(collection, Mapping) else ""  # (JSON Lines of one document)
        raise DocumentError(f'a BioC JSON collection is an object with a "documents" list{hint}', source=path)
    yield from collection["documents"]


def _bioc_document(raw: Any, path: str, counts: dict, drop_ungrounded: bool) -> dict:
    """The schema document of one BioC document (a dict as BioC JSON gives it)."""

    def fail(message: str, field: str):
        raise DocumentError(message, source=path, doc_id=doc_id, field=field)

    doc_id = raw.get("id") if isinstance(raw, Mapping) else None
    if not isinstance(raw, Mapping):
        fail(f"a BioC document is an object, got {type(raw).__name__}", "<document>")
    if is_integer(doc_id) and not isinstance(doc_id, bool):  # (a PMID written as a JSON number)
        doc_id = str(doc_id)
    if not isinstance(doc_id, str) or not doc_id.strip():
        fail(f"a document needs a non-empty id, got {doc_id!r}", "id")
    doc_id = doc_id.strip()  # (an XML <id> written on lines of its own)
    pieces, breaks, relations = [], [], _bioc_list(raw, "relations", fail, "<document>")
    # Document-level annotations (Python's bioc library writes them) locate text in the passages like the others.
    annotations = [("<document>", a) for a in _bioc_list(raw, "annotations", fail, "<document>")]
    length = 0
    for p, passage in enumerate(_bioc_list(raw, "passages", fail, "<document>")):
        counts["passages"] += 1
        sentences = _bioc_list(passage, "sentences", fail, f"passages[{p}]")
        # A passage of sentences (its text absent, or empty as an empty <text/> element gives it): their texts.
        of_sentences = bool(sentences) and not passage.get("text")
        units = [] if of_sentences or passage.get("text") is None else [(f"passages[{p}]", passage)]
        annotations += [(f"passages[{p}]", a) for a in _bioc_list(passage, "annotations", fail, f"passages[{p}]")]
        relations += _bioc_list(passage, "relations", fail, f"passages[{p}]")
        for s, sentence in enumerate(sentences):
            where = f"passages[{p}].sentences[{s}]"
            if of_sentences:
                units.append((where, sentence))
            annotations += [(where, a) for a in _bioc_list(sentence, "annotations", fail, where)]
            relations += _bioc_list(sentence, "relations", fail, where)
        for where, unit in units:
            offset, text = _bioc_integer(unit.get("offset"), fail, f"{where}.offset"), unit.get("text")
            if not isinstance(text, str):
                fail(f"expected text, got {text!r}", f"{where}.text")
            if offset < length:
                fail(f"offset {offset} overlaps the text before it (which ends at {length})", f"{where}.offset")
            if offset - length > BIOC_MAX_GAP:  # (filled with spaces: an offset of 10**10 asked for 10 GB)
                fail(
                    f"offset {offset} leaves {offset - length:,} characters of no passage before it", f"{where}.offset"
                )
            pieces += [" " * (offset - length), text]
            if offset:
                breaks.append(offset)
            length = offset + len(text)
    text = "".join(pieces)
    block = {"pmid": doc_id, "mentions": []}
    annotation_keys: dict[str, list] = {}  # annotation id -> its entity keys ([] when left out; None: repeated id)
    left_out: set = set()  # (type, id) of left-out annotations: a relation naming only them is left out too
    written = []  # (entity key, start, end, ids) of annotations naming their entity (write_bioc's files)
    for where, annotation in annotations:
        mention = _bioc_mention(annotation, where, text, fail, counts)
        keys = []
        if mention is not None:
            start, end, entity_type, pairs, composite = mention
            named = _bioc_named_entity(annotation, entity_type)
            if named is not None:
                written.append((named[0], start, end, named[1]))
                keys = [named[0]]
            else:
                block["mentions"].append((0, start, end, text[start:end], entity_type, pairs, composite))
                keys = [(entity_type, None, s) if kb_id == "-1" else (entity_type, kb_id) for kb_id, s in pairs]
        else:
            left_out.update(_bioc_annotation_ids(annotation))
        annotation_id = str(annotation.get("id"))
        annotation_keys[annotation_id] = None if annotation_id in annotation_keys else keys
    # The entities as read_pubtator groups them, with its counters (those BioC shares added to this file's).
    entity_counts = dict.fromkeys(_PUBTATOR_COUNTERS, 0)
    entities, entity_index = _pubtator_entities(block, text, path, entity_counts, drop_ungrounded)
    for key in (*_ENTITY_GROUPING_COUNTERS, "duplicate_mentions"):
        counts[key] += entity_counts[key]
    # (a dropped entity gets no index: a relation naming it is left out, as for a left-out annotation)
    _add_named_entities(written, entities, entity_index, counts, drop_ungrounded)
    left_out -= {key for key in entity_index if key[1] is not None}
    doc = {
        "id": doc_id,
        "text": text,
        "entities": entities,
        "relations": _bioc_relations(relations, entities, entity_index, annotation_keys, left_out, fail, counts),
    }
    add_segmentation(doc, sentence_breaks=sorted(set(breaks)))
    doc = {key: doc[key] for key in ("id", "text", "sentences", "words", "entities", "relations")}
    counts["forced_word_splits"] += count_forced_word_splits(text, {p for s in _mention_spans(doc) for p in s})
    validate_document(doc, source=path)
    return doc


def _bioc_named_entity(annotation: Mapping, entity_type: str) -> tuple | None:
    """``(entity key, ids)`` of an annotation whose :data:`BIOC_ENTITY_KEY` infon names its entity (as
    :func:`write_bioc` writes them), else None. Its ids are its ``identifier`` (split at ``,``), none when that is the
    entity's name itself (the name written for an entity without ids)."""
    infons = annotation.get("infons") or {}
    name = infons.get(BIOC_ENTITY_KEY)
    if not isinstance(name, str) or not name.strip():
        return None
    identifier = infons.get("identifier")
    if not isinstance(identifier, str) or identifier.strip() == name.strip():
        return (entity_type, None, (BIOC_ENTITY_KEY, name.strip())), []
    return (entity_type, None, (BIOC_ENTITY_KEY, name.strip())), [kb_id.strip() for kb_id in identifier.split(",")]


def _add_named_entities(written: list, entities: list, entity_index: dict, counts: dict, drop_ungrounded: bool) -> None:
    """Add the entities that annotations name (`_bioc_named_entity`) after the others, in order of first mention;
    those without ids are dropped with `drop_ungrounded` (counted)."""
    ids_of: dict[tuple, list] = {}
    for key, _, _, ids in written:  # (the ids of all its annotations, should an edit have changed one)
        ids_of[key] = list(dict.fromkeys(ids_of.get(key, []) + ids))
    dropped = {key for key, ids in ids_of.items() if drop_ungrounded and not ids}
    first = len(entities)
    for key, start, end, _ in written:
        if key in dropped:
            counts["dropped_ungrounded_mentions"] += 1
            continue
        _add_mention_to_entity(entities, entity_index, key, start, end, counts)
        entities[entity_index[key]]["ids"] = ids_of[key]
    for entity in entities[first:]:
        entity["mentions"].sort(key=lambda m: (m["start"], m["end"]))
    counts["dropped_ungrounded_entities"] += len(dropped)


def _bioc_list(owner: Any, key: str, fail, field: str) -> list:
    """`owner[key]` (absent: empty) as a list of objects."""
    value = owner.get(key) if isinstance(owner, Mapping) else None
    items = [] if value is None else value
    if not isinstance(items, list) or not all(isinstance(item, Mapping) for item in items):
        fail(f"{key} must be a list of objects, got {value!r:.80}", f"{field}.{key}" if field != "<document>" else key)
    return items


def _bioc_infons(owner: Mapping, fail, field: str) -> dict:
    infons = owner.get("infons")
    if infons is not None and not isinstance(infons, Mapping):
        fail(f"infons must be an object of key: value, got {infons!r:.80}", f"{field}.infons")
    return dict(infons or {})


def _bioc_ids(infons: Mapping) -> tuple:
    """``(infon key, [ids])`` of an annotation's infons; ``(None, ["-1"])`` without any."""
    id_key = next((key for key in BIOC_ID_KEYS if infons.get(key)), None)
    if id_key is None or not isinstance(infons[id_key], str):
        return id_key, ["-1"]
    return id_key, [kb_id.strip() for kb_id in infons[id_key].split(BIOC_ID_KEYS[id_key])]


def _bioc_annotation_ids(annotation: Mapping) -> set:
    """The (type, id) pairs an annotation names, whether or not it is kept (its infons checked already)."""
    infons = annotation.get("infons") or {}
    return {(str(infons.get("type") or "").strip(), kb_id) for kb_id in _bioc_ids(infons)[1] if kb_id != "-1"}


def _bioc_integer(value: Any, fail, field: str) -> int:
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        return int(value)
    if is_integer(value) and value >= 0:
        return int(value)
    fail(f"expected a non-negative integer, got {value!r}", field)


def _bioc_mention(annotation: Mapping, where: str, text: str, fail, counts: dict):
    """``(start, end, type, (id, surface) pairs, whether a composite mention)`` of an annotation, or None when it is
    left out (counted)."""
    field = f"{where}.annotations[id {annotation.get('id')!r}]"
    infons = _bioc_infons(annotation, fail, field)
    entity_type = infons.get("type")
    if not isinstance(entity_type, str) or not entity_type.strip():
        fail(f"an annotation needs a 'type' infon, got {entity_type!r}", f"{field}.infons.type")
    if infons.get("CompositeRole") == "IndividualMention":  # a part of a composite mention, which is kept
        counts["dropped_composite_parts"] += 1
        return None
    locations = _bioc_list(annotation, "locations", fail, field)
    if len(locations) != 1:
        counts["dropped_discontinuous_mentions" if locations else "dropped_annotations_without_location"] += 1
        return None
    start = _bioc_integer(locations[0].get("offset"), fail, f"{field}.locations[0].offset")
    end = start + _bioc_integer(locations[0].get("length"), fail, f"{field}.locations[0].length")
    if end > len(text) or start >= end:
        fail(f"location {start}-{end} is empty or outside the text (length {len(text)})", f"{field}.locations[0]")
    given = annotation.get("text")
    if given is not None and text[start:end] != given:
        fail(f"text[{start}:{end}] is {text[start:end]!r}, but the annotation's text is {given!r}", f"{field}.text")
    id_key, ids = _bioc_ids(infons)
    if id_key is not None and not isinstance(infons[id_key], str):
        fail(f"expected an id string, got {infons[id_key]!r}", f"{field}.infons.{id_key}")
    if any(not kb_id for kb_id in ids):
        fail(f"empty id in {infons[id_key]!r}", f"{field}.infons.{id_key}")
    surface = text[start:end].lower()
    pairs = list(dict.fromkeys((kb_id, surface if kb_id == "-1" else None) for kb_id in ids))
    return start, end, entity_type.strip(), pairs, infons.get("CompositeRole") == "CompositeMention"


def _bioc_relations(relations, entities, entity_index, annotation_keys, left_out, fail, counts) -> list[dict]:
    by_id: dict[str, list] = {}
    for key, index in entity_index.items():
        if key[1] is not None:
            by_id.setdefault(key[1], []).append(index)
    types = {entity["type"] for entity in entities} | {entity_type for entity_type, _ in left_out}
    left_out_ids = {kb_id for _, kb_id in left_out}
    relation_ids = {str(relation.get("id")) for relation in relations}
    result: list[dict] = []
    for number, relation in enumerate(relations):
        field = f"relations[id {relation.get('id', number)!r}]"
        infons = _bioc_infons(relation, fail, field)
        for key, value in infons.items():
            if not isinstance(value, str):  # (ids and types are strings in BioC; a list here cannot be looked up)
                fail(f"expected a string, got {value!r:.80}", f"{field}.infons.{key}")
        infons = {key: value.strip() for key, value in infons.items()}  # (XML written with the values on lines)
        type_key = next((key for key in BIOC_RELATION_TYPE_KEYS if infons.get(key)), None)
        if type_key is None:
            fail(f"a relation needs a {' or '.join(map(repr, BIOC_RELATION_TYPE_KEYS))} infon", f"{field}.infons")
        nodes = [node for node in _bioc_list(relation, "nodes", fail, field) if node.get("refid") is not None]
        arguments = []
        if nodes:
            refids = [str(node["refid"]) for node in nodes]
            if [str(node.get("role") or "").lower() for node in nodes] == ["arg2", "arg1"]:
                refids.reverse()  # (head = Arg1 wherever it is written, as the brat reader reads it)
            if len(nodes) != 2 or any(refid in relation_ids and refid not in annotation_keys for refid in refids):
                counts["dropped_relations"] += 1  # (of other than two entities: an event, or a relation of relations)
                continue
            for refid in refids:
                if annotation_keys.get(refid, ()) is None:
                    fail(f"node refid {refid!r} names several annotations of this document", f"{field}.nodes")
                if refid not in annotation_keys:
                    fail(f"node refid {refid!r} names no annotation of this document", f"{field}.nodes")
                arguments.append(sorted({entity_index[key] for key in annotation_keys[refid] if key in entity_index}))
        elif infons.get("entity1") and infons.get("entity2"):
            for name in ("entity1", "entity2"):
                found = by_id.get(infons[name], [])
                if not found and infons[name] not in left_out_ids:
                    fail(f"no entity with id {infons[name]!r} in this document", f"{field}.infons.{name}")
                arguments.append(found)
        else:
            named = [key for key in infons if key in types]
            if len(named) != 2:
                fail(
                    "cannot tell the relation's two arguments: give two nodes (annotation refids), entity1/entity2 "
                    f"infons, or two infons named by entity types (the document's: {sorted(types)})",
                    f"{field}.infons",
                )
            for name in named:
                index = entity_index.get((name, infons[name]))
                if index is None and (name, infons[name]) not in left_out:
                    fail(f"no {name} entity with id {infons[name]!r} in this document", f"{field}.infons.{name}")
                arguments.append([] if index is None else [index])
        if any(len(found) > 1 for found in arguments):  # an id of several entities (types): which one is meant?
            counts["dropped_ambiguous_relations"] += 1
            continue
        if any(not found for found in arguments):  # an argument left out
            counts["dropped_relations"] += 1
            continue
        (head,), (tail,) = arguments
        if head == tail:
            counts["self_relations"] += 1
        candidate = {"head": head, "tail": tail, "type": infons[type_key]}
        if candidate in result:
            counts["duplicate_relations"] += 1
            continue
        result.append(candidate)
    return result


# What write_bioc writes besides the documents: the passage type (one passage holds the whole text), the collection's
# source and key (the file a BioC collection names to say what its infons mean), and the formats it takes.
BIOC_PASSAGE_TYPE = "abstract"
BIOC_SOURCE = "SimMemRE"
BIOC_KEY = "simmemre.key"
BIOC_WRITE_FORMATS = ("xml", "json")
_BIOC_XML_HEADER = "<?xml version='1.0' encoding='UTF-8'?>\n<!DOCTYPE collection SYSTEM \"BioC.dtd\">\n"
# Characters XML 1.0 cannot hold, not even as character references: C0 controls but tab and line ends, surrogates,
# U+FFFE and U+FFFF.
_NOT_IN_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def write_bioc(documents: Iterable[Mapping], path: str | os.PathLike, format: str = "xml") -> int:
    """Write schema documents (gold, or predictions with scores) as one BioC collection file, XML (BioC's DTD) or JSON
    (``format="json"``; ``.gz`` at the end of `path`: gzipped), replacing `path` only once it is all written. Returns
    the number of documents written; :func:`read_bioc` reads the file back to the same documents (text, entities in
    their order with their types, ids and mentions, relations with their direction), without scores and with the
    sentences and words it derives.

    A document is one passage at offset 0 (type :data:`BIOC_PASSAGE_TYPE`) holding the text, with an annotation per
    mention (offsets in code points, as the schema's), entity by entity: infons ``type``, ``identifier`` (the entity's
    ids joined by ``,``, as BioRED and read_bioc join them; without ids, the entity's name ``E<index>`` so that the
    mentions of one entity share one) and :data:`BIOC_ENTITY_KEY` (that name: it keeps together the mentions of an
    entity without ids or of several ids, which read_bioc would otherwise group by text or split by id). A relation
    names the first annotations of its head and tail as nodes with roles ``Arg1`` and ``Arg2``, and their identifiers
    in ``entity1``/``entity2`` infons (BioRED's). Scores go into infons: ``score`` (mention, relation) and
    ``entity_score``.

    Every document is checked before anything is written; refused, as :class:`DocumentError` naming the document and
    field, is what would not read back the same: an id, type or relation type with surrounding whitespace (read_bioc
    strips it), an id that is empty, holds ``,``, repeats or equals the entity's generated name, a mention or relation
    given twice (read back once), a repeated document id, a score that is no number, and in XML a character XML 1.0
    cannot hold (a NUL or other control character; a lone surrogate)."""
    if format not in BIOC_WRITE_FORMATS:
        raise ValueError(f"format must be one of {', '.join(BIOC_WRITE_FORMATS)}, got {format!r}")
    path = os.fspath(path)
    written, first_of_id = [], {}
    for index, doc in enumerate(documents):  # every document checked before any is written
        doc = validate_document(with_str_id(doc), source=f"documents[{index}]")
        fail = _document_failure(f"documents[{index}]", doc["id"])
        _check_bioc_writable(doc, fail, xml=format == "xml")
        first = first_of_id.setdefault(doc["id"], index)
        if first != index:
            fail(f"document {first} has this id too (BioC readers refuse a repeated id)", "id")
        written.append(_bioc_document_object(doc))
    if not written:  # (BioC's DTD: a collection holds at least one document)
        raise ValueError(f"{path}: no documents to write (a BioC collection needs one)")
    collection = {"source": BIOC_SOURCE, "date": _today(), "key": BIOC_KEY, "infons": {}, "documents": written}
    content = _bioc_xml_bytes(collection) if format == "xml" else _bioc_json_bytes(collection)
    with replacing_file(path) as handle:
        output = gzip.GzipFile(path, "wb", fileobj=handle) if path.endswith(".gz") else handle
        output.write(content)
        output.close()
    return len(written)


def _today() -> str:
    return time.strftime("%Y%m%d")  # (BioC's date: yyyymmdd)


def _check_bioc_writable(doc: Mapping, fail, xml: bool) -> None:
    """Fail (`fail(message, field)`) on what a BioC file of `doc` would not give back the same (see `write_bioc`)."""
    stripped = "surrounding whitespace, which read_bioc strips"
    if doc["id"] != doc["id"].strip():
        fail(stripped, "id")
    for index, entity in enumerate(doc["entities"]):
        field = f"entities[{index}]"
        if entity["type"] != entity["type"].strip():
            fail(stripped, f"{field}.type")
        ids = entity.get("ids") or []
        for position, kb_id in enumerate(ids):
            if not kb_id.strip() or kb_id != kb_id.strip() or "," in kb_id:
                fail(f"{kb_id!r}: an id needs a visible character, no ',' (it joins ids) and no {stripped}",
                     f"{field}.ids[{position}]")  # fmt: skip
            if kb_id in ids[:position]:
                fail(f"{kb_id!r} is given twice (read back once)", f"{field}.ids[{position}]")
        if ids == [f"E{index}"]:
            fail(f"{ids[0]!r} is the name written for this entity were it without ids: give it another", f"{field}.ids")
        spans = [(mention["start"], mention["end"]) for mention in entity["mentions"]]
        for position, span in enumerate(spans):
            if span in spans[:position]:
                fail(f"the span {span} is given twice (read back once)", f"{field}.mentions[{position}]")
            _bioc_score(entity["mentions"][position], f"{field}.mentions[{position}]", fail)
        _bioc_score(entity, field, fail)
    seen = set()
    for index, relation in enumerate(doc["relations"]):
        if relation["type"] != relation["type"].strip():
            fail(stripped, f"relations[{index}].type")
        if (key := (relation["head"], relation["tail"], relation["type"])) in seen:
            fail("the relation is given twice (read back once)", f"relations[{index}]")
        seen.add(key)
        _bioc_score(relation, f"relations[{index}]", fail)
    if xml:
        for field, value in _bioc_strings(doc):
            if found := _NOT_IN_XML.search(value):
                fail(f"character {found.start()} ({found.group()!r}) cannot be written in XML 1.0 (write BioC JSON, "
                     "or remove it)", field)  # fmt: skip


def _bioc_strings(doc: Mapping):
    """``(field, str)`` of every string of `doc` that a BioC file holds."""
    yield from (("id", doc["id"]), ("text", doc["text"]))
    for index, entity in enumerate(doc["entities"]):
        yield f"entities[{index}].type", entity["type"]
        yield from ((f"entities[{index}].ids[{j}]", kb_id) for j, kb_id in enumerate(entity.get("ids") or []))
    yield from ((f"relations[{i}].type", relation["type"]) for i, relation in enumerate(doc["relations"]))


def _bioc_score(owner: Mapping, field: str, fail, key: str = "score") -> dict:
    """``{key: score}`` as a BioC infon (a string), ``{}`` without a score (None); a score that is no number fails."""
    value = owner.get("score")
    if value is None:
        return {}
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        fail(f"expected a number, got {value!r}", f"{field}.score")
    return {key: repr(float(value))}


def _bioc_document_object(doc: Mapping) -> dict:
    """One document as BioC JSON's object (see `write_bioc`); `_bioc_xml_bytes` writes the same as XML."""
    annotations, first_annotation, identifiers = [], [], []
    for index, entity in enumerate(doc["entities"]):
        name = f"E{index}"
        identifiers.append(",".join(entity.get("ids") or []) or name)
        infons = {"type": entity["type"], "identifier": identifiers[-1], BIOC_ENTITY_KEY: name}
        infons.update(_bioc_score(entity, "", None, key="entity_score"))  # (scores checked already: no fail)
        first_annotation.append(str(len(annotations)))
        for mention in entity["mentions"]:
            start, end = mention["start"], mention["end"]
            annotations.append({
                "id": str(len(annotations)),
                "infons": {**infons, **_bioc_score(mention, "", None)},
                "text": doc["text"][start:end],
                "locations": [{"offset": start, "length": end - start}],
            })  # fmt: skip
    relations = []
    for number, relation in enumerate(doc["relations"]):
        head, tail = relation["head"], relation["tail"]
        infons = {"type": relation["type"], "entity1": identifiers[head], "entity2": identifiers[tail]}
        nodes = [{"refid": first_annotation[head], "role": "Arg1"}, {"refid": first_annotation[tail], "role": "Arg2"}]
        relations.append({"id": f"R{number}", "infons": {**infons, **_bioc_score(relation, "", None)}, "nodes": nodes})
    passage = {"offset": 0, "infons": {"type": BIOC_PASSAGE_TYPE}, "text": doc["text"], "annotations": annotations}
    # (every key of BioC JSON's passage, "sentences" too: the reference bioc library fails on a passage without it)
    passage.update(sentences=[], relations=[])
    return {"id": doc["id"], "infons": {}, "passages": [passage], "relations": relations}


def _bioc_json_bytes(collection: Mapping) -> bytes:
    try:
        return json.dumps(collection, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:  # (a lone surrogate has no UTF-8 form: \u escapes, read back as the same string)
        return json.dumps(collection).encode("utf-8")


def _bioc_xml_bytes(collection: Mapping) -> bytes:
    """The collection in BioC's XML layout (its DTD's element order), indented."""
    root = ElementTree.Element("collection")
    for key in ("source", "date", "key"):
        ElementTree.SubElement(root, key).text = collection[key]
    for document in collection["documents"]:
        element = ElementTree.SubElement(root, "document")
        ElementTree.SubElement(element, "id").text = document["id"]
        for passage in document["passages"]:
            passage_element = ElementTree.SubElement(element, "passage")
            _xml_infons(passage_element, passage["infons"])
            ElementTree.SubElement(passage_element, "offset").text = str(passage["offset"])
            ElementTree.SubElement(passage_element, "text").text = passage["text"]
            for annotation in passage["annotations"]:
                _xml_annotation(passage_element, annotation)
        for relation in document["relations"]:
            relation_element = ElementTree.SubElement(element, "relation", id=relation["id"])
            _xml_infons(relation_element, relation["infons"])
            for node in relation["nodes"]:
                ElementTree.SubElement(relation_element, "node", refid=node["refid"], role=node["role"])
    ElementTree.indent(root)  # (only elements with children: no text element gains whitespace)
    body = ElementTree.tostring(root, encoding="unicode")
    # XML reads a carriage return in text as a line feed (and \r\n as one), shifting the offsets after it: written as
    # a character reference, which is read as it is. (ElementTree writes one so in attributes already.)
    return (_BIOC_XML_HEADER + body.replace("\r", "&#13;") + "\n").encode("utf-8")


def _xml_infons(parent, infons: Mapping) -> None:
    for key, value in infons.items():
        ElementTree.SubElement(parent, "infon", key=key).text = value


def _xml_annotation(parent, annotation: Mapping) -> None:
    element = ElementTree.SubElement(parent, "annotation", id=annotation["id"])
    _xml_infons(element, annotation["infons"])
    for location in annotation["locations"]:
        ElementTree.SubElement(element, "location", offset=str(location["offset"]), length=str(location["length"]))
    ElementTree.SubElement(element, "text").text = annotation["text"]


# ----------------------------------------------------------------------------------------------------
# Corpus conversion
# ----------------------------------------------------------------------------------------------------

READERS = {
    "bc5cdr": read_pubtator,
    "docred": read_docred,
    "brat": read_brat,
    "bioc": read_bioc,
}  # (each takes the path first)
# A file name's words: runs of letters split where a lower-case letter meets an upper-case one (CDR_TrainingSet:
# CDR, Training, Set), and runs of digits.
_FILE_NAME_WORD = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|[0-9]+")
_SPLIT_PREFIXES = {"train": "train", "dev": "dev", "valid": "dev", "test": "test"}
_SPLIT_PREFIX = re.compile("|".join(_SPLIT_PREFIXES), re.IGNORECASE)


def split_from_filename(name: str, default: str | None = "train") -> str | None:
    """The split a file's name gives: a word of it in :data:`SPLIT_NAMES` (``CDR_TrainingSet.PubTator.txt``,
    ``dev_revised.json``, ``val.jsonl``), else a word that begins with train, dev, valid or test (``trainset``);
    `default` when none or several splits match. Whole words: ``latest.json`` is no test file; a split name glued
    to an acronym counts (``NCBItrainset_corpus.txt``)."""
    base = os.path.basename(os.fspath(name))
    words = [word.lower() for word in _FILE_NAME_WORD.findall(base)]
    found = {SPLIT_NAMES[word] for word in words if word in SPLIT_NAMES}
    if not found:
        # A split name glued to what comes before or after it (NCBItrainset, CDRtest, developset), but not inside a
        # lower-case word ("latest", "contest").
        found = {
            _SPLIT_PREFIXES[match.group().lower()]
            for match in _SPLIT_PREFIX.finditer(base)
            if match.start() == 0 or not base[match.start() - 1].islower()
        }
    return found.pop() if len(found) == 1 else default


def _is_corpus_file(format: str, name: str) -> bool:
    lowered = name.lower()
    if lowered.endswith(".gz"):
        lowered = lowered[:-3]
    if format == "bc5cdr":
        # The PubTator files; not the 50-document sample (a subset of train) nor the BioC XML copies.
        return lowered.endswith(".txt") and "sample" not in lowered and "readme" not in lowered
    if format == "bioc":
        return lowered.endswith((".xml", ".json")) and "sample" not in lowered
    # DocRED: JSON lists; not rel_info.json / types.json, nor the distantly supervised train_distant.json.
    return lowered.endswith(".json") and "distant" not in lowered and lowered not in ("rel_info.json", "types.json")


def _same_bioc_collection(path: str, name: str) -> bool:
    """Whether two file names are one BioC collection as XML and as JSON (``Train.BioC.XML``, ``Train.BioC.JSON``)."""

    def stem(file_name: str) -> tuple:
        lowered = os.path.basename(file_name).lower().removesuffix(".gz")
        base, extension = os.path.splitext(lowered)
        return base, extension

    (first, first_kind), (second, second_kind) = stem(path), stem(name)
    return first == second and {first_kind, second_kind} == {".xml", ".json"}


def find_split_files(format: str, input_path: str | os.PathLike) -> dict[str, str]:
    """``{split: file}`` for a folder (files recognised by name) or a single file."""
    input_path = os.fspath(input_path)
    if format not in FORMATS:
        raise ValueError(f"unknown format {format!r}; expected one of {', '.join(FORMATS)}")
    if format == "brat":
        return _brat_split_folders(input_path)
    if os.path.isfile(input_path):
        return {split_from_filename(input_path): input_path}
    if not os.path.isdir(input_path):
        raise FileNotFoundError(f"input not found: {input_path}")
    files: dict[str, str] = {}
    for name in sorted(os.listdir(input_path)):
        full = os.path.join(input_path, name)
        if not os.path.isfile(full) or not _is_corpus_file(format, name):
            continue
        split = split_from_filename(name, default=None)
        if split is None:
            continue
        if split in files and format == "bioc" and _same_bioc_collection(files[split], name):
            files[split] = min(files[split], full, key=lambda path: not path.lower().endswith((".xml", ".xml.gz")))
            continue  # (BioRED ships each split as .XML and .JSON: the XML is read)
        if split in files:
            raise ValueError(
                f"several {split} files in {input_path}: {os.path.basename(files[split])} and {name}; "
                "convert them one by one"
            )
        files[split] = full
    if not files:
        raise FileNotFoundError(f"no {format} train/dev/test files found in {input_path}")
    return {split: files[split] for split in SPLITS if split in files}


# The names of a brat corpus's split folders (the whole name: "latest" is no test folder).
BRAT_SPLIT_FOLDERS = SPLIT_NAMES


def _brat_split_folders(input_path: str) -> dict[str, str]:
    """``{split: folder}`` of a brat corpus: its split subfolders (`BRAT_SPLIT_FOLDERS`), or the folder itself as one
    split (named so, else train); one ``.ann`` file is a split of one document. A subfolder with ``.ann`` files beside
    the split folders belongs to no split: refused, as are ``.ann`` files beside them."""
    if os.path.isfile(input_path):
        if not input_path.endswith((".ann", ".a1")):
            raise ValueError(
                f"{input_path}: a brat corpus is a folder of .txt/.ann pairs (or BioNLP's .txt/.a1/.a2), or one "
                ".ann file"
            )
        return {split_from_filename(input_path): input_path}
    if not os.path.isdir(input_path):
        raise FileNotFoundError(f"input not found: {input_path}")
    folders: dict[str, str] = {}
    others = []
    for name in sorted(os.listdir(input_path)):
        full = os.path.join(input_path, name)
        if not os.path.isdir(full) or not _brat_files(full):
            continue
        # A split folder's whole name, or a word of it (BioNLP's "BioNLP-OST-2019_BB-rel_train").
        split = BRAT_SPLIT_FOLDERS.get(name.lower()) or split_from_filename(name, default=None)
        if split is None:
            others.append(name)
        elif split in folders:
            raise ValueError(f"several {split} folders in {input_path}: {os.path.basename(folders[split])} and {name}")
        else:
            folders[split] = full
    if folders:
        beside = others + sorted(name for name in os.listdir(input_path) if name.endswith((".ann", ".a1")))
        if beside:  # (they would belong to no split)
            raise ValueError(
                f"{input_path}: {beside[0]} holds annotations but lies beside the split folders "
                f"{', '.join(os.path.basename(folder) for folder in folders.values())}; move it into one of them"
            )
        return {split: folders[split] for split in SPLITS if split in folders}
    if not _brat_files(input_path):
        raise FileNotFoundError(f"no brat .ann files found in {input_path}")
    name = os.path.basename(os.path.normpath(os.path.abspath(input_path)))
    return {BRAT_SPLIT_FOLDERS.get(name.lower(), "train"): input_path}


def convert_corpus(format: str, input_path: str | os.PathLike, **options) -> dict[str, tuple[list[dict], dict]]:
    """Convert a corpus -> ``{split: (documents, stats)}`` in train/dev/test order.

    `format` is ``"bc5cdr"`` (options ``drop_ungrounded``, ``require_relations``), ``"docred"``
    (option ``rel_info``; for a folder without it, a ``rel_info.json``, else JEREX's ``types.json``, inside the folder
    is used: `find_relation_names_file`), ``"brat"`` or ``"bioc"`` (option ``drop_ungrounded``). `input_path` is a
    folder (splits recognised by a word of the file name, see :func:`split_from_filename`; ``.gz`` transparent; for
    bc5cdr the sample and the BioC XML copies, for bioc ``.xml``/``.json`` files only, for docred ``train_distant`` is
    skipped) or a single file (split from its name, default ``train``). A brat corpus is a folder of train/dev/test
    subfolders of ``.txt``/``.ann`` pairs, or one such folder (see :func:`read_brat`).
    """
    files = find_split_files(format, input_path)
    if format == "docred" and options.get("rel_info") is None and os.path.isdir(input_path):
        candidate = find_relation_names_file(input_path)
        if candidate is not None:
            options = {**options, "rel_info": candidate}
    rel_info_source = options.get("rel_info")
    if format == "docred" and rel_info_source is not None:
        options = {**options, "rel_info": load_relation_names(rel_info_source)}
    reader = READERS[format]
    result = {}
    for split, path in files.items():
        docs, stats = reader(path, **options)
        stats["split"] = split
        result[split] = (docs, stats)
    relations = sum(stats["relations"] for _, stats in result.values())
    if format == "docred" and rel_info_source is not None and relations:
        # Some ids missing from rel_info only count (unnamed_relation_types); none named at all means the rel_info
        # of another corpus (or a wrong file), which would silently give raw ids as relation types.
        if sum(stats["unnamed_relation_types"] for _, stats in result.values()) == relations:
            ids = sorted({r["type"] for docs, _ in result.values() for doc in docs for r in doc["relations"]})
            source = os.fspath(rel_info_source) if isinstance(rel_info_source, (str, os.PathLike)) else "rel_info"
            raise DocumentError(
                f"names none of the corpus's relation ids ({', '.join(ids[:5])}{', ...' if len(ids) > 5 else ''}); "
                "give the rel_info.json of this corpus, or none to keep the ids",
                source=source,
            )
    return result


# ----------------------------------------------------------------------------------------------------
# datasets
# ----------------------------------------------------------------------------------------------------


def normalize_document(doc: Mapping) -> dict:
    """Canonical copy of a document with every optional field filled and extra keys dropped.

    Missing ``sentences``/``words`` come from :func:`add_segmentation`, missing entity ``ids`` become
    ``[]``; pipeline extras (``score``, mention ``text``) are not kept. Key order: id, text, sentences,
    words, entities (type, ids, mentions), relations (head, tail, type).
    """
    doc = {
        "id": doc["id"],
        "text": doc["text"],
        **({"sentences": doc["sentences"]} if doc.get("sentences") is not None else {}),
        **({"words": doc["words"]} if doc.get("words") is not None else {}),
        "entities": doc["entities"],
        "relations": doc["relations"],
    }
    add_segmentation(doc)
    return {
        "id": doc["id"],
        "text": doc["text"],
        "sentences": [{"start": s["start"], "end": s["end"]} for s in doc["sentences"]],
        "words": [{"start": w["start"], "end": w["end"]} for w in doc["words"]],
        "entities": [
            {
                "type": e["type"],
                "ids": list(e.get("ids") or []),
                "mentions": [{"start": m["start"], "end": m["end"]} for m in e["mentions"]],
            }
            for e in doc["entities"]
        ],
        "relations": [{"head": r["head"], "tail": r["tail"], "type": r["type"]} for r in doc["relations"]],
    }


def document_features():
    """``datasets.Features`` of a normalised document."""
    from datasets import Features, List, Value

    span = {"start": Value("int64"), "end": Value("int64")}
    return Features(
        {
            "id": Value("string"),
            "text": Value("string"),
            "sentences": List(span),
            "words": List(span),
            "entities": List({"type": Value("string"), "ids": List(Value("string")), "mentions": List(span)}),
            "relations": List({"head": Value("int64"), "tail": Value("int64"), "type": Value("string")}),
        }
    )


def split_files(folder: str) -> dict[str, str]:
    """``{split: file}`` of a folder of SimMemRE split files: ``{split}.jsonl``, else ``{split}.jsonl.gz``."""
    files = {}
    for split in SPLITS:
        for name in (f"{split}.jsonl", f"{split}.jsonl.gz"):
            if os.path.isfile(os.path.join(folder, name)):
                files[split] = os.path.join(folder, name)
                break
    return files


def load_documents_as_datasetdict(path: str | os.PathLike):
    """A folder of ``{train,dev,test}.jsonl`` (or ``.jsonl.gz``, as written by ``convert_dataset.py``)
    -> ``datasets.DatasetDict`` of normalised documents (see :func:`normalize_document`) with the
    explicit :func:`document_features`, so that every split has the same Arrow schema."""
    from datasets import Dataset, DatasetDict

    path = os.fspath(path)
    splits = {}
    for split, file in split_files(path).items():
        docs = [normalize_document(doc) for doc in read_jsonl(file)]
        splits[split] = Dataset.from_list(docs, features=document_features())
    if not splits:
        raise FileNotFoundError(f"no train/dev/test .jsonl files in {path}")
    return DatasetDict(splits)


def stats_line(stats: Mapping) -> str:
    """One JSON line: the five standard keys first, then the extra counts."""
    ordered = {key: stats[key] for key in STATS_KEYS if key in stats}
    ordered.update((key, value) for key, value in stats.items() if key not in ordered)
    return json.dumps(ordered, ensure_ascii=False)


# ----------------------------------------------------------------------------------------------------
# Command line (scripts/convert_dataset.py)
# ----------------------------------------------------------------------------------------------------


def _convert_to_annotation_format(args, options: dict) -> int:
    """convert_dataset.py --to brat, bioc or bioc-json: every split of --input as a brat collection (OUTPUT/<split>/,
    or OUTPUT for one file) or a BioC collection file (OUTPUT/<split>.xml or .json, or the file OUTPUT for one file),
    one JSON line of counts per split; exit status 2 for a bad input or an output holding annotations."""
    import sys

    single_file = os.path.isfile(args.input)
    try:
        _check_annotation_output(args.to, args.output, single_file)
        if args.format == "jsonl":
            splits, skipped = _documents_of_jsonl(args.input)
            # labels.json beside the documents, as train.py finds it: its types that no document uses stay declared
            labels_folder = os.path.dirname(os.path.abspath(args.input)) if single_file else args.input
            has_labels = os.path.isfile(os.path.join(labels_folder, LABELS_FILE))
            declared = read_labels(labels_folder) if has_labels else {"entity_types": [], "relation_types": []}
        else:
            splits = {split: docs for split, (docs, _) in convert_corpus(args.format, args.input, **options).items()}
            skipped = 0
            declared = declared_types(args.format, args.input, args.rel_info)
        # Every split's annotation.conf declares the types of all splits (as labels.json does for JSON Lines).
        used = labels_for(splits)
        entity_types = sorted(set(used["entity_types"]) | set(declared["entity_types"]))
        relation_types = sorted(set(used["relation_types"]) | set(declared["relation_types"]))
        if skipped:
            print(f"left out {skipped} error record(s) of predict.py (documents it could not read)", file=sys.stderr)
        lines = []
        for split, docs in splits.items():
            if args.to != "brat":  # (a BioC collection: one file)
                kind = "json" if args.to == "bioc-json" else "xml"
                file = args.output if single_file else os.path.join(args.output, f"{split}.{kind}")
                lines.append(json.dumps({"split": split, "documents": write_bioc(docs, file, kind), "file": file}))
                continue
            folder = args.output if single_file else os.path.join(args.output, split)
            written = write_brat(docs, folder, entity_types, relation_types)
            lines.append(json.dumps({"split": split, "documents": written, "folder": folder}))
    except (DocumentError, FileNotFoundError, ValueError, json.JSONDecodeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # (a file the system refuses to create: a traceback before)
        if error.errno in {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}:
            raise  # (run_script's one line for a full disk)
        name = _TEMPORARY_SUFFIX.sub("", str(error.filename))  # (the file, not its temporary name)
        print(f"error: cannot write {name}: {error.strerror} (files written before it stay)", file=sys.stderr)
        return 2
    print("\n".join(lines), flush=True)  # (after every folder is written)
    return 0


def _check_annotation_output(to: str, output: str, single_file: bool) -> None:
    """Refuse an --output that holds annotations already (ValueError): brat's a folder with .ann files, BioC's a
    non-empty file (one file --input) or a folder with files of the collection's suffix."""
    if not os.path.exists(output):
        return
    if to == "brat" or not single_file:
        suffix = {"brat": ".ann", "bioc": ".xml", "bioc-json": ".json"}[to]
        if not os.path.isdir(output):
            raise ValueError(f"--output {output}: is a file; give a new or empty folder")
        held = _brat_files(output) if to == "brat" else [name for name in os.listdir(output) if name.endswith(suffix)]
        if held:
            raise ValueError(f"--output {output}: holds {suffix} files already; give a new or empty folder")
        return
    if os.path.isdir(output):
        raise ValueError(f"--output {output}: is a folder; one file --input is written as one BioC file: name it")
    if not is_stream_path(output) and os.path.getsize(output):
        raise ValueError(f"--output {output}: exists already; give a new file name")


def _documents_of_jsonl(input_path: str) -> tuple[dict, int]:
    """``({split: documents}, error records left out)`` of a JSON Lines file or a folder of split files; predict.py's
    error records (``{"id", "error"}``) are left out, counted."""
    if os.path.isfile(input_path):  # (one file: a split only where its name says so, not "train" for predictions)
        files = {split_from_filename(input_path, default=None): input_path}
    elif os.path.isdir(input_path):
        files = split_files(input_path)  # (the files training reads)
        if not files:
            raise FileNotFoundError(f"no train/dev/test .jsonl files in {input_path}")
    else:
        raise FileNotFoundError(f"input not found: {input_path}")
    splits, skipped = {}, 0
    for split, path in files.items():
        records = read_jsonl(path, validate=False)
        kept = []
        for number, record in enumerate(records):
            if isinstance(record, Mapping) and "error" in record:
                skipped += 1
                continue
            kept.append(validate_document(with_str_id(record), source=f"{path}[document {number}]"))
        splits[split] = kept
    return splits, skipped


def convert_command(argv=None) -> int:
    """scripts/convert_dataset.py: write OUTPUT/{split}.jsonl and labels.json, print one stats line per split; exit
    status 2 (message on stderr) for a malformed, missing or empty input.

    A folder --input replaces every split file of OUTPUT; one file --input replaces only its own split, keeping the
    splits converted before (train, dev and test files converted one by one), and labels.json then covers them all."""

    parser = convert_parser()
    args = parser.parse_args(argv)
    if args.rel_info and args.format != "docred":
        parser.error("--rel-info applies to --format docred only")
    if args.drop_ungrounded and args.format not in ("bc5cdr", "bioc"):
        parser.error("--drop-ungrounded applies to --format bc5cdr and bioc only")
    if args.require_relations and args.format != "bc5cdr":
        parser.error("--require-relations applies to --format bc5cdr only")
    if args.format == "jsonl" and args.to == "jsonl":
        parser.error("--format jsonl is SimMemRE JSON Lines already: convert it --to brat or --to bioc")
    if args.input == "-":
        parser.error("--input -: standard input is not read here; give a file or folder")
    if args.output == "-":  # (a folder named "-" was made)
        parser.error("--output -: a folder is written here, not standard output; give a path")
    options = {
        "bc5cdr": {"drop_ungrounded": args.drop_ungrounded, "require_relations": args.require_relations},
        "docred": {"rel_info": args.rel_info},
        "bioc": {"drop_ungrounded": args.drop_ungrounded},
    }.get(args.format, {})
    from .experiment_simmemre import exclusive_use

    # (two conversions into one folder: the first to end removed the marker while the other still wrote)
    with exclusive_use(args.output, "--output", "another conversion"):
        return _convert_to_jsonl(args, options) if args.to == "jsonl" else _convert_to_annotation_format(args, options)


def _convert_to_jsonl(args, options: dict) -> int:
    """convert_dataset.py --to jsonl (see `convert_command`)."""
    import sys

    single_file = os.path.isfile(args.input)
    kept = {}  # split -> documents of an earlier conversion that one file --input leaves in place
    try:
        if os.path.exists(args.output) and not os.path.isdir(args.output):
            raise ValueError(f"--output {args.output}: is a file, not a folder")
        converted = convert_corpus(args.format, args.input, **options)
        files = find_split_files(args.format, args.input)
        for split, (docs, stats) in converted.items():
            # An empty split file would only be refused later, by train.py ("no documents").
            if not docs:
                dropped = stats.get("dropped_documents")
                reason = f" ({dropped} without a relation dropped by --require-relations)" if dropped else ""
                raise ValueError(f"{files[split]}: no documents{reason}")
        if single_file and os.path.isdir(args.output):
            for split, file in split_files(args.output).items():  # (the files training reads)
                if split not in converted:
                    kept[split] = read_jsonl(file)
    except (DocumentError, FileNotFoundError, ValueError, json.JSONDecodeError, UnicodeDecodeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        os.makedirs(args.output, exist_ok=True)
    except OSError as error:  # a file where a folder of the path should be, or no permission: a traceback before
        print(f"error: --output {args.output}: cannot create it ({error.strerror or error})", file=sys.stderr)
        return 2
    marker = os.path.join(args.output, CONVERSION_MARKER)
    with open(marker, "w", encoding="utf-8") as handle:
        handle.write("convert_dataset.py is writing this folder, or was stopped while it did\n")
    # A folder --input: the folder must hold exactly this conversion (a split file of an earlier one, say dev.jsonl of
    # another corpus, would be read with the new train split). One file --input replaces only its own split, so that
    # split files converted one by one add up.
    stale = [
        name
        for split in SPLITS
        if split in converted or not single_file
        for name in (f"{split}.jsonl", f"{split}.jsonl.gz")
        if os.path.isfile(os.path.join(args.output, name)) and not (split in converted and name == f"{split}.jsonl")
    ]
    for name in stale:
        os.remove(os.path.join(args.output, name))
    if stale:
        print(f"removed {', '.join(stale)} of an earlier conversion from {args.output}", file=sys.stderr)
    for split, (docs, _) in converted.items():
        write_jsonl(docs, os.path.join(args.output, f"{split}.jsonl"))
    if kept:
        kept_names = ", ".join(kept)
        print(f"kept {kept_names} of an earlier conversion in {args.output}; labels.json covers them", file=sys.stderr)
    # labels.json describes every split the folder holds (train.py takes the label inventory from it), and a DocRED
    # corpus's declared relations (its rel_info), as train.py lists them reading the corpus itself.
    labels = labels_for({**kept, **converted})
    declared = declared_types(args.format, args.input, args.rel_info)  # (brat's annotation.conf, DocRED's rel_info)
    write_labels(
        args.output,
        sorted(set(labels["entity_types"]) | set(declared["entity_types"])),
        sorted(set(labels["relation_types"]) | set(declared["relation_types"])),
    )
    os.remove(marker)
    for _, stats in converted.values():  # after the files: a reader that stops early (| head -1) cuts no conversion
        print(stats_line(stats), flush=True)
    return 0
