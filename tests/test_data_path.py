"""The training data path on whole corpora: tokenization caches keyed on what rows depend on, negative sampling that
stays near-linear in document length, and the counts a user must see (annotations a reader changed, gold mentions no
candidate span can reach, documents two splits share)."""

import json
import shutil
import warnings

import numpy as np
import pytest
from helpers import GOLD_DOCUMENT

from simmemre import segmentation_simmemre, training_simmemre
from simmemre.experiment_simmemre import load_splits, split_source
from simmemre.training_simmemre import _gold_and_inside, _rows_key, tokenize_documents, wide_gold_mentions

ENTITY_TYPES = ["Chemical", "Disease"]
RELATION_TYPES = ["CID"]
DOCUMENTS = [GOLD_DOCUMENT, {**GOLD_DOCUMENT, "id": "g1", "text": "Aspirin causes rashes."}]


def test_cached_rows_of_other_code_are_not_served(processor, tmp_path, monkeypatch):
    """The key held the package version, 0.1.0 through every change to the code that makes rows."""
    cache = tmp_path / "rows.arrow"
    tokenize_documents(DOCUMENTS, processor, ENTITY_TYPES, RELATION_TYPES, cache_file_name=cache)
    monkeypatch.setattr(training_simmemre, "_row_code_hash", lambda: "changed code")
    tokenize_documents(DOCUMENTS, processor, ENTITY_TYPES, RELATION_TYPES, cache_file_name=cache)
    assert len(list(tmp_path.glob("rows-*.arrow"))) == 2


def test_the_code_hash_follows_the_source_of_the_row_modules(tmp_path, monkeypatch):
    before = training_simmemre._row_code_hash()
    edited = tmp_path / "segmentation_simmemre.py"
    shutil.copy(segmentation_simmemre.__file__, edited)
    edited.write_text(edited.read_text(encoding="utf-8") + "\n# an edit\n", encoding="utf-8")
    monkeypatch.setattr(segmentation_simmemre, "__file__", str(edited))
    training_simmemre._row_code_hash.cache_clear()
    try:
        assert training_simmemre._row_code_hash() != before
    finally:
        monkeypatch.undo()
        training_simmemre._row_code_hash.cache_clear()
    assert training_simmemre._row_code_hash() == before


def test_the_rows_key_ignores_the_processors_warning_flags(processor):
    """A one-time [UNK] warning flipped a flag that was hashed with the processor: the next split missed its cache."""
    from datasets import Dataset

    documents = Dataset.from_list([{"id": "a", "text": "x"}])
    flag = processor._warned_unknown
    try:
        processor._warned_unknown = False
        before = _rows_key(documents, processor, ENTITY_TYPES, RELATION_TYPES)
        processor._warned_unknown = True
        assert _rows_key(documents, processor, ENTITY_TYPES, RELATION_TYPES) == before
    finally:
        processor._warned_unknown = flag


@pytest.mark.parametrize("seed", range(5))
def test_gold_and_inside_equal_the_comparison_tables(seed):
    """The (candidates x gold) tables took 850 MB for a 16,800-word document; the sorted search gives the same."""
    rng = np.random.default_rng(seed)
    words = 60
    starts = rng.integers(0, words - 1, 400)
    candidates = np.stack([starts, np.minimum(starts + rng.integers(1, 8, 400), words)], axis=1)
    gold_starts = rng.integers(0, words - 1, 12)
    gold = np.stack([gold_starts, np.minimum(gold_starts + rng.integers(1, 10, 12), words)], axis=1)
    same = (candidates[:, None, 0] == gold[None, :, 0]) & (candidates[:, None, 1] == gold[None, :, 1])
    inside = (candidates[:, None, 0] >= gold[None, :, 0]) & (candidates[:, None, 1] <= gold[None, :, 1])
    is_gold, is_inside = _gold_and_inside(candidates, gold, words)
    np.testing.assert_array_equal(is_gold, same.any(1))
    np.testing.assert_array_equal(is_inside, inside.any(1))


def test_gold_mentions_longer_than_the_span_cap_are_counted(processor):
    """Training saw them, inference can never propose them: a recall ceiling nobody was told about."""
    text = "The long named compound of twelve words in all of its many parts causes ulcers."
    long_end = text.index(" causes")
    document = {
        "id": "w",
        "text": text,
        "entities": [
            {"type": "Chemical", "mentions": [{"start": 0, "end": long_end}]},
            {"type": "Disease", "mentions": [{"start": text.index("ulcers"), "end": len(text) - 1}]},
        ],
        "relations": [{"head": 0, "tail": 1, "type": "CID"}],
    }
    rows = tokenize_documents([document], processor, ENTITY_TYPES, RELATION_TYPES)
    assert wide_gold_mentions(rows, 10) == (1, 1, 1)
    assert wide_gold_mentions(rows, 15) == (0, 0, 0)


def write_jsonl(path, documents):
    path.write_text("".join(json.dumps(document) + "\n" for document in documents), encoding="utf-8")
    return str(path)


def test_splits_that_share_documents_are_named(tmp_path):
    """An overlapping slice or a validation file repeating train documents inflated dev selection without a word."""
    train = write_jsonl(tmp_path / "train.jsonl", DOCUMENTS)
    validation = write_jsonl(tmp_path / "validation.jsonl", DOCUMENTS[1:])
    with pytest.warns(UserWarning, match=r"share 1 document\(s\) \('g1'\): scores on validation are not those"):
        load_splits({"train_file": train, "validation_file": validation})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fresh = write_jsonl(tmp_path / "fresh.jsonl", [{**GOLD_DOCUMENT, "id": "fresh"}])
        load_splits({"train_file": train, "validation_file": fresh})


def test_annotations_a_reader_changed_are_printed(tmp_path, capsys):
    """Only convert_dataset.py printed them; train.py dropped the reader's counts."""
    source = tmp_path / "train.PubTator.txt"
    source.write_text(
        "1|t|Aspirin causes ulcers.\n1|a|Aspirin again.\n"
        "1\t0\t7\tAspirin\tChemical\tD001241\n1\t15\t21\tulcers\tDisease\tD014456\n"
        "1\t23\t30\tAspirin\tChemical\t-1\n1\tCID\tD001241\tD014456\n\n",
        encoding="utf-8",
    )
    load_splits({"train_file": str(source), "format": "bc5cdr", "drop_ungrounded": True})
    assert "the reader changed annotations: dropped_ungrounded_mentions 1" in capsys.readouterr().err


def test_an_error_in_a_sliced_split_names_the_slice():
    data = {"data_dir": "corpus", "splits": {"validation": "dev[400:]"}}
    assert split_source(data, "validation") == "data.splits.validation ('dev[400:]' of data.data_dir corpus)"
