#!/usr/bin/env python
"""Calibrate a trained model's mention, coreference, relation and entity thresholds on a corpus's dev split.

Runs `simmemre.training_simmemre.calibrate_thresholds` on the dev split (the encoder runs once per document, the heads
once per grid point), writes the chosen thresholds into MODEL/config.json, scores the test split with the fixed (the
folder's previous) and the calibrated thresholds, and writes everything to calibration.json beside MODEL (the run
folder when MODEL is a run's best_model; with --dry-run, config.json is left alone and the report is
calibration_dryrun.json). The test split never influences the choice.

With `--serving bf16|int8` the model is calibrated (and scored) as that serving option runs it (bf16 autocast, or
its encoder's Linear layers int8 dynamically quantized, as `pipeline(..., serving=...)` does). Those thresholds belong
to the option, so MODEL/config.json is left as it is and the report goes to calibration_<option>.json beside MODEL;
`benchmarks/bench_serving.py --calibration <option>=<report>` serves the option with them.

Example:
    python scripts/calibrate.py runs/cdr_minilm_jerex/best_model --data-dir ../shared/data/bc5cdr --format bc5cdr
    python scripts/calibrate.py MODEL --data-dir ../shared/data/bc5cdr --format bc5cdr --boundary-word-min-count 100
"""

import argparse
import contextlib
import json
import os
import sys

# (the package, which imports torch, is imported after parsing: see cli_options)
from cli_options import add_corpus_arguments, add_model_argument, corpus_split, parsed_model


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_model_argument(parser, "saved model folder (a run's best_model)")
    add_corpus_arguments(parser, "use only the first N documents of each split (tests)")
    parser.add_argument(
        "--dev-split",
        type=corpus_split,
        default="dev",
        help="split to calibrate on, or SPLIT[start:end] as in data.splits (default: dev)",
    )
    parser.add_argument(
        "--test-split", type=corpus_split, default="test", help="split to report with both thresholds ('' to skip)"
    )
    parser.add_argument(
        "--device", default=None, help="torch device (default: cuda:0 when CUDA is available, else cpu)"
    )
    parser.add_argument(
        "--output", help="where to write the JSON report (default: calibration[_<serving>][_dryrun].json beside MODEL)"
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="do not rewrite MODEL/config.json; the report goes to calibration[_<serving>]_dryrun.json by default",
    )
    parser.add_argument(
        "--serving",
        choices=("fp32", "bf16", "int8"),
        default="fp32",
        help="calibrate as this serving option runs the model (bf16, int8: MODEL/config.json is not rewritten)",
    )
    parser.add_argument(
        "--boundary-word-min-count",
        type=int,
        help="first set the model's boundary word lists, derived from the corpus's train split with this min count "
        "(data_simmemre.boundary_words); saved with the thresholds",
    )
    parser.add_argument(
        "--relation-argument-types",
        action="store_true",
        help="first set the model's relation_argument_types, derived from the corpus's train split "
        "(data_simmemre.relation_argument_types); saved with the thresholds",
    )
    parser.add_argument(
        "--coreference-lexicon",
        action="store_true",
        help="first set the model's coreference_lexicon, derived from the gold clusters of the corpus's train split "
        "(data_simmemre.coreference_lexicon); saved with the thresholds",
    )
    parser.add_argument(
        "--mention-string-propagation",
        action="store_true",
        help="first switch on the model's mention_string_propagation; saved with the thresholds",
    )
    parser.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="NAME=V1,V2,...",
        help="values to search for one threshold (mention_threshold, coref_threshold, relation_threshold, "
        "entity_threshold) instead of the default grid; repeatable",
    )
    return parser


def earlier_config_before(report_path, model) -> dict:
    """The `config_before` of an earlier report of `model` at `report_path` ({} when there is none)."""
    try:
        with open(report_path, encoding="utf-8") as handle:
            earlier = json.load(handle)
    except (OSError, ValueError):
        return {}
    same_model = isinstance(earlier, dict) and earlier.get("model") == os.path.abspath(model)
    before = earlier.get("config_before") if same_model else None
    return dict(before) if isinstance(before, dict) else {}


def update_saved_config(folder, updates: dict) -> None:
    """Set `updates` in FOLDER/config.json and leave everything else as saved. (`config.save_pretrained` would also
    copy this package's configuration_simmemre.py over the folder's, leaving a folder saved by another version with
    two versions of its remote code.)"""
    from simmemre.data_simmemre import write_text_file

    path = os.path.join(folder, "config.json")
    with open(path, encoding="utf-8") as handle:
        saved = json.load(handle)
    saved.update(updates)
    write_text_file(path, json.dumps(saved, indent=2, sort_keys=True) + "\n")
    unknown = settings_unknown_to_folder_code(folder, updates)
    if unknown:
        print(
            f"warning: {folder}: its own code (configuration_simmemre.py, saved by an older version) does not know "
            f"{', '.join(unknown)}: the folder loaded alone with trust_remote_code ignores them (this package's "
            "scripts apply them); save it again with this version (simmemre.save_for_hub) to ship them",
            file=sys.stderr,
        )


def rewrite_model_card(folder, config, report: dict, test_split) -> None:
    """FOLDER/README.md (the model card save_for_hub wrote) written again for the thresholds now in config.json: it
    stated the old ones and their scores, and push_to_hub.py uploaded it so. The scores are this calibration's (dev,
    marked as tuned there when its thresholds were applied, and test); the thresholds line says they were chosen on
    validation, or (not applied) that they are those the model was saved with and why; the card's dataset, base model,
    license, language and tags are kept."""
    from huggingface_hub import ModelCard

    from simmemre.data_simmemre import write_text_file
    from simmemre.hub_simmemre import (
        card_section,
        placeholder_repo_id,
        render_model_card,
        saved_thresholds_origin,
        saved_thresholds_tuned_on,
        thresholds_origin_note,
    )

    path = os.path.join(folder, "README.md")
    if not os.path.isfile(path):
        return
    try:
        earlier = ModelCard.load(path)
    except Exception:  # (a card not written by save_for_hub: not rewritten, only named)
        print(f"warning: {path}: not a card this package wrote; it still states the old thresholds", file=sys.stderr)
        return
    data = earlier.data
    datasets = data.datasets if isinstance(data.datasets, list) else [data.datasets] if data.datasets else [None]
    results = {"validation": report["scores"], **({"test": report["test_scores"]} if test_split else {})}
    applied = report.get("applied", True)
    card = render_model_card(
        config,
        results=results,
        dataset_name=datasets[0],
        base_model=data.base_model if isinstance(data.base_model, str) else None,
        repo_id=placeholder_repo_id(folder),
        license=data.license or "apache-2.0",
        language=data.language or "en",
        tags=data.tags,
        # (thresholds kept from a calibration in training are still tuned on validation)
        thresholds_tuned_on="validation" if applied else saved_thresholds_tuned_on(earlier.text),
        training=card_section(earlier.text),  # (how the model was trained is unchanged)
        # (an applied calibration replaces what the earlier card said of the thresholds; a refused one keeps it)
        thresholds_note=thresholds_origin_note(
            report, origin=None if applied else saved_thresholds_origin(earlier.text)
        ),
    )
    write_text_file(path, card)


def settings_unknown_to_folder_code(folder, names) -> list:
    """The setting names that the folder's own configuration_simmemre.py never mentions (a folder saved by a version
    older than the setting; [] when the folder has no such file)."""
    try:
        with open(os.path.join(folder, "configuration_simmemre.py"), encoding="utf-8") as handle:
            code = handle.read()
    except OSError:
        return []
    return sorted(name for name in names if name not in code)


def main(argv=None) -> int:
    with contextlib.ExitStack() as held:  # (the report and the model folder, from their checks to the end)
        return calibrate(argv, held)


def parse_arguments(argv=None):
    """The arguments, once the refusals that need only them have passed (fast: before the package's import)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    parsed_model(parser, args)
    if args.dev_split.partition("[")[0] == "test" or args.dev_split == args.test_split:  # decide on dev, report test
        raise SystemExit(
            f"--dev-split {args.dev_split}: thresholds chosen on the split that is reported would be chosen by its "
            "scores; calibrate on a development split"
        )
    return args


def calibrate(argv, held: contextlib.ExitStack) -> int:
    args = parse_arguments(argv)
    import torch

    from simmemre.data_simmemre import write_text_file
    from simmemre.experiment_simmemre import (
        bars_off_unless_watched,
        check_calibration_documents,
        check_calibration_grid,
        check_corpus_splits,
        check_model_location,
        check_output_location,
        corpus_boundary_words,
        corpus_coreference_lexicon,
        corpus_relation_argument_types,
        corpus_rows,
        exclusive_use,
        inference_device,
        load_trained_model,
    )
    from simmemre.training_simmemre import THRESHOLD_NAMES, apply_thresholds

    bars_off_unless_watched()
    # Everything that can be checked is checked before the model loads and the corpus is tokenized.
    grid = {}
    for item in args.grid:
        name, equals, values = item.partition("=")
        if not equals:
            raise SystemExit(f"--grid {item!r}: expected NAME=V1,V2,... (NAME one of {list(THRESHOLD_NAMES)})")
        try:
            numbers = [float(value) for value in values.split(",") if value.strip()]
        except ValueError:
            raise SystemExit(f"--grid {item!r}: expected NAME=V1,V2,... with numbers") from None
        if not numbers:
            raise SystemExit(f"--grid {item!r}: no values")
        grid[name.strip()] = numbers
    unknown = sorted(set(grid) - set(THRESHOLD_NAMES))
    if unknown:
        raise SystemExit(f"--grid: unknown threshold name(s) {unknown}; use {list(THRESHOLD_NAMES)}")
    check_calibration_grid(grid, "--grid")  # the values check train.py makes on training.calibration_grid
    device = inference_device(args.device)
    check_model_location(args.model, args.model_setting)
    # A dry run's report goes beside the run's own calibration.json, not over it (results.py reads that one).
    default_name = "calibration" + ("" if args.serving == "fp32" else f"_{args.serving}")
    default_name += "_dryrun.json" if args.dry_run else ".json"
    output = args.output or os.path.join(os.path.dirname(os.path.abspath(args.model)), default_name)
    check_output_location(output, "--output", [os.path.join(args.model, "config.json")])
    # Two calibrations at once: one's report, or its config.json changes, were lost to the other's.
    held.enter_context(exclusive_use(output, "--output", "another calibration"))
    if not args.dry_run and args.serving == "fp32":
        held.enter_context(exclusive_use(args.model, args.model_setting, "another calibration"))
    splits = [split for split in (args.dev_split, args.test_split) if split]
    check_calibration_documents(args, check_corpus_splits(args, splits), args.model)
    model, processor = load_trained_model(args.model, device, setting=args.model_setting)
    serving = contextlib.nullcontext()
    if args.serving == "int8":
        from simmemre.pipelines.pipeline_simmemre import _with_int8_encoder

        model = _with_int8_encoder(model, torch.device(device))
    elif args.serving == "bf16":
        serving = torch.autocast(torch.device(device).type, dtype=torch.bfloat16)
    rows = corpus_rows(args, model, processor, splits)
    updates = {}  # the config fields this run changes, written into MODEL/config.json with the thresholds
    if args.boundary_word_min_count is not None:
        updates.update(corpus_boundary_words(args, args.boundary_word_min_count))
    if args.relation_argument_types:
        updates["relation_argument_types"] = corpus_relation_argument_types(args)
    if args.coreference_lexicon:
        updates["coreference_lexicon"] = corpus_coreference_lexicon(args)
    if args.mention_string_propagation:
        updates["mention_string_propagation"] = True
    # What this run changes in MODEL/config.json, as it was before: results.py records a run's own rows with the
    # config they were scored with, which a later calibration rewrites (its switches and thresholds).
    config_before = {field: getattr(model.config, field) for field in [*updates, *THRESHOLD_NAMES]}
    # A rerun (after a stop, say) found the config this script had already rewritten, recorded that as "before" and
    # wrote it over the report that held the original: the earlier report of this model keeps its record.
    config_before = {**config_before, **earlier_config_before(output, args.model)}
    for field, value in updates.items():
        setattr(model.config, field, value)

    with serving:
        report = calibrate_and_score(args, model, processor, rows, grid, device)
    rewrites_config = not args.dry_run and args.serving == "fp32"
    if rewrites_config:
        report["config_before"] = config_before
        # True once MODEL/config.json holds the thresholds: a run stopped between the two writes leaves False, which
        # results.py refuses (the report said "applied" while the model kept its old thresholds).
        report["config_updated"] = False
    # The report first: a model whose config.json changed must not be left without the report that explains it.
    try:
        write_text_file(output, json.dumps(report, indent=2))
    except OSError as error:  # the location went bad during the run (checked before it): nothing was changed
        raise SystemExit(
            f"--output {output}: cannot write the report ({error.strerror or error}); MODEL unchanged"
        ) from None
    if rewrites_config:
        apply_thresholds(model, report["thresholds"])
        updates.update({name: getattr(model.config, name) for name in THRESHOLD_NAMES})
        update_saved_config(args.model, updates)
        rewrite_model_card(args.model, model.config, report, args.test_split)
        report["config_updated"] = True
        write_text_file(output, json.dumps(report, indent=2))
    summary = {name: report["thresholds"][name] for name in THRESHOLD_NAMES}
    print(
        json.dumps(
            {
                "thresholds": summary,
                "applied": report["applied"],
                "reason": report["reason"],
                "fixed_thresholds": report["fixed_thresholds"],
                "dev_relation_strict_f1": [
                    report["fixed_scores"]["relation_strict_f1"],
                    report["scores"]["relation_strict_f1"],
                ],
                **(
                    {
                        "test_relation_strict_f1": [
                            report["test_fixed_scores"]["relation_strict_f1"],
                            report["test_scores"]["relation_strict_f1"],
                        ]
                    }
                    if args.test_split
                    else {}
                ),
                "report": output,
            },
            indent=2,
        )
    )
    return 0


def calibrate_and_score(args, model, processor, rows: dict, grid: dict, device) -> dict:
    """The report: thresholds chosen on the dev split, then (unless `--test-split ''`) the test split scored with the
    fixed and the calibrated thresholds."""
    from simmemre.training_simmemre import calibrate_thresholds, evaluate_threshold_sets

    calibration = calibrate_thresholds(model, processor, rows[args.dev_split], grid=grid, device=device)
    report = {"model": os.path.abspath(args.model), "dev_split": args.dev_split, "serving": args.serving}
    # The corpus it was scored on: results.py refuses a report of the first --max-documents documents as a result.
    report["corpus"] = {
        "data_dir": os.path.abspath(args.data_dir),
        "format": args.format,
        "test_split": args.test_split or None,
        "max_documents": args.max_documents,
    }
    report.update(calibration)
    report["boundary_word_min_count"] = args.boundary_word_min_count
    report["relation_argument_types"] = model.config.relation_argument_types
    report["mention_string_propagation"] = model.config.mention_string_propagation
    report["coreference_lexicon"] = len(model.config.coreference_lexicon) or None  # its groups: in config.json
    if args.test_split:  # both threshold sets from one encoding of the split
        sets = {"test_fixed_scores": calibration["fixed_thresholds"], "test_scores": calibration["thresholds"]}
        label = f"{args.test_split} documents"
        scored = evaluate_threshold_sets(model, processor, rows[args.test_split], sets, device, True, label=label)
        report.update((key, scores) for key, (scores, _) in scored.items())
    return report


if __name__ == "__main__":
    parse_arguments()  # --help and usage errors before the package's import (main parses again)
    from simmemre.experiment_simmemre import run_script

    sys.exit(run_script(main))
