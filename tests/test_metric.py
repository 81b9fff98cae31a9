"""Tests for the strict joint-extraction metric `metrics/joint_re_f1` (JEREX JointEvaluator semantics)."""

import copy
import json
from pathlib import Path

import pytest

from simmemre.metrics.joint_re_f1.joint_re_f1 import JointReF1

REPO_ROOT = Path(__file__).resolve().parents[1]
METRIC_DIR = REPO_ROOT / "metrics" / "joint_re_f1"
BC5CDR_TEST = REPO_ROOT.parent / "shared" / "data" / "bc5cdr" / "CDR_TestSet.PubTator.txt"

LEVELS = ("mention", "coref", "entity", "relation", "relation_strict")
FLAT_KEYS = [f"{level}_{score}" for level in LEVELS for score in ("precision", "recall", "f1")]


def _mentions(*spans):
    return [{"start": start, "end": end} for start, end in spans]


# "Aspirin (ASA) causes ulcers; high-dose aspirin and headache ..." -- only the offsets matter here.
GOLD = [
    {
        "id": "doc-a",
        "entities": [
            {"type": "Chemical", "mentions": _mentions((0, 7), (9, 12))},
            {"type": "Disease", "mentions": _mentions((21, 27))},
            {"type": "Disease", "mentions": _mentions((40, 48))},
        ],
        "relations": [{"head": 0, "tail": 1, "type": "CID"}, {"head": 0, "tail": 2, "type": "CID"}],
    },
    {
        "id": "doc-b",
        "entities": [
            {"type": "Chemical", "mentions": _mentions((0, 5))},
            {"type": "Disease", "mentions": _mentions((10, 15), (30, 35))},
        ],
        "relations": [{"head": 0, "tail": 1, "type": "CID"}],
    },
]


def score(predictions, references=GOLD):
    return JointReF1().compute(predictions=predictions, references=references)


def assert_levels(results, expected_f1):
    assert {level: results[f"{level}_f1"] for level in LEVELS} == pytest.approx(expected_f1)


def gold_copy():
    return copy.deepcopy(GOLD)


def test_gold_against_gold_scores_100_everywhere():
    results = score(gold_copy())
    assert all(results[key] == 100.0 for key in FLAT_KEYS)
    assert results["documents"] == 2
    assert results["per_type"]["entity"]["Disease"] == {"precision": 100.0, "recall": 100.0, "f1": 100.0, "support": 3}
    assert results["per_type"]["relation_strict"]["CID"]["support"] == 3


def test_gold_against_gold_on_bc5cdr_test_set():
    try:
        from simmemre.data_simmemre import read_pubtator
    except ImportError as error:
        pytest.skip(
            f"simmemre.data_simmemre.read_pubtator is not available yet ({error}); "
            "the hand-made corpus test covers gold-vs-gold meanwhile"
        )
    if not BC5CDR_TEST.exists():
        pytest.skip(f"BC5CDR test file not found at {BC5CDR_TEST}")
    loaded = read_pubtator(BC5CDR_TEST)
    # read_pubtator returns (documents, stats); tolerate a plain list of documents too.
    documents = list(loaded[0] if isinstance(loaded, tuple) else loaded)
    assert len(documents) == 500
    results = score(documents, references=copy.deepcopy(documents))
    assert all(results[key] == 100.0 for key in FLAT_KEYS)
    assert results["documents"] == 500


def test_cluster_missing_a_mention_fails_every_level_but_mention():
    predictions = gold_copy()
    # (9, 12) leaves the aspirin cluster and is predicted as an entity of its own: same mentions, split cluster.
    predictions[0]["entities"][0]["mentions"] = _mentions((0, 7))
    predictions[0]["entities"].append({"type": "Chemical", "mentions": _mentions((9, 12))})
    results = score(predictions)
    # coref/entity: TP 4, FP 2 ({0-7}, {9-12}), FN 1 -> F1 8/11; relations: TP 1 (doc-b), FP 2, FN 2 -> 1/3.
    assert_levels(
        results,
        {"mention": 100.0, "coref": 800 / 11, "entity": 800 / 11, "relation": 100 / 3, "relation_strict": 100 / 3},
    )


def test_wrong_entity_type_fails_only_entity_and_relation_strict():
    predictions = gold_copy()
    predictions[0]["entities"][2]["type"] = "Chemical"
    results = score(predictions)
    assert_levels(
        results, {"mention": 100.0, "coref": 100.0, "entity": 80.0, "relation": 100.0, "relation_strict": 200 / 3}
    )


def test_reversed_relation_direction_fails_both_relation_levels():
    predictions = gold_copy()
    predictions[0]["relations"][0] = {"head": 1, "tail": 0, "type": "CID"}
    results = score(predictions)
    assert_levels(
        results, {"mention": 100.0, "coref": 100.0, "entity": 100.0, "relation": 200 / 3, "relation_strict": 200 / 3}
    )


def test_duplicate_predictions_are_counted_once():
    predictions = gold_copy()
    doc = predictions[0]
    doc["entities"][0]["mentions"].append({"start": 0, "end": 7})  # duplicate mention
    doc["entities"].append(copy.deepcopy(doc["entities"][1]))  # duplicate entity (index 3)
    wrong = {"head": 2, "tail": 1, "type": "CID"}
    doc["relations"] += [{"head": 0, "tail": 3, "type": "CID"}, wrong, dict(wrong)]  # dup of a TP, FP twice
    results = score(predictions)
    assert_levels(
        results,
        {
            "mention": 100.0,
            "coref": 100.0,
            "entity": 100.0,
            "relation": 2 * 75.0 / 1.75,
            "relation_strict": 2 * 75.0 / 1.75,
        },
    )
    assert results["relation_precision"] == pytest.approx(75.0)  # 3 TP, 1 FP (not 2)
    assert results["relation_recall"] == 100.0


def test_extra_fields_do_not_change_the_scores():
    predictions = gold_copy()
    predictions[0]["relations"][0] = {"head": 1, "tail": 0, "type": "CID"}
    decorated = copy.deepcopy(predictions)
    for doc in decorated:
        doc.update(text="x" * 60, words=[[0, 7], [9, 12]], sentences=[[0, 2]], title="t")
        for entity in doc["entities"]:
            entity.update(score=0.93, ids=["D001241"])
            for mention in entity["mentions"]:
                mention.update(score=0.5, text="xyz", sentence=0)
        for relation in doc["relations"]:
            relation.update(score=0.7, evidence=[0])
    assert score(decorated) == score(predictions)


def test_id_mismatch_raises_value_error_naming_the_ids():
    predictions = gold_copy()
    predictions[1]["id"] = "doc-z"
    with pytest.raises(ValueError, match=r"doc-b.*doc-z"):
        score(predictions)


def test_duplicate_id_raises_value_error():
    predictions = gold_copy()
    predictions[1]["id"] = "doc-a"
    with pytest.raises(ValueError, match="duplicate.*doc-a"):
        score(predictions, references=[GOLD[0], dict(GOLD[1], id="doc-a")])


@pytest.mark.parametrize(
    "break_document, path",
    [
        (lambda doc: doc.pop("relations"), r"relations is missing"),
        (lambda doc: doc.pop("entities"), r"entities is missing"),
        (lambda doc: doc["entities"][1].pop("mentions"), r"entities\[1\]\.mentions is missing"),
        (lambda doc: doc["relations"][1].update(tail=3), r"relations\[1\]\.tail"),
        (lambda doc: doc["entities"][0]["mentions"][1].update(start="9"), r"entities\[0\]\.mentions\[1\]\.start"),
        (lambda doc: doc["entities"][2]["mentions"][0].update(end=48.0), r"entities\[2\]\.mentions\[0\]\.end"),
    ],
)
def test_malformed_document_raises_value_error_naming_id_and_field(break_document, path):
    predictions = gold_copy()
    break_document(predictions[0])
    with pytest.raises(ValueError, match=r"'doc-a'.*" + path):
        score(predictions)


@pytest.mark.parametrize("side", ["predictions", "references"])
def test_one_document_in_place_of_a_list_is_named_by_the_pure_python_scoring(side):
    """joint_re_scores (score.py's and the trainer's scoring) iterated the dict's keys: "[0]: not valid JSON"."""
    from simmemre.metrics.joint_re_f1.joint_re_f1 import joint_re_scores

    sides = {"predictions": GOLD, "references": GOLD, side: GOLD[0]}
    with pytest.raises(ValueError, match=f"{side} must be a list of documents, got a single dict"):
        joint_re_scores(**sides)


def test_evaluate_load_and_direct_import_agree():
    import evaluate

    predictions = gold_copy()
    predictions[0]["entities"][2]["type"] = "Chemical"
    predictions[1]["relations"][0] = {"head": 1, "tail": 0, "type": "CID"}
    loaded = evaluate.load(str(METRIC_DIR))
    from_load = loaded.compute(predictions=predictions, references=gold_copy())
    assert from_load == score(predictions)
    assert from_load["entity_f1"] < 100.0


def test_json_strings_and_dicts_give_the_same_scores():
    predictions = gold_copy()
    predictions[0]["relations"].pop()
    as_strings = score([json.dumps(doc) for doc in predictions], references=[json.dumps(doc) for doc in GOLD])
    assert as_strings == score(predictions)


def test_add_batch_accumulates_like_one_compute():
    predictions = gold_copy()
    predictions[1]["entities"][1]["mentions"].pop()
    metric = JointReF1()
    metric.add_batch(predictions=predictions[:1], references=GOLD[:1])
    metric.add(prediction=predictions[1], reference=GOLD[1])
    assert metric.compute() == score(predictions)


def test_counts_are_micro_over_the_corpus():
    def doc(doc_id, spans, relations=()):
        return {
            "id": doc_id,
            "entities": [{"type": "T", "mentions": _mentions(span)} for span in spans],
            "relations": [{"head": h, "tail": t, "type": "R"} for h, t in relations],
        }

    references = [doc("small", [(0, 1)]), doc("large", [(0, 1), (2, 3), (4, 5), (6, 7)], [(0, 1), (2, 3)])]
    predictions = [doc("small", [(0, 1)]), doc("large", [(0, 1), (2, 3), (8, 9), (10, 11)], [(0, 1), (1, 0)])]
    results = score(predictions, references)
    # mentions: small 1 TP; large 2 TP, 2 FP, 2 FN -> micro 3/5 = 60 (the mean of per-document F1 would be 75).
    assert results["mention_precision"] == pytest.approx(60.0)
    assert results["mention_recall"] == pytest.approx(60.0)
    assert results["mention_f1"] == pytest.approx(60.0)
    # relations: small has none; large 1 TP, 1 FP, 1 FN -> 50.
    assert results["relation_strict_f1"] == pytest.approx(50.0)
    assert results["per_type"]["entity"]["T"]["support"] == 5


def test_empty_prediction_scores_zero_without_division_error():
    predictions = [{"id": doc["id"], "entities": [], "relations": []} for doc in GOLD]
    results = score(predictions)
    assert all(results[key] == 0.0 for key in FLAT_KEYS)
    assert results["per_type"]["entity"]["Chemical"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 2}


# Comparable levels. Text: "Puromycin aminonucleoside (PAN) induced nephrosis. PAN caused nephrosis in rats."
COMPARABLE_TEXT = "Puromycin aminonucleoside (PAN) induced nephrosis. PAN caused Nephrosis in rats."
COMPARABLE_GOLD = {
    "id": "doc-c",
    "text": COMPARABLE_TEXT,
    "entities": [
        {"type": "Chemical", "mentions": _mentions((0, 25), (27, 30), (51, 54))},
        {"type": "Disease", "mentions": _mentions((40, 49), (62, 71))},
    ],
    "relations": [{"head": 0, "tail": 1, "type": "CID"}],
}


def comparable_prediction(chemical_spans, disease_spans, head=0, tail=1):
    document = {key: value for key, value in COMPARABLE_GOLD.items() if key != "text"}
    document["entities"] = [
        {"type": "Chemical", "mentions": _mentions(*chemical_spans)},
        {"type": "Disease", "mentions": _mentions(*disease_spans)},
    ]
    document["relations"] = [{"head": head, "tail": tail, "type": "CID"}]
    return document


def score_comparable(prediction, **kwargs):
    return JointReF1().compute(predictions=[prediction], references=[COMPARABLE_GOLD], **kwargs)


def test_relaxed_accepts_a_cluster_missing_a_mention_that_strict_rejects():
    # The chemical cluster misses the second "PAN": strict fails, relaxed (a gold mention, no other entity's) holds.
    results = score_comparable(comparable_prediction([(0, 25), (27, 30)], [(40, 49), (62, 71)]))
    assert results["relation_strict_f1"] == 0.0
    assert results["relation_relaxed_f1"] == 100.0


def test_relaxed_rejects_a_cluster_that_mixes_two_gold_entities():
    results = score_comparable(comparable_prediction([(0, 25), (40, 49)], [(62, 71)]))
    assert results["relation_relaxed_f1"] == 0.0


def test_relaxed_counts_a_split_cluster_once():
    prediction = comparable_prediction([(0, 25)], [(40, 49), (62, 71)])
    prediction["entities"].append({"type": "Chemical", "mentions": _mentions((51, 54))})
    prediction["relations"].append({"head": 2, "tail": 1, "type": "CID"})
    results = score_comparable(prediction)
    assert (results["relation_relaxed_precision"], results["relation_relaxed_recall"]) == (50.0, 100.0)


def test_seq2rel_matches_mention_strings_not_spans():
    # "PAN" at 51-54 instead of 27-30 and a lower-cased duplicate string set: same strings, so seq2rel matches.
    results = score_comparable(comparable_prediction([(0, 25), (51, 54)], [(40, 49), (62, 71)]))
    assert results["relation_strict_f1"] == 0.0
    assert results["relation_seq2rel_f1"] == 100.0


def test_seq2rel_needs_every_distinct_string():
    results = score_comparable(comparable_prediction([(0, 25)], [(40, 49), (62, 71)]))
    assert results["relation_seq2rel_f1"] == 0.0


def test_undirected_types_match_reversed_arguments_only_on_comparable_levels():
    reversed_prediction = comparable_prediction([(0, 25), (27, 30), (51, 54)], [(40, 49), (62, 71)], head=1, tail=0)
    directed = score_comparable(reversed_prediction)
    undirected = score_comparable(reversed_prediction, undirected_relation_types=["CID"])
    assert directed["relation_seq2rel_f1"] == directed["relation_relaxed_f1"] == 0.0
    assert undirected["relation_seq2rel_f1"] == undirected["relation_relaxed_f1"] == 100.0
    assert undirected["relation_strict_f1"] == 0.0


def test_relaxed_folds_both_directions_of_an_undirected_prediction_like_seq2rel():
    """A prediction holding A-B and B-A of an undirected type counted a match and a false positive (66.67 against
    itself), while seq2rel folded them into one."""
    both = copy.deepcopy(COMPARABLE_GOLD)
    both["relations"] = both["relations"] + [
        {"head": r["tail"], "tail": r["head"], "type": r["type"]} for r in both["relations"]
    ]
    results = JointReF1().compute(predictions=[both], references=[both], undirected_relation_types=["CID"])
    assert results["relation_relaxed_f1"] == results["relation_seq2rel_f1"] == 100.0


def test_seq2rel_drops_a_predicted_relation_between_two_clusters_of_one_seq2rel_entity():
    """seq2rel removes a duplicate entity from a predicted relation and then the relation (remove_duplicate_ents); a
    split "PAN" cluster related to its other half was a false positive here (66.67)."""
    prediction = comparable_prediction([(0, 25), (27, 30), (51, 54)], [(40, 49), (62, 71)])
    prediction["entities"] += [
        {"type": "Disease", "mentions": _mentions((40, 49))},
        {"type": "Disease", "mentions": _mentions((62, 71))},
    ]
    prediction["relations"].append({"head": 2, "tail": 3, "type": "CID"})  # nephrosis -> Nephrosis: one entity
    results = score_comparable(prediction)
    assert results["relation_seq2rel_f1"] == 100.0
    assert results["relation_strict_precision"] == 50.0


def test_seq2rel_keeps_a_gold_relation_between_two_entities_written_alike():
    gold = copy.deepcopy(COMPARABLE_GOLD)
    gold["entities"] += [
        {"type": "Disease", "mentions": _mentions((40, 49))},
        {"type": "Disease", "mentions": _mentions((62, 71))},
    ]
    gold["relations"] = [{"head": 2, "tail": 3, "type": "CID"}]
    prediction = copy.deepcopy(gold)
    prediction.pop("text")
    results = JointReF1().compute(predictions=[prediction], references=[gold])
    assert results["relation_seq2rel_recall"] == 0.0 and results["relation_strict_f1"] == 100.0
    # Recall 0 also follows from dropping the gold relation (no gold tuple at all): it must stay a false negative.
    assert results["per_type"]["relation_seq2rel"]["CID"]["support"] == 1


def test_seq2rel_reads_a_mention_across_a_line_break_as_its_words():
    text = "Heart\nfailure follows doxorubicin; heart failure was fatal."
    gold = {
        "id": "doc-w",
        "text": text,
        "entities": [
            {"type": "Disease", "mentions": _mentions((0, 13), (35, 48))},
            {"type": "Chemical", "mentions": _mentions((22, 33))},
        ],
        "relations": [{"head": 1, "tail": 0, "type": "CID"}],
    }
    prediction = copy.deepcopy(gold)
    prediction["entities"][0]["mentions"] = _mentions((35, 48))  # "heart failure" alone: the same string
    results = JointReF1().compute(predictions=[prediction], references=[gold])
    assert results["relation_seq2rel_f1"] == 100.0 and results["relation_strict_f1"] == 0.0


def test_seq2rel_is_left_out_without_text():
    reference = {key: value for key, value in COMPARABLE_GOLD.items() if key != "text"}
    results = JointReF1().compute(predictions=[reference], references=[reference])
    assert "relation_seq2rel_f1" not in results and results["relation_relaxed_f1"] == 100.0


def test_seq2rel_names_a_mention_past_the_text():
    prediction = comparable_prediction([(0, 25), (27, 300)], [(40, 49)])
    with pytest.raises(ValueError, match=r"prediction document 'doc-c'.*ends past the text"):
        score_comparable(prediction)


@pytest.mark.parametrize("level", ["relation", "relation_strict", "relation_seq2rel"])
@pytest.mark.parametrize("undirected", [(), ("CID",)])
def test_threshold_sweep_equals_scoring_each_filtered_copy(level, undirected):
    """Calibration counts a relation level at every threshold from one parse; that must equal one scoring each."""
    from simmemre.metrics.joint_re_f1.joint_re_f1 import joint_re_scores, relation_counts_by_threshold

    with_text = {**COMPARABLE_GOLD, "id": "doc-d"}
    chemical_wrong_type = {"type": "Disease", "mentions": _mentions((51, 54))}
    prediction = {
        "id": "doc-d",
        "entities": [
            {"type": "Chemical", "mentions": _mentions((0, 25), (27, 30), (51, 54))},
            {"type": "Disease", "mentions": _mentions((40, 49), (62, 71))},
            chemical_wrong_type,
            {"type": "Disease", "mentions": _mentions((62, 71))},  # same strings as entity 1 (seq2rel)
        ],
        "relations": [  # a true relation twice (the higher score counts), reversed, wrongly typed, a string twin
            {"head": 0, "tail": 1, "type": "CID", "score": 0.4},
            {"head": 0, "tail": 1, "type": "CID", "score": 0.7},
            {"head": 1, "tail": 0, "type": "CID", "score": 0.6},
            {"head": 2, "tail": 1, "type": "CID", "score": 0.5},
            {"head": 0, "tail": 3, "type": "CID", "score": 0.9},
            {"head": 1, "tail": 3, "type": "CID", "score": 0.85},  # one seq2rel entity with itself: seq2rel drops it
        ],
    }
    thresholds = [0.0, 0.45, 0.5, 0.6, 0.65, 0.8, 0.95]
    counts = relation_counts_by_threshold([prediction], [with_text], thresholds, level, undirected)
    for threshold, (tp, fp, fn) in zip(thresholds, counts):
        kept = {**prediction, "relations": [r for r in prediction["relations"] if r["score"] >= threshold]}
        expected = joint_re_scores([kept], [with_text], undirected)
        precision = 100.0 * tp / (tp + fp) if tp + fp else 0.0
        recall = 100.0 * tp / (tp + fn) if tp + fn else 0.0
        assert (precision, recall) == pytest.approx((expected[f"{level}_precision"], expected[f"{level}_recall"])), (
            threshold
        )
    assert len({count for count in counts}) > 2  # the thresholds do change the counts


def test_threshold_sweep_refuses_a_prediction_made_on_another_text():
    from simmemre.metrics.joint_re_f1.joint_re_f1 import relation_counts_by_threshold

    prediction = copy.deepcopy(COMPARABLE_GOLD)
    prediction["text"] = COMPARABLE_TEXT.lower()
    prediction["relations"][0]["score"] = 0.9
    with pytest.raises(ValueError, match="its text differs from the reference's"):
        relation_counts_by_threshold([prediction], [COMPARABLE_GOLD], [0.5], level="relation_seq2rel")


def test_threshold_sweep_names_a_mention_past_the_text():
    from simmemre.metrics.joint_re_f1.joint_re_f1 import relation_counts_by_threshold

    prediction = comparable_prediction([(0, 25), (27, 300)], [(40, 49)])
    prediction["relations"][0]["score"] = 0.9
    with pytest.raises(ValueError, match=r"prediction document 'doc-c'.*ends past the text"):
        relation_counts_by_threshold([prediction], [COMPARABLE_GOLD], [0.5], level="relation_seq2rel")


def test_threshold_sweep_refuses_a_nan_score():
    from simmemre.metrics.joint_re_f1.joint_re_f1 import relation_counts_by_threshold

    prediction = copy.deepcopy(GOLD[0])
    for relation in prediction["relations"]:
        relation["score"] = float("nan")
    with pytest.raises(ValueError, match=r"relations\[0\]\.score must be a finite number, got nan"):
        relation_counts_by_threshold([prediction], GOLD[:1], [0.0, 0.5])


def test_threshold_sweep_names_a_relation_without_a_score():
    from simmemre.metrics.joint_re_f1.joint_re_f1 import relation_counts_by_threshold

    with pytest.raises(
        ValueError, match=r"document .doc-a. \(predictions\[0\]\): relations\[0\]\.score must be a finite number"
    ):
        relation_counts_by_threshold(GOLD[:1], GOLD[:1], [0.5])


def _relaxed_and_seq2rel(document):
    results = JointReF1().compute(predictions=[copy.deepcopy(document)], references=[document])
    return results["relation_relaxed_f1"], results["relation_seq2rel_f1"], results["relation_strict_f1"]


def test_relaxed_matches_clusters_holding_a_mention_that_two_gold_entities_share():
    # "breast and ovarian cancer": one composite mention with two ids, so a mention of both gold entities.
    document = {
        "id": "composite", "text": "Tamoxifen caused breast and ovarian cancer.",
        "entities": [
            {"type": "Chemical", "mentions": _mentions((0, 9))},
            {"type": "Disease", "mentions": _mentions((17, 42))},
            {"type": "Disease", "mentions": _mentions((17, 42), (28, 42))},
        ],
        "relations": [{"head": 0, "tail": 1, "type": "CID"}, {"head": 0, "tail": 2, "type": "CID"}],
    }  # fmt: skip
    assert _relaxed_and_seq2rel(document) == (100.0, 100.0, 100.0)


def test_relaxed_counts_a_duplicated_gold_entity_once_like_strict():
    document = {
        "id": "duplicate", "text": "Aspirin causes ulcers.",
        "entities": [
            {"type": "Chemical", "mentions": _mentions((0, 7))},
            {"type": "Disease", "mentions": _mentions((15, 21))},
            {"type": "Chemical", "mentions": _mentions((0, 7))},
        ],
        "relations": [{"head": 0, "tail": 1, "type": "CID"}, {"head": 2, "tail": 1, "type": "CID"}],
    }  # fmt: skip
    assert _relaxed_and_seq2rel(document) == (100.0, 100.0, 100.0)


@pytest.mark.parametrize("hash_seed", ["14", "26"])
def test_undirected_seq2rel_scores_do_not_depend_on_the_hash_seed(hash_seed):
    # The prediction lists the gold entity's two mentions in the other order; a frozenset's iteration order (and
    # repr) then depends on PYTHONHASHSEED, which once decided the canonical order of undirected pairs.
    import os
    import subprocess
    import sys

    text = "aspirin, i.e. salicylate, caused headache."

    def document(order):
        return {
            "id": "d", "text": text,
            "entities": [
                {"type": "Chemical", "mentions": _mentions(*order)},
                {"type": "Disease", "mentions": _mentions((33, 41))},
            ],
            "relations": [{"head": 0, "tail": 1, "type": "CID"}],
        }  # fmt: skip

    code = (
        "import json, sys; from simmemre.metrics.joint_re_f1.joint_re_f1 import joint_re_scores; "
        "gold, predicted = json.loads(sys.argv[1]); "
        "print(joint_re_scores([predicted], [gold], undirected_relation_types=['CID'])['relation_seq2rel_f1'])"
    )
    pair = json.dumps([document([(0, 7), (14, 24)]), document([(14, 24), (0, 7)])])
    completed = subprocess.run(
        [sys.executable, "-c", code, pair], capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONHASHSEED": hash_seed},
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "100.0"


def test_undirected_relation_types_as_a_bare_string_is_refused():
    with pytest.raises(ValueError, match=r"a list of relation type names \(e.g. \['CID'\]\)"):
        JointReF1().compute(predictions=gold_copy(), references=GOLD, undirected_relation_types="CID")


def test_empty_predictions_against_references_are_refused_not_scored_as_nothing():
    with pytest.raises(ValueError, match="0 predictions, 2 references"):
        JointReF1().compute(predictions=[], references=GOLD)


def test_references_without_predictions_are_refused_naming_the_missing_side():
    with pytest.raises(ValueError, match="predictions is missing"):
        JointReF1().compute(references=GOLD)


def test_a_prediction_made_on_another_text_is_refused_naming_the_document_and_character():
    """Offsets into a stripped or re-joined text scored 0 at the strict levels without a word (another text with the
    same offsets scored 100)."""
    prediction = copy.deepcopy(COMPARABLE_GOLD)
    prediction["text"] = COMPARABLE_TEXT[:30] + "  " + COMPARABLE_TEXT[31:]
    with pytest.raises(ValueError, match=r"prediction document 'doc-c'.*text differs .* from character 30"):
        score_comparable(prediction)
    assert score_comparable(copy.deepcopy(COMPARABLE_GOLD))["relation_strict_f1"] == 100.0


def test_a_text_difference_that_prints_alike_is_shown_escaped():
    """Composed "é" and "e" + U+0301 print the same, so the message showed two equal-looking excerpts."""
    reference = copy.deepcopy(COMPARABLE_GOLD)
    reference["text"] = "Caf\u00e9" + COMPARABLE_TEXT[4:]
    prediction = {**copy.deepcopy(reference), "text": "Cafe\u0301" + COMPARABLE_TEXT[4:]}
    with pytest.raises(ValueError, match=r"\('e\\u0301.*' against '\\xe9.*'\)"):
        JointReF1().compute(predictions=[prediction], references=[reference])


def test_a_json_string_with_a_lone_surrogate_is_scored_like_the_dict():
    """The string went into an Arrow column as it was and failed with pyarrow's UnicodeEncodeError, naming nothing."""
    document = {**copy.deepcopy(COMPARABLE_GOLD), "text": COMPARABLE_TEXT[:-1] + "\ud83d"}
    as_string = json.dumps(document, ensure_ascii=False)
    expected = JointReF1().compute(predictions=[document], references=[document])
    assert JointReF1().compute(predictions=[as_string], references=[document]) == expected


def test_lists_of_different_lengths_name_the_missing_ids():
    with pytest.raises(ValueError, match=r"1 predictions, 2 references; missing from predictions: \['doc-b'\]"):
        score(gold_copy()[:1])


def test_the_threshold_sweep_takes_generators():
    """It read its predictions twice: a generator gave KeyError."""
    from simmemre.metrics.joint_re_f1.joint_re_f1 import relation_counts_by_threshold

    scored = [{**document, "relations": [{**r, "score": 0.9} for r in document["relations"]]} for document in GOLD]
    from_lists = relation_counts_by_threshold(scored, GOLD, [0.5, 0.95])
    assert relation_counts_by_threshold(iter(scored), iter(GOLD), [0.5, 0.95]) == from_lists


def test_a_lazy_column_is_scored_like_a_list():
    """The pipeline's output for a generator or a dataset is an iterator: len() failed inside the pairing check."""
    assert JointReF1().compute(predictions=iter(gold_copy()), references=(doc for doc in GOLD)) == score(gold_copy())
    metric = JointReF1()
    metric.add_batch(predictions=iter(gold_copy()), references=iter(GOLD))
    assert metric.compute() == score(gold_copy())


def test_add_without_a_reference_is_refused_naming_it():
    with pytest.raises(ValueError, match="reference is missing: give prediction and reference together"):
        JointReF1().add(prediction=GOLD[0])


# ---- evaluate's API surface: load-time options, combine, argument errors ----


def test_a_load_time_undirected_option_is_used_and_a_compute_one_overrides_it():
    """evaluate.load passes extra arguments to the metric's constructor, which ignored them (relaxed F1 0 here)."""
    import evaluate

    reversed_prediction = comparable_prediction([(0, 25), (27, 30), (51, 54)], [(40, 49), (62, 71)], head=1, tail=0)
    metric = evaluate.load(str(METRIC_DIR), undirected_relation_types=["CID"])
    assert metric.compute(predictions=[reversed_prediction], references=[COMPARABLE_GOLD])["relation_relaxed_f1"] == 100
    directed = metric.compute(
        predictions=[reversed_prediction], references=[COMPARABLE_GOLD], undirected_relation_types=[]
    )
    assert directed["relation_relaxed_f1"] == 0.0


def test_an_unknown_constructor_argument_is_refused():
    with pytest.raises(ValueError, match=r"unknown argument\(s\) \['undirected_relation_type'\]"):
        JointReF1(undirected_relation_type=["CID"])


@pytest.mark.parametrize(
    "kwargs, message",
    [({"foo": 1}, r"unknown argument\(s\) \['foo'\]"), ({"undirected_relation_types": 5}, "must be a list")],
)
def test_a_bad_compute_argument_is_a_value_error_that_leaves_the_metric_usable(kwargs, message):
    metric = JointReF1()
    metric.add_batch(predictions=gold_copy(), references=gold_copy())
    with pytest.raises(ValueError, match=message):
        metric.compute(**kwargs)
    assert metric.compute()["documents"] == 2  # what was added is still there, and no lock is held


def test_combine_adds_documents_one_at_a_time():
    """evaluate.combine(...).add passes the plural column names, which the metric forwarded without serialising."""
    import evaluate

    combined = evaluate.combine([JointReF1()])
    for document in gold_copy():
        combined.add(predictions=document, references=document)
    results = combined.compute()
    assert results["documents"] == 2 and results["relation_strict_f1"] == 100.0


def test_the_relaxed_matching_follows_a_long_augmenting_path():
    """A recursive augmenting-path search exceeded Python's recursion limit. Gold entity i + 1 holds the composite
    spans s(i - 1) and s(i), so the predicted cluster {s(i)} stands for gold entities i + 1 and i + 2; the cluster of
    gold entity 1's own span u, sorted last, can take only entity 1, which forces one path through every relation."""
    n = 1500
    anchor = {"type": "T", "mentions": _mentions((0, 1))}
    shared = [(10 + 2 * i, 11 + 2 * i) for i in range(n)]
    own = (10**6, 10**6 + 1)
    gold_entities = [anchor, {"type": "T", "mentions": _mentions(own, shared[0])}]
    gold_entities += [{"type": "T", "mentions": _mentions(shared[i - 1], shared[i])} for i in range(1, n)]
    gold_entities += [{"type": "T", "mentions": _mentions(shared[n - 1])}]
    predicted_entities = [anchor] + [{"type": "T", "mentions": _mentions(span)} for span in shared + [own]]

    def document(entities):
        relations = [{"head": 0, "tail": tail, "type": "R"} for tail in range(1, len(entities))]
        return {"id": "chain", "entities": entities, "relations": relations}

    results = JointReF1().compute(predictions=[document(predicted_entities)], references=[document(gold_entities)])
    assert results["relation_relaxed_f1"] == 100.0


def test_a_duplicate_id_that_makes_the_lengths_differ_is_named():
    with pytest.raises(ValueError, match=r"repeated ids: \['doc-a \(predictions\)'\]"):
        score(gold_copy() + gold_copy()[:1])


def test_a_dataframe_of_documents_is_refused_with_the_conversion_to_use():
    pandas = pytest.importorskip("pandas")
    with pytest.raises(ValueError, match=r"to_dict\('records'\)"):
        score(pandas.DataFrame(gold_copy()))


def test_a_misspelt_undirected_type_is_warned_about():
    with pytest.warns(UserWarning, match=r"\['cid'\] name no relation type"):
        score_comparable(COMPARABLE_GOLD, undirected_relation_types=["cid"])


def test_relation_types_that_share_no_name_are_warned_about():
    """Gold converted without DocRED's relation names ("P17") against predictions with them ("country") scored 0 at
    every relation level without a word."""
    renamed = gold_copy()
    for document in renamed:
        for relation in document["relations"]:
            relation["type"] = "P17"
    with pytest.warns(UserWarning, match="share no relation type"):
        results = score(renamed)
    assert results["relation_f1"] == 0.0


# ---- gaps found by mutating the scoring code (each test fails on one plausible bug) ----


def test_a_mention_ending_exactly_at_the_text_end_is_scored_and_one_character_further_is_refused():
    from simmemre.metrics.joint_re_f1.joint_re_f1 import joint_re_scores

    end = len(COMPARABLE_TEXT)  # the text ends with "rats."
    at_the_end = comparable_prediction([(0, 25)], [(40, 49)])
    at_the_end["entities"].append({"type": "Species", "mentions": _mentions((end - 5, end))})
    assert joint_re_scores([at_the_end], [COMPARABLE_GOLD])["documents"] == 1
    past_the_end = comparable_prediction([(0, 25)], [(40, 49)])
    past_the_end["entities"].append({"type": "Species", "mentions": _mentions((end - 5, end + 1))})
    with pytest.raises(ValueError, match=rf"mention \({end - 5}, {end + 1}\) ends past the text \({end} characters\)"):
        joint_re_scores([past_the_end], [COMPARABLE_GOLD])


def test_seq2rel_compares_the_entity_types():
    """seq2rel's entity is its strings plus its type: the right strings under another type are a different entity."""
    from simmemre.metrics.joint_re_f1.joint_re_f1 import joint_re_scores

    prediction = comparable_prediction([(0, 25), (27, 30)], [(40, 49), (62, 71)])
    prediction["entities"][0]["type"] = "Disease"
    results = joint_re_scores([prediction], [COMPARABLE_GOLD])
    assert results["relation_seq2rel_f1"] == 0.0
    assert results["relation_f1"] == 0.0 and results["relation_relaxed_f1"] == 100.0  # untyped levels: cluster only


def test_threshold_sweep_scores_a_tuple_by_its_best_relation_even_when_a_lower_one_comes_last():
    """Two predicted relations map to one tuple; it counts at a threshold that its higher score reaches, whatever
    their order in the document."""
    from simmemre.metrics.joint_re_f1.joint_re_f1 import relation_counts_by_threshold

    prediction = copy.deepcopy(GOLD[1])
    prediction["relations"] = [
        {**prediction["relations"][0], "score": 0.9},
        {**prediction["relations"][0], "score": 0.2},
    ]
    assert relation_counts_by_threshold([prediction], GOLD[1:], [0.1, 0.5, 0.95]) == [(1, 0, 0), (1, 0, 0), (0, 0, 1)]


def test_relaxed_matching_moves_an_earlier_prediction_to_its_other_gold_relation():
    """Predicted cluster {s} stands for both gold entities that share the composite span s, {u} only for the first.
    The prediction with {s} (sorted first) takes the first gold relation; the maximum matching must move it to the
    second so that the one with {u} can take the first, however the search's visited keys are kept."""
    from simmemre.metrics.joint_re_f1.joint_re_f1 import joint_re_scores

    anchor, shared, first_own, second_own = (0, 1), (10, 11), (20, 21), (30, 31)
    gold = {
        "id": "augment",
        "entities": [
            {"type": "T", "mentions": _mentions(anchor)},
            {"type": "T", "mentions": _mentions(shared, first_own)},
            {"type": "T", "mentions": _mentions(shared, second_own)},
        ],
        "relations": [{"head": 0, "tail": 1, "type": "R"}, {"head": 0, "tail": 2, "type": "R"}],
    }
    prediction = {
        "id": "augment",
        "entities": [{"type": "T", "mentions": _mentions(span)} for span in (anchor, shared, first_own)],
        "relations": [{"head": 0, "tail": 1, "type": "R"}, {"head": 0, "tail": 2, "type": "R"}],
    }
    results = joint_re_scores([prediction], [gold])
    assert (results["relation_relaxed_precision"], results["relation_relaxed_recall"]) == (100.0, 100.0)


def test_seq2rel_is_left_out_when_only_some_references_have_a_text():
    from simmemre.metrics.joint_re_f1.joint_re_f1 import joint_re_scores

    with_text = copy.deepcopy(COMPARABLE_GOLD)
    without_text = {**copy.deepcopy(GOLD[0]), "id": "no-text"}
    results = joint_re_scores([with_text, without_text], [with_text, without_text])
    assert "relation_seq2rel_f1" not in results and "relation_seq2rel" not in results["per_type"]
    assert results["relation_strict_f1"] == 100.0


# -- mutation audit (h2mut-b) --


def test_a_tail_cluster_missing_a_mention_fails_both_relation_levels():
    """A relation matches only when its tail cluster is the gold one as a whole, as for the head: doc-b's disease
    without (30, 35) still starts at (10, 15), so a tail keyed on its first mention would match."""
    predictions = gold_copy()
    predictions[1]["entities"][1]["mentions"] = _mentions((10, 15))
    predictions[1]["entities"].append({"type": "Disease", "mentions": _mentions((30, 35))})
    results = score(predictions)
    # coref/entity: TP 4, FP 2, FN 1 -> F1 8/11; relations: TP 2 (doc-a), FP 1, FN 1 -> 2/3.
    assert_levels(
        results,
        {"mention": 100.0, "coref": 800 / 11, "entity": 800 / 11, "relation": 200 / 3, "relation_strict": 200 / 3},
    )


def test_relaxed_rejects_a_cluster_without_a_gold_mention():
    # "Puromycin" (0, 9) is no gold mention: the cluster stands for no gold entity, so its relation is a miss.
    results = score_comparable(comparable_prediction([(0, 9)], [(40, 49), (62, 71)]))
    assert (results["relation_relaxed_precision"], results["relation_relaxed_recall"]) == (0.0, 0.0)
