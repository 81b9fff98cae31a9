"""Corpus-scale prediction (simmemre.streaming_simmemre and scripts/predict.py): order, error records, resume,
sharding."""

import json
import re
import signal
import subprocess
import sys
import time

import pytest
from helpers import LOW, SCRIPT_ENV, SCRIPTS, assert_same_predictions

from simmemre.streaming_simmemre import BadInput, iter_documents, merge_parts, part_path, predict_corpus

SENTENCES = [
    "Aspirin causes ulcers.",
    "Ibuprofen induced headache and nausea.",
    "No nausea was seen after naproxen.",
    "Cisplatin nephrotoxicity was reduced by magnesium.",
]


def corpus(count):
    return [{"id": f"d{index}", "text": " ".join(SENTENCES[: 1 + index % len(SENTENCES)])} for index in range(count)]


def read_lines(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_streamed_predictions_equal_the_pipeline_in_input_order(pipe, tmp_path):
    documents = corpus(7)
    counts = predict_corpus(pipe, iter(documents), tmp_path / "out.jsonl", batch_size=3, progress=False, **LOW)
    lines = read_lines(tmp_path / "out.jsonl")
    assert [line["id"] for line in lines] == [document["id"] for document in documents]
    assert_same_predictions(lines, pipe(documents, **LOW), tolerance=1e-6)
    assert counts["documents"] == 7 and counts["errors"] == 0


def test_a_bad_document_becomes_an_error_record_and_the_run_goes_on(pipe, tmp_path):
    documents = corpus(3)
    documents.insert(1, {"id": "no-text", "title": "x"})
    documents.insert(
        3, {"id": "bad-sentences", "text": "Two words.", "words": [[0, 3], [4, 10]], "sentences": [[0, 9]]}
    )
    predict_corpus(pipe, iter(documents), tmp_path / "out.jsonl", batch_size=2, progress=False, **LOW)
    lines = read_lines(tmp_path / "out.jsonl")
    assert [line["id"] for line in lines] == ["d0", "no-text", "d1", "bad-sentences", "d2"]
    assert "no-text" in lines[1]["error"] and "text" in lines[1]["error"]
    assert "bad-sentences" in lines[3]["error"] and "sentences" in lines[3]["error"]
    assert "entities" in lines[4] and "error" not in lines[4]


def test_strict_mode_stops_at_the_first_bad_document(pipe, tmp_path):
    documents = [corpus(1)[0], {"id": "no-text"}]
    with pytest.raises(ValueError, match="no-text"):
        predict_corpus(pipe, iter(documents), tmp_path / "out.jsonl", strict=True, progress=False)


def test_invalid_json_lines_are_error_records_naming_file_and_line(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text('{"text": "Aspirin."}\nnot json\n[1]\n', encoding="utf-8")
    documents = list(iter_documents([str(path)]))
    assert documents[0] == {"text": "Aspirin.", "id": f"{path}:1"}
    assert documents[1].error.startswith(f"{path}:2: not valid JSON")
    assert "expected a JSON object" in documents[2].error


def test_resume_after_a_torn_line_gives_the_uninterrupted_output(pipe, tmp_path):
    documents = corpus(9)
    full = tmp_path / "full.jsonl"
    predict_corpus(pipe, iter(documents), full, batch_size=2, progress=False, **LOW)
    lines = full.read_bytes().splitlines(keepends=True)
    interrupted = tmp_path / "interrupted.jsonl"
    interrupted.write_bytes(b"".join(lines[:4]) + lines[4][:25])  # four complete lines and a torn fifth
    counts = predict_corpus(pipe, iter(documents), interrupted, batch_size=2, resume=True, progress=False, **LOW)
    assert counts["skipped"] == 4 and counts["documents"] == 5
    assert interrupted.read_bytes() == full.read_bytes()


def test_resume_on_other_input_fails_naming_both_ids(pipe, tmp_path):
    output = tmp_path / "out.jsonl"
    predict_corpus(pipe, iter(corpus(3)), output, progress=False)
    other = [{"id": f"x{index}", "text": "Aspirin."} for index in range(5)]
    with pytest.raises(ValueError, match="'d2'.*'x2'"):
        predict_corpus(pipe, iter(other), output, resume=True, progress=False)


def test_shards_merge_back_into_the_unsharded_output(pipe, tmp_path):
    documents = corpus(7)
    single = tmp_path / "single.jsonl"
    predict_corpus(pipe, iter(documents), single, batch_size=2, progress=False, **LOW)
    output = tmp_path / "sharded.jsonl"
    for index in range(3):
        predict_corpus(pipe, iter(documents), output, batch_size=2, shard=(index, 3), progress=False, **LOW)
    assert [line["id"] for line in read_lines(part_path(output, (1, 3)))] == ["d1", "d4"]
    assert merge_parts(output, 3) == 7
    assert output.read_bytes() == single.read_bytes()


def test_a_shards_bad_document_without_an_id_is_named_by_its_place_in_the_whole_input(pipe, tmp_path):
    """Each shard counted from 0: input 3 was "#1" in shard 1 of 2, so several bad documents got one name."""
    documents = [{"text": "Aspirin."} for _ in range(6)]
    documents[3]["text"] = 5
    single = tmp_path / "single.jsonl"
    predict_corpus(pipe, iter(documents), single, progress=False)
    assert read_lines(single)[3] == {"id": "#3", "error": "document at input 3 (no id): text: must be a str, got int"}
    output = tmp_path / "sharded.jsonl"
    for index in range(2):
        predict_corpus(pipe, iter(documents), output, shard=(index, 2), progress=False)
    merge_parts(output, 2)
    assert output.read_bytes() == single.read_bytes()


def test_merge_refuses_an_interrupted_part(pipe, tmp_path):
    output = tmp_path / "out.jsonl"
    for index in range(2):
        predict_corpus(pipe, iter(corpus(6)), output, shard=(index, 2), progress=False)
    path = part_path(output, (0, 2))
    path.write_bytes(b"".join(path.read_bytes().splitlines(keepends=True)[:1]))
    with pytest.raises(ValueError, match="--resume"):
        merge_parts(output, 2)


@pytest.mark.integration
@pytest.mark.slow  # (18 s; predict_corpus's resume is tested in-process above)
def test_predict_script_killed_and_resumed_equals_one_run(hub_folder, tmp_path):
    inputs = tmp_path / "in.jsonl"
    inputs.write_text("".join(json.dumps(document) + "\n" for document in corpus(400)), encoding="utf-8")
    command = [
        sys.executable,
        str(SCRIPTS / "predict.py"),
        "--model",
        str(hub_folder),
        str(inputs),
        "--batch-size",
        "2",
        "--no-progress",
        "--mention-threshold",
        "0.3",
    ]
    full = tmp_path / "full.jsonl"
    subprocess.run([*command, "--output", str(full)], check=True, capture_output=True, timeout=300, env=SCRIPT_ENV)
    resumed = tmp_path / "resumed.jsonl"
    process = subprocess.Popen(
        [*command, "--output", str(resumed)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=SCRIPT_ENV
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (not resumed.exists() or resumed.stat().st_size < 2000):
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done = resumed.read_bytes().count(b"\n")
    assert 0 < done < 400, "the run was not interrupted halfway"
    subprocess.run(
        [*command, "--output", str(resumed), "--resume"], check=True, capture_output=True, timeout=300, env=SCRIPT_ENV
    )
    assert resumed.read_bytes() == full.read_bytes()


def sharded(pipe, tmp_path, documents=7, count=3):
    output = tmp_path / "sharded.jsonl"
    for index in range(count):
        predict_corpus(pipe, iter(corpus(documents)), output, shard=(index, count), progress=False)
    return output


def test_merge_refuses_a_part_that_lost_its_last_lines(pipe, tmp_path):
    output = sharded(pipe, tmp_path)  # parts of 3, 2 and 2 lines: 3 -> 2 would still look round-robin
    path = part_path(output, (0, 3))
    path.write_bytes(b"".join(path.read_bytes().splitlines(keepends=True)[:2]))
    with pytest.raises(ValueError, match=r"part-00000-of-00003: holds 2 lines, but its run wrote 3; rerun"):
        merge_parts(output, 3)


def test_merge_refuses_a_part_whose_last_line_is_torn(pipe, tmp_path):
    output = sharded(pipe, tmp_path)
    path = part_path(output, (1, 3))
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(ValueError, match="part-00001-of-00003: its last line is torn"):
        merge_parts(output, 3)


def test_merge_refuses_a_part_whose_run_did_not_finish(pipe, tmp_path):
    output = sharded(pipe, tmp_path)
    (tmp_path / "sharded.jsonl.part-00002-of-00003.done").unlink()
    with pytest.raises(ValueError, match="part-00002-of-00003: its run has not finished"):
        merge_parts(output, 3)


@pytest.mark.parametrize("count", [0, -1])
def test_merge_refuses_a_part_count_below_one_and_leaves_the_output(tmp_path, count):
    output = tmp_path / "kept.jsonl"
    output.write_text('{"id": "d0"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match="positive integer"):
        merge_parts(output, count)
    assert output.read_text(encoding="utf-8") == '{"id": "d0"}\n'


def test_stdin_json_lines_with_unicode_line_separators_stay_documents():
    import io

    text = (
        json.dumps({"id": "a", "text": "Aspirin\u2028causes ulcers\u0085."})
        + "\n"
        + json.dumps({"id": "b", "text": "x"})
    )
    documents = list(iter_documents(["-"], stdin=io.StringIO("\ufeff" + text)))
    assert [document["id"] for document in documents] == ["a", "b"]
    assert documents[0]["text"] == "Aspirin\u2028causes ulcers\u0085."


def test_a_json_lines_file_with_a_byte_order_mark_and_a_non_utf8_line(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_bytes(
        b'\xef\xbb\xbf{"id": "a", "text": "x"}\n{"id": "b", "text": "caf\xe9"}\n{"id": "c", "text": "y"}\n'
    )
    documents = list(iter_documents([str(path)]))
    assert documents[0] == {"id": "a", "text": "x"} and documents[2] == {"id": "c", "text": "y"}
    assert documents[1].id == f"{path}:2" and "not UTF-8" in documents[1].error
    # Byte positions count from 1, as the dataset readers' and score.py's do (this one said "byte 24").
    assert "at byte 25 of the line" in documents[1].error


def test_a_text_file_that_is_not_utf8_is_an_error_record_and_the_run_goes_on(pipe, tmp_path):
    """It stopped the whole run, and the documents already read in that batch were lost."""
    first, latin1, last = tmp_path / "a.txt", tmp_path / "b.txt", tmp_path / "c.txt"
    first.write_text("Aspirin causes ulcers.", encoding="utf-8")
    latin1.write_bytes("Caf\xe9 causes ulcers.".encode("latin-1"))
    last.write_text("Lithium caused tremor.", encoding="utf-8")
    counts = predict_corpus(pipe, iter_documents([str(first), str(latin1), str(last)]), tmp_path / "o.jsonl", **LOW)
    lines = read_lines(tmp_path / "o.jsonl")
    assert [line["id"] for line in lines] == ["a.txt", "b.txt", "c.txt"] and counts["errors"] == 1
    assert lines[1]["error"].startswith(f"{latin1}: not UTF-8 text") and "entities" in lines[2]


def test_a_text_file_loses_its_byte_order_mark_as_stdin_does(tmp_path):
    """Read from a file the mark stayed in the text (offsets one higher than the same file through stdin)."""
    import io

    path = tmp_path / "note.txt"
    path.write_bytes(b"\xef\xbb\xbfAspirin causes ulcers.\r\n")
    (from_file,) = iter_documents([str(path)])
    (from_stdin,) = iter_documents(["-"], fmt="text", stdin=io.TextIOWrapper(io.BytesIO(path.read_bytes())))
    assert from_file["text"] == from_stdin["text"] == "Aspirin causes ulcers.\r\n"


def test_a_lone_surrogate_is_written_escaped_and_the_run_goes_on(pipe, tmp_path):
    documents = [{"id": "s", "text": "caf\ud800 ulcers"}] + corpus(2)
    predict_corpus(pipe, iter(documents), tmp_path / "out.jsonl", progress=False, **LOW)
    lines = read_lines(tmp_path / "out.jsonl")
    assert [line["id"] for line in lines] == ["s", "d0", "d1"] and lines[0]["text"] == "caf\ud800 ulcers"


@pytest.mark.parametrize(
    "environment, message",
    [({"RANK": "3", "WORLD_SIZE": "2"}, "need 0 <= RANK < WORLD_SIZE"), ({"WORLD_SIZE": "two"}, "WORLD_SIZE must be")],
)
def test_an_impossible_shard_from_the_environment_is_refused(monkeypatch, environment, message):
    from simmemre.streaming_simmemre import shard_from_environment

    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=message):
        shard_from_environment()


def test_resume_names_the_output_line_that_is_not_a_record(pipe, tmp_path):
    output = tmp_path / "out.jsonl"
    output.write_text('{"id": "d0"}\n[1]\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"out.jsonl:2: the last line is not a predict.py record"):
        predict_corpus(pipe, iter(corpus(3)), output, resume=True, progress=False)


def test_resume_checks_the_output_before_it_cuts_a_torn_line(pipe, tmp_path):
    """A resume aimed at another file (a gold file without a final newline) cut its last line, then refused it."""
    output = tmp_path / "gold.jsonl"
    content = '{"id": "d0", "text": "x", "relations": []}\n{"id": "d1", "text": "y"'
    output.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=r"gold.jsonl:1: the last line is not a predict.py record"):
        predict_corpus(pipe, iter(corpus(3)), output, resume=True, progress=False)
    assert output.read_text(encoding="utf-8") == content
    output.write_text("no json at all", encoding="utf-8")
    with pytest.raises(ValueError, match=r"holds no complete line and is not a predict.py output"):
        predict_corpus(pipe, iter(corpus(3)), output, resume=True, progress=False)
    assert output.read_text(encoding="utf-8") == "no json at all"


@pytest.mark.parametrize(
    "prefix", [b"", b"\xef\xbb\xbf", b"  \n", b"\xef\xbb\xbf \n "], ids=["plain", "bom", "space", "both"]
)
def test_a_json_array_file_is_read_whole_after_a_byte_order_mark_or_spaces(tmp_path, prefix):
    path = tmp_path / "in.json"
    path.write_bytes(prefix + json.dumps([{"id": "a", "text": "x"}, {"id": "b", "text": "y"}]).encode())
    assert [document["id"] for document in iter_documents([str(path)])] == ["a", "b"]


def test_a_malformed_json_array_file_is_named(tmp_path):
    path = tmp_path / "in.json"
    path.write_text('[{"id": "a", "text": "x"}, {bad}]', encoding="utf-8")
    with pytest.raises(SystemExit, match=r"in.json: not a valid JSON document or array"):
        list(iter_documents([str(path)]))


@pytest.mark.parametrize(
    "content, expected",
    [
        ('{"id": "a", "text": "A."}\n\n{"id": "b", "text": "B."}\ngarbage here\n', ["a", "b", "error"]),
        ('[{"id": "a", "text": "A."},\n {"text": "B."}, 3]', ["a", "<stdin>[1]", "error"]),
        ('{\n  "id": "a",\n  "text": "A."\n}\n', ["a"]),
        ("[Note] Aspirin causes ulcers.\n{not json}", ["stdin"]),
    ],
    ids=["json-lines-with-a-bad-line", "array", "pretty-printed-document", "text"],
)
def test_stdin_json_stays_documents_when_a_line_is_bad_or_the_value_spans_lines(content, expected):
    """One bad line (or a JSON array) made a whole piped corpus a single text document, predicted without an error."""
    import io

    documents = list(iter_documents(["-"], stdin=io.StringIO(content)))
    assert ["error" if isinstance(document, BadInput) else document["id"] for document in documents] == expected


def test_a_pretty_printed_json_document_file_is_one_document(tmp_path):
    """Each of its lines became an error record."""
    path = tmp_path / "pretty.json"
    path.write_text('{\n  "id": "a",\n  "text": "Aspirin causes ulcers."\n}\n', encoding="utf-8")
    assert list(iter_documents([str(path)])) == [{"id": "a", "text": "Aspirin causes ulcers."}]
    lines = tmp_path / "lines.json"  # JSON Lines under a .json name stays read line by line
    lines.write_text('{"id": "a", "text": "A."}\n{"id": "b", "text": "B."}\n', encoding="utf-8")
    assert [document["id"] for document in iter_documents([str(lines)])] == ["a", "b"]


def test_in_a_log_file_prediction_writes_plain_progress_lines(pipe, tmp_path, monkeypatch, capsys):
    """The bar wrote a frame per batch into a log file (nohup, torchrun)."""
    from simmemre import streaming_simmemre, training_simmemre

    monkeypatch.setattr(training_simmemre, "watched_output", lambda: False)
    monkeypatch.setattr(streaming_simmemre, "PROGRESS_LINE_SECONDS", 0.0)
    predict_corpus(pipe, iter(corpus(3)), tmp_path / "out.jsonl", batch_size=2, progress=True, **LOW)
    err = capsys.readouterr().err
    assert re.findall(r"^Predicting: (\d+) document\(s\), [\d.]+ doc/s$", err, flags=re.MULTILINE) == ["2", "3"]
    assert "\r" not in err
