"""BioC collections (XML or JSON): reading them as schema documents, alone and through convert_dataset.py and
training's data section."""

import gzip
import json
from pathlib import Path

import pytest

from simmemre.data_simmemre import DocumentError, convert_command, read_bioc, read_jsonl, read_pubtator

BC5CDR = Path(__file__).resolve().parents[2] / "shared" / "data" / "bc5cdr"
needs_data = pytest.mark.skipif(not (BC5CDR / "CDR_DevelopmentSet.BioC.xml.gz").is_file(), reason="no shared data")

TITLE = "BRAF V600E and vemurafenib in melanoma."
ABSTRACT = "Vemurafenib (PLX4032) inhibits BRAF in melanoma and skin cancer."
ABSTRACT_AT = len(TITLE) + 1


def annotation(number, start, text, entity_type, identifier=None, **infons):
    infons = {"type": entity_type, **({"identifier": identifier} if identifier else {}), **infons}
    return {"id": str(number), "infons": infons, "text": text, "locations": [{"offset": start, "length": len(text)}]}


def biored_document(relations=None, **changes):
    """A BioRED-style BioC JSON document: ids in "identifier" ("," between several, "|" inside a variant id),
    relations between ids in entity1/entity2 infons."""
    title = [
        annotation(0, 0, "BRAF", "GeneOrGeneProduct", "673"),
        annotation(1, 5, "V600E", "SequenceVariant", "p|SUB|V|600|E"),
        annotation(2, 15, "vemurafenib", "ChemicalEntity", "C551177"),
        annotation(3, 30, "melanoma", "DiseaseOrPhenotypicFeature", "D008545"),
    ]
    abstract = [
        annotation(4, ABSTRACT_AT + 0, "Vemurafenib", "ChemicalEntity", "C551177"),
        annotation(5, ABSTRACT_AT + 13, "PLX4032", "ChemicalEntity", "C551177"),
        annotation(6, ABSTRACT_AT + 31, "BRAF", "GeneOrGeneProduct", "673"),
        annotation(7, ABSTRACT_AT + 39, "melanoma and skin cancer", "DiseaseOrPhenotypicFeature", "D008545,D012878"),
    ]
    if relations is None:
        relations = [
            {
                "id": "R0",
                "infons": {"entity1": "C551177", "entity2": "673", "type": "Negative_Correlation", "novel": "No"},
            },
            {"id": "R1", "infons": {"entity1": "p|SUB|V|600|E", "entity2": "D008545", "type": "Association"}},
        ]
    document = {
        "id": "99",
        "passages": [
            {"infons": {"type": "title"}, "offset": 0, "text": TITLE, "annotations": title},
            {"infons": {"type": "abstract"}, "offset": ABSTRACT_AT, "text": ABSTRACT, "annotations": abstract},
        ],
        "relations": relations,
    }
    return {**document, **changes}


def write_collection(path: Path, documents) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"source": "test", "documents": documents}), encoding="utf-8")
    return path


def entity_summary(doc):
    return [
        (entity["type"], entity["ids"], [doc["text"][m["start"] : m["end"]] for m in entity["mentions"]])
        for entity in doc["entities"]
    ]


@needs_data
def test_bc5cdr_bioc_xml_reads_as_its_pubtator_files_do():
    """The same 500 dev documents, entity for entity and relation for relation (the train and test copies too)."""
    bioc, stats = read_bioc(BC5CDR / "CDR_DevelopmentSet.BioC.xml.gz")
    pubtator, _ = read_pubtator(BC5CDR / "CDR_DevelopmentSet.PubTator.txt")
    assert len(bioc) == 500 and bioc == pubtator
    # The parts of a composite mention are annotations of their own in BioC; the composite span is kept.
    assert (stats["composite_mentions"], stats["dropped_composite_parts"], stats["relations"]) == (89, 182, 1012)


def test_biored_json_groups_mentions_by_id_and_relates_entities_by_id(tmp_path):
    (doc,), stats = read_bioc(write_collection(tmp_path / "Train.BioC.JSON", [biored_document()]))
    assert doc["text"] == TITLE + " " + ABSTRACT
    assert entity_summary(doc) == [
        ("GeneOrGeneProduct", ["673"], ["BRAF", "BRAF"]),
        ("SequenceVariant", ["p|SUB|V|600|E"], ["V600E"]),  # a variant id keeps its "|"
        ("ChemicalEntity", ["C551177"], ["vemurafenib", "Vemurafenib", "PLX4032"]),
        ("DiseaseOrPhenotypicFeature", ["D008545"], ["melanoma", "melanoma and skin cancer"]),
        ("DiseaseOrPhenotypicFeature", ["D012878"], ["melanoma and skin cancer"]),  # "D008545,D012878": both
    ]
    assert doc["relations"] == [
        {"head": 2, "tail": 0, "type": "Negative_Correlation"},
        {"head": 1, "tail": 3, "type": "Association"},
    ]
    assert stats["multi_id_mentions"] == 1
    # The abstract starts a sentence of its own.
    assert any(sentence["start"] == ABSTRACT_AT for sentence in doc["sentences"])


def test_bioc_xml_with_sentence_passages_and_node_relations(tmp_path):
    xml = (
        "<?xml version='1.0' encoding='UTF-8'?><!DOCTYPE collection SYSTEM 'BioC.dtd'><collection><source>x</source>"
        "<document><id>d1</id><passage><offset>0</offset>"
        "<sentence><offset>0</offset><text>Lithium caused tremor.</text>"
        "<annotation id='T1'><infon key='type'>Chemical</infon><location offset='0' length='7'/><text>Lithium</text>"
        "</annotation>"
        "<annotation id='T2'><infon key='type'>Disease</infon><location offset='15' length='6'/><text>tremor</text>"
        "</annotation></sentence>"
        "<sentence><offset>23</offset><text>The tremor stopped.</text>"
        "<annotation id='T3'><infon key='type'>Disease</infon><location offset='27' length='6'/><text>tremor</text>"
        "</annotation></sentence></passage>"
        "<relation id='R1'><infon key='type'>CID</infon><node refid='T1' role='Chemical'/><node refid='T3' "
        "role='Disease'/></relation></document></collection>"
    )
    path = tmp_path / "test.xml"
    path.write_text(xml, encoding="utf-8")
    (doc,), _ = read_bioc(path)
    assert doc["text"] == "Lithium caused tremor. The tremor stopped."
    # Without ids, mentions of one type and text are one entity (as read_pubtator groups id -1).
    assert entity_summary(doc) == [("Chemical", [], ["Lithium"]), ("Disease", [], ["tremor", "tremor"])]
    assert doc["relations"] == [{"head": 0, "tail": 1, "type": "CID"}]
    assert [s["start"] for s in doc["sentences"]] == [0, 23]


def test_discontinuous_annotations_and_the_relations_naming_them_are_left_out_and_counted(tmp_path):
    document = biored_document()
    split = {"offset": 0, "length": 4}, {"offset": 30, "length": 8}
    document["passages"][0]["annotations"].append(
        {"id": "8", "infons": {"type": "DiseaseOrPhenotypicFeature", "identifier": "D999"}, "locations": list(split)}
    )
    document["relations"].append({"id": "R2", "infons": {"entity1": "C551177", "entity2": "D999", "type": "Cause"}})
    (doc,), stats = read_bioc(write_collection(tmp_path / "dev.json", [document]))
    assert (stats["dropped_discontinuous_mentions"], stats["dropped_relations"]) == (1, 1)
    assert len(doc["entities"]) == 5 and len(doc["relations"]) == 2


@pytest.mark.parametrize(
    "change, field, message",
    [
        ({"text": "melanom"}, "passages[0].annotations[id '3'].text", "but the annotation's text is 'melanom'"),
        ({"locations": [{"offset": 30, "length": 99}]}, "passages[0].annotations[id '3'].locations[0]", "outside"),
        ({"locations": [{"offset": "x", "length": 8}]}, "locations[0].offset", "non-negative integer"),
        ({"infons": {"identifier": "D008545"}}, "passages[0].annotations[id '3'].infons.type", "'type' infon"),
    ],
)
def test_a_bad_annotation_is_named_by_file_document_and_annotation(tmp_path, change, field, message):
    document = biored_document()
    document["passages"][0]["annotations"][3].update(change)
    path = write_collection(tmp_path / "train.json", [document])
    with pytest.raises(DocumentError, match=message) as error:
        read_bioc(path)
    assert error.value.source == str(path) and error.value.doc_id == "99" and field in error.value.field


@pytest.mark.parametrize(
    "relation, message",
    [
        ({"entity1": "C551177", "entity2": "D404", "type": "Association"}, "no entity with id 'D404'"),
        ({"entity1": "C551177", "entity2": "673"}, "needs a 'type' or 'relation' infon"),
        ({"type": "Association", "Chemical": "C551177"}, "cannot tell the relation's two arguments"),
    ],
)
def test_a_relation_whose_arguments_cannot_be_found_is_refused(tmp_path, relation, message):
    path = write_collection(tmp_path / "train.json", [biored_document([{"id": "R9", "infons": relation}])])
    with pytest.raises(DocumentError, match=message) as error:
        read_bioc(path)
    assert "relations[id 'R9']" in error.value.field


def test_overlapping_passages_malformed_xml_and_repeated_ids_are_refused(tmp_path):
    document = biored_document()
    document["passages"][1]["offset"] = 10
    with pytest.raises(DocumentError, match="offset 10 overlaps the text before it"):
        read_bioc(write_collection(tmp_path / "a.json", [document]))
    with pytest.raises(DocumentError, match="duplicate document id"):
        read_bioc(write_collection(tmp_path / "b.json", [biored_document(), biored_document()]))
    broken = tmp_path / "c.xml.gz"
    with gzip.open(broken, "wt", encoding="utf-8") as handle:
        handle.write("<collection>\n<document><id>1</id>\n<passage></document></collection>")
    with pytest.raises(DocumentError, match="not well-formed BioC XML") as error:
        read_bioc(broken)
    assert error.value.source == f"{broken}:3"


def test_convert_dataset_reads_a_folder_of_bioc_json_splits(tmp_path, capsys):
    corpus = tmp_path / "BioRED"
    write_collection(corpus / "Train.BioC.JSON", [biored_document()])
    write_collection(corpus / "Dev.BioC.JSON", [biored_document(id="100")])
    (corpus / "README.md").write_text("not a split", encoding="utf-8")
    assert convert_command(["--format", "bioc", "--input", str(corpus), "--output", str(tmp_path / "out")]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(line["split"], line["documents"], line["relations"]) for line in lines] == [("train", 1, 2), ("dev", 1, 2)]
    assert [doc["id"] for doc in read_jsonl(tmp_path / "out" / "dev.jsonl")] == ["100"]


def test_training_reads_a_bioc_corpus_from_its_data_dir(tmp_path):
    from simmemre.experiment_simmemre import load_splits

    corpus = tmp_path / "corpus"
    write_collection(corpus / "train.json", [biored_document()])
    write_collection(corpus / "dev.json", [biored_document(id="100")])
    splits, labels = load_splits({"format": "bioc", "data_dir": str(corpus)})
    assert [doc["id"] for doc in splits["validation"]] == ["100"]
    assert labels["relation_types"] == ["Association", "Negative_Correlation"]


def test_document_level_annotations_count_like_passage_ones(tmp_path):
    """Python's bioc library writes document-level annotations: in JSON they vanished, in XML a relation naming one
    stopped the file."""
    document = biored_document(relations=[])
    document["annotations"] = [annotation(9, ABSTRACT_AT + 57, "cancer", "DiseaseOrPhenotypicFeature", "D009369")]
    document["relations"] = [{"id": "R0", "infons": {"type": "Cause"}, "nodes": [{"refid": "2"}, {"refid": "9"}]}]
    (doc,), _ = read_bioc(write_collection(tmp_path / "train.json", [document]))
    summary = entity_summary(doc)
    cancer = summary.index(("DiseaseOrPhenotypicFeature", ["D009369"], ["cancer"]))
    vemurafenib = next(i for i, (_, ids, _) in enumerate(summary) if ids == ["C551177"])
    assert doc["relations"] == [{"head": vemurafenib, "tail": cancer, "type": "Cause"}]


def test_relations_of_other_than_two_entities_are_left_out_and_counted(tmp_path):
    """A relation of three nodes (an event) or one naming another relation stopped the whole file; one written Arg2
    first came out reversed."""
    nodes = [{"refid": "0"}, {"refid": "2"}, {"refid": "3"}]
    relations = [
        {
            "id": "R0",
            "infons": {"type": "Cause"},
            "nodes": [{"refid": "3", "role": "Arg2"}, {"refid": "2", "role": "Arg1"}],
        },
        {"id": "R1", "infons": {"type": "Event"}, "nodes": nodes},
        {"id": "R2", "infons": {"type": "Because"}, "nodes": [{"refid": "R0"}, {"refid": "0"}]},
    ]
    (doc,), stats = read_bioc(write_collection(tmp_path / "train.json", [biored_document(relations)]))
    assert doc["relations"] == [{"head": 2, "tail": 3, "type": "Cause"}] and stats["dropped_relations"] == 2


def test_ambiguous_left_out_and_padded_arguments(tmp_path):
    document = biored_document(relations=[])
    # One id under two types: which entity the relation means cannot be told.
    document["passages"][1]["annotations"].append(annotation(8, ABSTRACT_AT + 31, "BRAF", "ChemicalEntity", "673"))
    document["passages"][0]["annotations"].append(
        {"id": "10", "infons": {"type": "Drug", "identifier": "X1"}, "locations": [{"offset": 0, "length": 2}] * 2}
    )
    document["relations"] = [
        {"id": "R0", "infons": {"entity1": "C551177", "entity2": "673", "type": "Bind"}},
        {"id": "R1", "infons": {"type": "Treats", "Drug": "X1", "ChemicalEntity": "C551177"}},  # Drug left out
        {"id": "R2", "infons": {"entity1": "\n C551177 ", "entity2": "D008545", "type": " Treats\n"}},
    ]
    (doc,), stats = read_bioc(write_collection(tmp_path / "train.json", [document]))
    assert (stats["dropped_ambiguous_relations"], stats["dropped_relations"]) == (1, 1)
    assert doc["relations"] == [{"head": 2, "tail": 3, "type": "Treats"}]


def test_a_passage_of_sentences_with_an_empty_text_element_reads_its_sentences(tmp_path):
    xml = (
        "<collection><document><id>\n  d1\n</id><passage><offset>0</offset><text/>"
        "<sentence><offset>0</offset><text>Aspirin works.</text><annotation id='a'>"
        "<infon key='type'>Chemical</infon><location offset='0' length='7'/><text>Aspirin</text></annotation>"
        "</sentence></passage></document></collection>"
    )
    (tmp_path / "dev.xml").write_text(xml, encoding="utf-8")
    (doc,), _ = read_bioc(tmp_path / "dev.xml")
    assert (doc["id"], doc["text"], entity_summary(doc)) == ("d1", "Aspirin works.", [("Chemical", [], ["Aspirin"])])


def test_a_passage_far_beyond_the_text_and_a_damaged_gzip_file_are_named(tmp_path):
    document = biored_document()
    document["passages"][1]["offset"] = 10**10  # filled with spaces, this asked for 10 GB
    with pytest.raises(DocumentError, match="leaves 9,999,999,961 characters of no passage before it"):
        read_bioc(write_collection(tmp_path / "a.json", [document]))
    whole = gzip.compress(json.dumps({"documents": [biored_document()]}).encode())
    (tmp_path / "b.json.gz").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(DocumentError, match="not a readable gzip file"):
        read_bioc(tmp_path / "b.json.gz")
    (tmp_path / "c.PubTator.txt.gz").write_bytes(b"1|t|plain text, not gzip\n")
    with pytest.raises(DocumentError, match="not a readable gzip file"):
        read_pubtator(tmp_path / "c.PubTator.txt.gz")


def test_split_files_are_named_by_whole_words_and_a_split_given_as_xml_and_json_is_read_once(tmp_path):
    from simmemre.data_simmemre import find_split_files

    corpus = tmp_path / "BioRED"
    for name in ("Train.BioC.JSON", "Train.BioC.XML", "val.json", "latest.json"):
        write_collection(corpus / name, [biored_document()])
    files = find_split_files("bioc", corpus)
    assert {split: Path(path).name for split, path in files.items()} == {"train": "Train.BioC.XML", "dev": "val.json"}
