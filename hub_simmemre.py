"""Write a complete Hugging Face Hub model repository for a SimMemRE model (not remote code: runs in this package only).

    >>> from simmemre import save_for_hub
    >>> save_for_hub(model, processor, "out/simmemre-cdr", results=metric_output, dataset_name="bigbio/bc5cdr",
    ...              base_model="sentence-transformers/all-MiniLM-L6-v2")

The folder then holds everything `pipeline("joint-re", model=folder_or_repo, trust_remote_code=True)` and
`AutoModel`/`AutoProcessor.from_pretrained(..., trust_remote_code=True)` need, and `scripts/push_to_hub.py` uploads it.
"""

import json
import math
import os
import re
import shutil
import tempfile
from pathlib import Path

# Files a saved repository must contain (weights may be sharded: checked separately).
REQUIRED_FILES = (
    "config.json",
    "configuration_simmemre.py",
    "modeling_simmemre.py",
    "processing_simmemre.py",
    "segmentation_simmemre.py",  # imported by processing_simmemre.py
    "pipeline_simmemre.py",
    "processor_config.json",
    "tokenizer_config.json",
    "README.md",
)
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json")
# Pickled weights as transformers names them (written by transformers 4 with `safe_serialization=False` or before 4.35;
# transformers 5 writes safetensors only, and still loads these): one file, or shards `pytorch_model-00001-of-00002.bin`
# with their index. Loading them unpickles, which can run code; the Hub flags pickles, and safetensors load first.
PICKLED_WEIGHT_PATTERNS = ("pytorch_model.bin", "pytorch_model-*-of-*.bin", "pytorch_model.bin.index.json")
# Other pickle files (a user's `torch.save` or `pickle.dump` output, joblib dumps, Lightning checkpoints), by the
# extensions the Hub's pickle scan flags: loading any of them runs the code it names, and no SimMemRE folder needs one.
PICKLE_FILE_PATTERNS = ("*.bin", "*.pt", "*.pth", "*.pkl", "*.pickle", "*.ckpt", "*.joblib")
# One of these holds the tokenizer's vocabulary (fast tokenizers: tokenizer.json; slow BERT, RoBERTa, SentencePiece
# families the others); tokenizer_config.json alone does not load.
VOCABULARY_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "spm.model", "spiece.model", "sentencepiece.bpe.model")
TASK = "joint-re"
# Metric keys of `simmemre.metrics.joint_re_f1` shown in the card, main score first.
CARD_METRICS = (
    ("relation_strict", "Relation F1 (strict, typed entities)"),
    ("relation", "Relation F1"),
    ("entity", "Entity F1"),
    ("coref", "Coreference F1"),
    ("mention", "Mention F1"),
)
DEFAULT_TAGS = (
    "simmemre",
    "jerex",
    "joint-entity-relation-extraction",
    "relation-extraction",
    "named-entity-recognition",
    "coreference-resolution",
    "document-level",
    "custom_code",
)


# Parameter names of peft's layers (LoRA's and the copies of `modules_to_save`): a model that get_peft_model changed
# in place saves them under names that no SimMemRE model loads (its weights would be initialised afresh).
PEFT_PARAMETER_MARKERS = (".lora_", ".base_layer.", ".original_module.", ".modules_to_save.")


def save_for_hub(
    model,
    processor,
    folder,
    results=None,
    dataset_name=None,
    base_model=None,
    *,
    repo_id=None,
    model_name=None,
    license="apache-2.0",
    language="en",
    tags=None,
    dataset_split="test",
    thresholds_tuned_on=None,
    training=None,
    thresholds_note=None,
):
    """Save `model` and `processor` as a Hub model repository in `folder` and return the sorted list of its files.

    Writes config.json (with `auto_map` and the `joint-re` entry of `custom_pipelines`), the remote-code files
    (configuration, modeling, processing, pipeline), processor_config.json, the tokenizer files, model.safetensors and
    a README.md model card.

    Args:
        model (`SimMemREModel`), processor (`SimMemREProcessor`).
        folder (`str` or `os.PathLike`): created if missing; existing files of the same names are replaced, other
            files stay. Everything is written to a temporary folder beside it first and moved in once complete, so
            a save that stops part way leaves the folder as it was (not new config beside old weights).
        results (`dict`, *optional*): output of the `joint_re_f1` metric (`{level}_f1`, `{level}_precision`, ...), or
            `{split: metric output}`; the strict scores go into the card's `model-index` and a table.
        dataset_name (`str`, *optional*): dataset of `results` (ideally a Hub dataset id, e.g. "bigbio/bc5cdr").
        base_model (`str`, *optional*): Hub id of the pretrained encoder (e.g.
            "sentence-transformers/all-MiniLM-L6-v2"), or of the trained SimMemRE model a run started from; a local
            folder is named in the card as "a local encoder" (or "a local SimMemRE model"), without `base_model`
            metadata or a link.
        repo_id (`str`, *optional*): used in the card's usage snippets (default: "<your-user>/<folder name>").
        model_name, license, language, tags, dataset_split: model card metadata.
        thresholds_tuned_on (`str`, *optional*): the split of `results` the saved thresholds were chosen on
            (calibration); its scores are shown as tuned there and left out of `model-index`.
        training (`dict`, *optional*): the card's "Training procedure" section (:func:`training_procedure`).
        thresholds_note (`str`, *optional*): where the default thresholds come from, at the end of the card's
            thresholds line (:func:`thresholds_origin_note`: chosen on validation, or configured values and why
            calibration was not applied, or that none ran); without it the line names the values only.
    """
    from .pipelines.pipeline_simmemre import JointREPipeline

    folder = Path(folder)
    if not hasattr(JointREPipeline, "_registered_impl"):
        raise RuntimeError("the joint-re task is not registered: import simmemre.pipelines first")
    if callable(getattr(model, "get_base_model", None)) or any(
        marker in name for name, _ in model.named_parameters() for marker in PEFT_PARAMETER_MARKERS
    ):
        raise ValueError(
            "model: a peft model (or one that get_peft_model changed in place); save_for_hub saves a plain SimMemRE "
            "model: pass model.merge_and_unload() (its adapter merged in), or save the adapter alone with "
            "model.save_pretrained(folder)"
        )
    if getattr(type(model), "_auto_class", None) is None or getattr(type(processor), "_auto_class", None) is None:
        raise ValueError(
            "model and processor classes must be registered for the Auto classes (import simmemre, which calls "
            "register_for_auto_class) so that their code and auto_map are saved"
        )

    repo_id = repo_id or placeholder_repo_id(folder)
    card = render_model_card(
        model.config,
        results=results,
        dataset_name=dataset_name,
        base_model=base_model,
        repo_id=repo_id,
        model_name=model_name or repo_id.split("/")[-1],
        license=license,
        language=language,
        tags=tags,
        dataset_split=dataset_split,
        thresholds_tuned_on=thresholds_tuned_on,
        training=training,
        thresholds_note=thresholds_note,
    )
    target = folder.resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    # Staged on the target's file system (renames only work there): beside it, or inside it when it is a mount point.
    beside = not target.is_dir() or target.stat().st_dev == target.parent.stat().st_dev
    staging = Path(tempfile.mkdtemp(prefix=_staging_prefix(target), dir=target.parent if beside else target))
    try:
        # The model's save_pretrained writes weights, auto_map, the remote code and the `joint-re` custom_pipelines
        # entry with the pipeline's code, without touching the in-memory model; the processor's writes
        # processor_config.json, the tokenizer files and processing_simmemre.py with the files it imports.
        model.save_pretrained(staging)
        processor.save_pretrained(staging)
        (staging / "README.md").write_text(card, encoding="utf-8")
        problems = folder_problems(staging)
        if problems:
            raise RuntimeError(f"incomplete Hub folder {folder}: " + "; ".join(problems))
        if not os.path.lexists(folder):  # the whole folder appears at once
            staging.chmod(0o777 & ~_process_umask())  # mkdtemp made it private
            os.rename(staging, folder)
        else:  # renames only (same file system): a link planted at a file's name is replaced, not written through
            for name in sorted(path.relative_to(staging) for path in staging.rglob("*") if path.is_file()):
                (folder / name).parent.mkdir(parents=True, exist_ok=True)
                os.replace(staging / name, folder / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file())


def _staging_prefix(folder) -> str:
    return f".{Path(folder).name}.saving-"


def staging_folders(folder) -> list:
    """The names of the staging folders of `folder` beside it (`save_for_hub` removes its own unless killed)."""
    parent, prefix = Path(folder).parent, _staging_prefix(folder)
    try:
        return sorted(path.name for path in parent.iterdir() if path.name.startswith(prefix) and path.is_dir())
    except OSError:
        return []


def _process_umask() -> int:
    """The process's umask, read without changing it (Linux); 0o022 where it cannot be read."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o022


def placeholder_repo_id(folder) -> str:
    """The repository id a card names when saved without one ("<your-user>/<folder name>"); scripts/push_to_hub.py
    puts the real one in its place."""
    return f"<your-user>/{Path(folder).resolve().name}"


# A placeholder repository id in a saved card, whatever the folder was called when it was saved (it may have been
# renamed or copied since).
PLACEHOLDER_PATTERN = re.compile(r"<your-user>/([A-Za-z0-9._-]+)")


def card_with_repo_id(card: str, repo_id: str) -> str:
    """A saved card with its placeholder repository id replaced by `repo_id`, and the title and `model-index` name
    taken from that placeholder (the saved folder's name, e.g. "best_model") by the repository's name."""
    match = PLACEHOLDER_PATTERN.search(card)
    if match is None:
        return card
    old_name, new_name = match.group(1), repo_id.split("/")[-1]
    card = PLACEHOLDER_PATTERN.sub(repo_id, card)
    card = re.sub(rf"(?m)^# {re.escape(old_name)}$", f"# {new_name}", card, count=1)
    return re.sub(rf"(?m)^- name: {re.escape(old_name)}$", f"- name: {new_name}", card, count=1)


def folder_problems(folder) -> list:
    """What would keep a saved folder from loading from the Hub (empty list: nothing); `save_for_hub` and
    scripts/push_to_hub.py check with it."""
    folder = Path(folder)
    problems = [f"missing {name}" for name in REQUIRED_FILES if not (folder / name).is_file()]
    if not any((folder / name).is_file() for name in WEIGHT_FILES):
        problems.append("missing model.safetensors")
    if not any((folder / name).is_file() for name in VOCABULARY_FILES):
        problems.append(f"missing a tokenizer vocabulary (one of {', '.join(VOCABULARY_FILES)})")
    config_path = folder / "config.json"
    config = None
    if config_path.is_file():
        try:
            config = json.loads(config_path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
            problems.append(f"config.json: not valid JSON ({err})")
        else:
            if not isinstance(config, dict):
                problems.append(f"config.json: expected a JSON object, got {type(config).__name__}")
                config = None
    if config is not None:
        custom_pipelines, auto_map = config.get("custom_pipelines"), config.get("auto_map")
        if not isinstance(custom_pipelines, dict) or TASK not in custom_pipelines:
            problems.append(f"config.json has no custom_pipelines['{TASK}'] (save with save_for_hub)")
        if not isinstance(auto_map, dict) or not {"AutoConfig", "AutoModel"} <= set(auto_map):
            problems.append("config.json has no auto_map for AutoConfig/AutoModel")
        entry = custom_pipelines.get(TASK) if isinstance(custom_pipelines, dict) else None
        implementation = entry.get("impl") if isinstance(entry, dict) else None
        if isinstance(implementation, str) and not (folder / (implementation.split(".")[0] + ".py")).is_file():
            problems.append(f"custom_pipelines['{TASK}'] names {implementation}, whose file is missing")
    problems += _processor_problems(folder)
    problems += _weight_problems(folder)
    card = folder / "README.md"
    if card.is_file() and not card.read_text(encoding="utf-8", errors="replace").startswith("---"):
        problems.append("README.md has no metadata (YAML front matter): write the card with save_for_hub")
    elif card.is_file():
        problems += _card_metadata_problems(card)
    return problems


def _processor_problems(folder: Path) -> list:
    """processor_config.json that AutoProcessor cannot follow to SimMemREProcessor (no `auto_map`)."""
    path = folder / "processor_config.json"
    if not path.is_file():
        return []  # (named as missing above)
    try:
        auto_map = json.loads(path.read_text(encoding="utf-8")).get("auto_map")
    except (ValueError, UnicodeDecodeError, AttributeError) as err:
        return [f"processor_config.json: not a JSON object ({err})"]
    if not isinstance(auto_map, dict) or "AutoProcessor" not in auto_map:
        return ["processor_config.json has no auto_map for AutoProcessor (save the processor with save_for_hub)"]
    return []


def _card_metadata_problems(card: Path) -> list:
    """Card metadata the Hub would refuse at upload: YAML that does not parse, or a `model-index` huggingface_hub
    cannot read."""
    from huggingface_hub import ModelCard

    try:
        data = ModelCard(card.read_text(encoding="utf-8")).data
        if data.to_dict().get("model-index") is not None or data.eval_results is not None:
            from huggingface_hub.repocard_data import model_index_to_eval_results

            model_index_to_eval_results(data.to_dict().get("model-index") or [])
    except Exception as err:  # (huggingface_hub raises ValueError, yaml errors, KeyError or TypeError here)
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        return [f"README.md: metadata the Hub would refuse ({reason})"]
    return []


def _weight_problems(folder: Path) -> list:
    """Weights that would not load: an empty model.safetensors, or shards named in the index but missing."""
    weights, index = folder / "model.safetensors", folder / "model.safetensors.index.json"
    if weights.is_file() and weights.stat().st_size == 0:
        return ["model.safetensors is empty"]
    if weights.is_file():
        from safetensors import safe_open

        try:
            with safe_open(str(weights), "pt"):
                pass  # (reads the header only)
        except Exception as err:  # safetensors raises its own error types for a file that is not safetensors
            return [f"model.safetensors is not a safetensors file ({str(err).strip()[:120] or type(err).__name__})"]
    if not weights.is_file() and index.is_file():
        try:
            shards = set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values())
        except (ValueError, KeyError, TypeError, AttributeError) as err:
            return [f"model.safetensors.index.json: no weight_map ({err})"]
        missing = sorted(shard for shard in shards if not (folder / shard).is_file())
        if missing:
            return [f"weight shard(s) named in model.safetensors.index.json are missing: {', '.join(missing)}"]
    return []


# Remote-code files of a saved folder and the files of this package they are copies of (save_pretrained copies them).
REMOTE_CODE_SOURCES = {
    "configuration_simmemre.py": "configuration_simmemre.py",
    "modeling_simmemre.py": "modeling_simmemre.py",
    "processing_simmemre.py": "processing_simmemre.py",
    "segmentation_simmemre.py": "segmentation_simmemre.py",
    "pipeline_simmemre.py": "pipelines/pipeline_simmemre.py",
}


def remote_code_differences(folder) -> list:
    """The remote-code files of `folder` that are not this package's (empty list: all the same; line ends aside). A
    folder saved by another version of the package, or assembled by hand, runs its own copy of the code wherever it is
    loaded with `trust_remote_code`; this says so before it is uploaded."""
    from .modeling_simmemre import same_source

    folder, package = Path(folder), Path(__file__).resolve().parent
    return [
        name
        for name, source in REMOTE_CODE_SOURCES.items()
        if (folder / name).is_file() and not same_source((folder / name).read_bytes(), (package / source).read_bytes())
    ]


# ----------------------------------------------------------------------------------------------------
# Model card
# ----------------------------------------------------------------------------------------------------


def _results_by_split(results, default_split):
    """`{split: metric output}` from either one metric output or a dict of them."""
    if not results:
        return {}
    if any(isinstance(key, str) and key.endswith("_f1") for key in results):
        by_split = {default_split: results}
    else:
        by_split = {split: value for split, value in results.items() if isinstance(value, dict)}
    levels = [f"{level}_f1" for level, _ in CARD_METRICS]
    if not any(key in scores for scores in by_split.values() for key in levels):
        raise ValueError(
            f"results: no {levels[0]} (or another level's F1) in {sorted(results)[:6]}: give the joint_re_f1 output "
            "of one split, or {split: output}, without the Trainer's prefixes (eval_, test_, calibrated_test_)"
        )
    return by_split


def _score(value):
    """A score rounded for the card; None for a missing or non-finite one (never published as .nan)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return round(number, 2) if math.isfinite(number) else None


def _cell(value) -> str:
    """A markdown table cell: a missing score as "–", a `|` or line break that would split the row escaped."""
    if value is None:
        return "–"
    return str(value).replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def render_model_card(
    config,
    results=None,
    dataset_name=None,
    base_model=None,
    repo_id="<your-user>/simmemre",
    model_name=None,
    license="apache-2.0",
    language="en",
    tags=None,
    dataset_split="test",
    thresholds_tuned_on=None,
    training=None,
    thresholds_note=None,
):
    """README.md text: YAML front matter (license, library_name, pipeline_tag, tags, datasets, base_model, model-index)
    and a body with the labels, usage snippets, evaluation table, training procedure and citation. `training`: the
    facts of :func:`training_procedure`, or an earlier card's section text (:func:`card_section`), kept as it is.
    `thresholds_note`: where the default thresholds come from (:func:`thresholds_origin_note`), on their line."""
    model_name = model_name or repo_id.split("/")[-1]
    by_split = _results_by_split(results, dataset_split)
    if not config.relation_types:  # a model of mentions, coreference and entities: its relation F1 is 0 by design
        by_split = {
            split: {key: value for key, value in scores.items() if not key.startswith("relation")}
            for split, scores in by_split.items()
        }
    # Scores on the split the thresholds were chosen on are optimistic: shown as such, never as a model-index result.
    indexed = {split: scores for split, scores in by_split.items() if split != thresholds_tuned_on}
    # Only a Hub id goes into `base_model` and its link: a local encoder folder is named, never published as a path.
    hub_base_model = base_model if is_hub_model_id(base_model) else None
    front_matter = _card_front_matter(indexed, dataset_name, hub_base_model, model_name, license, language, tags)
    lines = [
        "---",
        front_matter,
        "---",
        "",
        *_card_overview_lines(config, model_name, base_model, thresholds_note),
        *_card_usage_lines(repo_id, config, dataset_name),
        *_card_evaluation_lines(by_split, dataset_name, thresholds_tuned_on),
        *_card_training_lines(training),
        *_card_limitations_lines(config, dataset_name),
        *_CARD_CITATION_LINES,
    ]
    return "\n".join(lines)


def is_hub_model_id(name) -> bool:
    """Whether `name` is a Hub model id ("bert-base-uncased", "org/model"), not a local folder: not an existing path,
    not absolute, at most one "/", and valid for `huggingface_hub.utils.validate_repo_id`."""
    import os

    from huggingface_hub.utils import HFValidationError, validate_repo_id

    if not isinstance(name, str) or not name or os.path.exists(name) or os.path.isabs(name) or name.count("/") > 1:
        return False
    try:
        validate_repo_id(name)
    except HFValidationError:
        return False
    return True


def _card_front_matter(by_split, dataset_name, base_model, model_name, license, language, tags):
    """The YAML between the card's `---` lines; `model-index` holds the F1 scores of `by_split`."""
    from huggingface_hub import ModelCardData

    eval_results = _card_eval_results(by_split, dataset_name)
    card_data = ModelCardData(
        language=language,
        license=license,
        library_name="transformers",
        pipeline_tag="token-classification",
        tags=list(dict.fromkeys(list(DEFAULT_TAGS) + list(tags or []))),
        datasets=[_hub_dataset_id(dataset_name)] if dataset_name else None,
        base_model=base_model,
        metrics=["f1"] if eval_results else None,
        model_name=model_name,
        eval_results=eval_results or None,
    )
    return card_data.to_yaml().strip()


def _card_eval_results(by_split, dataset_name):
    """One `EvalResult` per split and `CARD_METRICS` level that has an F1 score."""
    from huggingface_hub import EvalResult

    eval_results = []
    for split, scores in by_split.items():
        for level, label in CARD_METRICS:
            if _score(scores.get(f"{level}_f1")) is None:
                continue
            eval_results.append(
                EvalResult(
                    task_type="token-classification",
                    task_name="Joint Entity and Relation Extraction",
                    dataset_type=_hub_dataset_id(dataset_name) if dataset_name else "custom",
                    dataset_name=("BC5CDR" if _hub_dataset_id(dataset_name) == "bigbio/bc5cdr" else dataset_name)
                    or "custom",
                    dataset_split=split,
                    metric_type="f1",
                    metric_name=f"{label} ({split})",
                    metric_value=_score(scores[f"{level}_f1"]),
                    metric_config=level,
                )
            )
    return eval_results


def _card_overview_lines(config, model_name, base_model, thresholds_note=None):
    """Title, what the model does, its encoder, labels and default thresholds (and where they come from)."""
    from .experiment_simmemre import saved_config_value

    encoder = config.encoder_config or {}
    encoder_text = (
        f"`{encoder.get('model_type', 'bert')}` encoder, {encoder.get('num_hidden_layers', '?')} layers, hidden size "
        f"{encoder.get('hidden_size', '?')}"
    )
    if is_hub_model_id(base_model):
        encoder_text += f", initialised from [`{base_model}`](https://huggingface.co/{base_model})"
    elif saved_config_value(str(base_model), "model_type") == "simmemre":  # a run from a trained model's folder
        encoder_text += f", initialised from a local SimMemRE model ({_trained_model_name(base_model)})"
    elif base_model:
        encoder_text += f", initialised from a local encoder (`{Path(str(base_model)).name or base_model}`)"
    if getattr(config, "jerex_baseline", False):
        variant = "JEREX (Eberts & Ulges, 2021), the baseline without memory"
    elif config.uses_memory_reads:
        variant = (
            "SimMemRE: JEREX (Eberts & Ulges, 2021) with the similarity-based memory of Kościukiewicz et al. (2023), "
            "entity and relation memories read back by attention"
        )
    elif config.classifier_type == "similarity":
        variant = (
            "JEREX (Eberts & Ulges, 2021) with the bilinear similarity classifiers of Kościukiewicz et al. (2023), "
            "no memory reads"
        )
    else:
        variant = "JEREX (Eberts & Ulges, 2021), no memory"
    entity_types = ", ".join(_code_span(t) for t in config.entity_types) or "none"
    relation_types = ", ".join(_code_span(t) for t in config.relation_types) or "none"
    return [
        f"# {model_name}",
        "",
        "Document-level **joint entity and relation extraction**: one forward pass finds entity mentions, clusters "
        "coreferent mentions into entities, types the entities and classifies relations between entity pairs. "
        f"Architecture: {variant}; a `transformers` custom model.",
        "",
        f"- Encoder: {encoder_text}. Long documents are encoded in windows of {config.window_size} subwords"
        + (f" overlapping by {config.window_overlap}" if config.window_overlap else "")
        + ", so nothing is truncated.",
        f"- Entity types: {entity_types}",
        f"- Relation types: {relation_types}",
        f"{_THRESHOLDS_LINE}mention {config.mention_threshold}, coreference {config.coref_threshold}, relation "
        f"{config.relation_threshold}, entity {config.entity_threshold}{_PER_CALL}"
        + (f"; {_fact(thresholds_note)}." if thresholds_note else "."),
        "",
    ]


_THRESHOLDS_LINE = "- Default thresholds: "
_PER_CALL = " (overridable per call)"
# The card's names of the thresholds, in the order of its thresholds line.
_THRESHOLD_LABELS = {
    "mention_threshold": "mention",
    "coref_threshold": "coreference",
    "relation_threshold": "relation",
    "entity_threshold": "entity",
}
_CONFIGURED = "the run's configured values"
_SAVED = "the values the model was saved with"
_NOT_APPLIED = ": calibration on "
_NOT_CALIBRATED = " (not calibrated"


def thresholds_origin_note(calibration=None, *, split="validation", start_model=None, from_run=(), origin=None) -> str:
    """Where a saved model's default thresholds come from, as its card says it (`thresholds_note` of
    :func:`render_model_card`), so that configured values cannot be taken for calibrated ones:

    - `calibration` (the result of `calibrate_thresholds`) applied: chosen on `split`;
    - else the configured values: `origin` when given (calibrate.py: :func:`saved_thresholds_origin`), else the
      run's, or for a run from the trained model `start_model` the start model's except the thresholds the run's
      model section gives (`from_run`: their config names); then why calibration was not applied, or (none ran) "not
      calibrated".
    """
    if calibration is not None and calibration.get("applied", True):
        objective = calibration.get("objective", "relation_strict_f1")
        shown = "strict relation F1" if objective == "relation_strict_f1" else objective
        return f"chosen on {split} by a grid search for the best {shown}"
    if origin is None:
        origin = _configured_thresholds_origin(start_model, from_run)
    if calibration is None:
        return f"{origin}{_NOT_CALIBRATED}{' in this run' if start_model else ''})"
    return f"{origin}{_NOT_APPLIED}{split} was not applied because {calibration.get('reason')}"


def _configured_thresholds_origin(start_model, from_run) -> str:
    """The run's configured thresholds in words: a run from a trained model takes those its model section gives and
    keeps the start model's others (`experiment_simmemre.trained_model_settings`)."""
    given = [label for name, label in _THRESHOLD_LABELS.items() if name in set(from_run)]
    if not start_model or len(given) == len(_THRESHOLD_LABELS):
        return _CONFIGURED
    kept = f"as the start model {_trained_model_name(start_model)} had them"
    given = " and ".join([", ".join(given[:-1]), given[-1]] if len(given) > 1 else given)
    return f"{given} from the run's config, the others {kept}" if given else kept


def saved_thresholds_origin(card: str = "") -> str:
    """Where the thresholds a model was saved with came from, as its earlier `card` said (what that card said of a
    calibration left out), for a card written again around them: calibrate.py's when its calibration is not applied."""
    line = next((line for line in card.splitlines() if line.startswith(_THRESHOLDS_LINE)), "")
    note = line.partition(f"{_PER_CALL}; ")[2].removesuffix(".")
    earlier = note.split(_NOT_APPLIED)[0].split(_NOT_CALIBRATED)[0].strip()
    if not earlier or earlier.startswith(_SAVED):  # (a note of an earlier refusal already says so)
        return earlier or _SAVED
    return f"{_SAVED} ({earlier})"


def saved_thresholds_tuned_on(card: str = ""):
    """The split an earlier `card` says its thresholds were chosen on (its evaluation section's sentence), or None:
    calibrate.py keeps it for thresholds it does not replace, whose scores on that split stay optimistic."""
    match = _TUNED_ON.search(card)
    return match.group(1) if match else None


_TUNED_ON = re.compile(r"^The default thresholds were chosen on (\S+) \(by ", re.MULTILINE)


# The card's example input: a BC5CDR sentence for a model trained on BC5CDR, a placeholder for any other.
CDR_EXAMPLE_TEXT = "Lidocaine-induced cardiac asystole was observed in two patients."
NEUTRAL_EXAMPLE_TEXT = "Text of a document from the domain the model was trained on."


def _hub_dataset_id(dataset_name: str) -> str:
    """The Hub dataset id of `dataset_name`: BC5CDR's (bigbio/bc5cdr) for its short names, else the name as given (a
    name without a namespace links to no dataset page)."""
    return "bigbio/bc5cdr" if _plain_name(dataset_name) == "bc5cdr" else dataset_name


def _is_bc5cdr(dataset_name) -> bool:
    """Whether `dataset_name` names BC5CDR ("bc5cdr", "bigbio/bc5cdr", "BC5CDR", ...)."""
    return "bc5cdr" in _plain_name(dataset_name)


def _plain_name(dataset_name) -> str:
    """`dataset_name` lower-cased, letters and digits only ("BC5-CDR" and "bigbio/bc5cdr" alike)."""
    return "".join(character for character in str(dataset_name or "").lower() if character.isalnum())


def _shows_bc5cdr(config, dataset_name) -> bool:
    """The BC5CDR example only for a model of BC5CDR's labels (Chemical, Disease, CID) trained on it."""
    return (
        _is_bc5cdr(dataset_name)
        and {"Chemical", "Disease"} <= set(config.entity_types)
        and "CID" in config.relation_types
    )


def _code_span(name: str) -> str:
    """`name` as a Markdown code span, whatever backticks or line breaks it holds (they ended the span early)."""
    name = " ".join(str(name).split())
    fence = "`" * (max((len(run) for run in re.findall("`+", name)), default=0) + 1)
    padding = " " if "`" in name else ""
    return f"{fence}{padding}{name}{padding}{fence}"


def _card_output_example(config, dataset_name) -> str:
    """One line of the output schema, valid in it (two entities, a relation between them): the BC5CDR example for
    BC5CDR, else the model's own first labels."""
    if _shows_bc5cdr(config, dataset_name):
        text, first, second, types, relation_type = (
            "Lidocaine-induced cardiac asystole.",
            "Lidocaine",
            "cardiac asystole",
            ("Chemical", "Disease"),
            "CID",
        )
    else:
        labels = list(config.entity_types) or ["ENTITY"]
        text, first, second = "First name and second name.", "First name", "second name"
        types, relation_type = (labels[0], labels[-1]), (list(config.relation_types) or ["RELATION"])[0]
        allowed = (getattr(config, "relation_argument_types", None) or {}).get(relation_type)
        if allowed:  # a pair of argument types the model can give this relation
            types = tuple(allowed[0])
    entities = [
        {
            "type": entity_type,
            "score": 0.98,
            "mentions": [{"start": text.index(name), "end": text.index(name) + len(name), "text": name, "score": 0.99}],
        }
        for entity_type, name in zip(types, (first, second))
    ]
    relations = [{"head": 0, "tail": 1, "type": relation_type, "score": 0.91}] if config.relation_types else []
    return json.dumps({"id": "doc-2", "text": text, "entities": entities, "relations": relations}, ensure_ascii=False)


def _card_usage_lines(repo_id, config, dataset_name=None):
    """Usage snippets (pipeline, output schema, model and processor without the pipeline) for the model at `repo_id`:
    a BC5CDR example sentence only for a model of BC5CDR (`dataset_name`), and the model's default thresholds in
    both snippets."""
    example = json.dumps(
        CDR_EXAMPLE_TEXT if _shows_bc5cdr(config, dataset_name) else NEUTRAL_EXAMPLE_TEXT, ensure_ascii=False
    )
    return [
        "## Usage",
        "",
        "The model ships its own code (`trust_remote_code=True`); it needs only `torch` and `transformers>=5`. Its "
        f"task is the custom `{TASK}` pipeline; the Hub lists no such task, so the card's tag is "
        '`token-classification`, and `pipeline("token-classification", ...)` with `trust_remote_code=True` runs the '
        'same pipeline (a call without a task must name one). Pin the code you reviewed with `revision="<commit>"`.',
        "",
        "```python",
        "from transformers import pipeline",
        "",
        f'extractor = pipeline("{TASK}", model="{repo_id}", trust_remote_code=True)',
        f"document = extractor({example})",
        'for entity in document["entities"]:',
        '    print(entity["type"], [m["text"] for m in entity["mentions"]], round(entity["score"], 3))',
        'for relation in document["relations"]:',
        '    head, tail = document["entities"][relation["head"]], document["entities"][relation["tail"]]',
        '    print(head["mentions"][0]["text"], relation["type"], tail["mentions"][0]["text"], relation["score"])',
        "",
        "# many documents, batched; thresholds can be changed per call, and types selected",
        'results = extractor(["first text ...", {"id": "doc-2", "text": "second text ..."}], batch_size=8,',
        (
            f"                    relation_threshold=0.5, relation_types={list(config.relation_types[:1])!r})"
            if config.relation_types
            else f"                    mention_threshold=0.5, entity_types={list(config.entity_types[:1])!r})"
        ),
        "```",
        "",
        "Each result follows the JSON document schema used across the project:",
        "",
        "```json",
        _card_output_example(config, dataset_name),
        "```",
        "",
        "Offsets are character offsets into the input string (end exclusive): `text[start:end] == mention['text']`. "
        "Inputs may be strings or schema documents (`id`, `text`, and optionally pre-segmented `words` and "
        '`sentences`, lists of `{"start", "end"}` character offsets; gold annotations are ignored).',
        "",
        "Without the pipeline:",
        "",
        "```python",
        "from transformers import AutoModel, AutoProcessor",
        "",
        f'model = AutoModel.from_pretrained("{repo_id}", trust_remote_code=True).eval()',
        f'processor = AutoProcessor.from_pretrained("{repo_id}", trust_remote_code=True)',
        f"texts = [{example}]",
        "inputs = processor(texts)",
        "outputs = model.extract(**inputs)  # the default thresholds above; e.g. mention_threshold=0.9 overrides one",
        "documents = [",
        "    processor.decode(prediction, text, spans, model.config.entity_types, model.config.relation_types)",
        '    for prediction, text, spans in zip(outputs.predictions, texts, inputs["word_char_spans"])',
        "]",
        "```",
        "",
    ]


def _card_evaluation_lines(by_split, dataset_name, thresholds_tuned_on=None):
    """The evaluation table (precision, recall, F1 per split and level); no section without results."""
    if not by_split:
        return []
    lines = [
        "## Evaluation",
        "",
        f"Strict micro scores (JEREX semantics: a cluster matches only with exactly the gold mention spans) on "
        f"{dataset_name or 'the evaluation data'}, in percent, at the default thresholds above:",
        "",
        "| split | level | precision | recall | F1 |",
        "|---|---|---|---|---|",
    ]
    for split, scores in by_split.items():
        # The size of a split says how far its scores can be read (a quick run tunes on 100 documents).
        documents = scores.get("documents")
        notes = [f"{int(documents):,} documents"] if isinstance(documents, (int, float)) and documents > 0 else []
        notes += ["thresholds tuned here"] if split == thresholds_tuned_on else []
        shown = f"{split} ({'; '.join(notes)})" if notes else split
        for level, label in CARD_METRICS:
            if _score(scores.get(f"{level}_f1")) is not None:
                lines.append(
                    f"| {_cell(shown)} | {label} | {_cell(_score(scores.get(f'{level}_precision')))} | "
                    f"{_cell(_score(scores.get(f'{level}_recall')))} | {_cell(_score(scores[f'{level}_f1']))} |"
                )
    if thresholds_tuned_on in by_split:
        lines += [
            "",
            f"The default thresholds were chosen on {thresholds_tuned_on} (by strict relation F1), so its scores are "
            f"optimistic and are left out of the metadata; the other splits are held out.",
        ]
    lines.append("")
    return lines


TRAINING_SECTION = "Training procedure"


def training_procedure(trainer, train_documents=None, train_runtime=None, trained_from=None) -> dict:
    """The facts a model card states of the run that trained the model, as transformers' Trainer cards list them:
    `{"Training hyperparameters": {...}, "Framework versions": {...}}`, from the `SimMemRETrainer` (its arguments, the
    model config's loss weights and memory warm-up, the collator's negative samples) and, where given, the number of
    training documents, the training time in seconds and the trained SimMemRE model the run started from (a Hub id or
    a local folder, named by its last two path parts).

    The training time is the whole run's: a run resumed from checkpoints adds the time its checkpoint recorded for the
    earlier legs (:class:`~simmemre.training_simmemre.TrainingTimeCallback`) to `train_runtime` (the last leg's, as
    transformers reports it; measured by the callback where not given) and says it was resumed; it is left out where
    an earlier leg's time is not recorded (a checkpoint of an older version)."""
    from .training_simmemre import installed_version, sampling_seed

    args, model_config, collator = trainer.args, trainer.model.config, trainer.data_collator
    collator_seed = getattr(collator, "seed", None)
    head_learning_rate = getattr(trainer, "head_learning_rate", None)
    lora_description = getattr(trainer, "lora_description", None)
    accumulation, processes = args.gradient_accumulation_steps, getattr(args, "world_size", 1)
    warmup = args.warmup_steps  # (transformers 5: a fraction < 1 of the training steps, or a step count)
    precision = "bf16 autocast" if args.bf16 else "fp16 autocast" if args.fp16 else "float32"
    facts = {
        "started from": (
            f"the trained SimMemRE model {_trained_model_name(trained_from)} (its weights, heads and memories)"
            if trained_from
            else None
        ),
        "training documents": train_documents,
        "learning_rate": args.learning_rate,
        "head_learning_rate (heads, memories, embeddings)": head_learning_rate,
        "LoRA (peft)": lora_description() if callable(lora_description) else None,
        "train_batch_size": args.per_device_train_batch_size,
        "gradient_accumulation_steps": accumulation if accumulation != 1 else None,
        "processes": processes if processes != 1 else None,
        "total_train_batch_size": args.per_device_train_batch_size * accumulation * processes,
        # (the epochs trained: a run stopped by max_steps trains fewer than num_train_epochs)
        "num_epochs": f"{trainer.state.epoch:g}" if getattr(trainer.state, "epoch", None) else args.num_train_epochs,
        "optimizer": getattr(args.optim, "value", args.optim),
        "weight_decay": args.weight_decay,
        "max_grad_norm": args.max_grad_norm,
        "lr_scheduler_type": getattr(args.lr_scheduler_type, "value", args.lr_scheduler_type),
        "warmup": (f"{warmup * 100:g}% of the steps" if 0 < warmup < 1 else f"{int(warmup)} steps") if warmup else None,
        "seed": args.seed,
        # (the seed of the negative samples and the document order where set: see sampling_seed)
        "data_seed": getattr(args, "data_seed", None),
        # (a run resumed from a checkpoint written before data_seed seeded the negatives kept drawing them from seed)
        "negative samples seed": collator_seed if collator_seed not in (None, sampling_seed(args)) else None,
        "mixed_precision": precision,
        "model selection": f"best {args.metric_for_best_model} on validation" if args.load_best_model_at_end else None,
        "training time": _training_time(trainer, train_runtime),
    }
    # (SimMemREDataCollator's counts; another collator's are not known)
    counts = [getattr(collator, f"neg_{kind}_count", None) for kind in ("mention", "coref", "relation")]
    if None not in counts:
        facts["negative samples per document (mention / coreference / relation)"] = " / ".join(map(str, counts))
    weights = [getattr(model_config, f"{task}_loss_weight") for task in ("mention", "coref", "entity", "relation")]
    facts["loss weights (mention / coreference / entity / relation)"] = " / ".join(map(str, weights))
    if model_config.use_entity_memory or model_config.use_relation_memory:
        facts["memory_warmup_proportion"] = model_config.memory_warmup_proportion
    versions = {name: installed_version(package) for name, package in _CARD_FRAMEWORKS}
    return {
        "Training hyperparameters": {key: value for key, value in facts.items() if value is not None},
        "Framework versions": {key: value for key, value in versions.items() if value is not None},
    }


def _training_time(trainer, train_runtime=None):
    """The card's training time: "51m59s on cpu", or for a resumed run "2h10m on cpu over 2 legs (resumed once from a
    checkpoint)"; None where not known."""
    from .training_simmemre import TrainingTimeCallback, format_duration

    handler = getattr(trainer, "callback_handler", None)
    clocks = [callback for callback in getattr(handler, "callbacks", ()) if isinstance(callback, TrainingTimeCallback)]
    timed = clocks[0].training_time(train_runtime or None) if clocks else None
    if timed is None:  # not trained by this trainer (a card written for a run's results): the time given, if any
        return f"{format_duration(train_runtime)} on {trainer.args.device}" if train_runtime else None
    if not timed["seconds"]:  # (None: an earlier leg's time is not recorded)
        return None
    devices = " and ".join(timed["devices"]) or str(trainer.args.device)
    resumes = timed["legs"] - 1
    if not resumes:
        return f"{format_duration(timed['seconds'])} on {devices}"
    how_often = "once from a checkpoint" if resumes == 1 else f"{resumes} times from checkpoints"
    return f"{format_duration(timed['seconds'])} on {devices} over {timed['legs']} legs (resumed {how_often})"


def _trained_model_name(location) -> str:
    """A trained model in a card: a Hub id linked, a local folder by its last two path parts (`run/best_model`), never
    its whole path."""
    if is_hub_model_id(location):
        return f"[`{location}`](https://huggingface.co/{location})"
    path = Path(str(location)).resolve()
    return f"`{path.parent.name}/{path.name}`" if path.parent.name else f"`{path.name}`"


_CARD_FRAMEWORKS = (
    ("Transformers", "transformers"),
    ("PyTorch", "torch"),
    ("Datasets", "datasets"),
    ("Tokenizers", "tokenizers"),
)


def card_section(card: str, title: str = TRAINING_SECTION) -> str | None:
    """The text of the card's `## title` section up to the next `## ` heading (None without one), to keep it when the
    card is written again (calibrate.py rewrites the scores, not how the model was trained)."""
    lines, headings, fenced = card.splitlines(), [], False
    for index, line in enumerate(lines):  # (a "## " line inside a code fence is no heading)
        fenced ^= line.lstrip().startswith("```")
        if not fenced and line.startswith("## "):
            headings.append(index)
    starts = [index for index in headings if lines[index].strip() == f"## {title}"]
    if not starts:
        return None
    end = next((index for index in headings if index > starts[0]), len(lines))
    return "\n".join(lines[starts[0] : end]).rstrip() + "\n"


def _card_training_lines(training) -> list:
    """The "Training procedure" section: facts of :func:`training_procedure` as lists, or a kept section's text."""
    if not training:
        return []
    if isinstance(training, str):
        return [*training.rstrip().splitlines(), ""]
    lines = [f"## {TRAINING_SECTION}", ""]
    for heading, facts in training.items():
        if facts:
            lines += [f"### {heading}", "", *(f"- {name}: {_fact(value)}" for name, value in facts.items()), ""]
    return lines


def _fact(value) -> str:
    """A fact as the card shows it: numbers as written in a config (5e-05, 20), the rest as text without line ends."""
    return " ".join(str(value).split())


def _card_limitations_lines(config, dataset_name=None):
    trained_on = f"its training data ({dataset_name})" if dataset_name else "its training data"
    return [
        "## Intended use and limitations",
        "",
        f"- For research on document-level information extraction from text like {trained_on}: English by default, "
        "one document per call. Not for clinical or other decisions about people without a human check of its "
        "output; the training corpus's own licence and terms apply to what was learned from it.",
        "- Entity and relation types are fixed by training; mentions are spans of up to "
        f"{config.max_span_size} words inside one sentence.",
        "- Inference cost grows with the number of predicted mentions (coreference is scored for every mention pair, "
        "relations for every entity pair); very low thresholds on very long documents are slow.",
        "",
    ]


_CARD_CITATION_LINES = (
    "## Citation",
    "",
    "```bibtex",
    "@inproceedings{kosciukiewicz-etal-2023-similarity,",
    "  title = {Similarity-based Memory Enhanced Joint Entity and Relation Extraction},",
    "  author = {Ko{\\'s}ciukiewicz, Witold and W{\\'o}jcik, Mateusz and Kajdanowicz, Tomasz and Gonczarek, Adam},",
    "  booktitle = {Computational Science -- ICCS 2023},",
    "  year = {2023},",
    "  eprint = {2307.11762},",
    "}",
    "@inproceedings{eberts-ulges-2021-end,",
    "  title = {An End-to-end Model for Entity-level Relation Extraction using Multi-instance Learning},",
    "  author = {Eberts, Markus and Ulges, Adrian},",
    "  booktitle = {Proceedings of EACL 2021},",
    "  year = {2021},",
    "  pages = {3650--3660},",
    "}",
    "```",
    "",
)


# What scripts/push_to_hub.py leaves out of the upload (huggingface_hub adds its own defaults, e.g. `.git/`): caches
# and what a training run leaves beside a model (checkpoints, logs, optimizer state, metric files), which a folder
# used as an output_dir holds.
UPLOAD_IGNORE_PATTERNS = [
    "__pycache__/*",
    "*.pyc",
    ".*",
    "checkpoint-*",
    "runs/*",
    "wandb/*",
    "*.tfevents.*",
    "training_args.bin",
    "optimizer.pt",
    "scheduler.pt",
    "scaler.pt",
    "rng_state*.pth",
    "trainer_state.json",
    "*_results.json",
    "*_predictions.jsonl",
]


def _folder_files(folder: Path) -> tuple:
    """(relative paths of the plain files under `folder`, its symbolic links): a link is listed, never followed (it
    may point outside the folder, or to a whole tree)."""
    files, links = [], []
    for root, directories, names in os.walk(folder):  # followlinks=False: a linked folder is not entered
        for name in names + [directory for directory in directories if os.path.islink(os.path.join(root, directory))]:
            path = os.path.join(root, name)
            relative = Path(path).relative_to(folder).as_posix()
            if os.path.islink(path):
                links.append(relative)
            elif os.path.isfile(path):
                files.append(relative)
    return sorted(files), sorted(links)


def pickled_weight_files(folder) -> list:
    """The pickled PyTorch weights at the root of `folder` (`PICKLED_WEIGHT_PATTERNS`: `pytorch_model.bin`, its shards
    and their index), sorted."""
    from fnmatch import fnmatchcase

    folder = Path(folder)
    return sorted(
        path.name
        for path in folder.glob("pytorch_model*")
        if path.is_file() and not path.is_symlink() and any(fnmatchcase(path.name, p) for p in PICKLED_WEIGHT_PATTERNS)
    )


def has_safetensors_weights(folder) -> bool:
    """Whether `folder` holds safetensors weights (`model.safetensors`, or a sharded index)."""
    return any((Path(folder) / name).is_file() for name in WEIGHT_FILES)


def files_for_upload(folder, allow_pickle: bool = False):
    """Relative paths of the files `scripts/push_to_hub.py` sends: the folder's plain files without those of
    `UPLOAD_IGNORE_PATTERNS` (matched as `upload_folder` matches them), without symbolic links and, unless
    `allow_pickle`, without other pickle files (:func:`other_pickle_files`) nor, where the folder has safetensors
    weights, pickled ones (:func:`pickled_weight_files`)."""
    left_out = set(_pickles_left_out(folder, allow_pickle)) | set(_other_pickles_left_out(folder, allow_pickle))
    return [name for name in _uploadable_files(folder) if name not in left_out]


def _uploadable_files(folder) -> list:
    """The folder's plain files without `UPLOAD_IGNORE_PATTERNS`' (training leftovers), as `upload_folder` would
    send them."""
    from huggingface_hub.utils import DEFAULT_IGNORE_PATTERNS, filter_repo_objects

    paths, _ = _folder_files(Path(folder))
    return list(filter_repo_objects(paths, ignore_patterns=UPLOAD_IGNORE_PATTERNS + DEFAULT_IGNORE_PATTERNS))


def other_pickle_files(folder) -> list:
    """The pickle files of `folder`, at any depth, that an upload would send besides the pickled weights: those named
    by `PICKLE_FILE_PATTERNS` (any case) that are neither training leftovers (`UPLOAD_IGNORE_PATTERNS`: optimizer
    state, training_args.bin, checkpoints) nor `pickled_weight_files`, as relative paths, sorted."""
    from fnmatch import fnmatchcase

    weights = set(pickled_weight_files(folder))
    return sorted(
        path
        for path in _uploadable_files(folder)
        if path not in weights and any(fnmatchcase(path.rsplit("/", 1)[-1].lower(), p) for p in PICKLE_FILE_PATTERNS)
    )


def _pickles_left_out(folder, allow_pickle: bool) -> list:
    """The pickled weights an upload leaves out: all of them beside safetensors weights (transformers loads those
    first, and a pickle runs code when loaded), none with `allow_pickle` or without safetensors (the push refuses
    those folders unless allowed)."""
    return [] if allow_pickle or not has_safetensors_weights(folder) else pickled_weight_files(folder)


def _other_pickles_left_out(folder, allow_pickle: bool) -> list:
    """The other pickle files an upload leaves out: all of them unless `allow_pickle` (as the Trainer's own pickles:
    a loader of the repository would run their code, and the Hub flags them)."""
    return [] if allow_pickle else other_pickle_files(folder)


def files_left_out_of_upload(folder, allow_pickle: bool = False) -> list:
    """The folder's files that `files_for_upload` leaves out (ignored patterns, pickled weights beside safetensors,
    other pickle files and symbolic links, each of the last three with the reason), for --dry-run."""
    paths, links = _folder_files(Path(folder))
    sent = set(files_for_upload(folder, allow_pickle))
    weights, others = _pickles_left_out(folder, allow_pickle), _other_pickles_left_out(folder, allow_pickle)
    reasoned = set(weights) | set(others)
    return (
        [path for path in paths if path not in sent and path not in reasoned]
        + [f"{name} (pickled weights: the safetensors weights are uploaded)" for name in sorted(weights)]
        + [f"{name} (pickle: runs code when loaded; --allow-pickle uploads it)" for name in others]
        + [f"{link} (symbolic link)" for link in links]
    )


# An `evaluate` module on the Hub is a gradio Space: `evaluate.load("user/NAME")` downloads NAME.py from it, and the
# Space runs app.py (the widget) with requirements.txt installed, as the card's front matter says.
METRIC_SPACE_CARD_KEYS = (
    "title",
    "emoji",
    "colorFrom",
    "colorTo",
    "sdk",
    "sdk_version",
    "app_file",
    "pinned",
    "tags",
    "description",
)
METRIC_SPACE_REQUIREMENTS = ("evaluate", "datasets")
_FRONT_MATTER = re.compile(r"\A---\r?\n(.*?)\r?\n---\r?\n", re.DOTALL)


def metric_module_name(folder) -> str:
    """The module an evaluate metric folder holds: its script is named after the folder (as `evaluate.load(folder)`
    expects), and its Space must be named so too."""
    return Path(folder).resolve().name


def metric_space_files(folder) -> list:
    """The files that make an evaluate metric folder's Space, as `push_to_hub.py --metric` uploads them: the module,
    its card, the widget's app.py and requirements.txt (tests and caches stay behind)."""
    return [f"{metric_module_name(folder)}.py", "README.md", "app.py", "requirements.txt"]


def metric_space_problems(folder) -> list:
    """What keeps an evaluate metric folder from working as a Hub Space (empty list: nothing), each naming its file."""
    folder = Path(folder)
    problems = [f"{name} is missing" for name in metric_space_files(folder) if not (folder / name).is_file()]
    card, requirements = folder / "README.md", folder / "requirements.txt"
    if card.is_file():
        problems += _metric_card_problems(card.read_text(encoding="utf-8", errors="replace"))
    if requirements.is_file():
        named = set()
        for line in requirements.read_text(encoding="utf-8", errors="replace").splitlines():
            match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", line.split("#")[0])
            if match:
                named.add(re.sub(r"[._-]+", "-", match.group(1)).lower())
        missing = [name for name in METRIC_SPACE_REQUIREMENTS if name not in named]
        if missing:
            problems.append(f"requirements.txt does not name {', '.join(missing)} (the Space installs only these)")
    return problems


def _metric_card_problems(card: str) -> list:
    """A metric card whose front matter would not configure an evaluate Space (one problem per line)."""
    import yaml

    match = _FRONT_MATTER.match(card)
    if match is None:
        return ["README.md has no YAML front matter (the Space's settings)"]
    try:
        meta = yaml.safe_load(match.group(1))
    except yaml.YAMLError as err:
        return [f"README.md: front matter is not valid YAML ({str(err).splitlines()[0]})"]
    if not isinstance(meta, dict):
        return ["README.md: front matter is not a mapping of Space settings"]
    problems = []
    missing = [key for key in METRIC_SPACE_CARD_KEYS if key not in meta]
    if missing:
        problems.append(f"README.md: front matter lacks {', '.join(missing)}")
    if "sdk" in meta and meta["sdk"] != "gradio":
        problems.append(f"README.md: sdk is {meta['sdk']!r}, not gradio (evaluate's widget is a gradio app)")
    if "sdk_version" in meta and not str(meta["sdk_version"]).startswith("3."):
        problems.append(
            f"README.md: sdk_version {meta['sdk_version']!r} is not gradio 3.x "
            "(evaluate's launch_gradio_widget uses gr.inputs, which gradio 4 removed)"
        )
    if "app_file" in meta and meta["app_file"] != "app.py":
        problems.append(f"README.md: app_file is {meta['app_file']!r}, not app.py")
    tags = meta.get("tags") if isinstance(meta.get("tags"), list) else []
    missing_tags = [tag for tag in ("evaluate", "metric") if tag not in tags]
    if "tags" in meta and missing_tags:
        problems.append(f"README.md: tags lack {', '.join(missing_tags)} (how the Hub lists evaluate metrics)")
    return problems


__all__ = [
    "save_for_hub",
    "render_model_card",
    "files_for_upload",
    "files_left_out_of_upload",
    "metric_module_name",
    "metric_space_files",
    "metric_space_problems",
    "METRIC_SPACE_CARD_KEYS",
    "card_with_repo_id",
    "folder_problems",
    "placeholder_repo_id",
    "remote_code_differences",
    "REMOTE_CODE_SOURCES",
    "REQUIRED_FILES",
    "UPLOAD_IGNORE_PATTERNS",
    "VOCABULARY_FILES",
]
