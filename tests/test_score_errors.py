"""scripts/score.py on bad input: each problem stops the script naming the file (and line or document) at fault."""

import json

import pytest
from helpers import GOLD_DOCUMENT, SCRIPTS, load_script

GOLD = GOLD_DOCUMENT
NOT_A_MODEL = "no-such-model-folder"  # gold input is checked before the model is loaded


def score_main():
    return load_script(SCRIPTS / "score.py", "score_script").main


def write_jsonl(path, documents, prefix=b""):
    path.write_bytes(prefix + "".join(json.dumps(document) + "\n" for document in documents).encode())
    return str(path)


def gold_copies(count):
    return [dict(GOLD, id=f"g{index}") for index in range(count)]


def refusal(argv):
    with pytest.raises(SystemExit) as stopped:
        score_main()(argv)
    return str(stopped.value.code)


def scores(argv, capsys):
    assert score_main()([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("limit", ["0", "-1"])
def test_limit_below_one_is_an_argument_error(tmp_path, capsys, limit):
    gold = write_jsonl(tmp_path / "gold.jsonl", [GOLD])
    assert refusal(["--from-predictions", gold, "--data", gold, "--limit", limit]) == "2"
    assert "expected a positive integer" in capsys.readouterr().err


def test_limit_scores_exactly_that_many_documents(tmp_path, capsys):
    gold = write_jsonl(tmp_path / "gold.jsonl", gold_copies(3))
    assert scores(["--from-predictions", gold, "--data", gold, "--limit", "2"], capsys)["documents"] == 2


def test_limit_reads_no_line_past_the_limit(tmp_path, capsys):
    gold = tmp_path / "gold.jsonl"
    gold.write_text(json.dumps(GOLD) + "\n{not json\n", encoding="utf-8")
    predictions = write_jsonl(tmp_path / "pred.jsonl", [GOLD])
    assert scores(["--from-predictions", predictions, "--data", str(gold), "--limit", "1"], capsys)["documents"] == 1


def test_a_bad_gold_document_is_blamed_on_the_gold_file_and_line(tmp_path):
    bad = dict(GOLD, id="g1", entities=[{"type": "Chemical", "mentions": [{"start": 0}]}], relations=[])
    gold = write_jsonl(tmp_path / "gold.jsonl", [GOLD, bad])
    predictions = write_jsonl(tmp_path / "pred.jsonl", [GOLD, dict(GOLD, id="g1")])
    message = refusal(["--from-predictions", predictions, "--data", gold])
    assert message.startswith(f"{gold}:2: reference document 'g1'") and "end is missing" in message


def test_a_missing_gold_file_is_named(tmp_path):
    gold = str(tmp_path / "gold.jsonl")
    assert refusal(["--from-predictions", gold, "--data", gold]) == f"{gold}: cannot read (No such file or directory)"


def test_a_non_utf8_gold_line_is_named_with_its_line_number(tmp_path):
    gold = tmp_path / "gold.jsonl"
    gold.write_bytes(json.dumps(GOLD).encode() + b'\n{"id": "g1", "text": "caf\xe9"}\n')
    message = refusal(["--from-predictions", str(gold), "--data", str(gold)])
    assert message.startswith(f"{gold}:2: not UTF-8")


def test_an_empty_gold_file_is_refused_as_nothing_to_score(tmp_path):
    gold = tmp_path / "gold.jsonl"
    gold.write_text("\n", encoding="utf-8")
    assert refusal(["--from-predictions", str(gold), "--data", str(gold)]) == f"{gold}: no documents to score"


def test_an_empty_predictions_file_is_refused_as_nothing_to_score(tmp_path):
    gold = write_jsonl(tmp_path / "gold.jsonl", [GOLD])
    predictions = write_jsonl(tmp_path / "pred.jsonl", [])
    assert refusal(["--from-predictions", predictions, "--data", gold]) == f"{predictions}: no predictions to score"


def test_a_gold_file_with_a_byte_order_mark_is_read(tmp_path, capsys):
    gold = write_jsonl(tmp_path / "gold.jsonl", [GOLD], prefix=b"\xef\xbb\xbf")
    assert scores(["--from-predictions", gold, "--data", gold], capsys)["relation_strict_f1"] == 100.0


def test_predictions_without_text_are_scored(tmp_path, capsys):
    gold = write_jsonl(tmp_path / "gold.jsonl", [GOLD])
    predictions = write_jsonl(tmp_path / "pred.jsonl", [{k: v for k, v in GOLD.items() if k != "text"}])
    assert scores(["--from-predictions", predictions, "--data", gold], capsys)["relation_strict_f1"] == 100.0


def test_an_error_record_among_the_predictions_is_reported_as_such(tmp_path):
    gold = write_jsonl(tmp_path / "gold.jsonl", gold_copies(2))
    error = {"id": "g1", "error": "document 'g1': text: must be a str"}
    predictions = write_jsonl(tmp_path / "pred.jsonl", [GOLD, error])
    message = refusal(["--from-predictions", predictions, "--data", gold])
    assert message.startswith(f"{predictions}:2: document 'g1' has no prediction") and "must be a str" in message


def test_predictions_for_documents_the_gold_file_lacks_are_refused_naming_them(tmp_path):
    gold = write_jsonl(tmp_path / "gold.jsonl", [GOLD])
    predictions = write_jsonl(tmp_path / "pred.jsonl", [GOLD, dict(GOLD, id="other")])
    message = refusal(["--from-predictions", predictions, "--data", gold])
    assert message.startswith(f"{predictions}: 1 prediction(s) for documents") and "other" in message


def test_repeated_gold_ids_are_refused_naming_them(tmp_path):
    gold = write_jsonl(tmp_path / "gold.jsonl", [GOLD, GOLD])
    assert "repeated: g0" in refusal(["--from-predictions", gold, "--data", gold])


def test_a_gold_mention_outside_the_text_stops_model_mode_before_the_model_runs(tmp_path):
    bad = dict(GOLD, id="g1", entities=[{"type": "Chemical", "mentions": [{"start": 0, "end": 700}]}], relations=[])
    gold = write_jsonl(tmp_path / "gold.jsonl", [GOLD, bad])
    for given in ([], ["--given", "mentions"]):
        message = refusal(["--model", NOT_A_MODEL, "--data", gold, *given])
        assert message == f"{gold}:2: document g1: entities[0].mentions[0].end: offset 700 outside the text (length 22)"


def test_gold_text_outside_the_given_sentences_is_refused_in_model_mode_naming_file_line_and_field(tmp_path):
    gold = write_jsonl(tmp_path / "gold.jsonl", [GOLD, dict(GOLD, id="g1", sentences=[{"start": 0, "end": 14}])])
    message = refusal(["--model", NOT_A_MODEL, "--data", gold])
    assert message.startswith(f"{gold}:2: document 'g1': sentences: the text at (15, 21) lies outside every sentence")


@pytest.mark.integration
def test_a_gold_type_the_model_lacks_is_refused_with_given_input_naming_the_data_file(hub_folder, tmp_path):
    bad = dict(GOLD, id="g1", entities=[{"type": "Toxin", "mentions": [{"start": 0, "end": 7}]}], relations=[])
    gold = write_jsonl(tmp_path / "gold.jsonl", [GOLD, bad])
    message = refusal(["--model", str(hub_folder), "--data", gold, "--given", "entities", "--device", "cpu"])
    assert message.startswith(f"{gold}:2: document g1: entities[0].type: entity type 'Toxin' is not one of")
    assert "<memory>" not in message


@pytest.mark.integration
def test_a_gold_relation_type_the_model_lacks_is_a_miss_with_given_input_as_without(hub_folder, tmp_path, capsys):
    """--given tokenized the gold relations as training labels and refused a type absent from the model (a model
    trained on a slice of DocRED knows only the types of that slice), which plain scoring counts as a miss."""
    unknown = dict(GOLD, id="g1", relations=[dict(GOLD["relations"][0], type="subclass of")])
    gold = write_jsonl(tmp_path / "gold.jsonl", [GOLD, unknown])
    results = scores(["--model", str(hub_folder), "--data", gold, "--given", "clusters", "--device", "cpu"], capsys)
    assert results["documents"] == 2 and results["coref_f1"] == 100.0


@pytest.mark.integration
@pytest.mark.parametrize("given", ["mentions", "clusters"])
def test_a_gold_entity_type_the_model_lacks_is_a_miss_when_the_model_types_the_entities(
    hub_folder, tmp_path, capsys, given
):
    """Given mentions or clusters the model types the entities itself, yet a gold type it does not know stopped the
    script as with --given entities; it is a miss at the typed levels, as without --given."""
    from simmemre.metrics.joint_re_f1.joint_re_f1 import joint_re_scores

    unknown = dict(GOLD, id="g1", entities=[dict(GOLD["entities"][0], type="Toxin"), *GOLD["entities"][1:]])
    gold = write_jsonl(tmp_path / "gold.jsonl", [GOLD, unknown])
    predictions = tmp_path / "predictions.jsonl"
    argv = ["--model", str(hub_folder), "--data", gold, "--given", given, "--device", "cpu"]
    results = scores([*argv, "--predictions", str(predictions)], capsys)
    assert results["documents"] == 2 and results["mention_f1"] == 100.0
    # Scored against the gold as written (the placeholder type only fed the model): the Toxin entity is a miss.
    predicted = [json.loads(line) for line in predictions.read_text().splitlines()]
    assert results["entity_f1"] == joint_re_scores(predicted, [GOLD, unknown])["entity_f1"]
    # The tiny model types Aspirin as the placeholder (Chemical): scored against it, the entity would count as a hit.
    placeholder = [GOLD, dict(GOLD, id="g1")]
    assert results["entity_f1"] < joint_re_scores(predicted, placeholder)["entity_f1"]


def test_serving_options_are_refused_with_given_input(tmp_path):
    """--given ran the model without them, so --serving int8 printed fp32 scores."""
    gold = write_jsonl(tmp_path / "gold.jsonl", [GOLD])
    message = refusal(["--model", NOT_A_MODEL, "--data", gold, "--given", "mentions", "--serving", "int8"])
    assert message == "--serving int8 applies to the pipeline; --given runs the model directly (use --dtype)"


def test_an_output_file_with_scored_predictions_is_refused(tmp_path):
    """--predictions beside --from-predictions was never written, silently."""
    gold = write_jsonl(tmp_path / "gold.jsonl", [GOLD])
    message = refusal(["--from-predictions", gold, "--data", gold, "--predictions", str(tmp_path / "out.jsonl")])
    assert message.startswith("--predictions writes the model's predictions")


def test_a_negative_per_type_count_is_an_argument_error(tmp_path, capsys):
    gold = write_jsonl(tmp_path / "gold.jsonl", [GOLD])
    assert refusal(["--from-predictions", gold, "--data", gold, "--per-type", "-1"]) == "2"
    assert "expected a non-negative integer" in capsys.readouterr().err


def test_gold_lines_ending_in_carriage_returns_are_read(tmp_path, capsys):
    gold = tmp_path / "gold.jsonl"
    gold.write_bytes(json.dumps(GOLD).encode() + b"\r" + json.dumps(dict(GOLD, id="g1")).encode() + b"\r\n")
    predictions = write_jsonl(tmp_path / "pred.jsonl", gold_copies(2))
    assert scores(["--from-predictions", predictions, "--data", str(gold)], capsys)["documents"] == 2


def test_predictions_made_on_another_text_are_refused_naming_the_document(tmp_path):
    """Offsets into another version of the text (CRLF against LF, a title-only text) scored as if they matched."""
    gold = write_jsonl(tmp_path / "gold.jsonl", [GOLD])
    predictions = write_jsonl(tmp_path / "pred.jsonl", [dict(GOLD, text=" " + GOLD["text"])])
    message = refusal(["--from-predictions", predictions, "--data", gold])
    assert f"prediction document {GOLD['id']!r}" in message and "its text differs from the reference's" in message


@pytest.mark.parametrize("form", ["pretty", "array"])
def test_a_gold_file_that_is_one_json_value_is_told_apart_from_broken_json(tmp_path, form):
    """Valid pretty-printed JSON was called 'not valid JSON', an array 'expected a schema document'."""
    gold = tmp_path / "gold.json"
    gold.write_text(json.dumps(GOLD, indent=2) if form == "pretty" else json.dumps([GOLD]), encoding="utf-8")
    message = refusal(["--from-predictions", str(gold), "--data", str(gold)])
    assert message.startswith(f"{gold}:1: ") and "JSON Lines holds one document per line" in message


def test_undirected_relation_types_reach_the_comparable_levels(tmp_path, capsys):
    """score.py had no way to score a symmetric type without direction: a reversed prediction scored 0 at seq2rel and
    relaxed although the metric (and seq2rel's own scoring of CDR's CID) reads it as found."""
    gold = write_jsonl(tmp_path / "gold.jsonl", [GOLD])
    reversed_relation = dict(GOLD, relations=[{"head": 1, "tail": 0, "type": "CID"}])
    predictions = write_jsonl(tmp_path / "predictions.jsonl", [reversed_relation])
    directed = scores(["--from-predictions", predictions, "--data", gold], capsys)
    undirected = scores(
        ["--from-predictions", predictions, "--data", gold, "--undirected-relation-types", "CID"], capsys
    )
    assert directed["relation_seq2rel_f1"] == 0.0 and undirected["relation_seq2rel_f1"] == 100.0
    assert directed["relation_strict_f1"] == undirected["relation_strict_f1"] == 0.0


@pytest.mark.parametrize("option", ["--mention-threshold", "--relation-threshold"])
def test_a_threshold_out_of_range_is_an_argument_error_before_anything_loads(tmp_path, capsys, option):
    """It was refused after the model had loaded, and the message named the --data file as the cause."""
    gold = write_jsonl(tmp_path / "gold.jsonl", [GOLD])
    assert refusal(["--model", NOT_A_MODEL, "--data", gold, option, "1.5"]) == "2"
    assert f"argument {option}: expected a number in [0, 1], got 1.5" in capsys.readouterr().err


@pytest.mark.parametrize("option", ["--data", "--from-predictions"])
def test_standard_input_is_refused_by_name(tmp_path, option):
    """ "-" read as a file named "-": "No such file or directory"."""
    gold = write_jsonl(tmp_path / "gold.jsonl", [GOLD])
    argv = {"--data": ["--from-predictions", gold, "--data", "-"], "--from-predictions": ["--from-predictions", "-",
            "--data", gold]}[option]  # fmt: skip
    assert refusal(argv) == f"{option} -: standard input is not read here; give a file name"


def test_predictions_to_standard_output_are_refused_by_name(tmp_path):
    """A file named "-" was written."""
    gold = write_jsonl(tmp_path / "gold.jsonl", [GOLD])
    message = refusal(["--model", NOT_A_MODEL, "--data", gold, "--predictions", "-"])
    assert message == "--predictions -: standard output is not written here; give a file name"
    assert not (tmp_path / "-").exists()


@pytest.mark.parametrize(
    "options", [["--mention-threshold", "0.5"], ["--serving", "int8"], ["--device", "cpu"], ["--dtype", "bfloat16"]]
)
def test_inference_options_are_refused_with_saved_predictions(tmp_path, options):
    """They changed nothing: the saved predictions were scored as they were, without a word."""
    gold = write_jsonl(tmp_path / "gold.jsonl", [GOLD])
    message = refusal(["--from-predictions", gold, "--data", gold, *options])
    assert message.startswith(f"{options[0]} applies to --model runs; --from-predictions scores the saved predictions")


def test_max_documents_is_the_limit(tmp_path, capsys):
    """The other scripts' spelling of --limit."""
    gold = write_jsonl(tmp_path / "gold.jsonl", gold_copies(3))
    assert scores(["--from-predictions", gold, "--data", gold, "--max-documents", "2"], capsys)["documents"] == 2
