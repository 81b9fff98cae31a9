"""Relation argument types: the entity types each relation type joins in a training corpus
(`data_simmemre.relation_argument_types`), and the entity pairs `SimMemREConfig.relation_argument_types` spares the
relation head."""

import pytest
import torch
from helpers import tiny_config

from simmemre import SimMemREModel
from simmemre.data_simmemre import relation_argument_types
from simmemre.modeling_simmemre import relation_argument_mask

TEXT = (
    "Naloxone reverses the antihypertensive effect of clonidine. "
    "In rats, clonidine lowered blood pressure and naloxone caused hypertension."
)
LOW = dict(mention_threshold=0.0, coref_threshold=0.5, relation_threshold=0.0)


def test_argument_types_are_read_from_the_relations():
    entities = [
        {"type": "Chemical", "mentions": []},
        {"type": "Disease", "mentions": []},
        {"type": "Gene", "mentions": []},
    ]
    documents = [
        {
            "entities": entities,
            "relations": [{"head": 0, "tail": 1, "type": "CID"}, {"head": 2, "tail": 1, "type": "X"}],
        },
        {
            "entities": entities,
            "relations": [{"head": 0, "tail": 1, "type": "CID"}, {"head": 0, "tail": 2, "type": "X"}],
        },
    ]
    assert relation_argument_types(documents) == {
        "CID": [["Chemical", "Disease"]],
        "X": [["Chemical", "Gene"], ["Gene", "Disease"]],
    }


def test_mask_admits_the_listed_directions_and_leaves_unnamed_types_free(tokenizer):
    config = tiny_config(
        tokenizer, relation_types=["CID", "Other"], relation_argument_types={"CID": [["Chemical", "Disease"]]}
    )
    mask = relation_argument_mask(config)
    assert mask.shape == (2, 2, 2)
    assert mask[0].tolist() == [[False, True], [False, False]]  # CID: Chemical -> Disease only
    assert mask[1].all()  # "Other" is not named: any types
    assert relation_argument_mask(tiny_config(tokenizer)) is None


@pytest.mark.parametrize(
    "value",
    [
        {"XYZ": [["Chemical", "Disease"]]},
        {"CID": [["Chemical", "Gene"]]},
        {"CID": ["Chemical", "Disease"]},
        [["a", "b"]],
    ],
)
def test_config_names_the_field_of_bad_argument_types(tokenizer, value):
    with pytest.raises(ValueError, match="relation_argument_types"):
        tiny_config(tokenizer, relation_argument_types=value)


def test_only_admitted_relations_are_predicted_with_their_unfiltered_scores(tokenizer, processor):
    torch.manual_seed(0)
    model = SimMemREModel(tiny_config(tokenizer)).eval()
    batch = processor(TEXT)
    everything = model.predict(batch, **LOW)[0]
    model.config.relation_argument_types = {"CID": [["Chemical", "Disease"]]}
    admitted = model.predict(batch, **LOW)[0]
    types = everything["entity_types"]
    assert torch.equal(admitted["entity_types"], types)  # the stages before relations are untouched
    chemical, disease = model.config.entity_types.index("Chemical"), model.config.entity_types.index("Disease")
    keep = (types[everything["relations"][:, 0]] == chemical) & (types[everything["relations"][:, 1]] == disease)
    assert 0 < int(keep.sum()) < everything["relations"].shape[0]  # the test sees both kinds of pair
    assert torch.equal(admitted["relations"], everything["relations"][keep])
    torch.testing.assert_close(admitted["relation_scores"], everything["relation_scores"][keep])


def test_a_document_without_an_admitted_pair_has_no_relations(tokenizer, processor):
    torch.manual_seed(0)
    model = SimMemREModel(tiny_config(tokenizer, relation_argument_types={"CID": []})).eval()
    prediction = model.predict(processor(TEXT), **LOW)[0]
    assert prediction["entity_types"].numel() > 1 and prediction["relations"].shape == (0, 3)
    assert prediction["relation_scores"].shape == (0,)


def test_a_binding_relation_cap_keeps_only_relations_of_admitted_argument_types(tokenizer, processor):
    """The cap re-selected the highest scores among all ordered pairs and types, so relations whose argument types
    `relation_argument_types` rules out (Disease -> Chemical for CID) came back in place of admitted ones."""
    torch.manual_seed(4)
    config = tiny_config(
        tokenizer,
        relation_argument_types={"CID": [["Chemical", "Disease"]]},
        max_mentions_per_document=30,
        max_relations_per_document=10,
    )
    model = SimMemREModel(config).eval()
    thresholds = dict(mention_threshold=0.0, coref_threshold=1.0, relation_threshold=0.0)
    prediction = model.extract(**processor(TEXT), **thresholds).predictions[0]
    types, relations = prediction["entity_types"], prediction["relations"]
    assert relations.shape[0] == 10  # the cap binds: 29 admitted relations without it
    assert (types[relations[:, 0]] == 0).all() and (types[relations[:, 1]] == 1).all()  # Chemical -> Disease
