#!/usr/bin/env python
"""Run a saved SimMemRE model on text files, JSON Lines documents or stdin; write JSON Lines predictions.

Each INPUT is a text file (one document: the whole file, read as UTF-8 with its line endings kept and a leading
byte-order mark dropped, id = file name), a .jsonl/.json file of schema documents (one JSON object per line; `id`,
`text` and optional `words`/`sentences` are used, gold annotations are ignored; a document without `id` gets
`FILE:LINE`; a .json file may also hold one JSON array of documents or one pretty-printed document), or "-" for stdin
(JSON Lines if its first non-empty line is a JSON object, predicted line by line as they arrive; else read whole: a
JSON document or array if it is one JSON value, else one text). With no INPUT, stdin is read. A .gz input
(data.jsonl.gz) is decompressed. A file in a corpus format (PubTator, BioC, DocRED JSON) is refused, naming the format
and the convert_dataset.py call that turns it into JSON Lines (JSON by its top-level keys: a SimMemRE document, with a
top-level text or words, never is one); --format text skips that check and reads any file as one plain text.
--output - (or none) writes to stdout; a device or pipe output (/dev/null, a fifo) is written as a stream, without
--resume, sharding or --html. A reader that stops early (| head) ends the run with status 141.

Inputs are read lazily and each batch's predictions are written as soon as it finishes, one JSON line per document in
input order (simmemre.streaming_simmemre.predict_corpus), with a progress bar. A bad document (no text, wrong type,
invalid offsets, a line that is not JSON) becomes an error record {"id", "error"} naming the document and the field,
and the run goes on; --strict stops at the first one instead. --resume continues an interrupted run into the same
--output; an --output that holds predictions is refused without --resume or --overwrite. The settings that wrote it
(model, thresholds, type selection, serving, dtype) are kept in OUTPUT.settings.json: --resume and --merge refuse
lines that other settings wrote. --shard I/N (or torchrun / accelerate launch, read from RANK / WORLD_SIZE) predicts
every N-th document into OUTPUT.part-0000I-of-0000N (and OUTPUT.part-0000I-of-0000N.done once it has read the whole
input); --merge N joins the N parts into OUTPUT in input order, after checking that every part finished and holds all
its lines (with --html, it also writes the page of all of them; a shard cannot).

--entity-types / --relation-types may be repeated (their types add up); a type that begins with '-' is given in the
`=` form, one per option: --entity-types=-LRB- --entity-types=-RRB-.

Examples (MODEL is a trained folder such as runs/cdr_minilm_memory/best_model, or a Hub id):
    python scripts/predict.py --model runs/cdr_minilm_memory/best_model abstract.txt
    python scripts/predict.py --model runs/cdr_minilm_memory/best_model test.jsonl --output pred.jsonl --html pred.html
    python scripts/predict.py --model runs/cdr_minilm_memory/best_model corpus.jsonl --output pred.jsonl --resume
    torchrun --nproc_per_node 2 scripts/predict.py --model runs/cdr_minilm_memory/best_model corpus.jsonl -o pred.jsonl
    python scripts/predict.py --output pred.jsonl --merge 2 --html pred.html
    echo "Aspirin-induced ulcers." | python scripts/predict.py --model runs/cdr_minilm_memory/best_model \\
        --mention-threshold 0.5
"""

import argparse
import contextlib
import json
import os
import sys
from pathlib import Path

# (the package, which imports torch, is imported after parsing: see cli_options)
from cli_options import THRESHOLD_NAMES, add_inference_arguments, add_type_selection_arguments


def build_parser() -> argparse.ArgumentParser:
    # --help shows the whole docstring: what an INPUT is, how stdin is read, and the examples.
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="saved model folder (or Hub id) with the joint-re pipeline")
    parser.add_argument("inputs", nargs="*", metavar="INPUT", help="text file, .jsonl/.json documents, or - (stdin)")
    parser.add_argument(
        "--format",
        choices=("auto", "text", "jsonl"),
        default="auto",
        help="how to read inputs: auto (by extension; stdin by content), text or jsonl",
    )
    parser.add_argument("--output", "-o", help="write JSON Lines here instead of stdout (- is stdout)")
    parser.add_argument("--html", help="also write a readable HTML page of the predictions (needs --output)")
    rerun = parser.add_mutually_exclusive_group()
    rerun.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted run: keep --output's complete lines, predict the rest",
    )
    rerun.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the predictions --output holds (without --resume or --overwrite they are refused)",
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="stop at the first bad document (default: write an error record and go on)",
    )
    parser.add_argument(
        "--shard",
        help="I/N: predict every N-th document from the I-th (0-based) into a part file "
        "(default under torchrun / accelerate launch: RANK/WORLD_SIZE)",
    )
    parser.add_argument(
        "--merge", type=int, metavar="N", help="join the N part files of --output (and write --html), then exit"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (in a log file: no progress line)")
    add_inference_arguments(
        parser,
        dtype_help="weights' dtype (default: auto, as saved); bfloat16/float16 halve the memory",
        device_help="torch device, e.g. cpu or cuda:0 (default: cuda:0 when CUDA is available, else cpu; under "
        "torchrun / accelerate launch each process takes cuda:LOCAL_RANK, or cpu)",
    )
    add_type_selection_arguments(parser)
    return parser


def parse_arguments(argv=None):
    """(parser, args) once the refusals that need only the arguments have passed (fast: before the package's import)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.output == "-":  # standard output, as an INPUT "-" is standard input (it wrote a file named "-")
        args.output = None
    if args.merge is not None:
        if not args.output:
            parser.error("--merge needs --output (the parts are OUTPUT.part-0000I-of-0000N)")
        if args.merge < 1:
            parser.error(f"--merge N needs N >= 1, got {args.merge}")
    else:
        if not args.model:
            parser.error("--model is required")
        if args.html and not args.output:
            parser.error("--html needs --output")
    return parser, args


def check_page_location(parser, args, inputs=()):
    from simmemre.experiment_simmemre import check_output_location

    if os.path.realpath(args.html) == os.path.realpath(args.output):
        parser.error("--html and --output name the same file")
    check_output_location(args.html, "--html", inputs)


def write_page(page, predictions_file, model=None):
    """The HTML view of every prediction in `predictions_file` (error records left out)."""
    from simmemre.visualization_simmemre import model_label, render_html

    with open(predictions_file, encoding="utf-8") as handle:
        predictions = [record for record in map(json.loads, handle) if "error" not in record]
    title = "SimMemRE predictions" + (f" — {model_label(model)}" if model else "")
    Path(page).write_text(render_html(predictions, title=title), encoding="utf-8")


def refuse_corpus_files(inputs, input_format: str) -> None:
    """Stop, naming the file, its format and how to convert it, on an INPUT written in a corpus format (PubTator, BioC,
    DocRED JSON): read as text it was predicted as one document holding the markup, read as JSON Lines each line or
    document became an error record that did not say why. JSON is judged by its top-level keys, so no SimMemRE
    document (a top-level `text` or `words`) is refused, under --format jsonl either; --format text reads any file as
    one plain text, unchecked."""
    if input_format == "text":
        return
    from simmemre.data_simmemre import CORPUS_FORMAT_LOOKS, corpus_format_of
    from simmemre.streaming_simmemre import JSONL_SUFFIXES

    for source in inputs:
        corpus_format = corpus_format_of(source) if source != "-" else None
        if corpus_format:
            path = Path(source)
            suffix = (path.with_suffix("") if path.suffix.lower() == ".gz" else path).suffix.lower()
            # (a JSON file read as one text would be predicted as JSON, not as the documents it holds)
            way_through = "" if suffix in JSONL_SUFFIXES else "; --format text reads it as one plain text"
            raise SystemExit(
                f"{source}: it looks like {CORPUS_FORMAT_LOOKS[corpus_format]}, which predict.py does not read: "
                f"convert it (convert_dataset.py --format {corpus_format} --input {source} --output DIR) and predict "
                f"the .jsonl files written in DIR{way_through}"
            )


def main(argv=None, stdin=None, stdout=None) -> int:
    with contextlib.ExitStack() as held:  # (the output, held from its checks to the last prediction)
        return predict(argv, stdin, stdout, held)


def predict(argv, stdin, stdout, held: contextlib.ExitStack) -> int:
    parser, args = parse_arguments(argv)
    from simmemre.data_simmemre import is_stream_path
    from simmemre.experiment_simmemre import (
        bars_off_unless_watched,
        check_output_location,
        exclusive_use,
        inference_device,
        load_pipeline,
        thresholds_from,
        type_selection_from,
    )
    from simmemre.streaming_simmemre import (
        check_inputs,
        check_output_is_new,
        check_output_name,
        iter_documents,
        merge_parts,
        parse_shard,
        part_path,
        predict_corpus,
        shard_from_environment,
    )

    if args.merge is not None:
        check_output_location(args.output, "--output")
        if args.html:
            check_page_location(parser, args)
        try:
            check_output_is_new(args.output, overwrite=args.overwrite)
        except ValueError:
            raise SystemExit(f"--output {args.output} holds predictions; merge over them with --overwrite") from None
        try:
            lines = merge_parts(args.output, args.merge)
        except ValueError as error:  # a missing, unfinished or shortened part: named, with what to do
            raise SystemExit(f"predict.py: {error}") from None
        print(f"merged {args.merge} parts: {lines} document(s) -> {args.output}", file=sys.stderr)
        if args.html:
            write_page(args.html, args.output, args.model)
        return 0
    try:
        shard = parse_shard(args.shard) if args.shard else shard_from_environment()
    except ValueError as error:
        parser.error(str(error))
    if shard is not None and not args.output:
        launched = "" if args.shard else f" (RANK={shard[0]} WORLD_SIZE={shard[1]}: a torchrun or accelerate launch)"
        parser.error(f"sharding{launched} needs --output (each shard writes OUTPUT.part-0000I-of-0000N)")
    if shard is not None and args.html:  # every shard would write its own part's page to the same file
        parser.error("--html with sharding: render the merged predictions (--output OUTPUT --merge N --html PAGE)")
    if args.resume and not args.output:
        parser.error("--resume needs --output")
    # Everything that can be checked is checked before the model loads: a bad path found after the predictions
    # would lose them, and an output that is also an input would be emptied before it is read.
    check_inputs(args.inputs)
    refuse_corpus_files(args.inputs, args.format)
    if args.output:
        try:
            check_output_name(args.output)
        except ValueError as error:
            raise SystemExit(f"--output {error}") from None
        if not is_stream_path(args.output):  # (two runs --resume on one output wrote documents twice)
            target = part_path(args.output, shard) if shard is not None else args.output
            held.enter_context(exclusive_use(target, "--output", "another predict.py"))
        check_output_location(args.output, "--output", args.inputs)
        try:
            check_output_is_new(args.output, shard, args.resume, args.overwrite)
        except ValueError as error:
            raise SystemExit(f"--output {error}") from None
        if is_stream_path(args.output) and (args.resume or shard is not None or args.html):
            # (the page is read back from the output: a pipe's reader has taken its lines, and the run hung)
            raise SystemExit(f"--output {args.output}: not a regular file; --resume, sharding and --html need one")
    if args.html:
        check_page_location(parser, args, args.inputs)
    device = args.device
    if device is None and shard is not None and "LOCAL_RANK" in os.environ:
        import torch

        device = f"cuda:{os.environ['LOCAL_RANK']}" if torch.cuda.is_available() else "cpu"
    device = inference_device(device)
    documents = iter_documents(args.inputs, args.format, stdin)
    bars_off_unless_watched(args.no_progress)
    extractor = load_pipeline(args.model, device, args.batch_size, args.dtype, serving=args.serving)
    selection = type_selection_from(args, extractor.model.config)
    config = extractor.model.config
    settings = {  # recorded beside the output: a resume or merge with other settings is refused
        "model": os.path.abspath(args.model) if os.path.isdir(args.model) else args.model,
        "thresholds": {name: getattr(config, name) for name in THRESHOLD_NAMES} | thresholds_from(args),
        "types": {name: list(value) for name, value in selection.items() if value is not None},
        "serving": args.serving,
        "dtype": args.dtype,
    }
    try:
        counts = predict_corpus(
            extractor,
            documents,
            args.output,
            batch_size=args.batch_size,
            resume=args.resume,
            overwrite=args.overwrite,
            strict=args.strict,
            shard=shard,
            progress=not args.no_progress,
            stream=stdout,
            settings=settings if args.output else None,
            **thresholds_from(args),
            **selection,
        )
    except ValueError as error:  # --strict on a bad document, or a resume on other input
        raise SystemExit(f"predict.py: {error}") from None
    if args.html:
        write_page(args.html, counts["output"], args.model)
    summary = (
        f"{counts['documents']} document(s) predicted ({counts['errors']} error records"
        + (f", {counts['skipped']} already done" if args.resume else "")
        + ")"
    )
    if args.output:
        summary += f", {counts['entities']} entities, {counts['relations']} relations in {counts['output']}"
    if shard is not None:
        summary += f"; once every shard is done: --output {args.output} --merge {shard[1]}"
    print(summary, file=sys.stderr)
    return 0


if __name__ == "__main__":
    parse_arguments()  # --help and usage errors before the package's import (main parses again)
    from simmemre.experiment_simmemre import run_script

    sys.exit(run_script(main))
