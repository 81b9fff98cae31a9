# coding=utf-8
"""Strict micro-F1 for document-level joint entity and relation extraction (JEREX JointEvaluator semantics).

Self-contained `evaluate` metric script: it imports only `evaluate`, `datasets` and the standard library, so
that `evaluate.load("metrics/joint_re_f1")` can copy and run it on its own.
"""

import inspect
import json
import math
import os
import warnings
from collections import Counter

import datasets
import evaluate

_CITATION = """\
@inproceedings{eberts-ulges-2021-end,
    title = "An End-to-end Model for Entity-level Relation Extraction using Multi-instance Learning",
    author = "Eberts, Markus and Ulges, Adrian",
    booktitle = "Proceedings of the 16th Conference of the European Chapter of the Association for Computational
                 Linguistics: Main Volume",
    year = "2021",
    publisher = "Association for Computational Linguistics",
    pages = "3650--3660",
}
@inproceedings{kosciukiewicz-etal-2023-similarity,
    title = "Similarity-based Memory Enhanced Joint Entity and Relation Extraction",
    author = "Ko{\\'s}ciukiewicz, Witold and W{\\'o}jcik, Mateusz and Kajdanowicz, Tomasz and Gonczarek, Adam",
    booktitle = "Computational Science -- ICCS 2023",
    year = "2023",
    publisher = "Springer",
    eprint = "2307.11762",
    archivePrefix = "arXiv",
}
"""

_DESCRIPTION = """\
Strict micro precision, recall and F1 (in percent) for end-to-end document-level joint entity and relation
extraction, with the semantics of JEREX's JointEvaluator (also used by the similarity-based memory model).
Per document, gold and predicted annotations are turned into de-duplicated sets of tuples and compared exactly;
TP/FP/FN are summed over the whole corpus (micro average). Five strict levels:
mention (span), coref (cluster = set of spans), entity (cluster, type),
relation (head cluster, tail cluster, relation type) and
relation_strict ((head cluster, head type), (tail cluster, tail type), relation type).
A cluster matches only if it contains exactly the same mention spans as a gold cluster; relations are directed.
Two comparable relation levels are reported beside them:
relation_seq2rel (seq2rel's scoring: an entity is its set of distinct lower-cased, whitespace-normalised mention
strings plus its type, and a predicted relation of one such entity with itself is dropped; needs the references'
`text`) and relation_relaxed (an argument matches a gold entity when its cluster holds at
least one mention of that entity and every gold mention it holds is one of that entity's; a span that several gold
entities share lets it stand for each). Both treat the relation types named in `undirected_relation_types` as
unordered pairs.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `dict` or `str`): predicted documents, as dicts or JSON strings of dicts.
    references (`list` of `dict` or `str`): gold documents, same format. Documents are matched by `id`
        (not by position); both lists must hold exactly the same set of ids, each once.
    A document is {"id": str (an integer id is read as its decimal string), "entities": [{"type": str,
    "mentions": [{"start": int, "end": int}, ...]}, ...],
    "relations": [{"head": int, "tail": int, "type": str}, ...]}; head/tail index into `entities`, offsets are
    character offsets (end exclusive). `text` (str) is read only by relation_seq2rel (a prediction without it
    uses its reference's text); any other field (sentences, words, score, ids, ...) is ignored.
    undirected_relation_types (`list` of `str`, optional): relation types scored as unordered pairs by
        relation_seq2rel and relation_relaxed (for example ["CID"] on BC5CDR, as seq2rel does). The strict
        levels always keep the direction.
Returns:
    `{level}_precision`, `{level}_recall`, `{level}_f1` (float, percent) for level in mention, coref, entity,
        relation, relation_strict, relation_relaxed, and relation_seq2rel when every reference has a text;
    `per_type` (dict): {"entity" | "relation" | "relation_strict" | "relation_relaxed" | "relation_seq2rel":
        {type: {"precision", "recall", "f1", "support"}}}, where type is the entity type (entity) or the
        relation type (relation levels) and support is the number of gold tuples of that type;
    `documents` (int): number of documents scored.
Raises:
    ValueError: different id sets, duplicate ids, or a malformed document (the message names the document id
        and the offending field path).
Examples:
    >>> import evaluate
    >>> metric = evaluate.load("metrics/joint_re_f1")  # doctest: +SKIP
    >>> gold = {"id": "d1", "text": "Aspirin causes ulcers.",
    ...         "entities": [{"type": "Chemical", "mentions": [{"start": 0, "end": 7}]},
    ...                      {"type": "Disease", "mentions": [{"start": 15, "end": 21}]}],
    ...         "relations": [{"head": 0, "tail": 1, "type": "CID"}]}
    >>> results = metric.compute(predictions=[gold], references=[gold])  # doctest: +SKIP
    >>> results["relation_strict_f1"]  # doctest: +SKIP
    100.0
"""

# The JEREX levels (relation_strict is the headline); the comparable levels are reported beside them.
LEVELS = ("mention", "coref", "entity", "relation", "relation_strict")
COMPARABLE_LEVELS = ("relation_relaxed", "relation_seq2rel")
ALL_LEVELS = LEVELS + COMPARABLE_LEVELS
TYPED_LEVELS = ("entity", "relation", "relation_strict") + COMPARABLE_LEVELS
_SIDES = {"predictions": "prediction", "references": "reference"}
_ERROR_KEY = "__joint_re_f1_error__"


def _json_default(value):
    """json.dumps fallback for numpy/torch scalars and arrays (duck-typed, no imports)."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _serialize(document, side, position):
    """A document (dict or JSON string) as a JSON string with ASCII escapes, so that it fits one arrow string column
    (a lone surrogate, which JSON allows in a text, cannot be encoded as UTF-8 unescaped)."""
    if isinstance(document, str):
        try:
            return json.dumps(json.loads(document))
        except ValueError:
            return document  # named when the documents are parsed
    if isinstance(document, dict):
        try:
            return json.dumps(document, default=_json_default)
        except (TypeError, ValueError) as error:
            raise ValueError(f"{side}[{position}]: document is not JSON-serialisable: {error}") from None
    raise ValueError(f"{side}[{position}]: a document must be a dict or a JSON string, got {type(document).__name__}")


def _serialize_column(documents, side):
    if documents is None:
        return None
    if isinstance(documents, (str, dict)):
        raise ValueError(f"{side} must be a list of documents, got a single {type(documents).__name__}")
    return [_serialize(document, side, position) for position, document in enumerate(documents)]


def _as_list(documents):
    """A column as a list: the pipeline's output for a generator or a dataset is a lazy iterator."""
    if documents is None or isinstance(documents, (str, dict, list, tuple)):
        return documents
    if hasattr(documents, "columns") and hasattr(documents, "iterrows"):  # iterating a DataFrame gives its labels
        raise ValueError("got a DataFrame: pass its documents as a list, e.g. df.to_dict('records')")
    try:
        return list(documents)
    except TypeError:
        raise ValueError(f"expected a list of documents, got {type(documents).__name__}") from None


def _check_paired(predictions, references, names=("predictions", "references")):
    """Both columns or neither, of one length: evaluate drops a batch whose first column is empty, references
    included, and fails deep inside when one column is None."""
    if (predictions is None) != (references is None):
        missing = names[0] if predictions is None else names[1]
        raise ValueError(f"{missing} is missing: give {names[0]} and {names[1]} together (one document each)")
    if predictions is not None and not isinstance(predictions, (str, dict)) and not isinstance(references, (str, dict)):
        if len(predictions) != len(references):
            predicted_ids, gold_ids = _ids_of(predictions), _ids_of(references)
            repeated = sorted(
                {
                    f"{doc_id} ({side})"
                    for ids, side in ((predicted_ids, names[0]), (gold_ids, names[1]))
                    for doc_id, n in ids.items()
                    if n > 1
                }
            )
            raise ValueError(
                f"predictions and references must hold the same documents: {len(predictions)} predictions, "
                f"{len(references)} references; missing from predictions: "
                f"{sorted(set(gold_ids) - set(predicted_ids))}; not in references: "
                f"{sorted(set(predicted_ids) - set(gold_ids))}" + (f"; repeated ids: {repeated}" if repeated else "")
            )


def _ids_of(documents) -> Counter:
    """How often each readable id occurs in `documents` (for a message; a malformed document is named later)."""
    ids = Counter()
    for document in documents:
        if isinstance(document, str):
            try:
                document = json.loads(document)
            except ValueError:
                continue
        if isinstance(document, dict) and isinstance(document.get("id"), (str, int)):
            ids[str(document["id"])] += 1
    return ids


class _Malformed(ValueError):
    pass


def _require(container, key, path):
    if not isinstance(container, dict):
        raise _Malformed(f"{path or 'document'} must be an object, got {type(container).__name__}")
    if key not in container:
        raise _Malformed(f"{path + '.' if path else ''}{key} is missing")
    return container[key]


def _require_list(container, key, path):
    value = _require(container, key, path)
    if not isinstance(value, list):
        raise _Malformed(f"{path + '.' if path else ''}{key} must be a list, got {type(value).__name__}")
    return value


def _require_int(container, key, path):
    value = _require(container, key, path)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Malformed(f"{path}.{key} must be an int, got {value!r}")
    return value


def _require_str(container, key, path):
    value = _require(container, key, path)
    if not isinstance(value, str):
        raise _Malformed(f"{path}.{key} must be a string, got {value!r}")
    return value


def _document_tuples(document):
    """The five strict tuple sets of one parsed document, plus what the comparable levels need.

    Raises _Malformed with a field path. The extra keys are "clusters", "entity_types" and "relation_list"
    (the document's relations as (head index, tail index, type)).
    """
    clusters = []
    entity_types = []
    for entity_index, entity in enumerate(_require_list(document, "entities", "")):
        path = f"entities[{entity_index}]"
        entity_type = _require_str(entity, "type", path)
        mentions = _require_list(entity, "mentions", path)
        if not mentions:
            raise _Malformed(f"{path}.mentions is empty (an entity needs at least one mention)")
        spans = []
        for mention_index, mention in enumerate(mentions):
            mention_path = f"{path}.mentions[{mention_index}]"
            start = _require_int(mention, "start", mention_path)
            end = _require_int(mention, "end", mention_path)
            if start < 0 or end <= start:
                raise _Malformed(f"{mention_path} has an invalid span: start={start}, end={end}")
            spans.append((start, end))
        clusters.append(frozenset(spans))
        entity_types.append(entity_type)

    relations = set()
    strict_relations = set()
    relation_list = []
    for relation_index, relation in enumerate(_require_list(document, "relations", "")):
        path = f"relations[{relation_index}]"
        relation_type = _require_str(relation, "type", path)
        arguments = []
        for role in ("head", "tail"):
            index = _require_int(relation, role, path)
            if not 0 <= index < len(clusters):
                raise _Malformed(f"{path}.{role} = {index} is out of range (document has {len(clusters)} entities)")
            arguments.append(index)
        head, tail = arguments
        relation_list.append((head, tail, relation_type))
        relations.add((clusters[head], clusters[tail], relation_type))
        strict_relations.add(
            ((clusters[head], entity_types[head]), (clusters[tail], entity_types[tail]), relation_type)
        )

    return {
        "mention": {span for cluster in clusters for span in cluster},
        "coref": set(clusters),
        "entity": set(zip(clusters, entity_types)),
        "relation": relations,
        "relation_strict": strict_relations,
        "clusters": clusters,
        "entity_types": entity_types,
        "relation_list": relation_list,
    }


def _canonical(value):
    """A hash-independent, comparable form of an argument: sets become sorted tuples (a frozenset's repr follows
    its hashes, which change with PYTHONHASHSEED for strings)."""
    if isinstance(value, (set, frozenset)):
        return tuple(sorted(_canonical(item) for item in value))
    if isinstance(value, tuple):
        return tuple(_canonical(item) for item in value)
    return value


def _ordered(head, tail, relation_type, undirected):
    """(head, tail, type), with the two arguments in a canonical order when the type is undirected."""
    if relation_type in undirected and _canonical(tail) < _canonical(head):
        head, tail = tail, head
    return head, tail, relation_type


def _undirected_types(value) -> frozenset:
    """`undirected_relation_types` as a set of type names; a bare string would otherwise become its characters."""
    if value is None:
        return frozenset()
    if isinstance(value, str):
        raise ValueError(
            f"undirected_relation_types must be a list of relation type names (e.g. [{value!r}]), got {value!r}"
        )
    try:
        names = list(value)
    except TypeError:
        names = None
    if names is None or not all(isinstance(name, str) for name in names):
        raise ValueError(f"undirected_relation_types must be a list of relation type names, got {value!r}")
    return frozenset(names)


def _warn_about_relation_types(undirected, predicted, gold):
    """Warn where the relation type names cannot be what was meant: an undirected type that no relation carries (a
    misspelling, ["cid"] for "CID", scores as if none were given), and predictions and references whose types share no
    name (DocRED's ids "P17" against their names "country", from a conversion without the names: every relation level
    scores 0)."""
    predicted_types, gold_types = (
        {relation_type for tuples in side.values() for *_, relation_type in tuples["relation_list"]}
        for side in (predicted, gold)
    )
    seen = predicted_types | gold_types
    unused = sorted(undirected - seen)
    if unused and seen:
        warnings.warn(
            f"undirected_relation_types {unused} name no relation type of the predictions or references "
            f"(their types: {sorted(seen)}); check the spelling",
            stacklevel=3,
        )
    if predicted_types and gold_types and not predicted_types & gold_types:
        warnings.warn(
            f"predictions and references share no relation type (predicted e.g. {sorted(predicted_types)[:3]}, gold "
            f"e.g. {sorted(gold_types)[:3]}): every relation level scores 0; were both converted with the same type "
            "names?",
            stacklevel=3,
        )


def _seq2rel_string(text, start, end):
    """A mention as seq2rel compares it: lower-cased, with runs of whitespace as one space and none at either end."""
    return " ".join(text[start:end].split()).lower()


def _seq2rel_entities(tuples, text):
    """seq2rel's entities: (frozenset of normalised mention strings, entity type) per entity."""
    return [
        (frozenset(_seq2rel_string(text, start, end) for start, end in cluster), entity_type)
        for cluster, entity_type in zip(tuples["clusters"], tuples["entity_types"])
    ]


def _seq2rel_mapped(tuples, text, undirected, predicted):
    """seq2rel's relation tuple of each relation of `tuples` in order, each argument (frozenset of normalised mention
    strings, entity type). On the predicted side (`predicted`), a relation whose two arguments are one seq2rel entity
    maps to None: seq2rel's CDR and DocRED scoring removes duplicate entities from a predicted relation and drops a
    relation left with one (`remove_duplicate_ents`); gold relations are kept as they are."""
    entities = _seq2rel_entities(tuples, text)
    return [
        None
        if predicted and entities[head] == entities[tail]
        else _ordered(entities[head], entities[tail], kind, undirected)
        for head, tail, kind in tuples["relation_list"]
    ]


def _seq2rel_relations(tuples, text, undirected, predicted):
    """The set of seq2rel relation tuples of a document (see `_seq2rel_mapped`)."""
    return {item for item in _seq2rel_mapped(tuples, text, undirected, predicted) if item is not None}


def _maximum_matching(options):
    """{gold key: index of the predicted relation matched to it}, a maximum matching of predictions to the keys each
    may take (`options[index]`), by Kuhn's augmenting paths searched with an explicit stack (a recursive search
    exceeds Python's recursion limit on a path over about a thousand relations)."""
    match = {}
    # A key that one search could not free stays unfree until the matching changes, so `seen` is kept across roots
    # and cleared only after an augmenting path (without it, a saturated matching is searched again for every root).
    seen = set()
    for root in range(len(options)):
        # Each frame: (prediction index, iterator over its keys, the key that led here); a free key ends the path.
        stack = [(root, iter(options[root]), None)]
        while stack:
            index, keys, _ = stack[-1]
            key = next((key for key in keys if key not in seen), None)
            if key is None:
                stack.pop()
                continue
            seen.add(key)
            if key in match:
                stack.append((match[key], iter(options[match[key]]), key))
                continue
            # Flip the path: each prediction on the stack takes the key that led to the one above it.
            taken = key
            for frame_index, _, reached_by in reversed(stack):
                match[taken] = frame_index
                taken = reached_by
            seen = set()
            break
    return match


def _relaxed_counts(predicted, gold, undirected):
    """(tp, fp, fn) Counters by relation type for relation_relaxed in one document.

    A gold entity is its cluster (so duplicated gold entities are one). A predicted cluster stands for gold entity g
    when it holds at least one mention span of g and every gold mention span it holds is a mention of g; a span that
    several gold entities share (a composite mention) lets the cluster stand for each of them. A predicted relation
    may match a gold relation (g_head, g_tail, type) when its arguments stand for g_head and g_tail; predicted and
    gold relations are then matched one to one (a maximum matching), so a second prediction for one gold relation (a
    split cluster) is a false positive.
    """
    owners = {}
    for cluster in gold["clusters"]:
        for span in cluster:
            owners.setdefault(span, set()).add(cluster)

    def stands_for(cluster):
        candidates = None
        for span in cluster:
            if span in owners:
                candidates = set(owners[span]) if candidates is None else candidates & owners[span]
        return candidates or set()

    gold_keys = {_ordered(gold["clusters"][h], gold["clusters"][t], r, undirected) for h, t, r in gold["relation_list"]}
    # Undirected types fold both directions into one prediction, as the gold keys are folded: A-B and B-A are one.
    predicted_relations = {
        _ordered(predicted["clusters"][h], predicted["clusters"][t], r, undirected)
        for h, t, r in predicted["relation_list"]
    }
    # Each predicted relation's possible gold keys, in a hash-independent order so the matching is reproducible.
    options = []
    for head_cluster, tail_cluster, relation_type in sorted(predicted_relations, key=_canonical):
        heads, tails = stands_for(head_cluster), stands_for(tail_cluster)
        keys = {_ordered(h, t, relation_type, undirected) for h in heads for t in tails} & gold_keys
        options.append((relation_type, sorted(keys, key=_canonical)))
    match = _maximum_matching([keys for _, keys in options])
    matched_predictions = set(match.values())
    tp, fp, fn = Counter(), Counter(), Counter()
    for index, (relation_type, _) in enumerate(options):
        (tp if index in matched_predictions else fp)[relation_type] += 1
    for key in gold_keys - set(match):
        fn[key[2]] += 1
    return tp, fp, fn


def _parse_side(raw_documents, side):
    """{id: tuple sets} for one side; raises ValueError for bad JSON, malformed documents and duplicate ids."""
    if isinstance(raw_documents, (str, dict)):  # iterated, a dict gave its keys: "predictions[0]: not valid JSON"
        raise ValueError(f"{side} must be a list of documents, got a single {type(raw_documents).__name__}")
    parsed = {}
    duplicates = []
    for position, raw in enumerate(raw_documents):
        try:
            document = json.loads(raw) if isinstance(raw, str) else raw
        except (json.JSONDecodeError, RecursionError) as error:
            raise ValueError(f"{side}[{position}]: not valid JSON: {error}") from None
        if not isinstance(document, dict):
            raise ValueError(f"{side}[{position}]: a document must be a JSON object, got {type(document).__name__}")
        if "id" not in document:
            raise ValueError(f"{side}[{position}]: document field 'id' is missing")
        doc_id = document["id"]
        if isinstance(doc_id, bool) or not isinstance(doc_id, (str, int)):
            raise ValueError(
                f"{side}[{position}]: document field 'id' must be a string (or an integer), got {doc_id!r}"
            )
        doc_id = str(doc_id)
        try:
            tuples = _document_tuples(document)
        except _Malformed as error:
            raise ValueError(f"{_SIDES[side]} document {doc_id!r} ({side}[{position}]): {error}") from None
        text = document.get("text")
        if text is not None and not isinstance(text, str):
            raise ValueError(f"{_SIDES[side]} document {doc_id!r} ({side}[{position}]): text must be a string")
        tuples["text"] = text
        tuples["where"] = f"{_SIDES[side]} document {doc_id!r} ({side}[{position}])"
        if doc_id in parsed:
            duplicates.append(doc_id)
        parsed[doc_id] = tuples
    if duplicates:
        raise ValueError(f"duplicate document id(s) in {side}: {sorted(set(duplicates))}")
    return parsed


def _prf(tp, fp, fn):
    precision = 100.0 * tp / (tp + fp) if tp + fp else 0.0
    recall = 100.0 * tp / (tp + fn) if tp + fn else 0.0
    f1 = 200.0 * tp / (2 * tp + fp + fn) if tp else 0.0
    return precision, recall, f1


def _tuple_type(item):
    # entity: (cluster, type); relation: (head, tail, type); relation_strict: ((h, ht), (t, tt), type)
    return item[-1]


def _check_text_covers(tuples, text):
    for cluster in tuples["clusters"]:
        for start, end in cluster:
            if end > len(text):
                raise ValueError(
                    f"{tuples['where']}: mention ({start}, {end}) ends past the text ({len(text)} characters)"
                )


def _excerpt(text, start):
    """20 characters of `text` from `start`, with non-ASCII characters escaped: composed "é" and "e" + U+0301 print
    alike otherwise."""
    return ascii(text[start : start + 20])


def _check_same_text(predicted_tuples, gold_tuples):
    """Offsets into two different texts cannot be compared: a prediction made on a stripped or re-joined text would
    score 0 at the strict levels, one made on another text with the same offsets 100."""
    predicted_text, gold_text = predicted_tuples["text"], gold_tuples["text"]
    if predicted_text is None or gold_text is None or predicted_text == gold_text:
        return
    common = len(os.path.commonprefix([predicted_text, gold_text]))
    raise ValueError(
        f"{predicted_tuples['where']}: its text differs from the reference's from character {common} on "
        f"({_excerpt(predicted_text, common)} against {_excerpt(gold_text, common)}), so their offsets do "
        "not index the same text; predict on the reference's text (or leave the prediction's text out)"
    )


def joint_re_scores(predictions, references, undirected_relation_types=None):
    """Pure-Python scoring on lists of documents (dicts or JSON strings); see the metric's docstring."""
    undirected = _undirected_types(undirected_relation_types)
    predicted = _parse_side(predictions, "predictions")
    gold = _parse_side(references, "references")
    _warn_about_relation_types(undirected, predicted, gold)
    if set(predicted) != set(gold):
        missing = sorted(set(gold) - set(predicted))
        extra = sorted(set(predicted) - set(gold))
        raise ValueError(
            "predictions and references must cover the same document ids; "
            f"missing from predictions: {missing}; not in references: {extra}"
        )

    totals = {level: Counter() for level in ALL_LEVELS}
    by_type = {level: {"tp": Counter(), "fp": Counter(), "fn": Counter()} for level in TYPED_LEVELS}
    # seq2rel matches mention strings, so it needs every document's text (a prediction may borrow its reference's).
    with_text = all(gold_tuples["text"] is not None for gold_tuples in gold.values())
    for doc_id, gold_tuples in gold.items():
        predicted_tuples = predicted[doc_id]
        _check_same_text(predicted_tuples, gold_tuples)
        if with_text:
            gold_text = gold_tuples["text"]
            predicted_text = predicted_tuples["text"] if predicted_tuples["text"] is not None else gold_text
            _check_text_covers(gold_tuples, gold_text)
            _check_text_covers(predicted_tuples, predicted_text)
            gold_tuples["relation_seq2rel"] = _seq2rel_relations(gold_tuples, gold_text, undirected, predicted=False)
            predicted_tuples["relation_seq2rel"] = _seq2rel_relations(
                predicted_tuples, predicted_text, undirected, predicted=True
            )
        for level in LEVELS + (("relation_seq2rel",) if with_text else ()):
            gold_set, predicted_set = gold_tuples[level], predicted_tuples[level]
            outcome = {
                "tp": gold_set & predicted_set,
                "fp": predicted_set - gold_set,
                "fn": gold_set - predicted_set,
            }
            for key, items in outcome.items():
                totals[level][key] += len(items)
                if level in by_type:
                    by_type[level][key].update(_tuple_type(item) for item in items)
        for key, counts in zip(("tp", "fp", "fn"), _relaxed_counts(predicted_tuples, gold_tuples, undirected)):
            totals["relation_relaxed"][key] += sum(counts.values())
            by_type["relation_relaxed"][key].update(counts)

    if not with_text:
        del by_type["relation_seq2rel"]
    results = {}
    for level in ALL_LEVELS if with_text else LEVELS + ("relation_relaxed",):
        precision, recall, f1 = _prf(totals[level]["tp"], totals[level]["fp"], totals[level]["fn"])
        results[f"{level}_precision"] = precision
        results[f"{level}_recall"] = recall
        results[f"{level}_f1"] = f1

    per_type = {}
    for level, counts in by_type.items():
        types = sorted(set(counts["tp"]) | set(counts["fp"]) | set(counts["fn"]))
        per_type[level] = {}
        for type_name in types:
            tp, fp, fn = counts["tp"][type_name], counts["fp"][type_name], counts["fn"][type_name]
            precision, recall, f1 = _prf(tp, fp, fn)
            per_type[level][type_name] = {"precision": precision, "recall": recall, "f1": f1, "support": tp + fn}
    results["per_type"] = per_type
    results["documents"] = len(gold)
    return results


# Levels whose predicted tuples are a set with one tuple per relation, so that raising a relation threshold only
# removes tuples: their counts at every threshold follow from one parse (relation_relaxed counts mentions instead).
THRESHOLD_SWEEP_LEVELS = ("relation", "relation_strict", "relation_seq2rel")


def relation_counts_by_threshold(
    predictions, references, thresholds, level="relation_strict", undirected_relation_types=None
):
    """(tp, fp, fn) of one relation level at each relation threshold, where the predictions at threshold t keep only
    their relations with `score >= t`: the counts that `joint_re_scores` gives on each filtered copy, from one parse.

    A predicted tuple counts at t when the best score among the relations that map to it reaches t. Every relation of
    `predictions` needs a numeric "score".
    """
    if level not in THRESHOLD_SWEEP_LEVELS:
        raise ValueError(f"level must be one of {THRESHOLD_SWEEP_LEVELS}, got {level!r}")
    undirected = _undirected_types(undirected_relation_types)
    predictions, references = list(predictions), list(references)  # read twice below: a generator only once
    predicted = _parse_side(predictions, "predictions")
    gold = _parse_side(references, "references")
    if set(predicted) != set(gold):
        raise ValueError("predictions and references must cover the same document ids")
    raw_scores = {}
    for position, document in enumerate(predictions):
        document = json.loads(document) if isinstance(document, str) else document
        doc_id = str(document["id"])
        scores = []
        for index, relation in enumerate(document.get("relations") or ()):
            score = relation.get("score")
            if isinstance(score, bool) or not isinstance(score, (int, float)) or not math.isfinite(score):
                raise ValueError(
                    f"{predicted[doc_id]['where']}: relations[{index}].score must be a finite number, got {score!r}"
                )
            scores.append(float(score))
        raw_scores[doc_id] = scores
    best_scores, gold_total = [], 0
    for doc_id, gold_tuples in gold.items():
        predicted_tuples = predicted[doc_id]
        _check_same_text(predicted_tuples, gold_tuples)
        if level == "relation_seq2rel":
            gold_text = gold_tuples["text"]
            if gold_text is None:
                raise ValueError(f"{gold_tuples['where']}: relation_seq2rel needs the document text")
            text = predicted_tuples["text"] if predicted_tuples["text"] is not None else gold_text
            _check_text_covers(gold_tuples, gold_text)
            _check_text_covers(predicted_tuples, text)
            gold_set = _seq2rel_relations(gold_tuples, gold_text, undirected, predicted=False)
            mapped = _seq2rel_mapped(predicted_tuples, text, undirected, predicted=True)
        else:
            gold_set = gold_tuples[level]
            clusters, types = predicted_tuples["clusters"], predicted_tuples["entity_types"]
            mapped = [
                (clusters[h], clusters[t], kind)
                if level == "relation"
                else ((clusters[h], types[h]), (clusters[t], types[t]), kind)
                for h, t, kind in predicted_tuples["relation_list"]
            ]
        best = {}
        for item, score in zip(mapped, raw_scores[doc_id]):
            if item is not None:  # a seq2rel relation of one entity with itself, which seq2rel drops
                best[item] = max(score, best.get(item, float("-inf")))
        best_scores.extend((score, item in gold_set) for item, score in best.items())
        gold_total += len(gold_set)
    counts = []
    for threshold in thresholds:
        kept = [hit for score, hit in best_scores if score >= threshold]
        tp = sum(kept)
        counts.append((tp, len(kept) - tp, gold_total - tp))
    return counts


# What `evaluate.EvaluationModule.__init__` takes (`evaluate.load` passes its own and the caller's extra arguments).
_MODULE_ARGUMENTS = frozenset(
    name
    for name, parameter in inspect.signature(evaluate.EvaluationModule.__init__).parameters.items()
    if name != "self" and parameter.kind not in (parameter.VAR_KEYWORD, parameter.VAR_POSITIONAL)
)


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class JointReF1(evaluate.Metric):
    """Strict (JEREX) micro P/R/F1 for mention, coref, entity, relation and relation_strict, plus the comparable
    relation_relaxed and relation_seq2rel levels."""

    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            # Documents are nested dicts with optional fields, which arrow cannot type: each one travels as
            # a JSON string and is decoded again in `_compute`.
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Value("string")}
            ),
            codebase_urls=["https://github.com/lavis-nlp/jerex"],
            reference_urls=["https://arxiv.org/abs/2102.05980", "https://arxiv.org/abs/2307.11762"],
        )

    def __init__(self, *args, undirected_relation_types=None, **kwargs):
        """`undirected_relation_types` (see the metric's description) set once, for example at
        `evaluate.load(..., undirected_relation_types=["CID"])` or inside `evaluate.combine`, whose `compute` hands its
        arguments to every metric; a `compute` argument of the same name overrides it. Any other argument is
        `evaluate.EvaluationModule`'s (which would otherwise take a misspelt one silently)."""
        unknown = sorted(set(kwargs) - _MODULE_ARGUMENTS)
        if unknown:
            raise ValueError(
                f"joint_re_f1 got unknown argument(s) {unknown}; it takes undirected_relation_types and evaluate's "
                f"own {sorted(_MODULE_ARGUMENTS)}"
            )
        super().__init__(*args, **kwargs)
        self.undirected_relation_types = sorted(_undirected_types(undirected_relation_types))

    def add_batch(self, *, predictions=None, references=None, **kwargs):
        """Add a batch of predicted and gold documents (dicts or JSON strings)."""
        predictions, references = _as_list(predictions), _as_list(references)
        _check_paired(predictions, references)
        super().add_batch(
            predictions=_serialize_column(predictions, "predictions"),
            references=_serialize_column(references, "references"),
            **kwargs,
        )

    def add(self, *, prediction=None, reference=None, **kwargs):
        """Add one predicted and one gold document (dict or JSON string)."""
        if "predictions" in kwargs or "references" in kwargs:  # the names `evaluate.combine(...).add` passes on
            if prediction is not None or reference is not None:
                raise ValueError("give prediction= and reference= (or predictions= and references=), not both")
            prediction, reference = kwargs.pop("predictions", None), kwargs.pop("references", None)
        _check_paired(prediction, reference, names=("prediction", "reference"))
        super().add(
            prediction=None if prediction is None else _serialize(prediction, "prediction", 0),
            reference=None if reference is None else _serialize(reference, "reference", 0),
            **kwargs,
        )

    def compute(self, *, predictions=None, references=None, **kwargs):
        """Score all added documents (plus `predictions`/`references` given here, dicts or JSON strings)."""
        # Checked before evaluate starts: an error inside its compute leaves its cache file and lock behind.
        unknown = sorted(set(kwargs) - {"undirected_relation_types"})
        if unknown:
            raise ValueError(
                f"joint_re_f1.compute got unknown argument(s) {unknown}; it takes predictions, references and "
                "undirected_relation_types"
            )
        _undirected_types(kwargs.get("undirected_relation_types"))
        predictions, references = _as_list(predictions), _as_list(references)
        _check_paired(predictions, references)
        results = super().compute(
            predictions=_serialize_column(predictions, "predictions"),
            references=_serialize_column(references, "references"),
            **kwargs,
        )
        # Invalid input is detected in `_compute`; raising there would skip evaluate's clean-up (its cache file
        # and lock would stay behind, and the next instance would wait a second for the lock). `_compute`
        # therefore hands the error back and it is raised here, after evaluate has released everything.
        if isinstance(results, dict) and isinstance(results.get(_ERROR_KEY), ValueError):
            raise results[_ERROR_KEY]
        return results

    def _compute(self, predictions, references, undirected_relation_types=None):
        if undirected_relation_types is None:
            undirected_relation_types = getattr(self, "undirected_relation_types", None)
        try:
            return joint_re_scores(predictions, references, undirected_relation_types=undirected_relation_types)
        except ValueError as error:
            return {_ERROR_KEY: error}
