"""The coreference lexicon: groups of strings that name one entity in a training corpus's gold clusters
(`data_simmemre.coreference_lexicon`), and the cluster merge behind `SimMemREConfig.coreference_lexicon`."""

import json
import shutil

import pytest
import torch
from helpers import tiny_config

from simmemre import SimMemREConfig, SimMemREModel
from simmemre.data_simmemre import coreference_lexicon
from simmemre.modeling_simmemre import lexicon_groups, lexicon_key

TEXT = "Pruritus was frequent after cocaine. The itching stopped."
NO_LEARNED_MERGE = {"mention_threshold": 0.0, "coref_threshold": 1.0, "relation_threshold": 1.0}


def document(text, *entities):
    """A gold document whose entities are given as lists of (start, end) mention spans."""
    return {
        "text": text,
        "entities": [{"type": "Disease", "mentions": [{"start": s, "end": e} for s, e in spans]} for spans in entities],
        "relations": [],
    }


def test_strings_of_one_entity_are_linked_lower_cased_and_single_spaced():
    first = document("Pruritus and  itching.", [(0, 8), (13, 21)])
    second = document("Itching, then pruritus.", [(0, 7), (14, 22)])
    assert lexicon_key("  Blood\tPressure ") == "blood pressure"
    assert coreference_lexicon([first, second]) == [["itching", "pruritus"]]
    assert coreference_lexicon([document("Blood  pressure, or blood pressure.", [(0, 15), (20, 34)])]) == []


def test_strings_written_more_often_as_two_entities_are_not_linked():
    together = document("Pruritus or itching.", [(0, 8), (12, 19)])
    apart = document("Pruritus and itching.", [(0, 8)], [(13, 20)])
    assert coreference_lexicon([together, apart]) == []
    assert coreference_lexicon([together, together, apart]) == [["itching", "pruritus"]]


def test_linked_strings_form_connected_groups():
    documents = [document("pruritus itching", [(0, 8), (9, 16)]), document("itching itch", [(0, 7), (8, 12)])]
    assert coreference_lexicon(documents) == [["itch", "itching", "pruritus"]]


def test_a_group_joins_mentions_only_where_two_of_its_strings_are_written():
    lexicon = [["itching", "pruritus"]]
    assert lexicon_groups(["Itching", "cocaine", "pruritus", "itching"], lexicon) == [[0, 2, 3]]
    assert lexicon_groups(["Itching", "cocaine", "itching"], lexicon) == []  # repeats are the model's to join


def test_pipeline_merges_lexicon_strings_on_raw_text_only_with_a_lexicon(tokenizer, processor):
    from transformers import pipeline

    entities = {}
    for lexicon in ([], [["itching", "pruritus"]]):
        torch.manual_seed(0)
        model = SimMemREModel(tiny_config(tokenizer, coreference_lexicon=lexicon)).eval()
        result = pipeline("joint-re", model=model, processor=processor)(TEXT, **NO_LEARNED_MERGE)
        entities[bool(lexicon)] = [sorted(m["text"] for m in entity["mentions"]) for entity in result["entities"]]
    assert ["Pruritus", "itching"] in entities[True]
    assert ["Pruritus"] in entities[False] and ["itching"] in entities[False]
    assert len(entities[True]) == len(entities[False]) - 1


@pytest.mark.parametrize(
    "lexicon, message",
    [
        ("itching", "must be a list of groups"),
        ([["itching"]], "group 0: a list of two or more strings"),
        ([["Itching", "pruritus"]], "'Itching' is not a lower-cased, single-spaced, trimmed string"),
        ([["blood  pressure", "bp"]], "is not a lower-cased"),
        ([["itching", "pruritus"], ["itch", "itching"]], "'itching' is in groups 0 and 1"),
    ],
)
def test_config_names_the_field_of_a_bad_lexicon(tokenizer, lexicon, message):
    with pytest.raises(ValueError, match=f"coreference_lexicon.*{message}"):
        SimMemREConfig(**tiny_config(tokenizer, coreference_lexicon=lexicon).to_dict())


def test_a_saved_lexicon_loads_again(tokenizer, tmp_path):
    lexicon = [["itching", "pruritus"], ["bp", "blood pressure"]]
    tiny_config(tokenizer, coreference_lexicon=lexicon).save_pretrained(tmp_path)
    assert SimMemREConfig.from_pretrained(tmp_path).coreference_lexicon == lexicon


# A PubTator corpus of the tiny model's types: train writes one disease two ways, dev once each way.
PUBTATOR_TRAIN = (
    "1|t|Aspirin caused pruritus.\n1|a|The itching stopped.\n"
    "1\t0\t7\tAspirin\tChemical\tD001\n1\t15\t23\tpruritus\tDisease\tD002\n1\t29\t36\titching\tDisease\tD002\n"
    "1\tCID\tD001\tD002\n\n"
)
PUBTATOR_DEV = (
    "2|t|Lithium caused itching.\n2|a|Pruritus persisted.\n"
    "2\t0\t7\tLithium\tChemical\tD003\n2\t15\t22\titching\tDisease\tD002\n2\t24\t32\tPruritus\tDisease\tD002\n"
    "2\tCID\tD003\tD002\n\n"
)


@pytest.fixture
def corpus(tmp_path):
    folder = tmp_path / "bc5cdr"
    folder.mkdir()
    (folder / "CDR_TrainingSet.PubTator.txt").write_text(PUBTATOR_TRAIN, encoding="utf-8")
    (folder / "CDR_DevelopmentSet.PubTator.txt").write_text(PUBTATOR_DEV, encoding="utf-8")
    return folder


def test_calibrate_sets_the_lexicon_of_the_train_split(hub_folder, corpus, tmp_path):
    from helpers import SCRIPTS, load_script

    from simmemre.data_simmemre import read_pubtator

    model = shutil.copytree(hub_folder, tmp_path / "model")
    calibrate = load_script(SCRIPTS / "calibrate.py", "calibrate_script")
    argv = [str(model), "--data-dir", str(corpus), "--format", "bc5cdr", "--test-split", "", "--coreference-lexicon"]
    assert calibrate.main([*argv, "--output", str(tmp_path / "report.json")]) == 0
    expected = coreference_lexicon(read_pubtator(corpus / "CDR_TrainingSet.PubTator.txt")[0])
    assert expected == [["itching", "pruritus"]]
    assert SimMemREConfig.from_pretrained(model).coreference_lexicon == expected
    assert json.loads((tmp_path / "report.json").read_text())["coreference_lexicon"] == 1  # (its number of groups)


def test_stage_scores_runs_with_the_lexicon_off_and_on(hub_folder, corpus, tmp_path, monkeypatch):
    from helpers import BENCHMARKS, load_script

    monkeypatch.syspath_prepend(str(BENCHMARKS))
    stage_scores = load_script(BENCHMARKS / "stage_scores.py", "lexicon_stage_scores")
    argv = ["--model", str(hub_folder), "--data-dir", str(corpus), "--format", "bc5cdr", "--splits", "dev"]
    output = tmp_path / "rows.jsonl"
    argv += ["--given", "mentions", "--coreference-lexicon", "off", "on", "--output", str(output), "--device", "cpu"]
    assert stage_scores.main(argv) == 0
    rows = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]
    assert [row["coreference_lexicon"] for row in rows] == [None, 1]
    # given gold mentions at the tiny model's thresholds no pair links: only the lexicon joins the two spellings
    assert rows[1]["dev"]["coref_f1"] > rows[0]["dev"]["coref_f1"]
