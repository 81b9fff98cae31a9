"""scripts/score.py on bad input: each problem stops the script naming the file (and line or document) at fault."""

import importlib.util
import json

import pytest
from helpers import SCRIPTS

GOLD = {
    "id": "g0", "text": "Aspirin causes ulcers.",
    "entities": [
        {"type": "Chemical", "mentions": [{"start": 0, "end": 7}]},
        {"type": "Disease", "mentions": [{"start": 15, "end": 21}]},
    ],
    "relations": [{"head": 0, "tail": 1, "type": "CID"}],
}  # fmt: skip


def score_main():
    spec = importlib.util.spec_from_file_location("score_script", SCRIPTS / "score.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


def write_jsonl(path, documents, prefix=b""):
    path.write_bytes(prefix + "".join(json.dumps(document) + "\n" for document in documents).encode())
    return str(path)


def refusal(argv):
    with pytest.raises(SystemExit) as stopped:
        score_main()(argv)
    return str(stopped.value.code)


def test_limit_below_one_is_an_argument_error(tmp_path, capsys):
    gold = write_jsonl(tmp_path / "gold.jsonl", [GOLD])
    assert refusal(["--from-predictions", gold, "--data", gold, "--limit", "0"]) == "2"
    assert "expected a positive integer" in capsys.readouterr().err


def test_a_bad_gold_document_is_blamed_on_the_gold_file(tmp_path):
    bad = dict(GOLD, entities=[{"type": "Chemical", "mentions": [{"start": 0}]}], relations=[])
    gold = write_jsonl(tmp_path / "gold.jsonl", [bad])
    predictions = write_jsonl(tmp_path / "pred.jsonl", [GOLD])
    message = refusal(["--from-predictions", predictions, "--data", gold])
    assert message.startswith(gold) and "end is missing" in message


@pytest.mark.parametrize("case", ["missing", "latin-1", "empty"])
def test_an_unreadable_or_empty_gold_file_is_named(tmp_path, case):
    path = tmp_path / "gold.jsonl"
    if case == "latin-1":
        path.write_bytes(b'{"id": "g0", "text": "caf\xe9"}\n')
    elif case == "empty":
        path.write_text("\n", encoding="utf-8")
    message = refusal(["--from-predictions", str(path), "--data", str(path)])
    expected = {"missing": "cannot read", "latin-1": "not UTF-8", "empty": "no documents to score"}[case]
    assert message.startswith(str(path)) and expected in message


def test_a_gold_file_with_a_byte_order_mark_is_read(tmp_path, capsys):
    gold = write_jsonl(tmp_path / "gold.jsonl", [GOLD], prefix=b"\xef\xbb\xbf")
    predictions = write_jsonl(tmp_path / "pred.jsonl", [{k: v for k, v in GOLD.items() if k != "text"}])
    assert score_main()(["--from-predictions", predictions, "--data", gold, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["relation_strict_f1"] == 100.0  # predictions need no text


def test_an_error_record_among_the_predictions_is_reported_as_such(tmp_path):
    gold = write_jsonl(tmp_path / "gold.jsonl", [GOLD])
    predictions = write_jsonl(tmp_path / "pred.jsonl", [{"id": "g0", "error": "document 'g0': text: must be a str"}])
    message = refusal(["--from-predictions", predictions, "--data", gold])
    assert message.startswith(f"{predictions}:1: document 'g0' has no prediction") and "must be a str" in message


def test_predictions_for_documents_the_gold_file_lacks_are_refused(tmp_path):
    gold = write_jsonl(tmp_path / "gold.jsonl", [GOLD])
    predictions = write_jsonl(tmp_path / "pred.jsonl", [GOLD, dict(GOLD, id="other")])
    assert "1 prediction(s) for documents" in refusal(["--from-predictions", predictions, "--data", gold])
