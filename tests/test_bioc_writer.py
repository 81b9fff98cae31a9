"""write_bioc and convert_dataset.py --to bioc: schema documents (gold or predicted) as a BioC collection, XML or JSON,
that read_bioc reads back to the same documents."""

import json
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

from simmemre.data_simmemre import DocumentError, convert_command, read_bioc, read_pubtator, write_bioc, write_jsonl

BC5CDR = Path(__file__).resolve().parents[2] / "shared" / "data" / "bc5cdr"
needs_data = pytest.mark.skipif(not (BC5CDR / "CDR_TestSet.PubTator.txt").is_file(), reason="no shared data")

TEXT = "Naloxone (Narcan) reverses the effect of clonidine; it and naloxone cause hypotension. Naloxone and naloxone."


def span(word, after=0):
    start = TEXT.index(word, after)
    return {"start": start, "end": start + len(word)}


def rich_document():
    """Overlapping mentions, an entity of several mentions with other texts, an entity of two ids, two entities of one
    type and text without ids, relations both ways between two entities and one within an entity."""
    return {
        "id": "d1",
        "text": TEXT,
        "entities": [
            {"type": "Chemical", "ids": ["D009270"], "mentions": [span("Naloxone"), span("Narcan")]},
            {"type": "Chemical", "mentions": [span("clonidine"), span("it")]},
            {"type": "Drug", "ids": ["D1", "D2"], "mentions": [span("Naloxone (Narcan)")]},
            {"type": "Disease", "ids": [], "mentions": [span("hypotension")]},
            {"type": "Chemical", "mentions": [span("naloxone")]},
            {"type": "Chemical", "mentions": [span("naloxone", TEXT.index("naloxone") + 1)]},
        ],
        "relations": [
            {"head": 0, "tail": 3, "type": "CID"},
            {"head": 3, "tail": 0, "type": "CID"},
            {"head": 1, "tail": 1, "type": "Same"},
        ],
    }


def schema_view(doc):
    """What a BioC file keeps of a document: no scores, no segmentation, mentions in offset order."""
    entities = [
        {
            "type": entity["type"],
            "ids": list(entity.get("ids") or []),
            "mentions": sorted((m["start"], m["end"]) for m in entity["mentions"]),
        }
        for entity in doc["entities"]
    ]
    relations = [(r["head"], r["tail"], r["type"]) for r in doc["relations"]]
    return {"id": str(doc["id"]), "text": doc["text"], "entities": entities, "relations": relations}


def read_back(documents, path):
    write_bioc(documents, path, format="json" if path.name.endswith((".json", ".json.gz")) else "xml")
    return read_bioc(path)[0]


@pytest.mark.parametrize("name", ["out.xml", "out.json", "out.xml.gz"])
def test_entities_and_relations_read_back_the_same(tmp_path, name):
    (back,) = read_back([rich_document()], tmp_path / name)
    assert schema_view(back) == schema_view(rich_document())


@pytest.mark.parametrize("name", ["out.xml", "out.json"])
def test_offsets_after_characters_outside_the_bmp_and_line_ends_read_back(tmp_path, name):
    """BioC offsets here count code points (as read_bioc and the schema do); XML turns a raw \\r\\n into \\n."""
    text = "😀🧬 Lithium\r\ncaused\rtremor \U0001f9ea & <b>tremor</b>."
    mentions = [{"start": text.index(word), "end": text.index(word) + len(word)} for word in ("Lithium", "tremor")]
    document = {"id": "u1", "text": text, "entities": [{"type": "Chemical", "mentions": mentions}], "relations": []}
    (back,) = read_back([document], tmp_path / name)
    assert back["text"] == text and schema_view(back) == schema_view(document)


def test_entities_without_ids_keep_their_own_mentions(tmp_path):
    """read_bioc groups mentions without ids by their text: "clonidine" and "it" were two entities, the two entities
    "naloxone" one, unless each annotation names its entity."""
    (back,) = read_back([rich_document()], tmp_path / "out.xml")
    assert [len(entity["mentions"]) for entity in back["entities"]] == [2, 2, 1, 1, 1, 1]


def test_a_document_without_entities_and_an_integer_id_reads_back(tmp_path):
    empty = {"id": 27, "text": "", "entities": [], "relations": []}
    documents = [empty, {**empty, "id": "b", "text": " x "}]
    back = read_back(documents, tmp_path / "out.xml")
    assert [schema_view(doc) for doc in back] == [schema_view(doc) for doc in documents]


@needs_data
def test_bc5cdr_test_documents_read_back_the_same(tmp_path):
    documents = read_pubtator(BC5CDR / "CDR_TestSet.PubTator.txt")[0][:20]
    for name in ("test.xml", "test.json"):
        back = read_back(documents, tmp_path / name)
        assert [schema_view(doc) for doc in back] == [schema_view(doc) for doc in documents]


def prediction():
    return {
        "id": "p1",
        "text": "Aspirin causes ulcers.",
        "entities": [
            {"type": "Chemical", "score": 0.91, "mentions": [{"start": 0, "end": 7, "text": "Aspirin", "score": 0.5}]},
            {"type": "Disease", "score": None, "mentions": [{"start": 15, "end": 21}]},
        ],
        "relations": [{"head": 0, "tail": 1, "type": "CID", "score": 0.625}],
    }


def test_scores_are_written_as_infons_and_not_read_back(tmp_path):
    write_bioc([prediction()], tmp_path / "p.json", format="json")
    (document,) = json.loads((tmp_path / "p.json").read_text(encoding="utf-8"))["documents"]
    first, second = document["passages"][0]["annotations"]
    assert (first["infons"]["score"], first["infons"]["entity_score"]) == ("0.5", "0.91")
    assert "score" not in second["infons"] and "entity_score" not in second["infons"]
    assert document["relations"][0]["infons"]["score"] == "0.625"
    (back,), _ = read_bioc(tmp_path / "p.json")
    assert back["relations"] == [{"head": 0, "tail": 1, "type": "CID"}]
    assert "score" not in back["entities"][0] and "score" not in back["entities"][0]["mentions"][0]


def test_the_xml_is_a_bioc_collection_that_elementtree_parses(tmp_path):
    write_bioc([prediction()], tmp_path / "p.xml")
    assert '<!DOCTYPE collection SYSTEM "BioC.dtd">' in (tmp_path / "p.xml").read_text(encoding="utf-8")
    root = ElementTree.parse(tmp_path / "p.xml").getroot()
    assert root.tag == "collection" and [child.tag for child in root] == ["source", "date", "key", "document"]
    document = root.find("document")
    assert [child.tag for child in document] == ["id", "passage", "relation"]
    passage = document.find("passage")
    assert [child.tag for child in passage][:4] == ["infon", "offset", "text", "annotation"]
    annotation = passage.find("annotation")
    assert [child.tag for child in annotation][-2:] == ["location", "text"]
    assert annotation.find("location").attrib == {"offset": "0", "length": "7"}
    assert {infon.get("key"): infon.text for infon in annotation.findall("infon")}["type"] == "Chemical"
    nodes = [node.attrib for node in document.find("relation").findall("node")]
    assert nodes == [{"refid": "0", "role": "Arg1"}, {"refid": "1", "role": "Arg2"}]


def test_a_reader_of_the_identifier_alone_groups_each_entity_with_its_mentions(tmp_path):
    """Tools that know BioC's identifier but not the entity infon see one identifier per entity (a generated name for
    one without ids)."""
    write_bioc([rich_document()], tmp_path / "out.json", format="json")
    (document,) = json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))["documents"]
    identifiers = [annotation["infons"]["identifier"] for annotation in document["passages"][0]["annotations"]]
    assert identifiers == ["D009270", "D009270", "E1", "E1", "D1,D2", "E3", "E4", "E5"]
    assert [(r["infons"]["entity1"], r["infons"]["entity2"]) for r in document["relations"]][:2] == [
        ("D009270", "E3"),
        ("E3", "D009270"),
    ]


def test_drop_ungrounded_drops_written_entities_without_ids_and_their_relations(tmp_path):
    write_bioc([rich_document()], tmp_path / "out.xml")
    (back,), stats = read_bioc(tmp_path / "out.xml", drop_ungrounded=True)
    assert [entity["ids"] for entity in back["entities"]] == [["D009270"], ["D1", "D2"]]
    assert back["relations"] == [] and stats["dropped_ungrounded_entities"] == 4


def changed(change):
    document = rich_document()
    change(document)
    return document


@pytest.mark.parametrize(
    "change, field, message",
    [
        (lambda d: d.update(id="d1 "), "id", "surrounding whitespace"),
        (lambda d: d["entities"][0].update(type="Chemical "), r"entities\[0\]\.type", "surrounding whitespace"),
        (lambda d: d["entities"][0].update(ids=["D1,D2"]), r"entities\[0\]\.ids\[0\]", "no ','"),
        (lambda d: d["entities"][0].update(ids=["D1", "D1"]), r"entities\[0\]\.ids\[1\]", "given twice"),
        (lambda d: d["entities"][0].update(ids=["E0"]), r"entities\[0\]\.ids", "the name written for this entity"),
        (lambda d: d["entities"][1]["mentions"].append(span("it")), r"entities\[1\]\.mentions\[2\]", "given twice"),
        (lambda d: d["relations"].append(d["relations"][0]), r"relations\[3\]", "given twice"),
        (lambda d: d["relations"][0].update(type=" CID"), r"relations\[0\]\.type", "surrounding whitespace"),
        (lambda d: d["relations"][0].update(score="high"), r"relations\[0\]\.score", "expected a number"),
        (lambda d: d.update(text=TEXT.replace(";", "\x00")), "text", rf"character {TEXT.index(';')} \('\\x00'\)"),
        (lambda d: d["entities"][3].update(type="Dis\x0bease"), r"entities\[3\]\.type", "cannot be written in XML"),
        (lambda d: d.update(text=TEXT.replace(";", "\ud800")), "text", "cannot be written in XML 1.0"),
    ],
)
def test_what_would_not_read_back_the_same_is_refused_naming_document_and_field(tmp_path, change, field, message):
    with pytest.raises(DocumentError, match=rf"documents\[1\]: document d1 ?: {field}: .*{message}"):
        write_bioc([prediction(), changed(change)], tmp_path / "out.xml")
    assert list(tmp_path.iterdir()) == []  # (nothing written, not even the good document)


def test_bioc_json_holds_what_xml_cannot(tmp_path):
    document = changed(lambda d: d.update(text=TEXT.replace(";", "\x00")))
    (back,) = read_back([document], tmp_path / "out.json")
    assert schema_view(back) == schema_view(document)


def test_bioc_json_passages_carry_every_key_of_the_format(tmp_path):
    """The reference `bioc` library read a passage's "sentences" unconditionally and failed on the written JSON."""
    write_bioc([rich_document()], tmp_path / "out.json", format="json")
    (document,) = json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))["documents"]
    assert set(document) == {"id", "infons", "passages", "relations"}
    assert set(document["passages"][0]) == {"offset", "infons", "text", "sentences", "annotations", "relations"}


def test_no_documents_are_refused_rather_than_written_as_an_empty_collection(tmp_path):
    """BioC's DTD requires a document in a collection; the empty file was one other tools refuse."""
    with pytest.raises(ValueError, match="no documents to write"):
        write_bioc([], tmp_path / "out.xml")
    assert not (tmp_path / "out.xml").exists()


def test_a_repeated_document_id_is_refused(tmp_path):
    with pytest.raises(DocumentError, match=r"documents\[1\]: document p1: id: document 0 has this id too"):
        write_bioc([prediction(), prediction()], tmp_path / "out.xml")


def test_convert_dataset_writes_predictions_as_bioc_leaving_out_error_records(tmp_path, capsys):
    write_jsonl([prediction(), {"id": "p2", "error": "text: missing"}], tmp_path / "predictions.jsonl")
    output = tmp_path / "predictions.xml"
    arguments = ["--format", "jsonl", "--to", "bioc", "--input", str(tmp_path / "predictions.jsonl")]
    assert convert_command([*arguments, "--output", str(output)]) == 0
    captured = capsys.readouterr()
    assert "left out 1 error record(s)" in captured.err and json.loads(captured.out)["documents"] == 1
    assert json.loads(captured.out)["split"] is None  # (it said "train" for a predictions file)
    assert [schema_view(doc) for doc in read_bioc(output)[0]] == [schema_view(prediction())]
    assert convert_command([*arguments, "--output", str(output)]) == 2  # not written over
    assert "exists already" in capsys.readouterr().err


def test_convert_dataset_writes_a_folder_of_splits_as_one_bioc_file_per_split(tmp_path, capsys):
    write_jsonl([rich_document()], tmp_path / "converted" / "train.jsonl")
    write_jsonl([prediction()], tmp_path / "converted" / "test.jsonl")
    arguments = ["--format", "jsonl", "--input", str(tmp_path / "converted"), "--output", str(tmp_path / "bioc")]
    assert convert_command([*arguments, "--to", "bioc-json"]) == 0
    assert sorted(path.name for path in (tmp_path / "bioc").iterdir()) == ["test.json", "train.json"]
    assert schema_view(read_bioc(tmp_path / "bioc" / "train.json")[0][0]) == schema_view(rich_document())
    assert convert_command([*arguments, "--to", "bioc-json"]) == 2  # the folder holds a collection now
    assert "holds .json files already" in capsys.readouterr().err
    assert convert_command([*arguments, "--to", "bioc"]) == 0  # (XML beside it: another collection's suffix)
    assert (tmp_path / "bioc" / "train.xml").is_file()
