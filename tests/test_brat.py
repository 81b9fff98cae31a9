"""brat standoff collections: reading them as schema documents, writing documents (gold or predicted) as them, and
convert_dataset.py both ways."""

import json
from pathlib import Path

import pytest

from simmemre.data_simmemre import (
    DocumentError,
    convert_command,
    convert_corpus,
    read_brat,
    read_jsonl,
    read_pubtator,
    write_brat,
    write_jsonl,
)

BC5CDR = Path(__file__).resolve().parents[2] / "shared" / "data" / "bc5cdr"
needs_data = pytest.mark.skipif(not (BC5CDR / "CDR_DevelopmentSet.PubTator.txt").is_file(), reason="no shared data")

TEXT = "Aspirin (ASA) causes ulcers.\r\nASA and naloxone, given to rats with ulcers."
ANN = (
    "T1\tChemical 0 7\tAspirin\n"
    "T2\tChemical 9 12\tASA\n"
    "T3\tDisease 21 27\tulcers\n"
    "T4\tChemical 30 33\tASA\n"
    "T5\tChemical 38 46\tnaloxone\n"
    "T6\tDisease 67 73\tulcers\n"
    "T7\tDisease 48 53;57 61\tgiven rats\n"
    "*\tEquiv T1 T2\n"
    "N1\tReference T4 MESH:D001241\tAspirin\n"
    "N2\tReference T1 MESH:D001241\tAspirin\n"
    "N3\tReference T3 MESH:D014456\tUlcer\n"
    "N4\tReference T6 MESH:D014456\tUlcer\n"
    "R1\tCID Arg1:T1 Arg2:T3\n"
    "R2\tCID Arg1:T4 Arg2:T6\n"
    "R3\tCID Arg1:T5 Arg2:T7\n"
    "E1\tTreatment:T5\n"
    "A1\tNegated E1\n"
    "#1\tAnnotatorNotes T5\tan opioid antagonist\n"
)


def collection(folder: Path, files: dict) -> Path:
    """Write {name: (text, ann)} as NAME.txt/NAME.ann pairs (texts written as they are, "\\r\\n" kept)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, (text, ann) in files.items():
        (folder / f"{name}.txt").write_bytes(text.encode("utf-8"))
        (folder / f"{name}.ann").write_text(ann, encoding="utf-8")
    return folder


def test_brat_mentions_become_entities_by_equivalence_and_shared_normalization(tmp_path):
    documents, stats = read_brat(collection(tmp_path / "c", {"doc1": (TEXT, ANN)}))
    (doc,) = documents
    assert doc["id"] == "doc1" and doc["text"] == TEXT  # the "\r\n" kept: brat's offsets count it
    assert [(e["type"], e["ids"], [(m["start"], m["end"]) for m in e["mentions"]]) for e in doc["entities"]] == [
        ("Chemical", ["MESH:D001241"], [(0, 7), (9, 12), (30, 33)]),
        ("Disease", ["MESH:D014456"], [(21, 27), (67, 73)]),
        ("Chemical", [], [(38, 46)]),
    ]
    # R1 and R2 join the same entities; R3 names the discontinuous mention, left out with it
    assert doc["relations"] == [{"head": 0, "tail": 1, "type": "CID"}]
    assert (stats["duplicate_relations"], stats["dropped_relations"], stats["dropped_discontinuous_mentions"]) == (
        1,
        1,
        1,
    )
    assert (stats["dropped_events"], stats["dropped_attributes"]) == (1, 1)


@pytest.mark.parametrize("arguments", ["Arg1:T1 Arg2:T2", "Arg2:T2 Arg1:T1", "Chemical:T1 Disease:T2"])
def test_a_brat_relations_head_is_its_arg1_or_else_its_first_argument(tmp_path, arguments):
    ann = f"T1\tChemical 0 7\tAspirin\nT2\tDisease 21 27\tulcers\nR1\tCID {arguments}\n"
    (doc,), _ = read_brat(collection(tmp_path / "c", {"doc1": (TEXT, ann)}))
    assert doc["relations"] == [{"head": 0, "tail": 1, "type": "CID"}]


def test_brat_offsets_that_slice_other_text_name_file_line_document_and_annotation(tmp_path):
    folder = collection(tmp_path / "c", {"doc1": (TEXT, "T1\tChemical 0 7\tAspirin\nT2\tDisease 22 28\tulcers\n")})
    with pytest.raises(DocumentError, match=r"doc1\.ann:2: document doc1: T2: the offsets \(22, 28\) slice 'lcers\.'"):
        read_brat(folder)


@pytest.mark.parametrize(
    "line, message",
    [
        ("R1\tCID Arg1:T1 Arg2:T9", "R1: names 'T9', which is no text-bound annotation"),
        ("T1\tChemical 0 7\tAspirin", "T1: a second annotation with this id"),
        ("T2\tChemical zero 7\tAspirin", "T2: expected 'T<n>\\\\tType start end\\\\ttext'"),
        ("T2\tChemical 0 900\tAspirin", r"T2: offsets \(0, 900\) are not a span of the text"),
        ("X1\tsomething", "not a brat annotation line"),
    ],
)
def test_a_malformed_brat_line_is_refused_with_its_place(tmp_path, line, message):
    folder = collection(tmp_path / "c", {"doc1": (TEXT, f"T1\tChemical 0 7\tAspirin\n{line}\n")})
    with pytest.raises(DocumentError, match=message) as error:
        read_brat(folder)
    assert "doc1.ann:2" in str(error.value)


def test_a_brat_annotation_file_without_its_text_is_refused(tmp_path):
    folder = tmp_path / "c"
    folder.mkdir()
    (folder / "doc1.ann").write_text("T1\tChemical 0 7\tAspirin\n", encoding="utf-8")
    with pytest.raises(DocumentError, match="doc1.ann: no text file doc1.txt beside it"):
        read_brat(folder)


@needs_data
def test_documents_written_as_brat_read_back_the_same(tmp_path):
    documents = read_pubtator(BC5CDR / "CDR_DevelopmentSet.PubTator.txt")[0][:40]
    assert write_brat(documents, tmp_path / "dev") == 40
    back = {doc["id"]: doc for doc in read_brat(tmp_path / "dev")[0]}
    for doc in documents:  # the same entities and relations (the reader orders entities by their first mention)
        assert entity_view(back[doc["id"]]) == entity_view(doc) and back[doc["id"]]["text"] == doc["text"]


def entity_view(doc):
    spans = [tuple((m["start"], m["end"]) for m in entity["mentions"]) for entity in doc["entities"]]
    entities = sorted((e["type"], sorted(e.get("ids") or []), spans[i]) for i, e in enumerate(doc["entities"]))
    relations = sorted((spans[r["head"]], spans[r["tail"]], r["type"]) for r in doc["relations"])
    return entities, relations


def test_predictions_written_as_brat_keep_their_scores_as_notes(tmp_path):
    prediction = {
        "id": "p1",
        "text": "Aspirin causes ulcers.",
        "entities": [
            {"type": "Chemical", "score": 0.91, "mentions": [{"start": 0, "end": 7, "text": "Aspirin", "score": 0.9}]},
            {"type": "Disease", "score": 0.8, "mentions": [{"start": 15, "end": 21, "score": 0.85}]},
        ],
        "relations": [{"head": 0, "tail": 1, "type": "CID", "score": 0.62}],
    }
    write_brat([prediction], tmp_path)
    ann = (tmp_path / "p1.ann").read_text(encoding="utf-8")
    assert "R1\tCID Arg1:T1 Arg2:T2\n" in ann and "AnnotatorNotes R1\trelation score 0.6200" in ann
    (doc,), _ = read_brat(tmp_path)
    assert doc["relations"] == [{"head": 0, "tail": 1, "type": "CID"}] and len(doc["entities"]) == 2
    configuration = (tmp_path / "annotation.conf").read_text(encoding="utf-8").splitlines()
    assert configuration[:4] == ["[entities]", "Chemical", "Disease", "[relations]"]
    assert "CID\tArg1:<ENTITY>, Arg2:<ENTITY>" in configuration


def test_a_prediction_with_an_integer_id_is_written_under_that_number(tmp_path):
    write_brat([{"id": 27, "text": "ASA", "entities": [], "relations": []}], tmp_path)
    assert (tmp_path / "27.txt").read_text(encoding="utf-8") == "ASA" and (tmp_path / "27.ann").exists()


@pytest.mark.parametrize("doc_id", ["../outside", "/tmp/absolute"])
def test_a_document_id_that_leaves_the_brat_folder_is_refused(tmp_path, doc_id):
    with pytest.raises(DocumentError, match="id: not usable as a file name inside the folder"):
        write_brat([{"id": doc_id, "text": "x", "entities": [], "relations": []}], tmp_path / "out")
    assert not (tmp_path / "outside.txt").exists()


def test_convert_dataset_reads_brat_split_folders(tmp_path, capsys):
    corpus = tmp_path / "corpus"
    collection(corpus / "train", {"a": (TEXT, ANN)})
    collection(corpus / "dev", {"b": ("ASA hurts.", "T1\tChemical 0 3\tASA\n")})
    assert convert_command(["--format", "brat", "--input", str(corpus), "--output", str(tmp_path / "out")]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(line["split"], line["documents"], line["dropped_relations"]) for line in lines] == [
        ("train", 1, 1),
        ("dev", 1, 0),
    ]
    assert read_jsonl(tmp_path / "out" / "dev.jsonl")[0]["entities"][0]["mentions"] == [{"start": 0, "end": 3}]
    assert set(convert_corpus("brat", corpus)) == {"train", "dev"}


def test_convert_dataset_writes_predictions_as_brat_leaving_out_error_records(tmp_path, capsys):
    predictions = tmp_path / "predictions.jsonl"
    entity = {"type": "Chemical", "mentions": [{"start": 0, "end": 3}]}
    document = {"id": "p1", "text": "ASA hurts.", "entities": [entity], "relations": []}
    write_jsonl([document, {"id": "p2", "error": "text: missing"}], predictions)
    arguments = ["--format", "jsonl", "--to", "brat", "--input", str(predictions), "--output", str(tmp_path / "brat")]
    assert convert_command(arguments) == 0
    captured = capsys.readouterr()
    assert "left out 1 error record(s)" in captured.err and json.loads(captured.out)["documents"] == 1
    assert (tmp_path / "brat" / "p1.ann").read_text(encoding="utf-8") == "T1\tChemical 0 3\tASA\n"
    assert convert_command(arguments) == 2  # the folder holds annotations now: not written over
    assert "holds .ann files already" in capsys.readouterr().err


def test_training_reads_a_brat_corpus_from_its_data_dir_or_one_folder_per_split(tmp_path):
    from simmemre.experiment_simmemre import load_splits

    corpus = tmp_path / "corpus"
    collection(corpus / "train", {"a": (TEXT, ANN)})
    collection(corpus / "dev", {"b": ("ASA hurts.", "T1\tChemical 0 3\tASA\n")})
    splits, labels = load_splits({"format": "brat", "data_dir": str(corpus)})
    assert [doc["id"] for doc in splits["validation"]] == ["b"] and labels["relation_types"] == ["CID"]
    splits, _ = load_splits({"format": "brat", "train_file": str(corpus / "train")})
    assert [doc["id"] for doc in splits["train"]] == ["a"]
