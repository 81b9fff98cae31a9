"""benchmarks/joined_documents.py: documents joined into one text keep their gold, and clusters across them are
counted."""

from helpers import REPO_ROOT, load_script

joined_documents = load_script(REPO_ROOT / "benchmarks" / "joined_documents.py")

FIRST = {
    "id": "a",
    "text": "Aspirin causes ulcers.",
    "entities": [
        {"type": "Chemical", "mentions": [{"start": 0, "end": 7}]},
        {"type": "Disease", "mentions": [{"start": 15, "end": 21}]},
    ],
    "relations": [{"head": 0, "tail": 1, "type": "CID"}],
}
SECOND = {
    "id": "b",
    "text": "Ulcers again.",
    "entities": [{"type": "Disease", "mentions": [{"start": 0, "end": 6}]}],
    "relations": [],
}


def test_join_shifts_offsets_and_entity_indices_and_keeps_each_documents_entities_apart():
    joined, ranges = joined_documents.join([SECOND, FIRST])
    assert joined["id"] == "b+a" and joined["text"] == "Ulcers again.\n\nAspirin causes ulcers."
    assert ranges == [(0, 13), (15, 37)]
    assert [[joined["text"][m["start"] : m["end"]] for m in e["mentions"]] for e in joined["entities"]] == [
        ["Ulcers"],
        ["Aspirin"],
        ["ulcers"],
    ]
    assert joined["relations"] == [{"head": 1, "tail": 2, "type": "CID"}]


def test_an_entity_with_mentions_in_two_joined_documents_is_counted_as_crossing():
    joined, ranges = joined_documents.join([SECOND, FIRST])
    merged = {**joined, "entities": [joined["entities"][1], {"type": "Disease", "mentions": [
        *joined["entities"][0]["mentions"], *joined["entities"][2]["mentions"]]}]}  # fmt: skip
    assert joined_documents.cross_document_entities(joined, ranges) == set()
    assert joined_documents.cross_document_entities(merged, ranges) == {1}


def test_a_relation_between_entities_of_different_joined_documents_is_counted():
    joined, ranges = joined_documents.join([FIRST, SECOND])
    between = {**joined, "relations": joined["relations"] + [{"head": 0, "tail": 2, "type": "CID"}]}
    assert joined_documents.cross_document_relations(joined, ranges) == 0
    assert joined_documents.cross_document_relations(between, ranges) == 1
