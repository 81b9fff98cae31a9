"""The command-line options the scripts share: argument types, option groups and the values they offer.

Standard library only, and importing nothing of the package: the scripts load this file without the package's
`__init__` (which imports torch and transformers to register the Auto classes, seconds that `--help` and a usage
error should not wait for; see scripts/cli_options.py), and the package's modules import their names from here.
"""

import argparse
import sys

# The model's thresholds (config keys; the scripts' --mention-threshold, ...).
THRESHOLD_NAMES = ("mention_threshold", "coref_threshold", "relation_threshold", "entity_threshold")
# What `SimMemREModel.extract` can be given gold (score.py --given).
GIVEN_LEVELS = ("mentions", "clusters", "entities")
# The weights' dtypes a saved model loads in (--dtype).
DTYPES = ("auto", "float32", "bfloat16", "float16")
# The strict-F1 metric's JEREX levels: metrics/joint_re_f1 defines them too, since an evaluate module is one
# standalone file (tests/test_script_startup.py checks that the two match).
LEVELS = ("mention", "coref", "entity", "relation", "relation_strict")
# The corpus formats with a reader (convert_dataset.py --format, data.format).
FORMATS = ("bc5cdr", "docred", "brat", "bioc")

# Split names, as whole words of a file name or as a brat corpus's folder names ("latest" is no test split).
SPLIT_NAMES = {
    **dict.fromkeys(("train", "training"), "train"),
    **dict.fromkeys(("dev", "devel", "development", "val", "valid", "validation"), "dev"),
    **dict.fromkeys(("test", "testing"), "test"),
}


def probability(value: str) -> float:
    """An argparse type: a threshold, a number in [0, 1] (a threshold out of range was refused only after the model had
    loaded, and score.py named its --data file as the cause)."""
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {value!r}") from None
    if not 0.0 <= number <= 1.0:  # (NaN fails both)
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {value}")
    return number


def corpus_split(value: str) -> str:
    """An argparse type: a corpus split by its canonical name (train, dev, test), as file names name them, optionally
    cut to SPLIT[start:end]: `--dev-split validation` stopped at "no 'validation' split"; "" (no split) and other
    names pass as given."""
    if not value:
        return value
    name, bracket, rest = value.partition("[")
    return SPLIT_NAMES.get(name.strip().lower(), name.strip()) + bracket + rest


def _int_at_least(value: str, minimum: int, kind: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a {kind} integer, got {value!r}") from None
    if number < minimum:
        raise argparse.ArgumentTypeError(f"expected a {kind} integer, got {number}")
    return number


def positive_int(value: str) -> int:
    """An argparse type: an integer >= 1 (0 or a negative count would mean "all" or "all but the last" to a slice)."""
    return _int_at_least(value, 1, "positive")


def non_negative_int(value: str) -> int:
    """An argparse type: an integer >= 0 (score.py's --per-type -1 printed "top 0 of 1 types")."""
    return _int_at_least(value, 0, "non-negative")


def add_corpus_arguments(parser, max_documents_help="use only the first N documents of each split"):
    """The options of the scripts that score a saved model on a raw corpus: --data-dir, --format, --max-documents."""
    parser.add_argument("--data-dir", required=True, help="raw corpus folder (e.g. ../shared/data/bc5cdr)")
    parser.add_argument("--format", required=True, choices=FORMATS, help="corpus format")
    parser.add_argument(
        "--rel-info", help="docred: rel_info.json naming the relation ids (default: rel_info.json in --data-dir)"
    )
    parser.add_argument("--max-documents", type=positive_int, help=max_documents_help)
    return parser


def add_model_argument(parser, help: str):
    """The model folder of a script that takes it first, as MODEL or as `--model MODEL` (the other scripts' spelling;
    `calibrate.py --model M` stopped at "the following arguments are required: model"). `parsed_model` reads it."""
    parser.add_argument("model", nargs="?", metavar="MODEL", help=help)
    parser.add_argument("--model", dest="model_option", metavar="MODEL", help="the same as MODEL")
    return parser


def parsed_model(parser, args) -> str:
    """The folder of `add_model_argument`'s MODEL or --model MODEL (one of them, once), set as `args.model`, and the
    way it was given as `args.model_setting` (what messages about it name)."""
    if args.model is not None and args.model_option is not None:
        parser.error("give the model folder once: MODEL or --model MODEL")
    args.model_setting = "MODEL" if args.model is not None else "--model"
    args.model = args.model if args.model is not None else args.model_option
    if args.model is None:
        parser.error("the model folder is required: MODEL or --model MODEL")
    return args.model


def add_inference_arguments(
    parser,
    dtype_help="weights' dtype (default: auto, as saved)",
    device_help="torch device, e.g. cpu or cuda:0 (default: cuda:0 when CUDA is available, else cpu)",
):
    """The options of the scripts that run a saved pipeline: --batch-size, the thresholds, --device (none when
    `device_help` is None), --dtype, --serving."""
    parser.add_argument(
        "--batch-size", type=positive_int, default=4, help="documents per forward pass (default: %(default)s)"
    )
    for name in THRESHOLD_NAMES:
        parser.add_argument(
            "--" + name.replace("_", "-"), type=probability, help="override the model's saved threshold for this run"
        )
    if device_help is not None:
        parser.add_argument("--device", default=None, help=device_help)
    parser.add_argument("--dtype", choices=DTYPES, default="auto", help=dtype_help)
    parser.add_argument(
        "--serving",
        choices=("fp32", "bf16", "int8"),
        default="fp32",
        help="speed options: bf16 autocast (on the CPU or GPU), or int8 dynamic quantization of the encoder "
        "(CPU only); docs/performance.md has their speed and F1",
    )
    return parser


# The options of `add_type_selection_arguments`.
TYPE_SELECTION_OPTIONS = ("--entity-types", "--relation-types")


def _is_dash_led_type(word: str) -> bool:
    """A word such as -LRB-: one dash, then more than one character (not `--output`, a one-letter `-o` or a number)."""
    return len(word) > 2 and word[0] == "-" and word[1] != "-" and not word[1:].replace(".", "", 1).isdigit()


def _hint_dash_led_types(parser) -> None:
    """Make `parser`'s usage errors say how a type that begins with '-' is given where one was: argparse reads the
    `-LRB-` of `--entity-types -LRB-` as an unknown option ("expected at least one argument"; after other types,
    "unrecognized arguments: -LRB-"), and its message does not say why."""
    parse_known_args, report = parser.parse_known_args, parser.error
    parsed = []  # (the arguments of the last parse: the error sees only argparse's message)

    def parse_known(args=None, namespace=None):
        parsed[:] = sys.argv[1:] if args is None else list(args)
        return parse_known_args(args, namespace)

    def dash_led_types() -> list:
        """[(option, word)]: each dash-led word after a type option (up to the next `--` option)."""
        found, option = [], None
        for word in parsed:
            if word in TYPE_SELECTION_OPTIONS:
                option = word
            elif word.startswith("--"):
                option = None
            elif option and _is_dash_led_type(word):
                found.append((option, word))
        return found

    def error(message: str):
        found = dash_led_types()
        hint = " (a type that begins with '-' is given in the = form, one per option: {})"
        for option in TYPE_SELECTION_OPTIONS:
            words = [word for given, word in found if given == option]
            if message == f"argument {option}: expected at least one argument" and words:
                message += hint.format(f"{option}={words[0]}")
        unrecognized = "unrecognized arguments: "
        if message.startswith(unrecognized):
            named = [(given, word) for given, word in found if word in message[len(unrecognized) :].split()]
            if named:
                message += hint.format(f"{named[0][0]}={named[0][1]}")
        report(message)

    parser.parse_known_args, parser.error = parse_known, error


def add_type_selection_arguments(parser):
    """--entity-types / --relation-types of the prediction scripts (the pipeline's `entity_types`, `relation_types`).
    A repeated option adds its types (argparse's "store" kept the last list only); a type that begins with '-' is
    given in the `=` form, one per option (`--entity-types=-LRB-`), since argparse reads a bare one as an option
    (its usage error says so)."""
    _hint_dash_led_types(parser)
    dash = "; a type beginning with '-' as --{}=-NAME"
    parser.add_argument(
        "--entity-types",
        nargs="+",
        action="extend",
        metavar="TYPE",
        help="output only the entities of these types (default: all; repeatable" + dash.format("entity-types") + ")",
    )
    parser.add_argument(
        "--relation-types",
        nargs="+",
        action="extend",
        metavar="TYPE",
        help="output only the relations of these types, between output entities (default: all; repeatable"
        + dash.format("relation-types")
        + ")",
    )
    return parser


def convert_parser():
    parser = argparse.ArgumentParser(
        description="Convert a BC5CDR (PubTator), DocRED-format, brat standoff or BioC (XML or JSON) corpus to "
        "SimMemRE JSON Lines documents, or SimMemRE documents (gold or predicted) to brat or BioC."
    )
    parser.add_argument(
        "--format",
        required=True,
        choices=FORMATS + ("jsonl",),
        help="input format (jsonl: SimMemRE documents, gold or predict.py's output, with --to brat or bioc)",
    )
    parser.add_argument(
        "--input",
        required=True,
        help="a folder (splits recognised by a word of the file name: train/training, dev/devel/development/val/"
        "valid/validation, test/testing) or one file",
    )
    parser.add_argument(
        "--output",
        required=True,
        help="output folder for {split}.jsonl and labels.json; a folder --input replaces the split files of an earlier "
        "conversion there, one file --input replaces only its own split (--to brat, bioc: see --to)",
    )
    parser.add_argument(
        "--to",
        choices=("jsonl", "brat", "bioc", "bioc-json"),
        default="jsonl",
        help="output format (default jsonl); brat: ID.txt + ID.ann per document, in OUTPUT/<split>/ for a folder "
        "--input, in OUTPUT for one file (predictions' scores as AnnotatorNotes); bioc, bioc-json: one BioC XML or "
        "JSON collection, OUTPUT/<split>.xml (.json) for a folder --input, the file OUTPUT for one file (scores as "
        "infons)",
    )
    parser.add_argument("--rel-info", help="docred: rel_info.json or JEREX types.json mapping relation ids to names")
    parser.add_argument(
        "--drop-ungrounded", action="store_true", help="bc5cdr, bioc: drop mentions without an id (MeSH id -1)"
    )
    parser.add_argument(
        "--require-relations", action="store_true", help="bc5cdr: drop documents without any CID relation"
    )
    return parser
