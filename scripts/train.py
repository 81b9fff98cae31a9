#!/usr/bin/env python
"""Train SimMemRE (or the JEREX baseline) with the Hugging Face Trainer.

    python scripts/train.py CONFIG [--section.key value ...] [--training_argument value ...]
    torchrun --nproc_per_node 2 scripts/train.py CONFIG --output_dir DIR

(An option's dashes are underscores: `--output-dir` is `--output_dir`, `--data.max-eval-documents` the data key.)

CONFIG (YAML or JSON) has five sections, and a sixth for LoRA:

    data:      either train_file / validation_file / test_file (schema JSONL; with `format: bc5cdr|docred|brat|bioc`
               they may be raw corpus files converted on the fly), or data_dir + format (the same) for a raw corpus
               converted with simmemre.data_simmemre (splits train/dev/test; reader options drop_ungrounded,
               require_relations, rel_info, or a `reader_options` mapping; `splits` cuts the training splits
               from the corpus' splits, e.g. {train: "dev[:400]", validation: "dev[400:]", test: "test"});
               optional max_train_documents,
               max_eval_documents, max_test_documents (default: max_eval_documents), entity_types/relation_types
               (default: labels.json beside the JSONL files, else the types of every document read, before any
               max_*_documents cap or splits slice, and those the corpus declares), dataset_name,
               cache_dir (a folder for the tokenized datasets' arrow caches), boundary_word_min_count (candidate
               spans beginning or ending with a word seen this often in train and never at that end of a mention
               are not scored), relation_argument_types (true: entity pairs of types no train relation joins are
               not scored), coreference_lexicon (true: clusters of mentions written as strings that name one entity
               in train's gold clusters merge, "pruritus" and "itching").
    encoder:   "minilm" (default, the packaged all-MiniLM-L6-v2), a local model folder,
               {path: minilm|PATH, config_overrides: {attention_probs_dropout_prob: 0.0, ...}} (encoder config
               changes, same weights; add trust_remote_code: true for an encoder that ships its own code), or
               {tiny: {BertConfig kwargs}, tokenizer: minilm|PATH} for a small randomly
               initialised BERT. A saved SimMemRE model folder (a run's best_model) as the path trains further from
               that model (see "From a trained model" below).
    model:     SimMemREConfig keyword arguments (jerex_baseline, memory_warmup_proportion, ...), except those the
               script sets: the label lists (from the data), token ids (from the tokenizer), memory_reads_enabled,
               and the encoder's config and trust_remote_code (the encoder section).
    sampling:  neg_mention_count, neg_coref_count, neg_relation_count, neg_mention_overlap_ratio.
    training:  TrainingArguments keyword arguments (output_dir, num_train_epochs, ...) plus resume_from_checkpoint
               (a checkpoint folder, or true/"last" for the newest complete one in output_dir). `warmup_ratio` (in
               [0, 1), not beside warmup_steps) becomes transformers 5's fractional `warmup_steps`; with
               first_evaluation_epoch N and evaluation_epoch_interval K, evaluation (full inference, costly) runs
               only after epochs N, N+K, ... and the last. calibrate_thresholds: true grid-searches the mention,
               coreference, relation and entity thresholds on the validation split after training
               (simmemre.training_simmemre.calibrate_thresholds),
               writes them into best_model's config and reports test with both the fixed and the calibrated
               thresholds (calibrated_test_* in all_results.json; the search is in calibration.json);
               calibration_grid ({mention_threshold: [...], ...}) replaces part or all of the default grid.
               head_learning_rate: the rate of everything outside the encoder (heads, memories, embeddings);
               unset, they train at learning_rate with the encoder.
    peft:      LoRA on the encoder (off when absent or null; needs pip install ".[peft]"): peft LoraConfig's r,
               lora_alpha, lora_dropout (peft's defaults 8, 8, 0 where unset) and target_modules (the encoder's layer
               names, or all-linear: every linear layer of the encoder; default: peft's for the encoder's model type,
               query and value for BERT, RoBERTa, XLM-R, ELECTRA, query_proj and value_proj for DeBERTa-v2/v3; an
               encoder without one, e.g. ModernBERT, must name them). The heads and memories are trained in full
               (modules_to_save, set by the script), the memory warm-up works as without LoRA, and the checkpoints
               hold the adapter (adapter_config.json, with simmemre_config.json, the model's config, beside it; a run
               from a trained model records that model as its base_model_name_or_path). After training the adapter
               is merged into the encoder: evaluation, calibration and test score the merged model, and best_model
               is a plain SimMemRE model. run_config.json records the settings trained with (defaults filled in),
               and best_model's card names them. `--peft.r 16` turns LoRA on from the command line, `--peft null` off.

Overrides: `--data.max_train_documents 8`, `--model.memory_warmup_proportion 0.3`, `--encoder minilm`; a key
without a section (`--num_train_epochs 3`, `--output_dir runs/x`) is a training argument. Values are parsed as
YAML scalars (`--model.jerex_baseline true`), except that paths and names (`--output_dir`, `--data.train_file`,
`--encoder`, ...: STRING_SETTINGS in experiment_simmemre.py) stay the strings given.

From a trained model: `--encoder runs/x/best_model` (or `--encoder.path ...` over a config whose encoder is a path, or
`encoder: PATH` in the config) starts from that SimMemRE model's weights, heads and memories, with its processor and
label lists. Its saved config decides the architecture: a model setting that changes parameters or modules
(ARCHITECTURE_SETTINGS in training_simmemre.py: jerex_baseline, classifier_type, relation_classifier, the memory
switches, read positions, mode and temperature, slot and embedding sizes) and differs from the saved value, or an
encoder.config_overrides key other than a dropout, stops the run with one line naming each; every other model setting
(thresholds, decoding switches, loss weights, dropout, max_span_size, windows) is taken from the run's model section,
else kept as saved; the boundary words, relation argument types and coreference lexicon are kept as saved
(data.boundary_word_min_count, data.relation_argument_types and data.coreference_lexicon do not derive them again from
the new training split). The memory warm-up is not repeated
(memory_warmup_proportion 0: the trained memories are read from the first step). The data may use any subset of the
model's entity and relation types; a type it lacks stops the run naming the type and the file. run_config.json records
the start model as `trained_from`, and best_model's card names it. See docs/design.md, "Training from a trained model".

Device and precision: `--device cpu|cuda|cuda:N` (default: the first GPU when CUDA is available, else the CPU; cuda:N
selects that GPU through CUDA_VISIBLE_DEVICES, so it must come before anything initialises CUDA; under torchrun
each process takes its own GPU and --device may only be cuda or cpu). Mixed precision is a training argument:
`--bf16 true` or, on a GPU, `--fp16 true` (autocast for training; `--bf16 true` without a GPU autocasts on the CPU,
where fp16 is refused: accelerate has no fp16 autocast there). Evaluation
and threshold calibration run in float32, the precision the pipeline serves in by default.

Loss-curve check: `--loss-curve STEPS` trains CONFIG for STEPS steps instead (no evaluation, no checkpoints; the
memory warm-up is scheduled over STEPS), prints the logged training loss of the first and last fifth of the run as JSON,
and exits with status 1 unless the loss fell by at least `--loss-curve-min-drop` (default 0.1, i.e. 10 %). Logging
every `--loss-curve-logging-steps` (default 10) steps; `--loss-curve-inference-documents N` also times end-to-end
inference on N dev documents (the per-document cost an epoch's evaluation pays). `--output_dir` is optional there.

    python scripts/train.py scripts/configs/cdr_minilm_memory.yaml --loss-curve 300

Threads: the script keeps torch's default (one intra-op thread per core). On a machine shared with other jobs, run
with OMP_NUM_THREADS=1: competing OpenMP threads made training steps up to 9x slower on 2 cores.

Outputs in output_dir:
    checkpoint-N/                 checkpoints (best and last, save_total_limit 2; resume_from_checkpoint true/last
                                  takes the newest one that holds trainer_state.json; auto takes it when there is
                                  one and starts a new run otherwise, e.g. under torchrun --max-restarts)
    best_model/                   a Hub-ready folder: remote code, processor, weights, model card (README.md)
    trainer_state.json            the Trainer's state and log history (per-task losses)
    run_config.json               the resolved config, seed, commit, device, whether the run completed, and
                                  trained_from (the trained model a run started from)
    train_results.json, eval_results.json, test_results.json, all_results.json (floats; all_results.json holds all,
    and train_documents: the documents trained on, after max_train_documents)
    eval_predictions.jsonl, test_predictions.jsonl    the predicted documents of dev and test
    results.md                    the summary's precision / recall / F1 table
  with calibrate_thresholds: true (and a validation split):
    calibration.json              the search: shipped thresholds and dev scores, whether they were applied, the grid
    calibrated_test_results.json, calibrated_test_predictions.jsonl   test at the shipped thresholds
  A calibration that keeps the model's thresholds (its best point was unusable, calibration.json "applied": false)
  still writes these, with the fixed thresholds' scores; the printed summary and results.md then have no "cal."
  columns.
An output_dir that holds an earlier run (any of these files, best_model/ or checkpoint-N/) is refused unless the run
resumes it (--resume_from_checkpoint true) or replaces it (--overwrite_output_dir true: those files and folders are
removed first, so that none of them is read as the new run's; other files stay). A run stopped after its last
training step (in the final evaluation, calibration or saving) is finished by its resume, without training.
"""

import io
import os
import sys

# torch, transformers and simmemre (whose import registers the Auto classes) are imported once the arguments have
# been read: importing them takes seconds, which `--help` and a usage error should not wait for.

# Options of the loss-curve check (see the module docstring) and their defaults.
LOSS_CURVE_OPTIONS = {
    "--loss-curve": None,
    "--loss-curve-logging-steps": 10,
    "--loss-curve-inference-documents": 0,
    "--loss-curve-min-drop": 0.10,
}


def pop_loss_curve_options(arguments: list) -> dict:
    """Remove the `--loss-curve*` options (see LOSS_CURVE_OPTIONS) from `arguments`; return their values by name."""
    values = {option: default for option, default in LOSS_CURVE_OPTIONS.items()}
    rest = []
    index = 0
    while index < len(arguments):
        option, _, inline = arguments[index].partition("=")
        if option not in LOSS_CURVE_OPTIONS:
            rest.append(arguments[index])
            index += 1
            continue
        if inline:
            raw, index = inline, index + 1
        elif index + 1 < len(arguments):
            raw, index = arguments[index + 1], index + 2
        else:
            raise SystemExit(f"{option} needs a value")
        try:
            values[option] = (float if option == "--loss-curve-min-drop" else int)(raw)
        except ValueError:
            raise SystemExit(f"{option}: not a number: {raw!r}") from None
    arguments[:] = rest
    return values


def loss_curve_report(*args, **kwargs) -> dict:
    """`simmemre.experiment_simmemre.loss_curve_report`, imported when first called (see the imports above)."""
    from simmemre.experiment_simmemre import loss_curve_report

    return loss_curve_report(*args, **kwargs)


def check_loss_curve(config: dict, options: dict, output_dir=None, source: str = "config") -> int:
    """The --loss-curve mode: exit status 0 if the training loss falls by at least --loss-curve-min-drop (`source`:
    the config file, for messages)."""
    from simmemre.experiment_simmemre import loss_falls

    report = loss_curve_report(
        config,
        steps=options["--loss-curve"],
        logging_steps=options["--loss-curve-logging-steps"],
        inference_documents=options["--loss-curve-inference-documents"],
        output_dir=output_dir,
        source=source,
    )
    # Under torchrun every process trains the curve: the report is printed by the first one only.
    stream = None if os.environ.get("RANK", "0") == "0" else io.StringIO()
    return 0 if loss_falls(report, options["--loss-curve-min-drop"], stream=stream) else 1


def report_divergence(error) -> int:
    """A diverged run's exit status; the message once per launch (every process stops at the same step)."""
    if os.environ.get("RANK", "0") == "0":
        print(f"error: {error}", file=sys.stderr)
    return 1


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__, file=sys.stdout if argv else sys.stderr)  # (no arguments: a usage error, kept off stdout)
        return 0 if argv else 2
    if argv[0].startswith("-"):  # "--config x.yaml" read "--config" as the config file
        print(
            f"usage: train.py CONFIG [--section.key value ...]: the config file comes first, not {argv[0]}",
            file=sys.stderr,
        )
        return 2
    from torch.distributed.elastic.multiprocessing.errors import record

    # Under torchrun, an unexpected error's traceback goes into the launcher's summary (handled: one line).
    return record(run)(argv)


def run(argv: list) -> int:
    """train.py CONFIG [overrides]: train, or with --loss-curve check the loss curve (see the module docstring)."""
    from simmemre.data_simmemre import DocumentError
    from simmemre.experiment_simmemre import (
        bars_off_unless_watched,
        check_run_config,
        load_config,
        parse_overrides,
        train,
    )
    from simmemre.training_simmemre import TrainingDivergedError

    overrides = argv[1:]
    bars_off_unless_watched()
    loss_curve = pop_loss_curve_options(overrides)
    if loss_curve["--loss-curve"] is None:
        try:
            train(argv[0], overrides)
        except DocumentError as error:  # bad data: one line naming file, line, document and field, no traceback
            print(f"error: {error}", file=sys.stderr)
            return 2
        except TrainingDivergedError as error:
            return report_divergence(error)
        return 0
    config = parse_overrides(load_config(argv[0]), overrides)
    check_run_config(config, argv[0])
    # Only an --output_dir given on the command line: the config's run folder is not for this check.
    output_dir = (parse_overrides({}, list(overrides)).get("training") or {}).get("output_dir")
    try:
        return check_loss_curve(config, loss_curve, output_dir, argv[0])
    except TrainingDivergedError as error:
        return report_divergence(error)


if __name__ == "__main__":
    if not sys.argv[1:] or sys.argv[1].startswith("-"):  # --help or a usage error: main answers before any import
        sys.exit(main())
    from simmemre.experiment_simmemre import run_script

    sys.exit(run_script(main))
