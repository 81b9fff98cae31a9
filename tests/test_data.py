"""Data layer: document schema, validation, BC5CDR / DocRED converters, CLI and DatasetDict loading."""

import gzip
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from simmemre.data_simmemre import (
    DocumentError,
    add_segmentation,
    convert_command,
    convert_corpus,
    labels_for,
    load_documents_as_datasetdict,
    normalize_document,
    read_docred,
    read_jsonl,
    read_labels,
    read_pubtator,
    validate_document,
    write_jsonl,
    write_labels,
)

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
BC5CDR = DATA / "bc5cdr"
REDOCRED = DATA / "re-docred"
JEREX = DATA / "docred-jerex-joint" / "fixtures_seq2rel_ds"
REL_INFO = DATA / "docred" / "rel_info.json"
CDR_FILES = {"train": "CDR_TrainingSet", "dev": "CDR_DevelopmentSet", "test": "CDR_TestSet"}

needs_data = pytest.mark.skipif(
    not (BC5CDR / "CDR_TestSet.PubTator.txt").is_file(), reason="../shared/data not present"
)


@pytest.fixture(scope="module")
def cdr():
    """{split: (docs, stats)} for the three BC5CDR PubTator files, read once."""
    return convert_corpus("bc5cdr", BC5CDR)


@pytest.fixture(scope="module")
def redocred():
    return convert_corpus("docred", REDOCRED, rel_info=REL_INFO)


def mention_spans(doc):
    return [(m["start"], m["end"]) for entity in doc["entities"] for m in entity["mentions"]]


def entity_with_id(doc, entity_type, kb_id):
    return next(e for e in doc["entities"] if e["type"] == entity_type and kb_id in e.get("ids", []))


PUBTATOR_OK = (
    "1|t|Aspirin causes pain.\n"
    "1|a|Rats given aspirin or nalozone had pain and ache.\n"
    "1\t0\t7\tAspirin\tChemical\tD001\n"
    "1\t32\t39\taspirin\tChemical\tD001\n"
    "1\t43\t51\tnalozone\tChemical\t-1\n"
    "1\t56\t60\tpain\tDisease\tD002|D003\tpain|pain\n"
    "1\t65\t69\tache\tDisease\tD003\n"
    "1\tCID\tD001\tD002\n"
    "\n"
    "2|t|No relation here.\n"
    "2|a|Just nalozone and pain.\n"
    "2\t23\t31\tnalozone\tChemical\t-1\n"
    "2\t36\t40\tpain\tDisease\tD002\n"
    "\n"
)


def write(tmp_path, name, content):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    return path


# ----------------------------------------------------------------------------------------------------
# BC5CDR
# ----------------------------------------------------------------------------------------------------


@needs_data
def test_bc5cdr_document_and_relation_counts(cdr):
    counts = {split: (stats["documents"], stats["relations"]) for split, (_, stats) in cdr.items()}
    assert counts == {"train": (500, 1038), "dev": (500, 1012), "test": (500, 1066)}


@needs_data
def test_bc5cdr_every_mention_line_slices_the_text(cdr):
    for split, name in CDR_FILES.items():
        docs = {doc["id"]: doc for doc in cdr[split][0]}
        checked = 0
        with open(BC5CDR / f"{name}.PubTator.txt", encoding="utf-8") as handle:
            for line in handle:
                columns = line.rstrip("\n").split("\t")
                if len(columns) >= 6:
                    doc = docs[columns[0]]
                    start, end = int(columns[1]), int(columns[2])
                    assert doc["text"][start:end] == columns[3]
                    assert (start, end) in mention_spans(doc)
                    checked += 1
        assert checked == cdr[split][1]["mention_lines"]
    assert [cdr[s][1]["mention_lines"] for s in CDR_FILES] == [5203 + 4182, 5347 + 4244, 5385 + 4424]


@needs_data
def test_bc5cdr_text_is_title_space_abstract(cdr):
    doc = cdr["train"][0][0]
    assert doc["id"] == "227508"
    assert doc["text"].startswith("Naloxone reverses the antihypertensive effect of clonidine. In unanesthetized,")
    assert doc["text"][doc["sentences"][0]["start"] : doc["sentences"][0]["end"]] == (
        "Naloxone reverses the antihypertensive effect of clonidine."
    )


@needs_data
def test_bc5cdr_mentions_are_whole_words_inside_one_sentence(cdr):
    for docs, _ in cdr.values():
        for doc in docs:
            starts = {w["start"] for w in doc["words"]}
            ends = {w["end"] for w in doc["words"]}
            for start, end in mention_spans(doc):
                assert start in starts and end in ends
                assert any(s["start"] <= start and end <= s["end"] for s in doc["sentences"])


@needs_data
def test_bc5cdr_documents_are_valid(cdr):
    for docs, _ in cdr.values():
        for doc in docs:
            validate_document(doc)


@needs_data
def test_bc5cdr_grounded_entities_match_official_counts():
    # SOURCE.md: distinct (type, MeSH) entities summed over documents.
    expected = {"train": 1467 + 1965, "dev": 1507 + 1864, "test": 1434 + 1988}
    for split, name in CDR_FILES.items():
        _, stats = read_pubtator(BC5CDR / f"{name}.PubTator.txt", drop_ungrounded=True)
        assert stats["entities"] == expected[split]


@needs_data
def test_bc5cdr_special_mention_counts(cdr):
    def pick(key):
        return [cdr[s][1][key] for s in CDR_FILES]

    assert pick("multi_id_mentions") == [97, 100, 75]
    assert pick("composite_mentions") == [88, 89, 57]
    assert pick("ungrounded_mentions") == [76, 60, 91]
    assert pick("ungrounded_entities") == [46, 32, 58]
    assert pick("forced_word_splits") == [0, 10, 5]


@needs_data
def test_bc5cdr_composite_mention_belongs_to_each_entity(cdr):
    doc = next(d for d in cdr["train"][0] if d["id"] == "2234245")
    ocular, auditory = entity_with_id(doc, "Disease", "D014786"), entity_with_id(doc, "Disease", "D006311")
    assert {"start": 0, "end": 28} in ocular["mentions"] and {"start": 0, "end": 28} in auditory["mentions"]
    assert doc["text"][0:28] == "Ocular and auditory toxicity"


@needs_data
def test_bc5cdr_repeated_id_in_one_mention_counts_once(cdr):
    doc = next(d for d in cdr["train"][0] if d["id"] == "11587867")
    entity = entity_with_id(doc, "Disease", "D020258")
    assert entity["mentions"].count({"start": 447, "end": 490}) == 1


@needs_data
def test_bc5cdr_ungrounded_part_of_composite_mention(cdr):
    # "cerebral artery and the venous sinus occlusion"  D002544|-1
    doc = next(d for d in cdr["dev"][0] if d["id"] == "8638876")
    span = {"start": 708, "end": 754}
    assert span in entity_with_id(doc, "Disease", "D002544")["mentions"]
    ungrounded = [e for e in doc["entities"] if not e["ids"] and span in e["mentions"]]
    assert len(ungrounded) == 1


@needs_data
def test_bc5cdr_relations_go_from_chemical_to_disease(cdr):
    for docs, _ in cdr.values():
        for doc in docs:
            for relation in doc["relations"]:
                assert relation["type"] == "CID"
                assert doc["entities"][relation["head"]]["type"] == "Chemical"
                assert doc["entities"][relation["tail"]]["type"] == "Disease"


def test_pubtator_groups_entities_by_id_and_ungrounded_text(tmp_path):
    docs, stats = read_pubtator(write(tmp_path, "x.PubTator.txt", PUBTATOR_OK))
    doc = docs[0]
    assert [(e["type"], e["ids"], len(e["mentions"])) for e in doc["entities"]] == [
        ("Chemical", ["D001"], 2),
        ("Chemical", [], 1),
        ("Disease", ["D002"], 1),
        ("Disease", ["D003"], 2),
    ]
    assert doc["relations"] == [{"head": 0, "tail": 2, "type": "CID"}]
    assert (stats["documents"], stats["entities"], stats["mentions"], stats["relations"]) == (2, 6, 8, 1)
    assert (stats["ungrounded_mentions"], stats["ungrounded_entities"], stats["multi_id_mentions"]) == (2, 2, 1)


def test_pubtator_drop_ungrounded_counts(tmp_path):
    docs, stats = read_pubtator(write(tmp_path, "x.txt", PUBTATOR_OK), drop_ungrounded=True)
    assert all(e["ids"] for doc in docs for e in doc["entities"])
    assert (stats["dropped_ungrounded_mentions"], stats["dropped_ungrounded_entities"]) == (2, 2)
    assert (stats["entities"], stats["mentions"], stats["ungrounded_mentions"]) == (4, 6, 0)


def test_pubtator_require_relations_counts(tmp_path):
    docs, stats = read_pubtator(write(tmp_path, "x.txt", PUBTATOR_OK), require_relations=True)
    assert [doc["id"] for doc in docs] == ["1"]
    assert (stats["dropped_documents"], stats["dropped_document_entities"], stats["dropped_document_mentions"]) == (
        1,
        2,
        2,
    )
    assert stats["documents"] == 1


@needs_data
def test_bc5cdr_every_document_has_a_cid_pair(cdr):
    for name in CDR_FILES.values():
        _, stats = read_pubtator(BC5CDR / f"{name}.PubTator.txt", drop_ungrounded=True, require_relations=True)
        assert (stats["documents"], stats["dropped_documents"]) == (500, 0)


# ----------------------------------------------------------------------------------------------------
# Bad inputs
# ----------------------------------------------------------------------------------------------------


def assert_names(error, *parts):
    message = str(error.value)
    for part in parts:
        assert str(part) in message, (part, message)


def test_malformed_pubtator_line(tmp_path):
    path = write(tmp_path, "bad.txt", "1|t|Aspirin.\n1|a|Pain.\n1\t0\tAspirin\n")
    with pytest.raises(DocumentError) as error:
        read_pubtator(path)
    assert_names(error, f"{path}:3", "document 1", "line")


def test_a_json_line_read_as_pubtator_is_named_short_with_a_hint(tmp_path):
    """The whole JSON line (8,000 characters of a real document) was shown as the document id."""
    line = json.dumps({"id": "227508", "text": "Naloxone reverses the effect of clonidine. " * 50, "entities": []})
    path = write(tmp_path, "train.jsonl", line + "\n")
    with pytest.raises(DocumentError) as error:
        read_pubtator(path)
    message = str(error.value)
    assert message.startswith(f"{path}:1: malformed line") and len(message) < 400
    assert "it looks like JSON: SimMemRE JSON Lines documents are read without a format" in message


def test_non_integer_pubtator_offset(tmp_path):
    path = write(tmp_path, "bad.txt", "1|t|Aspirin.\n1|a|Pain.\n1\tx\t7\tAspirin\tChemical\tD001\n")
    with pytest.raises(DocumentError) as error:
        read_pubtator(path)
    assert_names(error, f"{path}:3", "document 1", "mention.start")


@pytest.mark.parametrize("offset", ["\u00b2", "\u0661", "\uff11"])  # superscript two, Arabic-Indic and fullwidth one
def test_non_ascii_digit_pubtator_offset(tmp_path, offset):
    path = write(tmp_path, "bad.txt", f"1|t|Aspirin.\n1|a|Pain.\n1\t{offset}\t7\tAspirin\tChemical\tD001\n")
    with pytest.raises(DocumentError) as error:
        read_pubtator(path)
    assert_names(error, f"{path}:3", "document 1", "mention.start")


CARRIAGE_RETURN_DOCUMENT = (
    "1|t|Aspirin.\n1|a|Aspirin\rcauses pain.\n"
    "1\t0\t7\tAspirin\tChemical\tD1\n1\t9\t16\tAspirin\tChemical\tD1\n1\t24\t28\tpain\tDisease\tD2\n\n"
)


@pytest.mark.parametrize("line_end", ["\n", "\r\n"])
def test_pubtator_carriage_return_inside_an_abstract_is_a_character(tmp_path, line_end):
    """Universal newlines split the abstract at a lone \\r: the rest was read as a malformed annotation line."""
    path = tmp_path / "cr.txt"
    path.write_bytes(CARRIAGE_RETURN_DOCUMENT.replace("\n", line_end).encode())
    (doc,), _ = read_pubtator(path)
    assert doc["text"] == "Aspirin. Aspirin\rcauses pain."
    assert [entity["mentions"] for entity in doc["entities"]] == [
        [{"start": 0, "end": 7}, {"start": 9, "end": 16}],
        [{"start": 24, "end": 28}],
    ]


def test_pubtator_lines_ending_in_a_lone_carriage_return_are_refused(tmp_path):
    path = tmp_path / "mac.txt"
    path.write_bytes(CARRIAGE_RETURN_DOCUMENT.replace("\rcauses", " causes").replace("\n", "\r").encode())
    with pytest.raises(DocumentError) as error:
        read_pubtator(path)
    assert_names(error, f"{path}:1", "document 1", "lone carriage return")


@pytest.mark.parametrize("name", ["bad.jsonl", "bad.jsonl.gz"])
def test_jsonl_not_utf8_names_the_line(tmp_path, name):
    lines = [json.dumps({"id": "a", "text": "x", "entities": [], "relations": []}).encode()] * 2
    lines.insert(1, '{"id": "b", "text": "caf\u00e9", "entities": [], "relations": []}'.encode("latin-1"))
    path = tmp_path / name
    (gzip.open if name.endswith(".gz") else open)(path, "wb").write(b"\n".join(lines) + b"\n")
    with pytest.raises(DocumentError) as error:
        read_jsonl(path)
    assert_names(error, f"{path}:2", "not valid UTF-8", "0xe9", "at byte 25 of the line")


def test_pubtator_not_utf8_names_the_file_and_line(tmp_path):
    path = tmp_path / "train.txt"
    path.write_bytes(PUBTATOR_OK.replace("Just", "Caf\u00e9").encode("latin-1"))
    with pytest.raises(DocumentError) as error:
        read_pubtator(path)
    assert_names(error, f"{path}:11", "not valid UTF-8")


def test_docred_not_utf8_names_the_file(tmp_path):
    path = tmp_path / "train.json"
    path.write_bytes('[{"title": "Caf\u00e9", "sents": [], "vertexSet": []}]'.encode("latin-1"))
    with pytest.raises(DocumentError) as error:
        read_docred(path)
    assert_names(error, f"{path}:1", "not valid UTF-8")


def test_readers_accept_a_utf8_byte_order_mark(tmp_path):
    """Files saved by Windows Notepad or PowerShell 5 start with a BOM; predict.py and score.py accept them too."""
    doc = {"id": "a", "text": "x", "entities": [], "relations": []}
    jsonl = tmp_path / "bom.jsonl"
    jsonl.write_text("\ufeff" + json.dumps(doc) + "\n", encoding="utf-8")
    assert read_jsonl(jsonl) == [doc]
    assert [d["id"] for d in read_pubtator(write(tmp_path, "bom.txt", "\ufeff" + PUBTATOR_OK))[0]] == ["1", "2"]
    write(tmp_path, "labels.json", '\ufeff{"entity_types": ["A"], "relation_types": []}')
    assert read_labels(tmp_path) == {"entity_types": ["A"], "relation_types": []}


def test_pubtator_offset_outside_the_text(tmp_path):
    path = write(tmp_path, "bad.txt", "1|t|Aspirin.\n1|a|Pain.\n\n7|t|T.\n7|a|A.\n7\t0\t99\tAspirin\tChemical\tD001\n")
    with pytest.raises(DocumentError) as error:
        read_pubtator(path)
    assert_names(error, f"{path}:6", "document 7", "mention.end", "outside the text")


def test_pubtator_mention_string_not_matching_offsets(tmp_path):
    path = write(tmp_path, "bad.txt", "1|t|Aspirin.\n1|a|Pain.\n1\t1\t8\tAspirin\tChemical\tD001\n")
    with pytest.raises(DocumentError) as error:
        read_pubtator(path)
    assert_names(error, f"{path}:3", "document 1", "mention.text", "'spirin.'")


def test_pubtator_relation_to_a_missing_entity(tmp_path):
    path = write(tmp_path, "bad.txt", "1|t|Aspirin.\n1|a|Pain.\n1\t0\t7\tAspirin\tChemical\tD001\n1\tCID\tD001\tD999\n")
    with pytest.raises(DocumentError) as error:
        read_pubtator(path)
    assert_names(error, f"{path}:4", "document 1", "relation.disease_id", "D999")


@needs_data
def test_bc5cdr_sample_file_has_a_dangling_relation():
    # Pre-release quirk noted in SOURCE.md: one CID pair names an id without mentions.
    with pytest.raises(DocumentError) as error:
        read_pubtator(BC5CDR / "CDR_sample.PubTator.txt")
    assert_names(error, "CDR_sample.PubTator.txt:143", "document 2385256", "relation.chemical_id", "D008278")


def test_jsonl_document_missing_a_field(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(
        json.dumps({"id": "a", "text": "x", "entities": [], "relations": []})
        + "\n"
        + json.dumps({"id": "doc-2", "text": "x", "relations": []})
        + "\n"
    )
    with pytest.raises(DocumentError) as error:
        read_jsonl(path)
    assert_names(error, f"{path}:2", "document doc-2", "entities", "missing")


def test_jsonl_duplicate_document_id_names_both_lines(tmp_path):
    """The metric matches documents by id: a repeated id was accepted silently."""
    path = tmp_path / "dup.jsonl"
    doc = json.dumps({"id": "d1", "text": "x", "entities": [], "relations": []})
    path.write_text(f"{doc}\n\n{doc}\n")
    with pytest.raises(DocumentError) as error:
        read_jsonl(path)
    assert_names(error, f"{path}:3", "document d1", "id", "duplicate document id (first document at line 1)")


def test_jsonl_invalid_json_names_the_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"id": "a", "text": "x", "entities": [], "relations": []}\n{"id": \n')
    with pytest.raises(DocumentError) as error:
        read_jsonl(path)
    assert_names(error, f"{path}:2", "invalid JSON")


def test_validate_names_the_field_path_of_a_bad_offset():
    doc = {
        "id": "d",
        "text": "abc",
        "entities": [{"type": "T", "mentions": [{"start": 0, "end": 1}, {"start": 1, "end": 9}]}],
        "relations": [],
    }
    with pytest.raises(DocumentError) as error:
        validate_document(doc, source="f.jsonl:7")
    assert_names(error, "f.jsonl:7", "document d", "entities[0].mentions[1].end")


def test_validate_rejects_a_relation_to_a_missing_entity():
    doc = {
        "id": "d",
        "text": "abc",
        "entities": [{"type": "T", "mentions": [{"start": 0, "end": 1}]}],
        "relations": [{"head": 0, "tail": 1, "type": "R"}],
    }
    with pytest.raises(DocumentError) as error:
        validate_document(doc)
    assert_names(error, "document d", "relations[0].tail")


def test_validate_rejects_empty_span_and_bad_words():
    doc = {"id": "d", "text": "abc", "entities": [], "relations": [], "words": [{"start": 2, "end": 2}]}
    with pytest.raises(DocumentError) as error:
        validate_document(doc)
    assert_names(error, "words[0].end")


def test_validate_ignores_pipeline_scores_and_accepts_a_matching_mention_text():
    doc = {
        "id": "d",
        "text": "abc",
        "entities": [{"type": "T", "score": 0.9, "mentions": [{"start": 0, "end": 1, "text": "a", "score": 0.8}]}],
        "relations": [{"head": 0, "tail": 0, "type": "R", "score": 0.5}],
    }
    assert validate_document(doc) is doc


def test_validate_refuses_a_mention_text_that_is_not_a_string():
    """A mention text of 5 skipped the check of the offsets against it without a word."""
    doc = {"id": "d", "text": "Aspirin", "entities": [{"type": "T", "mentions": [{"start": 0, "end": 7, "text": 5}]}],
           "relations": []}  # fmt: skip
    with pytest.raises(DocumentError, match=r"document d: entities\[0\]\.mentions\[0\]\.text: expected str, got int"):
        validate_document(doc)


def test_validate_refuses_offsets_that_do_not_slice_the_mention_text():
    """UTF-16 offsets (JavaScript annotation tools) after an emoji are one too many per emoji: they passed the span
    checks and the model trained on shifted spans ("spirin ")."""
    text = "👍 Aspirin causes ulcers."
    utf16_start = len(text[:2].encode("utf-16-le")) // 2  # 3, where Python counts 2
    doc = {
        "id": "d",
        "text": text,
        "entities": [{"type": "T", "mentions": [{"start": utf16_start, "end": utf16_start + 7, "text": "Aspirin"}]}],
        "relations": [],
    }
    with pytest.raises(DocumentError, match=r"slice 'spirin ', not the mention's text 'Aspirin'") as error:
        validate_document(doc, source="f.jsonl:2")
    assert_names(error, "f.jsonl:2", "document d", "entities[0].mentions[0].text")


def test_docred_label_to_a_missing_entity(tmp_path):
    path = tmp_path / "dev.json"
    path.write_text(
        json.dumps(
            [
                {
                    "title": "T",
                    "sents": [["A", "b"]],
                    "vertexSet": [[{"sent_id": 0, "pos": [0, 1], "type": "X"}]],
                    "labels": [{"h": 0, "t": 3, "r": "P1"}],
                }
            ]
        )
    )
    with pytest.raises(DocumentError) as error:
        read_docred(path)
    assert_names(error, f"{path}[document 0]", "document T", "labels[0].t")


def test_docred_documents_without_labels_are_counted(tmp_path):
    """The unlabelled DocRED test set has no `labels`, so a document without them converts with no relations; a
    labelled file that lost one document's labels converted without a word."""
    labelled = {"title": "A", "sents": [["A", "b"]], "vertexSet": [[{"sent_id": 0, "pos": [0, 1], "type": "X"}]]}
    path = tmp_path / "dev.json"
    path.write_text(json.dumps([{**labelled, "labels": []}, {**labelled, "title": "B"}]))
    docs, stats = read_docred(path)
    assert [doc["relations"] for doc in docs] == [[], []] and stats["documents_without_labels"] == 1


@pytest.mark.parametrize(
    "content, where, message",
    [
        ("{}", "", "expected a JSON list of documents, got dict"),
        ("[1,\n,]", ":2", "invalid JSON"),
    ],
)
def test_a_file_level_error_names_the_file_without_a_document_placeholder(tmp_path, content, where, message):
    """They read "train.json: document ?: <document>: expected a JSON list ...", naming no document and no field."""
    path = tmp_path / "train.json"
    path.write_text(content)
    with pytest.raises(DocumentError) as error:
        read_docred(path)
    assert str(error.value).startswith(f"{path}{where}: {message}")


def test_an_empty_document_id_is_shown_quoted():
    with pytest.raises(DocumentError, match="document '': id:"):
        validate_document({"id": "", "text": "x", "entities": [], "relations": []}, source="f.jsonl:3")


def test_docred_document_missing_a_field(tmp_path):
    path = tmp_path / "dev.json"
    path.write_text(json.dumps([{"title": "T", "sents": [["A"]]}]))
    with pytest.raises(DocumentError) as error:
        read_docred(path)
    assert_names(error, f"{path}[document 0]", "document T", "vertexSet", "missing")


def test_docred_mention_outside_its_sentence(tmp_path):
    path = tmp_path / "dev.json"
    path.write_text(
        json.dumps(
            [
                {
                    "title": "T",
                    "sents": [["A"]],
                    "vertexSet": [[{"sent_id": 0, "pos": [0, 2], "type": "X"}]],
                    "labels": [],
                }
            ]
        )
    )
    with pytest.raises(DocumentError) as error:
        read_docred(path)
    assert_names(error, "document T", "vertexSet[0][0].pos")


# ----------------------------------------------------------------------------------------------------
# DocRED / Re-DocRED / JEREX joint
# ----------------------------------------------------------------------------------------------------


@needs_data
def test_redocred_document_and_entity_counts(redocred):
    counts = {
        split: (stats["documents"], stats["entities"], stats["relations"]) for split, (_, stats) in redocred.items()
    }
    assert counts == {"dev": (500, 9684, 17284), "test": (500, 9779, 17448)}


@needs_data
def test_redocred_duplicate_mentions_and_type_conflicts_are_counted(redocred):
    dev, test = redocred["dev"][1], redocred["test"][1]
    assert (dev["duplicate_mentions"], test["duplicate_mentions"]) == (35, 68)
    assert (dev["mentions"], test["mentions"]) == (13189 - 35, 13018 - 68)
    assert (dev["entity_type_conflicts"], test["entity_type_conflicts"]) == (9, 9)
    assert (dev["duplicate_relations"], test["duplicate_relations"]) == (0, 0)


@needs_data
def test_redocred_text_rebuilds_from_words_and_mentions_match_names(redocred):
    with gzip.open(REDOCRED / "dev_revised.json.gz", "rt", encoding="utf-8") as handle:
        raw = json.load(handle)
    docs = redocred["dev"][0]
    for item, doc in zip(raw, docs):
        assert doc["id"] == item["title"]
        assert doc["text"] == " ".join(" ".join(sentence) for sentence in item["sents"])
        assert len(doc["sentences"]) == len(item["sents"])
        first = item["vertexSet"][0][0]
        span = doc["entities"][0]["mentions"][0]
        tokens = item["sents"][first["sent_id"]][first["pos"][0] : first["pos"][1]]
        assert doc["text"][span["start"] : span["end"]] == " ".join(tokens).strip()


@needs_data
def test_redocred_whitespace_tokens_are_not_words(redocred):
    assert (redocred["dev"][1]["whitespace_tokens"], redocred["test"][1]["whitespace_tokens"]) == (66, 39)
    for docs, _ in redocred.values():
        for doc in docs:
            assert all(
                doc["text"][w["start"] : w["end"]].strip() == doc["text"][w["start"] : w["end"]] for w in doc["words"]
            )


@needs_data
def test_redocred_relation_names_from_rel_info(redocred):
    types = {r["type"] for r in redocred["dev"][0][0]["relations"]}  # SOURCE.md: P580 and P276 in dev[0]
    assert {"start time", "location"} <= types
    labels = labels_for(redocred)
    assert labels["entity_types"] == ["LOC", "MISC", "NUM", "ORG", "PER", "TIME"]
    assert "country" in labels["relation_types"] and "P17" not in labels["relation_types"]


@needs_data
def test_jerex_joint_fixtures():
    converted = convert_corpus("docred", JEREX)
    counts = {s: (st["documents"], st["entities"], st["mentions"], st["relations"]) for s, (_, st) in converted.items()}
    assert counts == {"train": (2, 24, 28, 1), "dev": (2, 33, 42, 7), "test": (1, 14, 18, 7)}
    assert converted["train"][0][0]["id"] == "Gambier Island"


@needs_data
def test_jerex_types_json_names_relations():
    docs, _ = read_docred(JEREX / "dev_joint.json", rel_info=JEREX / "types.json")
    raw_docs, _ = read_docred(JEREX / "dev_joint.json")
    names = json.loads(REL_INFO.read_text())
    assert [r["type"] for r in docs[0]["relations"]] == [names[r["type"]] for r in raw_docs[0]["relations"]]


def test_docred_dedup_type_conflicts_and_duplicate_titles(tmp_path):
    item = {
        "title": "T",
        "sents": [["Ann", "met", "Bob", "."], ["Ann", "\u00a0", "Lee", "left"]],
        "vertexSet": [
            [
                {"sent_id": 0, "pos": [0, 1], "type": "PER"},
                {"sent_id": 0, "pos": [0, 1], "type": "PER"},
                {"sent_id": 1, "pos": [0, 3], "type": "ORG"},
            ],
            [{"sent_id": 0, "pos": [2, 3], "type": "PER"}],
        ],
        "labels": [{"h": 0, "t": 1, "r": "P1", "evidence": []}, {"h": 0, "t": 1, "r": "P1", "evidence": [0]}],
    }
    path = tmp_path / "train.json"
    path.write_text(json.dumps([item, item]))
    docs, stats = read_docred(path, rel_info={"P1": "knows"})
    doc = docs[0]
    assert doc["text"] == "Ann met Bob . Ann \u00a0 Lee left"
    assert [doc["text"][w["start"] : w["end"]] for w in doc["words"]] == [
        "Ann",
        "met",
        "Bob",
        ".",
        "Ann",
        "Lee",
        "left",
    ]
    assert [doc["text"][s["start"] : s["end"]] for s in doc["sentences"]] == ["Ann met Bob .", "Ann \u00a0 Lee left"]
    assert doc["entities"][0] == {"type": "PER", "mentions": [{"start": 0, "end": 3}, {"start": 14, "end": 23}]}
    assert doc["relations"] == [{"head": 0, "tail": 1, "type": "knows"}]
    assert [d["id"] for d in docs] == ["T", "T#1"]
    assert (stats["duplicate_mentions"], stats["duplicate_relations"], stats["entity_type_conflicts"]) == (2, 2, 2)
    assert (stats["duplicate_titles"], stats["whitespace_tokens"]) == (1, 2)


def test_a_title_that_is_no_string_is_named_with_its_document(tmp_path):
    path = tmp_path / "dev.json"
    path.write_text(json.dumps([{"title": ["B"], "sents": [["x"]], "vertexSet": []}]))
    with pytest.raises(DocumentError, match=r"dev.json\[document 0\]: document \['B'\]: title: expected str, got list"):
        read_docred(path)


def test_a_suffixed_duplicate_title_is_no_other_documents_title(tmp_path):
    """Titles "T#2", "T", "T" gave two documents "T#2": the converter wrote a file its own reader refuses."""
    item = {"sents": [["Ann", "left"]], "vertexSet": [], "labels": []}
    path = tmp_path / "train.json"
    path.write_text(json.dumps([{**item, "title": title} for title in ("T#2", "T", "T", "T#2#1")]))
    docs, stats = read_docred(path)
    assert [d["id"] for d in docs] == ["T#2", "T", "T#2#2", "T#2#1"] and stats["duplicate_titles"] == 1


# ----------------------------------------------------------------------------------------------------
# Schema helpers, files, corpus conversion
# ----------------------------------------------------------------------------------------------------


def test_add_segmentation_makes_mentions_whole_words():
    doc = {
        "id": "d",
        "text": "Lidocaine-induced seizures. Mr. X. ok",
        "entities": [
            {"type": "Chemical", "mentions": [{"start": 0, "end": 9}]},
            {"type": "Disease", "mentions": [{"start": 28, "end": 34}]},
        ],
        "relations": [],
    }
    add_segmentation(doc)
    words = [doc["text"][w["start"] : w["end"]] for w in doc["words"]]
    assert words[:3] == ["Lidocaine", "-", "induced"]
    assert [doc["text"][s["start"] : s["end"]] for s in doc["sentences"]][-1].startswith("Mr. X.")


def test_add_segmentation_keeps_existing_fields():
    doc = {"id": "d", "text": "a b", "words": [{"start": 0, "end": 3}], "entities": [], "relations": []}
    add_segmentation(doc)
    assert doc["words"] == [{"start": 0, "end": 3}] and doc["sentences"] == [{"start": 0, "end": 3}]


def test_jsonl_round_trip_with_gzip(tmp_path):
    docs = [
        {
            "id": "é",
            "text": "Ünïcode 👍",
            "entities": [{"type": "T", "mentions": [{"start": 0, "end": 7}]}],
            "relations": [],
        }
    ]
    for name in ("x.jsonl", "x.jsonl.gz"):
        write_jsonl(docs, tmp_path / name)
        assert read_jsonl(tmp_path / name) == docs


def test_a_failed_write_jsonl_leaves_the_earlier_file(tmp_path):
    """A failure midway left a partly written split in place of the earlier one."""
    doc = {"id": "a", "text": "x", "entities": [], "relations": []}
    write_jsonl([doc, doc], tmp_path / "train.jsonl")

    def failing():
        yield doc
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        write_jsonl(failing(), tmp_path / "train.jsonl")
    assert read_jsonl(tmp_path / "train.jsonl", validate=False) == [doc, doc]
    assert [path.name for path in tmp_path.iterdir()] == ["train.jsonl"]


def test_labels_are_sorted_and_deduplicated(tmp_path):
    write_labels(tmp_path, ["b", "a", "b"], ["Z", "CID"])
    assert read_labels(tmp_path) == {"entity_types": ["a", "b"], "relation_types": ["CID", "Z"]}


def test_convert_single_file_takes_split_from_name(tmp_path):
    converted = convert_corpus("bc5cdr", write(tmp_path, "my_dev_part.txt", PUBTATOR_OK))
    assert list(converted) == ["dev"]
    converted = convert_corpus("bc5cdr", write(tmp_path, "corpus.txt", PUBTATOR_OK))
    assert list(converted) == ["train"] and converted["train"][1]["split"] == "train"


def test_convert_folder_recognises_splits_and_gzip(tmp_path):
    write(tmp_path, "CDR_TrainingSet.PubTator.txt", PUBTATOR_OK)
    with gzip.open(tmp_path / "CDR_TestSet.PubTator.txt.gz", "wt", encoding="utf-8") as handle:
        handle.write(PUBTATOR_OK)
    write(tmp_path, "CDR_sample.PubTator.txt", "garbage\n")
    converted = convert_corpus("bc5cdr", tmp_path)
    assert list(converted) == ["train", "test"]
    assert converted["test"][1]["documents"] == 2


def test_convert_unknown_folder_content(tmp_path):
    with pytest.raises(FileNotFoundError):
        convert_corpus("bc5cdr", tmp_path)


# ----------------------------------------------------------------------------------------------------
# CLI
# ----------------------------------------------------------------------------------------------------


def run_cli(*args):
    return subprocess.run(
        [sys.executable, str(REPO / "scripts" / "convert_dataset.py"), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def cli():
    """The script's command, run in-process (a subprocess pays the torch import each time)."""
    return convert_command


@pytest.mark.integration
@needs_data
def test_cli_converts_bc5cdr_folder(tmp_path):
    result = run_cli("--format", "bc5cdr", "--input", BC5CDR, "--output", tmp_path)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [list(line)[:5] for line in lines] == [["split", "documents", "mentions", "entities", "relations"]] * 3
    assert [(line["split"], line["documents"], line["relations"]) for line in lines] == [
        ("train", 500, 1038),
        ("dev", 500, 1012),
        ("test", 500, 1066),
    ]
    assert read_labels(tmp_path) == {"entity_types": ["Chemical", "Disease"], "relation_types": ["CID"]}
    assert sorted(os.listdir(tmp_path)) == ["dev.jsonl", "labels.json", "test.jsonl", "train.jsonl"]
    assert len(read_jsonl(tmp_path / "test.jsonl")) == 500


def test_cli_reports_document_errors_with_exit_code_2(tmp_path, cli, capsys):
    bad = write(tmp_path, "train.txt", "1|t|Aspirin.\n1|a|Pain.\n1\t1\t8\tAspirin\tChemical\tD001\n")
    assert cli(["--format", "bc5cdr", "--input", str(bad), "--output", str(tmp_path / "out")]) == 2
    stderr = capsys.readouterr().err
    assert stderr.startswith("error: ") and f"{bad}:3" in stderr and "mention.text" in stderr
    assert not (tmp_path / "out").exists()


def test_cli_reports_a_missing_input(tmp_path, cli, capsys):
    assert cli(["--format", "docred", "--input", str(tmp_path / "nope"), "--output", str(tmp_path)]) == 2
    assert "input not found" in capsys.readouterr().err


def test_cli_rejects_options_of_the_other_format(tmp_path, cli, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli(["--format", "docred", "--input", str(tmp_path), "--output", str(tmp_path), "--drop-ungrounded"])
    assert exit_info.value.code == 2 and "bc5cdr and bioc only" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        cli(["--format", "bioc", "--input", str(tmp_path), "--output", str(tmp_path), "--require-relations"])
    assert exit_info.value.code == 2 and "bc5cdr only" in capsys.readouterr().err


def jerex_conversion(output) -> list:
    """convert_dataset.py's arguments for the JEREX DocRED fixtures with their types.json."""
    return [
        "--format",
        "docred",
        "--input",
        str(JEREX),
        "--output",
        str(output),
        "--rel-info",
        str(JEREX / "types.json"),
    ]


@needs_data
def test_cli_converts_jerex_fixtures_with_types_json(tmp_path, cli, capsys):
    assert cli(jerex_conversion(tmp_path)) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(line["split"], line["documents"], line["entities"]) for line in lines] == [
        ("train", 2, 24),
        ("dev", 2, 33),
        ("test", 1, 14),
    ]
    assert "country" in read_labels(tmp_path)["relation_types"]


@needs_data
def test_a_converted_docred_corpus_lists_the_relations_train_py_lists_reading_it(tmp_path, cli):
    """labels.json held the 8 relation types the fixtures use; train.py reading the corpus itself lists the 96 its
    types.json declares: one corpus, two models."""
    from simmemre.experiment_simmemre import load_splits

    assert cli(jerex_conversion(tmp_path)) == 0
    _, labels = load_splits({"data_dir": str(JEREX), "format": "docred", "rel_info": str(JEREX / "types.json")})
    assert read_labels(tmp_path)["relation_types"] == labels["relation_types"] and len(labels["relation_types"]) > 8


@pytest.mark.parametrize(
    "name, split",
    [
        ("CDR_TrainingSet.PubTator.txt", "train"),
        ("dev_revised.json", "dev"),
        ("val.jsonl", "dev"),
        ("NCBItrainset_corpus.txt", "train"),
        ("NCBIdevelopset_corpus.txt", "dev"),
        ("NCBItestset_corpus.txt", "test"),
        ("BC5CDRtest.txt", "test"),
        ("latest.json", None),
        ("contest.json", None),
        ("train_dev.json", None),
    ],
)
def test_a_split_file_is_named_by_a_word_of_its_name(name, split):
    """Any substring "test" made a test file (latest.json); whole words missed a split glued to an acronym."""
    from simmemre.data_simmemre import split_from_filename

    assert split_from_filename(name, default=None) == split


@needs_data
def test_a_conversion_stopped_midway_is_refused_until_one_completes(tmp_path, cli, monkeypatch, capsys):
    """Stopped between split files, a conversion left the new train.jsonl beside the earlier dev/test files, and
    train.py read the mix without a word."""
    from simmemre import data_simmemre

    args = jerex_conversion(tmp_path)
    assert cli(args) == 0 and not (tmp_path / data_simmemre.CONVERSION_MARKER).exists()
    written = []
    original = data_simmemre.write_jsonl

    def stopped_after_the_first_split(docs, path):
        if written:
            raise KeyboardInterrupt
        written.append(path)
        return original(docs, path)

    monkeypatch.setattr(data_simmemre, "write_jsonl", stopped_after_the_first_split)
    with pytest.raises(KeyboardInterrupt):
        cli(args)
    with pytest.raises(DocumentError, match="interrupted conversion .*convert the whole corpus again"):
        read_jsonl(tmp_path / "dev.jsonl")
    monkeypatch.setattr(data_simmemre, "write_jsonl", original)
    assert cli(args) == 0
    assert len(read_jsonl(tmp_path / "dev.jsonl")) == 2


# ----------------------------------------------------------------------------------------------------
# datasets
# ----------------------------------------------------------------------------------------------------


@needs_data
def test_datasetdict_round_trip(tmp_path, cdr, redocred):
    write_jsonl(cdr["train"][0][:20], tmp_path / "train.jsonl")
    write_jsonl(redocred["dev"][0][:20], tmp_path / "dev.jsonl")
    # A minimal document: no sentences/words/ids, plus pipeline extras.
    write_jsonl(
        [
            {
                "id": "m",
                "text": "Aspirin hurts.",
                "entities": [
                    {"type": "Chemical", "score": 0.5, "mentions": [{"start": 0, "end": 7, "text": "Aspirin"}]}
                ],
                "relations": [],
            }
        ],
        tmp_path / "test.jsonl",
    )
    dataset = load_documents_as_datasetdict(tmp_path)
    assert set(dataset) == {"train", "dev", "test"}
    assert dataset["train"].features == dataset["dev"].features == dataset["test"].features
    for split in dataset:
        for row, doc in zip(dataset[split], read_jsonl(tmp_path / f"{split}.jsonl")):
            assert row == normalize_document(doc)
    assert list(dataset["train"])[0] == cdr["train"][0][0]  # converted BC5CDR documents are already normal
    minimal = dataset["test"][0]
    assert minimal["entities"] == [{"type": "Chemical", "ids": [], "mentions": [{"start": 0, "end": 7}]}]
    assert [minimal["text"][w["start"] : w["end"]] for w in minimal["words"]] == ["Aspirin", "hurts", "."]


@pytest.mark.parametrize("name", ["docs.jsonl", "docs.jsonl.gz"])
def test_write_jsonl_writes_a_lone_surrogate_escaped_and_reads_it_back(tmp_path, name):
    docs = [
        {"id": "a", "text": "caf\u00e9 \ud800 x", "entities": [], "relations": []},
        {"id": "b", "text": "\u00e9t\u00e9", "entities": [], "relations": []},
    ]
    assert write_jsonl(docs, tmp_path / name) == 2
    assert [doc["text"] for doc in read_jsonl(tmp_path / name)] == [doc["text"] for doc in docs]


def test_append_jsonl_adds_rows_to_the_end_and_makes_the_folder(tmp_path):
    from simmemre.data_simmemre import append_jsonl

    path = tmp_path / "results" / "runs.jsonl"
    append_jsonl([{"b": 1, "a": 2}], path)
    append_jsonl([{"b": 3, "a": 4}, {"c": None}], path, sort_keys=True)
    assert path.read_text(encoding="utf-8") == '{"b": 1, "a": 2}\n{"a": 4, "b": 3}\n{"c": null}\n'


@pytest.mark.parametrize("where", ["entity", "relation"])
def test_a_blank_type_name_is_named_with_its_document_and_field(where):
    """An empty entity type was refused only by the model config, naming no file or document."""
    from simmemre.data_simmemre import DocumentError, validate_document

    doc = {
        "id": "d1",
        "text": "Aspirin causes ulcers.",
        "entities": [
            {"type": " " if where == "entity" else "Chemical", "mentions": [{"start": 0, "end": 7}]},
            {"type": "Disease", "mentions": [{"start": 15, "end": 21}]},
        ],
        "relations": [{"head": 0, "tail": 1, "type": "" if where == "relation" else "CID"}],
    }
    field = "entities[0].type" if where == "entity" else "relations[0].type"
    with pytest.raises(DocumentError, match=re.escape(field) + ".*a type name needs a visible character"):
        validate_document(doc, source="train.jsonl:3")
