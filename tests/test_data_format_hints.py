"""Files given in another format than the one named (a copied BC5CDR config over JSON Lines, and the reverse), the
type lists that a corpus declares beside its documents (JEREX's DocRED types.json, brat's annotation.conf), and brat
exports that keep the types no document uses."""

import json

import pytest
from helpers import DOCRED_DOCUMENT, GOLD_DOCUMENT

from simmemre import data_simmemre
from simmemre.data_simmemre import DocumentError, convert_command, read_brat, read_jsonl, write_brat, write_jsonl
from simmemre.experiment_simmemre import load_splits

DOCUMENT = {**GOLD_DOCUMENT, "id": "d1"}
# The types.json of JEREX's DocRED joint split (short and verbose names).
JEREX_TYPES = {
    "entities": {name: {"short": name, "verbose": name} for name in ("LOC", "PER")},
    "relations": {
        "P17": {"symmetric": False, "short": "P17", "verbose": "country"},
        "P27": {"symmetric": False, "short": "P27", "verbose": "country of citizenship"},
    },
}


def write(path, content):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content, encoding="utf-8")
    return path


def jerex_folder(folder):
    write(folder / "train_joint.json", json.dumps([DOCRED_DOCUMENT]))
    write(folder / "types.json", json.dumps(JEREX_TYPES))
    return folder


# ----------------------------------------------------------------------------------------------------
# JSON Lines given as another format, and PubTator given as JSON Lines
# ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("marker", ["|t|", "|a|"])
def test_a_json_lines_document_holding_a_pubtator_marker_is_named_json_lines(tmp_path, marker):
    """Its text's "|t|" made the JSON up to the "|" a PubTator title: one such document was read without an error,
    with that JSON as its id."""
    line = json.dumps({**DOCUMENT, "text": f"Aspirin{marker}causes ulcers."})
    path = write(tmp_path / "train.json", line + "\n")
    with pytest.raises(DocumentError) as error:
        data_simmemre.read_pubtator(path)
    message = str(error.value)
    assert message.startswith(f"{path}:1: malformed line")  # (no document: the line is none)
    assert "SimMemRE JSON Lines documents are read without a format" in message and "\n" not in message


def test_the_json_lines_hint_names_the_format_convert_dataset_reads_it_with(tmp_path):
    path = tmp_path / "train.txt"
    write_jsonl([DOCUMENT, {**DOCUMENT, "id": "d2"}], path)
    with pytest.raises(DocumentError, match=r"leave data\.format out; convert_dataset\.py: --format jsonl"):
        data_simmemre.read_pubtator(path)


@pytest.mark.parametrize(("reader", "name"), [("read_docred", "train.json"), ("read_bioc", "train.json")])
def test_json_lines_given_to_a_json_corpus_reader_is_named_json_lines(tmp_path, reader, name):
    """The docred and BioC JSON readers said only "invalid JSON (Extra data)" at line 2."""
    path = tmp_path / name
    write_jsonl([DOCUMENT, {**DOCUMENT, "id": "d2"}], path)
    with pytest.raises(DocumentError) as error:
        getattr(data_simmemre, reader)(path)
    message = str(error.value)
    assert message.startswith(f"{path}:2: invalid JSON (Extra data)")
    assert "it looks like JSON: SimMemRE JSON Lines documents are read without a format" in message


def test_a_pubtator_file_read_as_json_lines_is_named_pubtator(tmp_path):
    """read_jsonl said "invalid JSON (Extra data at column 2)": the PMID reads as a JSON number."""
    path = write(tmp_path / "train.txt", "1|t|Aspirin.\n1|a|Pain.\n1\t0\t7\tAspirin\tChemical\tD001\n")
    with pytest.raises(DocumentError) as error:
        read_jsonl(path)
    message = str(error.value)
    assert message.startswith(f"{path}:1: invalid JSON")
    assert "it looks like PubTator (PMID|t|title): read it with data.format bc5cdr" in message


def bioc_json_collection():
    passage = {"offset": 0, "text": "Aspirin.", "infons": {}, "annotations": [], "relations": []}
    return {"source": "PubTator", "documents": [{"id": "1", "passages": [passage], "relations": []}]}


CORPUS_FILES = {  # name -> (content, format)
    "pubtator.txt": ("1|t|Aspirin.\n1|a|Pain.\n1\t0\t7\tAspirin\tChemical\tD001\n", "bc5cdr"),
    "bioc.xml": (
        "<?xml version='1.0' encoding='UTF-8'?><!DOCTYPE collection SYSTEM 'BioC.dtd'>\n<collection><source>PubTator"
        "</source><document><id>1</id><passage><offset>0</offset><text>Aspirin.</text></passage></document>"
        "</collection>\n",
        "bioc",
    ),
    "bioc.json": (json.dumps(bioc_json_collection(), indent=1), "bioc"),
    "bioc_one_line.json": (json.dumps(bioc_json_collection()), "bioc"),
    "docred.json": (json.dumps([DOCRED_DOCUMENT]), "docred"),
    "docred_pretty.json": (json.dumps([DOCRED_DOCUMENT], indent=2), "docred"),
}


@pytest.mark.parametrize("name", sorted(CORPUS_FILES))
def test_a_corpus_file_read_as_json_lines_is_named_with_its_format(tmp_path, name):
    """Only PubTator was named: BioC and DocRED files said "invalid JSON", "missing required field" or "expected a
    JSON object, got list", and not which data.format reads them."""
    content, corpus_format = CORPUS_FILES[name]
    path = write(tmp_path / name, content)
    with pytest.raises(DocumentError) as error:
        read_jsonl(path)
    message = str(error.value)
    assert message.startswith(f"{path}:1: ") and "\n" not in message
    assert message.endswith(
        f": read it with data.format {corpus_format} (convert_dataset.py: --format {corpus_format})"
    )
    assert data_simmemre.corpus_format_of(path) == corpus_format


@pytest.mark.parametrize(
    "content",
    [
        json.dumps({**DOCUMENT, "text": "Aspirin|t|causes ulcers."}, separators=(",", ":")),  # (a PubTator marker)
        json.dumps({**DOCUMENT, "text": 'a "documents": [ and "passages": quoted'}),
        "1|t| is how PubTator writes a title, this note says.\nNothing more.",
        "<collection> is BioC's root element, says this plain text.",
    ],
)
def test_json_lines_and_plain_text_are_no_corpus_format(tmp_path, content):
    assert data_simmemre.corpus_format_of(write(tmp_path / "file.txt", content + "\n")) is None


# BioC's key names in a SimMemRE document's own fields (the review's j4.jsonl and j5.jsonl).
BIOC_KEY_NAMES = {"documents": [], "passages": []}


@pytest.mark.parametrize(
    "content",
    [
        json.dumps({"id": "a", "text": "x", "meta": BIOC_KEY_NAMES}),
        json.dumps({"id": "a", "words": ["x"], "meta": BIOC_KEY_NAMES}),
        json.dumps({"id": "a", "text": "x", "documents": [{"passages": []}]}),  # (a top-level text: a document)
        '{"documents": 1, "passages": 2} is how my note starts',
    ],
)
def test_bioc_key_names_below_the_top_or_in_plain_text_are_no_bioc_collection(tmp_path, content):
    """The keys "documents" and "passages" anywhere in the first line made it a BioC collection; only a top-level
    "documents" list of objects with "passages" is one."""
    assert data_simmemre.corpus_format_of(write(tmp_path / "file.jsonl", content + "\n")) is None


def test_read_jsonl_names_no_bioc_collection_for_a_document_with_bioc_key_names(tmp_path):
    """Its error (a missing field) ended in "it looks like a BioC collection: read it with data.format bioc"."""
    path = write(tmp_path / "train.jsonl", json.dumps({"id": "a", "text": "x", "meta": BIOC_KEY_NAMES}) + "\n")
    with pytest.raises(DocumentError) as error:
        read_jsonl(path)
    assert str(error.value) == f"{path}:1: document a: entities: missing required field"


LONG_TEXT = "Aspirin causes ulcers. " * 3000  # (69 kB: more than corpus_format_of reads, so nothing parses whole)


def large_bioc_collection():
    passage = {"offset": 0, "text": LONG_TEXT, "infons": {}, "annotations": [], "relations": []}
    return {
        "source": "PubTator",
        "date": "",
        "key": "",
        "infons": {},
        "documents": [{"id": "1", "passages": [passage]}],
    }


LARGE_FILES = {  # name -> (content, format)
    "bioc_pretty.json": (json.dumps(large_bioc_collection(), indent=2), "bioc"),
    "bioc_one_line.json": (json.dumps(large_bioc_collection()), "bioc"),  # (as write_bioc writes BioC JSON)
    "docred.json": (json.dumps([DOCRED_DOCUMENT] * 400), "docred"),
    "document_bioc_key_names.jsonl": (json.dumps({"id": "a", "meta": BIOC_KEY_NAMES, "text": LONG_TEXT}), None),
    "document_bioc_shaped_field.jsonl": (
        json.dumps({"documents": [{"passages": []}], "id": "a", "text": LONG_TEXT}),
        None,
    ),
    "documents_docred_key_names.json": (json.dumps([{"id": "a", "meta": {"vertexSet": []}, "text": LONG_TEXT}]), None),
}


@pytest.mark.parametrize("name", sorted(LARGE_FILES))
def test_a_file_too_large_to_parse_from_its_start_is_judged_by_its_top_level_keys(tmp_path, name):
    """Key names anywhere in the first 64 KiB made a large SimMemRE document BioC (or an array of them DocRED)."""
    content, corpus_format = LARGE_FILES[name]
    assert len(content) > data_simmemre._FORMAT_SNIFF_BYTES
    assert data_simmemre.corpus_format_of(write(tmp_path / name, content + "\n")) == corpus_format


# ----------------------------------------------------------------------------------------------------
# DocRED: JEREX's types.json beside the split files
# ----------------------------------------------------------------------------------------------------


def test_a_docred_folder_with_jerex_types_json_names_its_relations(tmp_path):
    """Only rel_info.json was looked for: JEREX's folder (train_joint.json ... types.json) gave relation types P17."""
    corpus = data_simmemre.convert_corpus("docred", jerex_folder(tmp_path / "jerex"))
    (document,) = corpus["train"][0]
    assert document["relations"] == [{"head": 0, "tail": 1, "type": "country"}]


def test_convert_dataset_labels_hold_the_types_a_jerex_types_json_declares(tmp_path, capsys):
    folder = jerex_folder(tmp_path / "jerex")
    assert convert_command(["--format", "docred", "--input", str(folder), "--output", str(tmp_path / "out")]) == 0
    labels = json.loads((tmp_path / "out" / "labels.json").read_text(encoding="utf-8"))
    assert labels == {"entity_types": ["LOC", "PER"], "relation_types": ["country", "country of citizenship"]}


# ----------------------------------------------------------------------------------------------------
# brat: annotation.conf declares the types, used or not
# ----------------------------------------------------------------------------------------------------


def test_write_brat_declares_the_types_no_document_uses(tmp_path):
    write_brat([DOCUMENT], tmp_path, entity_types=["Chemical", "Gene"], relation_types=["CID", "Treats"])
    declared = data_simmemre.read_brat_declared_types(tmp_path)
    assert declared == {"entity_types": ["Chemical", "Disease", "Gene"], "relation_types": ["CID", "Treats"]}
    assert read_brat(tmp_path)[0][0]["relations"] == DOCUMENT["relations"]  # (the documents read back as before)


def test_the_declared_types_of_a_users_annotation_conf_leave_out_brats_special_lines(tmp_path):
    configuration = (
        "# a comment\n[entities]\nChemical\n!Biological_entity\n\tGene\n\t\tProtein\n-----\nDisease\n\n"
        "[relations]\n<ORG>=Gene|Protein\nInhibits\tArg1:Chemical, Arg2:<ORG>\nInhibits\tArg1:Gene, Arg2:Gene\n"
        "CID\tArg1:Chemical, Arg2:Disease\nEquiv\tArg1:Chemical, Arg2:Chemical, <REL-TYPE>:symmetric-transitive\n"
        "<OVERLAP>\tArg1:<ENTITY>, Arg2:<ENTITY>, <OVL-TYPE>:<ANY>\n[events]\nBinding\tTheme:Protein\n"
        "[attributes]\nNegation\tArg:<EVENT>\n"
    )
    write_brat([DOCUMENT], tmp_path / "corpus" / "train")
    write(tmp_path / "corpus" / "train" / "annotation.conf", configuration)  # (the user's, over the one written)
    assert data_simmemre.read_brat_declared_types(tmp_path / "corpus") == {
        "entity_types": ["Chemical", "Disease", "Gene", "Protein"],
        "relation_types": ["CID", "Inhibits"],
    }


def test_a_later_export_replaces_only_its_own_annotation_conf(tmp_path):
    """The annotation.conf of an earlier export (marked) is replaced; the user's own (unmarked) is kept."""
    ours, users = tmp_path / "ours", tmp_path / "users"
    write_brat([DOCUMENT], ours, relation_types=["Treats"])
    write_brat([DOCUMENT], ours, relation_types=["Prevents"])
    assert data_simmemre.read_brat_declared_types(ours)["relation_types"] == ["CID", "Prevents"]
    own = write(
        users / "annotation.conf", "[entities]\nChemical\nDisease\n[relations]\nCID\tArg1:<ENTITY>, Arg2:<ENTITY>\n"
    )
    write_brat([DOCUMENT], users, relation_types=["Treats"])
    assert own.read_text(encoding="utf-8").endswith("CID\tArg1:<ENTITY>, Arg2:<ENTITY>\n")


def test_training_declares_the_types_of_a_brat_corpus(tmp_path, capsys):
    """train.py's label lists take a corpus's declared types (as DocRED's rel_info); brat's were not read, and no
    corpus's declared entity types were, and the declared types are not named as untrained."""
    write_brat([DOCUMENT], tmp_path / "corpus" / "train", entity_types=["Gene"], relation_types=["Treats"])
    write_brat(
        [{**DOCUMENT, "id": "d2"}], tmp_path / "corpus" / "test", entity_types=["Gene"], relation_types=["Treats"]
    )
    _, labels = load_splits({"data_dir": str(tmp_path / "corpus"), "format": "brat"})
    assert labels == {"entity_types": ["Chemical", "Disease", "Gene"], "relation_types": ["CID", "Treats"]}
    assert "occur in the validation or test split but not in train" not in capsys.readouterr().err


def test_a_brat_round_trip_through_convert_dataset_keeps_the_label_lists(tmp_path, capsys):
    """JSON Lines with labels.json -> brat -> JSON Lines: the types no document uses were lost on the way back."""
    source = tmp_path / "source"
    write_jsonl([DOCUMENT], source / "train.jsonl")
    write_jsonl([{**DOCUMENT, "id": "d2", "relations": []}], source / "dev.jsonl")
    data_simmemre.write_labels(source, ["Chemical", "Disease", "Gene"], ["CID", "Treats"])
    brat, back = str(tmp_path / "brat"), str(tmp_path / "back")
    assert convert_command(["--format", "jsonl", "--to", "brat", "--input", str(source), "--output", brat]) == 0
    assert convert_command(["--format", "brat", "--input", brat, "--output", back]) == 0
    assert data_simmemre.read_labels(back) == data_simmemre.read_labels(source)
