"""Files are never left half written, written through planted links, silently replaced, or read with a traceback:
rewrites go through a temporary file, earlier predictions need --resume or --overwrite, and a JSON value nested too
deeply for the parser is a bad line like any other."""

import json
import os
import sys

import pytest
from helpers import REPO_ROOT, SCRIPTS, load_script

from simmemre.data_simmemre import DocumentError, read_jsonl, write_jsonl
from simmemre.streaming_simmemre import iter_documents, predict_corpus

NESTED = "[" * 100_000 + "]" * 100_000  # deeper than the json module's recursion limit


def failing_rename(monkeypatch):
    """The rename that ends a rewrite fails, as a full disk or a kill between writing and renaming would leave it."""

    def fail(source, target):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)


# ---- rewrites through a temporary file ----


def test_a_failed_rewrite_leaves_the_earlier_file_and_no_temporary(tmp_path, monkeypatch):
    from simmemre.data_simmemre import replacing_file

    path = tmp_path / "config.json"
    path.write_text("earlier")
    failing_rename(monkeypatch)
    with pytest.raises(OSError), replacing_file(path) as handle:
        handle.write(b"later")
    assert path.read_text() == "earlier" and [p.name for p in tmp_path.iterdir()] == ["config.json"]


def test_write_jsonl_does_not_write_through_a_link_at_the_old_temporary_name(tmp_path):
    """The temporary file was `{path}.{pid}.tmp`, opened for writing: a link planted there was written through."""
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    target = tmp_path / "out.jsonl"
    os.symlink(victim, f"{target}.{os.getpid()}.tmp")
    write_jsonl([{"id": "a"}], target)
    assert victim.read_text() == "keep me" and json.loads(target.read_text()) == {"id": "a"}


def test_calibrate_leaves_the_model_config_whole_when_its_rewrite_fails(tmp_path, monkeypatch):
    """config.json was opened for writing (emptied) first: a failed write left the model unloadable."""
    calibrate = load_script(SCRIPTS / "calibrate.py", "calibrate_script")
    (tmp_path / "config.json").write_text(json.dumps({"mention_threshold": 0.5}))
    failing_rename(monkeypatch)
    with pytest.raises(OSError):
        calibrate.update_saved_config(str(tmp_path), {"mention_threshold": 0.7})
    assert json.loads((tmp_path / "config.json").read_text()) == {"mention_threshold": 0.5}


def test_results_rows_survive_a_failed_rewrite(tmp_path, monkeypatch):
    """results.py rewrote the whole results/<dataset>.jsonl in place: a failed write truncated the record of runs."""
    results = load_script(SCRIPTS / "results.py", "results_script")
    monkeypatch.setattr(results, "RESULTS_DIR", tmp_path)
    results.write_rows("cdr", [{"name": "a"}])
    failing_rename(monkeypatch)
    with pytest.raises(OSError):
        results.write_rows("cdr", [{"name": "a"}, {"name": "b"}])
    assert results.read_rows("cdr") == [{"name": "a"}]


def test_results_refuses_a_dataset_name_with_folders(tmp_path, capsys):
    """`--dataset ../x` was joined into the path: the rows went outside results/."""
    results = load_script(SCRIPTS / "results.py", "results_script")
    with pytest.raises(SystemExit):
        results.main(["--results-dir", str(tmp_path / "results"), "table", "--dataset", "../x"])
    assert "--dataset: expected a name such as cdr or re-docred" in capsys.readouterr().err


# ---- earlier predictions ----


def test_predict_refuses_an_output_holding_predictions_before_the_model_loads(tmp_path):
    """Without --resume the output was emptied at the start: an interrupted day-long run lost its lines."""
    predict = load_script(SCRIPTS / "predict.py", "predict_script")
    documents = tmp_path / "in.txt"
    documents.write_text("Aspirin causes ulcers.")
    output = tmp_path / "pred.jsonl"
    output.write_text('{"id": "earlier", "entities": [], "relations": []}\n')
    with pytest.raises(SystemExit) as stopped:
        predict.main(["--model", "no-such-model-folder", str(documents), "-o", str(output)])
    assert "holds earlier predictions; continue them with --resume" in str(stopped.value)
    assert output.read_text().startswith('{"id": "earlier"')


def test_predict_corpus_replaces_predictions_only_when_told(pipe, tmp_path):
    output = tmp_path / "pred.jsonl"
    output.write_text('{"id": "earlier", "entities": [], "relations": []}\n')
    with pytest.raises(ValueError, match="holds earlier predictions"):
        predict_corpus(pipe, ["Aspirin causes ulcers."], output, progress=False)
    with pytest.raises(ValueError, match="give one of them"):
        predict_corpus(pipe, ["Aspirin causes ulcers."], output, resume=True, overwrite=True, progress=False)
    predict_corpus(pipe, ["Aspirin causes ulcers."], output, overwrite=True, progress=False)
    assert "id" not in json.loads(output.read_text())  # the new prediction (a string has no id)
    empty = tmp_path / "empty.jsonl"
    empty.touch()  # an empty file holds nothing to lose
    assert predict_corpus(pipe, ["Aspirin causes ulcers."], empty, progress=False)["documents"] == 1


# ---- JSON nested too deeply to read ----


def test_a_deeply_nested_line_is_an_error_record_in_predict(tmp_path):
    """json raised RecursionError, which no reader caught: predict.py died on one line, its output left empty."""
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(json.dumps({"id": "a", "text": "x"}) + "\n" + NESTED + "\n")
    documents = list(iter_documents([str(corpus)]))
    assert documents[0]["id"] == "a"
    assert "corpus.jsonl:2: not valid JSON (nested too deeply to read)" in documents[1].error


def test_a_deeply_nested_line_is_named_by_read_jsonl(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text(NESTED + "\n")
    with pytest.raises(DocumentError, match=r"train.jsonl:1.*invalid JSON \(nested too deeply to read"):
        read_jsonl(path)


def test_the_metric_names_a_deeply_nested_document():
    from simmemre.metrics.joint_re_f1.joint_re_f1 import joint_re_scores

    with pytest.raises(ValueError, match=r"predictions\[0\]: not valid JSON"):
        joint_re_scores([NESTED], [{"id": "a", "entities": [], "relations": []}])


def test_a_resume_with_other_settings_than_the_outputs_is_refused(pipe, tmp_path):
    """Resume checked only that the input lined up: one file ended up holding documents of two models (or two
    threshold or type settings) without a word."""
    output = tmp_path / "pred.jsonl"
    documents = ["Aspirin causes ulcers.", "Lithium caused tremor."]
    predict_corpus(pipe, documents[:1], output, progress=False, settings={"model": "a", "thresholds": {"m": 0.5}})
    with pytest.raises(ValueError, match=r"written with other settings \(model: 'a' then, 'b' now\)"):
        predict_corpus(
            pipe, documents, output, resume=True, progress=False, settings={"model": "b", "thresholds": {"m": 0.5}}
        )
    counts = predict_corpus(
        pipe, documents, output, resume=True, progress=False, settings={"model": "a", "thresholds": {"m": 0.5}}
    )
    assert (counts["skipped"], counts["documents"]) == (1, 1)


def test_shard_parts_written_with_other_settings_are_not_merged(pipe, tmp_path):
    from simmemre.streaming_simmemre import merge_parts, settings_path

    output = tmp_path / "pred.jsonl"
    documents = ["Aspirin causes ulcers.", "Lithium caused tremor."]
    for index, model in enumerate(("a", "b")):
        predict_corpus(pipe, documents, output, shard=(index, 2), progress=False, settings={"model": model})
    with pytest.raises(ValueError, match="were written with other settings"):
        merge_parts(output, 2)
    predict_corpus(pipe, documents, output, shard=(1, 2), overwrite=True, progress=False, settings={"model": "a"})
    assert merge_parts(output, 2) == 2
    assert json.loads(settings_path(output).read_text()) == {"model": "a"}


def test_a_refused_resume_leaves_the_part_and_its_marker_as_they_were(pipe, tmp_path):
    """The settings were compared after the torn line was cut and the shard's completion marker deleted: the part
    could no longer be merged."""
    from simmemre.streaming_simmemre import done_path, part_path

    output = tmp_path / "pred.jsonl"
    predict_corpus(pipe, ["Aspirin.", "Lithium."], output, shard=(0, 1), progress=False, settings={"model": "a"})
    part = part_path(output, (0, 1))
    content = part.read_bytes() + b'{"id": "torn'
    part.write_bytes(content)
    with pytest.raises(ValueError, match="other settings"):
        predict_corpus(
            pipe, ["Aspirin.", "Lithium."], output, shard=(0, 1), resume=True, progress=False, settings={"model": "b"}
        )
    assert part.read_bytes() == content and done_path(part).is_file()


def test_predictions_written_without_settings_drop_an_earlier_runs_settings(pipe, tmp_path):
    from simmemre.streaming_simmemre import settings_path

    output = tmp_path / "pred.jsonl"
    predict_corpus(pipe, ["Aspirin."], output, progress=False, settings={"model": "a"})
    predict_corpus(pipe, ["Aspirin."], output, overwrite=True, progress=False)
    assert not settings_path(output).exists()


def test_merge_refuses_an_output_holding_predictions_without_overwrite(pipe, tmp_path):
    from simmemre.streaming_simmemre import merge_parts

    predict = load_script(SCRIPTS / "predict.py", "predict_script")
    output = tmp_path / "pred.jsonl"
    for index in range(2):
        predict_corpus(pipe, ["Aspirin.", "Lithium."], output, shard=(index, 2), progress=False)
    merge_parts(output, 2)
    with pytest.raises(SystemExit, match="holds predictions; merge over them with --overwrite"):
        predict.main(["--output", str(output), "--merge", "2"])
    assert predict.main(["--output", str(output), "--merge", "2", "--overwrite"]) == 0


def test_a_calibration_rerun_keeps_the_config_its_model_had_before_the_first(tmp_path):
    """Rerun after a stop, calibrate.py recorded the thresholds it had already written as the model's "before" values
    and wrote that over the report holding the original ones (results.py then recorded the fixed rows wrongly)."""
    calibrate = load_script(SCRIPTS / "calibrate.py", "calibrate_script")
    model = tmp_path / "best_model"
    report = tmp_path / "calibration.json"
    report.write_text(json.dumps({"model": str(model.resolve()), "config_before": {"relation_threshold": 0.6}}))
    assert calibrate.earlier_config_before(report, str(model)) == {"relation_threshold": 0.6}
    assert calibrate.earlier_config_before(report, str(tmp_path / "other")) == {}
    assert calibrate.earlier_config_before(tmp_path / "none.json", str(model)) == {}


def test_a_failed_merge_leaves_the_earlier_output(pipe, tmp_path, monkeypatch):
    """--merge wrote its output in place: stopped midway (with --overwrite), it left part of the lines, unmarked."""
    from simmemre.streaming_simmemre import merge_parts

    output = tmp_path / "pred.jsonl"
    for index in range(2):
        predict_corpus(pipe, ["Aspirin.", "Lithium."], output, shard=(index, 2), progress=False)
    output.write_text("earlier\n")
    failing_rename(monkeypatch)
    with pytest.raises(OSError):
        merge_parts(output, 2)
    assert output.read_text() == "earlier\n"


def test_a_failed_table_rewrite_leaves_the_document_whole(tmp_path, monkeypatch):
    results = load_script(SCRIPTS / "results.py", "results_script")
    readme = tmp_path / "results.md"
    text = "intro\n<!-- results:cdr:start -->\nold\n<!-- results:cdr:end -->\nrest\n"
    readme.write_text(text)
    rows = tmp_path / "r" / "cdr.jsonl"
    rows.parent.mkdir()
    rows.write_text((REPO_ROOT / "results" / "cdr.jsonl").read_text())
    failing_rename(monkeypatch)
    with pytest.raises(OSError):
        results.main(["--results-dir", str(tmp_path / "r"), "table", "--dataset", "cdr", "--readme", str(readme)])
    assert readme.read_text() == text


def test_sigterm_ends_a_script_through_its_cleanup():
    """SIGTERM killed a script outright: an interrupted write left its temporary file behind."""
    import signal

    from simmemre.experiment_simmemre import run_script

    def terminated():
        os.kill(os.getpid(), signal.SIGTERM)
        return 0

    previous = signal.getsignal(signal.SIGTERM)
    try:
        with pytest.raises(SystemExit) as stopped:
            run_script(terminated)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert stopped.value.code == 143


def test_a_script_prints_what_its_stdout_encoding_cannot_hold_as_escapes(monkeypatch):
    """Windows redirects stdout in its code page (cp1252): a Chinese type name or output folder ended score.py, and
    train.py after its run had saved everything, in a UnicodeEncodeError."""
    import io

    from simmemre.experiment_simmemre import run_script

    written = io.BytesIO()
    stdout = io.TextIOWrapper(written, encoding="cp1252")
    monkeypatch.setattr(sys, "stdout", stdout)
    assert run_script(lambda: print("saved runs/运行/best_model") or 0) == 0
    assert written.getvalue() == b"saved runs/\\u8fd0\\u884c/best_model\n"


# ---- outputs that are no regular files ----


def _read_fifo_in_the_background(path):
    import threading

    received = []
    reader = threading.Thread(target=lambda: received.append(open(path, "rb").read()), daemon=True)
    reader.start()
    return reader, received


def test_a_rewrite_of_a_device_or_pipe_writes_into_it_and_not_through_a_link(tmp_path):
    """A rewrite renamed its temporary file over the path: `score.py --predictions /dev/null` (as root) replaced the
    /dev/null device with a regular file."""
    import stat

    from simmemre.data_simmemre import replacing_file

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    reader, received = _read_fifo_in_the_background(fifo)
    with replacing_file(fifo) as handle:
        handle.write(b"lines\n")
    reader.join(timeout=30)
    assert received == [b"lines\n"] and stat.S_ISFIFO(os.lstat(fifo).st_mode)
    target, link = tmp_path / "real.jsonl", tmp_path / "link.jsonl"
    target.write_text("earlier")
    link.symlink_to(target)
    write_jsonl([{"id": "d"}], link)  # a link outside /dev and /proc is replaced, never written through (planted)
    assert not link.is_symlink() and target.read_text() == "earlier"


def test_predictions_into_a_pipe_leave_no_settings_file_beside_it(pipe, tmp_path):
    """`-o /dev/null` wrote /dev/null.settings.json."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    reader, received = _read_fifo_in_the_background(fifo)
    predict_corpus(pipe, ["Aspirin causes ulcers."], fifo, progress=False, settings={"model": "m"})
    reader.join(timeout=30)
    assert json.loads(received[0])["text"] == "Aspirin causes ulcers."
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe"]
    with pytest.raises(ValueError, match="not a regular file; resume and sharding need one"):
        predict_corpus(pipe, ["Aspirin."], fifo, progress=False, resume=True)


def test_predict_output_dash_is_standard_output(hub_folder, tmp_path, monkeypatch):
    """`--output -` wrote a file named "-" (and "-.settings.json"), where "-" as an input is standard input."""
    import io

    predict = load_script(SCRIPTS / "predict.py", "predict_script")
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    assert predict.main(["--model", str(hub_folder), "-", "-o", "-"], stdin=io.StringIO("Aspirin."), stdout=out) == 0
    assert json.loads(out.getvalue())["text"] == "Aspirin." and list(tmp_path.iterdir()) == []


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="no /proc")
def test_an_alias_of_an_open_file_is_appended_to_not_replaced(tmp_path, pipe):
    """`-o /dev/stdout >> log` was taken for a file holding predictions, and a rewrite through it emptied the log."""
    log = tmp_path / "log.jsonl"
    log.write_text("earlier\n")
    with open(log, "ab") as opened:
        alias = f"/proc/self/fd/{opened.fileno()}"
        predict_corpus(pipe, ["Aspirin."], alias, progress=False, settings={"model": "m"})
        write_jsonl([{"id": "d"}], alias)
    lines = log.read_text().splitlines()
    assert lines[0] == "earlier" and json.loads(lines[1])["text"] == "Aspirin." and json.loads(lines[2]) == {"id": "d"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["log.jsonl"]


# ---- one writer per run folder, output and model folder ----


def hold_lock(path, setting="--output"):
    """What another process writing `path` holds (the lock is per open lock file, so this process's second open of it
    conflicts as another process's would)."""
    from simmemre.experiment_simmemre import exclusive_use

    return exclusive_use(path, setting, "a test")


def test_a_path_held_by_a_writer_is_refused_and_free_again_afterwards_and_a_device_is_not_held(tmp_path):
    with hold_lock(tmp_path / "out.jsonl"):
        with pytest.raises(SystemExit, match=r"out.jsonl: a second writer is writing it; wait for it to end"):
            from simmemre.experiment_simmemre import exclusive_use

            with exclusive_use(tmp_path / "out.jsonl", "--output", "a second writer"):
                pass
    with hold_lock(tmp_path / "out.jsonl"):  # released: free again
        pass
    with hold_lock(os.devnull), hold_lock(os.devnull):  # (two calibrations --output /dev/null refused each other)
        pass


def test_a_waiting_writer_gives_up_with_one_line_and_the_lock_file_is_everyone_s(tmp_path, monkeypatch):
    """results.py waited for ever for a lock; on a shared machine another user's lock file of the same path could not
    be opened (read as held)."""
    import hashlib
    import tempfile

    from simmemre import experiment_simmemre

    monkeypatch.setattr(experiment_simmemre, "EXCLUSIVE_USE_WAIT_SECONDS", 0.2)
    with hold_lock(tmp_path / "cdr.jsonl"):
        name = hashlib.sha256(os.path.realpath(tmp_path / "cdr.jsonl").encode("utf-8")).hexdigest()[:24]
        assert os.stat(os.path.join(tempfile.gettempdir(), f"simmemre-{name}.lock")).st_mode & 0o777 == 0o666
        with pytest.raises(SystemExit, match=r"cdr.jsonl: still held by results.py after 0.2 s; try again when it"):
            with experiment_simmemre.exclusive_use(tmp_path / "cdr.jsonl", str(tmp_path / "cdr.jsonl"), "results.py",
                                                   wait=True):  # fmt: skip
                pass


def test_a_lock_that_cannot_be_made_is_one_line(tmp_path, monkeypatch):
    """A temporary folder that cannot hold the lock file gave a traceback (or read as held by another process)."""
    import tempfile

    (tmp_path / "not-a-folder").write_text("")
    monkeypatch.setattr(tempfile, "gettempdir", lambda: str(tmp_path / "not-a-folder"))
    with pytest.raises(SystemExit, match=r"^--output .*out.jsonl: cannot take its lock .*not-a-folder/simmemre-"):
        with hold_lock(tmp_path / "out.jsonl"):
            pass


def test_a_second_training_run_into_a_held_output_dir_stops_before_any_work(tmp_path):
    """Two train.py into one output_dir deleted each other's checkpoints and crashed, or both ended 'done' with one
    run's files over the other's (the side-by-side audit)."""
    from simmemre.experiment_simmemre import train

    with hold_lock(tmp_path / "run", "--output_dir"):
        with pytest.raises(SystemExit, match="training.output_dir .*run: another training run is writing it"):
            train({"encoder": "minilm", "training": {"output_dir": str(tmp_path / "run")}})


def test_predict_convert_and_calibrate_refuse_an_output_or_model_another_process_writes(tmp_path, hub_folder):
    """Two predict.py --resume on one output wrote 14 documents twice; two conversions into one folder broke its
    marker; two calibrations of one model folder lost one's config.json changes."""
    from simmemre.data_simmemre import convert_command

    inputs = tmp_path / "in.jsonl"
    inputs.write_text(json.dumps({"id": "a", "text": "Aspirin."}) + "\n", encoding="utf-8")
    predict = load_script(SCRIPTS / "predict.py", "predict_script").main
    with hold_lock(tmp_path / "out.jsonl"), pytest.raises(SystemExit, match="another predict.py is writing it"):
        predict(["--model", str(hub_folder), str(inputs), "-o", str(tmp_path / "out.jsonl"), "--resume"])
    pubtator = tmp_path / "CDR_DevelopmentSet.PubTator.txt"
    pubtator.write_text("1|t|Aspirin.\n1|a|Pain.\n\n", encoding="utf-8")
    with hold_lock(tmp_path / "converted"), pytest.raises(SystemExit, match="another conversion is writing it"):
        convert_command(["--format", "bc5cdr", "--input", str(pubtator), "--output", str(tmp_path / "converted")])
    calibrate = load_script(SCRIPTS / "calibrate.py", "calibrate_script").main
    argv = [str(hub_folder), "--data-dir", str(tmp_path), "--format", "bc5cdr", "--output", str(tmp_path / "c.json")]
    with hold_lock(hub_folder), pytest.raises(SystemExit, match="another calibration is writing it"):
        calibrate(argv)
