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
    "T8\tTreatment 48 53\tgiven\n"
    "*\tEquiv T1 T2 T4\n"
    "*\tEquiv T3 T6\n"
    "N1\tReference T4 MESH:D001241\tAspirin\n"
    "N2\tReference T1 MESH:D001241\tAspirin\n"
    "N3\tReference T3 MESH:D014456\tUlcer\n"
    "R1\tCID Arg1:T1 Arg2:T3\n"
    "R2\tCID Arg1:T4 Arg2:T6\n"
    "R3\tCID Arg1:T5 Arg2:T7\n"
    "E1\tTreatment:T8 Theme:T5\n"
    "R4\tEnables Arg1:T2 Arg2:E1\n"
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


def test_brat_mentions_become_entities_by_equivalence_with_their_normalizations(tmp_path):
    documents, stats = read_brat(collection(tmp_path / "c", {"doc1": (TEXT, ANN)}))
    (doc,) = documents
    assert doc["id"] == "doc1" and doc["text"] == TEXT  # the "\r\n" kept: brat's offsets count it
    assert [(e["type"], e["ids"], [(m["start"], m["end"]) for m in e["mentions"]]) for e in doc["entities"]] == [
        ("Chemical", ["MESH:D001241"], [(0, 7), (9, 12), (30, 33)]),
        ("Disease", ["MESH:D014456"], [(21, 27), (67, 73)]),
        ("Chemical", [], [(38, 46)]),
    ]  # (the event's trigger T8 is no entity)
    # R1 and R2 join the same entities; R3 names the discontinuous mention and R4 the event, left out with them
    assert doc["relations"] == [{"head": 0, "tail": 1, "type": "CID"}]
    assert (stats["duplicate_relations"], stats["dropped_relations"], stats["dropped_discontinuous_mentions"]) == (
        1,
        2,
        1,
    )
    assert (stats["dropped_events"], stats["dropped_event_triggers"], stats["dropped_attributes"]) == (1, 1, 1)


def test_mentions_normalized_to_one_id_stay_apart_without_an_equivalence(tmp_path):
    """Same-type mentions sharing an id were merged: "Paris" (Q90) and "Paris Hilton" (Q90, Q167646) became one."""
    text = "Paris Hilton visited Paris."
    ann = ("T1\tLOC 0 5\tParis\nT2\tLOC 21 26\tParis\nN1\tReference T1 Q90\t\nN2\tReference T2 Q90\t\n"
           "R1\tvisited Arg1:T1 Arg2:T2\n")  # fmt: skip
    (doc,), stats = read_brat(collection(tmp_path / "c", {"d": (text, ann)}))
    assert [e["ids"] for e in doc["entities"]] == [["Q90"], ["Q90"]] and doc["relations"][0]["head"] == 0
    assert stats["self_relations"] == 0


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
        ("train", 1, 2),
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


@pytest.mark.parametrize(
    "layout, expected",
    [
        (("train", "val", "test"), {"train": ["a"], "dev": ["b"], "test": ["c"]}),
        (("latest",), {"train": ["a"]}),  # (a folder's name is no split by a part of it)
    ],
)
def test_brat_split_folders_are_named_in_full(tmp_path, layout, expected):
    for name, doc_id in zip(layout, "abc"):
        collection(tmp_path / "corpus" / name, {doc_id: ("ASA.", "T1\tChemical 0 3\tASA\n")})
    source = tmp_path / "corpus" / layout[0] if len(layout) == 1 else tmp_path / "corpus"
    assert {split: [d["id"] for d in docs] for split, (docs, _) in convert_corpus("brat", source).items()} == expected


def test_a_brat_folder_beside_the_split_folders_is_refused(tmp_path):
    """batch3/ beside train/ dev/ test/ was left out without a word."""
    for name in ("train", "dev", "batch3"):
        collection(tmp_path / "corpus" / name, {name: ("ASA.", "T1\tChemical 0 3\tASA\n")})
    with pytest.raises(ValueError, match="batch3 holds annotations but lies beside the split folders dev, train"):
        convert_corpus("brat", tmp_path / "corpus")


def test_a_corpus_root_given_as_the_training_folder_is_refused(tmp_path):
    """data.train_file <root> trained on the dev and test folders inside it."""
    from simmemre.experiment_simmemre import load_splits

    for name in ("train", "dev"):
        collection(tmp_path / "corpus" / name, {name: ("ASA.", "T1\tChemical 0 3\tASA\n")})
    with pytest.raises(SystemExit, match="data.train_file .*: holds the split folders train, dev of a corpus"):
        load_splits({"format": "brat", "train_file": str(tmp_path / "corpus")})


def test_a_text_without_annotations_is_counted(tmp_path):
    folder = collection(tmp_path / "c", {"a": ("ASA.", "T1\tChemical 0 3\tASA\n")})
    (folder / "b.txt").write_text("Unannotated.", encoding="utf-8")
    documents, stats = read_brat(folder)
    assert [d["id"] for d in documents] == ["a"] and stats["dropped_texts_without_ann"] == 1


@pytest.mark.parametrize(
    "line, message",
    [
        ("T2\tChemical 0 7²\tAspirin", "T2: expected 'T<n>\\\\tType start end\\\\ttext', got 'Chemical 0 7²'"),
        ("T2\tChemical 0 7;\tAspirin", "T2: expected 'T<n>\\\\tType start end\\\\ttext'"),
        ("R1\tCID Arg1:T1 Arg2:T1 Arg3:T1", "R1: expected 'R<n>\\\\tType Arg1:T<n> Arg2:T<n>'"),
    ],
)
def test_malformed_offsets_and_arguments_are_refused_with_their_place(tmp_path, line, message):
    """'0 7²' passed isdigit() and ended in a bare int() ValueError; '0 7;' was counted as a discontinuous mention;
    a third argument was read into the relation's type."""
    folder = collection(tmp_path / "c", {"doc1": (TEXT, f"T1\tChemical 0 7\tAspirin\n{line}\n")})
    with pytest.raises(DocumentError, match=message):
        read_brat(folder)


def test_type_names_with_semicolons_and_texts_with_line_separators_read_back(tmp_path):
    """A type "Drug;Chemical" was read back as a discontinuous mention, and a mention holding U+2028 split its line."""
    text = "Aspirin\u2028tablets cause ulcers."
    document = {"id": "d", "text": text, "relations": [{"head": 0, "tail": 1, "type": "CID"}],
                "entities": [{"type": "Drug;Chemical", "mentions": [{"start": 0, "end": 15}]},
                             {"type": "Disease", "mentions": [{"start": 22, "end": 28}]}]}  # fmt: skip
    write_brat([document], tmp_path)
    (doc,), _ = read_brat(tmp_path)
    assert entity_view(doc) == entity_view(document)


def test_documents_sharing_an_id_are_refused_before_any_is_written(tmp_path):
    """Two documents "42": the second's files replaced the first's, and the count said 2."""
    documents = [{"id": i, "text": "ASA", "entities": [], "relations": []} for i in ("7", "42", "42")]
    with pytest.raises(DocumentError, match=r"document 42: id: document 1 has this id"):
        write_brat(documents, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_relation_within_one_entity_is_counted(tmp_path):
    ann = "T1\tChemical 0 7\tAspirin\nT2\tChemical 9 12\tASA\n*\tEquiv T1 T2\nR1\tAbbreviation Arg1:T2 Arg2:T1\n"
    (doc,), stats = read_brat(collection(tmp_path / "c", {"d": (TEXT, ann)}))
    assert doc["relations"] == [{"head": 0, "tail": 0, "type": "Abbreviation"}] and stats["self_relations"] == 1


def test_to_brat_converts_the_split_file_that_training_reads(tmp_path, capsys):
    folder = tmp_path / "converted"
    document = {"id": "plain", "text": "ASA", "entities": [], "relations": []}
    write_jsonl([document], folder / "test.jsonl")
    write_jsonl([{**document, "id": "gz"}], folder / "test.jsonl.gz")
    assert (
        convert_command(["--format", "jsonl", "--to", "brat", "--input", str(folder), "--output", str(tmp_path / "b")])
        == 0
    )
    assert (tmp_path / "b" / "test" / "plain.ann").exists() and not (tmp_path / "b" / "test" / "gz.ann").exists()


def test_to_brat_writes_predictions_with_integer_ids(tmp_path):
    """write_brat took integer ids, but --to brat refused them before: "id: expected str, got int"."""
    write_jsonl([{"id": 123456, "text": "ASA", "entities": [], "relations": []}], tmp_path / "predictions.jsonl")
    arguments = ["--input", str(tmp_path / "predictions.jsonl"), "--output", str(tmp_path / "brat")]
    assert convert_command(["--format", "jsonl", "--to", "brat", *arguments]) == 0
    assert (tmp_path / "brat" / "123456.ann").exists()


def test_a_score_that_is_no_number_is_refused_before_any_file_is_written(tmp_path):
    """A null score passed the checks and failed in formatting, leaving a half-written folder."""
    entity = {"type": "Chemical", "mentions": [{"start": 0, "end": 3}]}
    good = {"id": "a", "text": "ASA", "entities": [{**entity, "score": None}], "relations": []}
    bad = {"id": "b", "text": "ASA", "entities": [{**entity, "score": "high"}], "relations": []}
    with pytest.raises(DocumentError, match=r"document b: entities\[0\]\.score: expected a number, got 'high'"):
        write_brat([good, bad], tmp_path / "out")
    assert not (tmp_path / "out").exists()
    write_brat([good], tmp_path / "out")  # a null score is no score
    assert "AnnotatorNotes" not in (tmp_path / "out" / "a.ann").read_text(encoding="utf-8")


@pytest.mark.integration
def test_a_conversion_whose_reader_stops_early_is_whole(tmp_path):
    """`convert_dataset.py ... | head -1` stopped at the first split's stats line and left a half conversion."""
    import subprocess
    import sys

    corpus = tmp_path / "corpus"
    for name in ("train", "dev", "test"):
        collection(corpus / name, {name: ("ASA hurts.", "T1\tChemical 0 3\tASA\n")})
    script = Path(__file__).resolve().parents[1] / "scripts" / "convert_dataset.py"
    command = [
        sys.executable,
        str(script),
        "--format",
        "brat",
        "--input",
        str(corpus),
        "--output",
        str(tmp_path / "out"),
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()  # a reader gone before the first line
    assert process.wait(timeout=120) in (0, 141) and process.stderr.read() == b""
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "dev.jsonl",
        "labels.json",
        "test.jsonl",
        "train.jsonl",
    ]


@pytest.mark.parametrize(
    "doc_id, problem",
    [
        ("Extreme Makeover: Home Edition", "holds ':'"),
        ("Who?", "holds '?'"),
        ("CON", "device name"),
        ("part/nul.txt", "device name"),
        ("Acme Inc./report", "folder 'Acme Inc.' ends with a dot"),
        ("CONOUT$", "device name"),
    ],
)
def test_ids_that_windows_refuses_as_file_names_are_refused_there_before_any_file_is_written(
    tmp_path, monkeypatch, doc_id, problem
):
    """Re-DocRED's titles hold ':' and '?': on Windows the export stopped halfway with an OSError traceback."""
    from simmemre import data_simmemre

    monkeypatch.setattr(data_simmemre, "WINDOWS_FILE_NAMES", True)
    documents = [{"id": "fine", "text": "x", "entities": [], "relations": []}, {"id": doc_id, "text": "y"}]
    with pytest.raises(DocumentError, match=f"not usable as a file name on Windows.*{problem}"):
        write_brat([{**doc, "entities": [], "relations": []} for doc in documents], tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert data_simmemre.windows_file_name_problem("Aspirin/ulcers 1.2") is None
    assert data_simmemre.windows_file_name_problem("Sammy Davis Jr.") is None  # (written as "Sammy Davis Jr..txt")


def test_a_file_the_system_refuses_ends_the_export_with_one_line(tmp_path, capsys):
    predictions = tmp_path / "predictions.jsonl"
    write_jsonl([{"id": "notes/d1", "text": "ASA hurts.", "entities": [], "relations": []}], predictions)
    (tmp_path / "brat").mkdir()
    (tmp_path / "brat" / "notes").write_text("a file where the id wants a folder", encoding="utf-8")
    arguments = ["--format", "jsonl", "--to", "brat", "--input", str(predictions), "--output", str(tmp_path / "brat")]
    assert convert_command(arguments) == 2
    assert "error: cannot write" in capsys.readouterr().err


def test_an_id_too_long_for_a_file_name_is_refused_before_any_file_is_written(tmp_path):
    """A 245-character id fit as ID.txt, but not as the .ann file's temporary name: the export stopped halfway."""
    documents = [{"id": name, "text": "x", "entities": [], "relations": []} for name in ("first", "x" * 245)]
    with pytest.raises(DocumentError, match="too long for a file name here"):
        write_brat(documents, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_bioNLP_a1_and_a2_files_read_as_one_annotation_file(tmp_path):
    """BioNLP shared tasks (Bacteria Biotopes, REL, GE) give each document's annotations in NAME.a1 (given) and NAME.a2
    (to predict), with their own normalization lines."""
    folder = tmp_path / "BB-rel" / "train"
    folder.mkdir(parents=True)
    text = "Bacillus subtilis lives in soil. It grows in soil."
    (folder / "BB-1.txt").write_text(text, encoding="utf-8")
    (folder / "BB-1.a1").write_text("T1\tTitle 0 32\tBacillus subtilis lives in soil.\n", encoding="utf-8")
    (folder / "BB-1.a2").write_text(
        "T2\tMicroorganism 0 17\tBacillus subtilis\nT3\tHabitat 27 31\tsoil\nT4\tHabitat 45 49\tsoil\n"
        "*\tEquiv T3 T4\nN1\tNCBI_Taxonomy Annotation:T2 Referent:1423\nR1\tLives_In Microorganism:T2 Location:T3\n"
        "T6\tGrowth 36 41\tgrows\nE1\tGrowth:T6 Theme:T2\n",
        encoding="utf-8",
    )
    (doc,), stats = read_brat(folder)
    assert doc["id"] == "BB-1"
    assert [(e["type"], e.get("ids"), len(e["mentions"])) for e in doc["entities"]] == [
        ("Microorganism", ["NCBI_Taxonomy:1423"], 1),
        ("Habitat", [], 2),
    ]
    assert doc["relations"] == [{"head": 0, "tail": 1, "type": "Lives_In"}]
    assert stats["dropped_structure_annotations"] == 1  # the .a1's Title: the text's layout, trained as an entity
    assert (stats["dropped_events"], stats["dropped_event_triggers"]) == (1, 1)
    (folder / "BB-1.a2").write_text("T5\tHabitat 27 31\tsand\n", encoding="utf-8")
    with pytest.raises(DocumentError, match=r"BB-1\.a2:1"):  # errors name the .a2 file and its line
        read_brat(folder)


def test_split_folders_named_by_a_word_of_their_names_keep_dev_and_test_apart(tmp_path):
    """BioNLP's archives unpack to BioNLP-OST-2019_BB-rel_train / _dev / _test: none was a split folder by its whole
    name, so the root was read as one train split, dev and test documents included."""
    for split in ("train", "dev", "test"):
        collection(
            tmp_path / f"BioNLP-OST-2019_BB-rel_{split}", {f"BB-{split}": ("ASA hurts.", "T1\tChemical 0 3\tASA\n")}
        )
    splits = convert_corpus("brat", tmp_path)
    assert {split: [doc["id"] for doc in docs] for split, (docs, _) in splits.items()} == {
        "train": ["BB-train"],
        "dev": ["BB-dev"],
        "test": ["BB-test"],
    }
