"""Where the label lists (entity and relation types: the model's classifier rows and memory slots) come from: the whole
corpus, as convert_dataset.py's labels.json, never a data.max_*_documents cap; and the brat annotation.conf files that
declare types (those of the folders documents are read from, and above them)."""

import json

from helpers import DOCRED_DOCUMENT, GOLD_DOCUMENT

from simmemre import data_simmemre
from simmemre.data_simmemre import convert_command, write_brat, write_jsonl
from simmemre.experiment_simmemre import load_splits

# Two PubTator documents; the second alone has a Gene.
PUBTATOR = (
    "1|t|Aspirin causes ulcers.\n1|a|Rarely.\n"
    "1\t0\t7\tAspirin\tChemical\tD001\n1\t15\t21\tulcers\tDisease\tD002\n1\tCID\tD001\tD002\n\n"
    "2|t|Lithium and BRCA1.\n2|a|Rarely.\n"
    "2\t0\t7\tLithium\tChemical\tD003\n2\t12\t17\tBRCA1\tGene\t672\n\n"
)
DOCUMENT = {**GOLD_DOCUMENT, "id": "d1"}
GENE_DOCUMENT = {
    "id": "d2",
    "text": "BRCA1 binds.",
    "entities": [{"type": "Gene", "mentions": [{"start": 0, "end": 5}]}],
    "relations": [],
}


def write(path, content):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content, encoding="utf-8")
    return path


def pubtator_corpus(folder):
    write(folder / "CDR_TrainingSet.PubTator.txt", PUBTATOR)
    write(folder / "CDR_TestSet.PubTator.txt", "3|t|Aspirin.\n3|a|Rarely.\n3\t0\t7\tAspirin\tChemical\tD001\n\n")
    return folder


def test_a_train_cap_keeps_the_types_of_the_documents_it_leaves_out(tmp_path):
    """data_dir: the lists were those of the capped splits, so max_train_documents 1 took Gene's slot away (Re-DocRED
    dev[:400] capped to 1 document, with max_eval_documents 1, lost ORG), while labels.json keeps it."""
    corpus = pubtator_corpus(tmp_path / "corpus")
    data = {"data_dir": str(corpus), "format": "bc5cdr", "max_train_documents": 1, "max_eval_documents": 1}
    splits, labels = load_splits(data)
    assert [document["id"] for document in splits["train"]] == ["1"]
    assert labels == {"entity_types": ["Chemical", "Disease", "Gene"], "relation_types": ["CID"]}
    output = tmp_path / "converted"
    assert convert_command(["--format", "bc5cdr", "--input", str(corpus), "--output", str(output)]) == 0
    assert labels == data_simmemre.read_labels(output)


def test_a_cap_on_json_lines_without_labels_json_keeps_every_type(tmp_path):
    train = write_jsonl([DOCUMENT, GENE_DOCUMENT], tmp_path / "train.jsonl")
    assert train == 2
    _, labels = load_splits({"train_file": str(tmp_path / "train.jsonl"), "max_train_documents": 1})
    assert labels == {"entity_types": ["Chemical", "Disease", "Gene"], "relation_types": ["CID"]}


def test_data_splits_slices_keep_the_types_of_the_whole_corpus(tmp_path):
    """A slice of data.splits is a cut as a cap is: labels.json of the same corpus has every type."""
    corpus = pubtator_corpus(tmp_path / "corpus")
    data = {"data_dir": str(corpus), "format": "bc5cdr", "splits": {"train": "train[:1]", "test": "test"}}
    _, labels = load_splits(data)
    assert labels["entity_types"] == ["Chemical", "Disease", "Gene"]


def test_a_brat_split_folder_given_as_a_file_declares_its_annotation_conf_types(tmp_path):
    """data.train_file naming a brat folder: its annotation.conf was not read (only data_dir's were), so the lists
    differed from the labels.json that convert_dataset.py writes for that folder."""
    train = tmp_path / "corpus" / "train"
    write_brat([DOCUMENT], train, entity_types=["Gene"], relation_types=["Treats"])
    _, labels = load_splits({"train_file": str(train), "format": "brat"})
    assert labels == {"entity_types": ["Chemical", "Disease", "Gene"], "relation_types": ["CID", "Treats"]}
    output = tmp_path / "converted"
    assert convert_command(["--format", "brat", "--input", str(train), "--output", str(output)]) == 0
    assert labels == data_simmemre.read_labels(output)


def test_a_docred_file_with_a_jerex_types_json_declares_its_entity_types(tmp_path):
    """data.train_file with data.rel_info naming JEREX's types.json: its entity types were lost (the reader's relation
    names replaced the file before the declared types were read), while labels.json of the same conversion has them."""
    types = {
        "entities": {name: {"short": name, "verbose": name} for name in ("LOC", "PER")},
        "relations": {"P17": {"symmetric": False, "short": "P17", "verbose": "country"}},
    }
    train = write(tmp_path / "train_joint.json", json.dumps([DOCRED_DOCUMENT]))
    rel_info = write(tmp_path / "types.json", json.dumps(types))
    _, labels = load_splits({"train_file": str(train), "format": "docred", "rel_info": str(rel_info)})
    assert labels == {"entity_types": ["LOC", "PER"], "relation_types": ["country"]}
    output = tmp_path / "converted"
    argv = ["--format", "docred", "--input", str(train), "--rel-info", str(rel_info), "--output", str(output)]
    assert convert_command(argv) == 0
    assert labels == data_simmemre.read_labels(output)


# ----------------------------------------------------------------------------------------------------
# brat: which annotation.conf files declare types
# ----------------------------------------------------------------------------------------------------


def brat_configuration(entity_type, relation_type="Treats"):
    return f"[entities]\n{entity_type}\n[relations]\n{relation_type}\tArg1:<ENTITY>, Arg2:<ENTITY>\n"


def test_only_the_folders_documents_are_read_from_and_above_declare_types(tmp_path):
    """Every annotation.conf under the corpus was read, also in folders no split reads a document from."""
    corpus = tmp_path / "corpus"
    write_brat([DOCUMENT], corpus / "train" / "batch1", entity_types=["Gene"])
    write_brat([{**DOCUMENT, "id": "d3"}], corpus / "test")
    write(corpus / "annotation.conf", brat_configuration("Species", "Binds"))  # (above every document: read)
    write(corpus / "train" / "annotation.conf", brat_configuration("Protein"))  # (between: read)
    write(corpus / "old_schema" / "annotation.conf", brat_configuration("Cell", "Regulates"))  # (no document)
    write(corpus / "train" / "notes" / "annotation.conf", brat_configuration("Variant"))  # (beside the documents)
    declared = data_simmemre.read_brat_declared_types(corpus)
    assert declared == {
        "entity_types": ["Chemical", "Disease", "Gene", "Protein", "Species"],
        "relation_types": ["Binds", "CID", "Treats"],
    }
    _, labels = load_splits({"data_dir": str(corpus), "format": "brat"})
    assert "Cell" not in labels["entity_types"] and "Regulates" not in labels["relation_types"]


def test_a_brat_folder_without_documents_declares_its_own_types_only(tmp_path):
    write(tmp_path / "annotation.conf", brat_configuration("Gene"))
    write(tmp_path / "copy" / "annotation.conf", brat_configuration("Cell"))
    assert data_simmemre.read_brat_declared_types(tmp_path) == {"entity_types": ["Gene"], "relation_types": ["Treats"]}


def test_labels_json_of_a_brat_conversion_leaves_out_unread_folders(tmp_path):
    corpus = tmp_path / "corpus"
    write_brat([DOCUMENT], corpus / "train")
    write(corpus / "drafts" / "annotation.conf", brat_configuration("Cell"))
    output = tmp_path / "converted"
    assert convert_command(["--format", "brat", "--input", str(corpus), "--output", str(output)]) == 0
    labels = json.loads((output / "labels.json").read_text(encoding="utf-8"))
    assert labels == {"entity_types": ["Chemical", "Disease"], "relation_types": ["CID"]}
