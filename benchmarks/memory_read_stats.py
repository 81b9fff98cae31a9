#!/usr/bin/env python
r"""How much a trained model's memory reads change its representations, measured on a corpus split (dev).

For the position reads ("mean", "sum", "scaled"), a_M = Σ_k softmax_n(m_k W_read Xᵀ) sums to K (the memory's slots)
over the N positions read, so a_M·N/K is 1 everywhere at uniform attention. The script runs end-to-end inference on the
split at the model's thresholds, records every read (token read per document, span read over each document's
candidate spans), and reports per read and memory:

- `peak`: the median over documents of max_n a_M·N/K (how far the sharpest position is above uniform);
- `top_share`: the median over documents of the largest single weight a_M / K (1 would be all slots on one position);
- `max_scale`: the median over documents of the largest row scale the read applies (1 + a_E + a_R for "sum", that over
  3 for "mean"), and `mean_scale`, the mean scale over all positions read.

For the "residual" read, X' = X + Σ_M W_o,M softmax_k(·) M, it reports instead the relative change ‖X' − X‖ / ‖X‖ of
the rows read: `change_mean` (over all rows) and `change_max` (the median over documents of the largest).

It then scores the split with the reads on and with them switched off (`memory_reads_enabled = False`, the same
weights), so the reads' share of the model's F1 is measured directly.

Example:
    python benchmarks/memory_read_stats.py runs/memory_sum_mrc_seed114/best_model --data-dir ../shared/data/bc5cdr \
        --format bc5cdr --split dev --output runs/memory_sum_mrc_seed114/memory_read_stats.json
"""

import argparse
import contextlib
import json
import os
import statistics
import sys

from simmemre.experiment_simmemre import add_corpus_arguments, add_model_argument, corpus_split, parsed_model


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_model_argument(parser, "saved model folder (a run's best_model) with memory reads")
    add_corpus_arguments(parser, "use only the first N documents of the split")
    parser.add_argument("--split", type=corpus_split, default="dev", help="split to measure on (default: dev)")
    parser.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    parser.add_argument("--output", help="also write the report as JSON here")
    return parser


class ReadRecorder:
    """Records what the model's memory reads do during inference, keyed by read position ("tokens", "spans"): per
    document and memory the attention a_M `(N,)` of position reads, and per call the relative row change of residual
    reads. `recording()` wraps the two reads' methods on their instances and restores them on exit."""

    def __init__(self, model):
        self.reads = {"tokens": model.token_memory_read, "spans": model.span_memory_read}
        self.records = []  # (position, {memory: (N,) attention}, {memory: K})
        self.changes = []  # (position, (rows,) relative change ‖X' − X‖ / ‖X‖) of residual reads

    def add(self, position, attentions: dict, lengths, slots: dict):
        for row, length in enumerate(lengths):
            self.records.append((position, {name: a[row, :length].float() for name, a in attentions.items()}, slots))

    def _wrap(self, position, read):
        position_attentions, attentions_from_scores, read_rows = (
            read.position_attentions,
            read.attentions_from_scores,
            read.read_rows,
        )

        def recorded_position_attentions(x, mask, memories):
            attentions = position_attentions(x, mask, memories)
            self.add(
                position, attentions, mask.sum(-1).tolist(), {name: memories[name].shape[0] for name in attentions}
            )
            return attentions

        def recorded_attentions_from_scores(scores):
            attentions = attentions_from_scores(scores)
            self.add(
                position,
                {name: a[None] for name, a in attentions.items()},
                [next(iter(attentions.values())).shape[0]],
                {name: v.shape[1] for name, v in scores.items()},
            )
            return attentions

        def recorded_read_rows(x, memories):
            output = read_rows(x, memories)
            change = (output - x).float().norm(dim=-1) / x.float().norm(dim=-1).clamp_min(1e-12)
            self.changes.append((position, change.reshape(-1)))
            return output

        read.position_attentions = recorded_position_attentions
        read.attentions_from_scores = recorded_attentions_from_scores
        read.read_rows = recorded_read_rows

    @contextlib.contextmanager
    def recording(self):
        reads = {position: read for position, read in self.reads.items() if read is not None}
        for position, read in reads.items():
            self._wrap(position, read)
        try:
            yield self
        finally:
            for read in reads.values():  # the instance attributes shadowed the class's methods
                for name in ("position_attentions", "attentions_from_scores", "read_rows"):
                    delattr(read, name)

    def summary(self, mode: str) -> dict:
        """Position reads: `{position: {"documents", "positions_median", memory: {"peak", "peak_max", "top_share"},
        "max_scale", "mean_scale"}}`; residual reads: `{position: {"calls", "rows", "change_mean", "change_max"}}`."""
        if mode == "residual":
            return self.residual_summary()
        report = {}
        for position in ("tokens", "spans"):
            records = [(attentions, slots) for where, attentions, slots in self.records if where == position]
            if not records:
                continue
            entry = {
                "documents": len(records),
                "positions_median": statistics.median(next(iter(a.values())).numel() for a, _ in records),
            }
            for name in records[0][0]:
                peaks = [float(a[name].max()) * a[name].numel() / slots[name] for a, slots in records]
                shares = [float(a[name].max()) / slots[name] for a, slots in records]
                entry[name] = {
                    "peak": statistics.median(peaks),
                    "peak_max": max(peaks),
                    "top_share": statistics.median(shares),
                }
            scales = [1 + sum(a.values()) for a, _ in records]
            if mode != "sum":
                scales = [scale / (len(records[0][0]) + 1) for scale in scales]
            entry["max_scale"] = statistics.median(float(scale.max()) for scale in scales)
            entry["mean_scale"] = float(sum(float(scale.sum()) for scale in scales) / sum(s.numel() for s in scales))
            report[position] = entry
        return report

    def residual_summary(self) -> dict:
        report = {}
        for position in ("tokens", "spans"):
            changes = [change for where, change in self.changes if where == position and change.numel()]
            if changes:
                rows = sum(change.numel() for change in changes)
                report[position] = {
                    "calls": len(changes),
                    "rows": rows,
                    "change_mean": float(sum(float(c.sum()) for c in changes) / rows),
                    "change_max": statistics.median(float(c.max()) for c in changes),
                }
        return report


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    parsed_model(parser, args)
    from simmemre.experiment_simmemre import check_output_location, corpus_rows, load_trained_model

    if args.output:  # before the work: a bad path found after it would lose the measurement
        check_output_location(args.output, "--output")
    from simmemre.training_simmemre import THRESHOLD_NAMES, evaluate_thresholds

    model, processor = load_trained_model(args.model, args.device, setting=args.model_setting)
    config = model.config
    if not config.uses_memory_reads:
        raise SystemExit(
            f"{args.model}: the model has no memory reads to measure (uses_memory_reads=False: "
            f"classifier_type={config.classifier_type!r}, memory_read_positions="
            f"{list(config.memory_read_positions)})"
        )
    rows = corpus_rows(args, model, processor, [args.split])[args.split]

    model.memory_reads_enabled = True
    recorder = ReadRecorder(model)
    with recorder.recording():
        reads_on = evaluate_thresholds(model, processor, rows, device=args.device, progress=True)
    model.memory_reads_enabled = False
    reads_off = evaluate_thresholds(model, processor, rows, device=args.device, progress=True)
    report = {
        "model": os.path.abspath(args.model),
        "split": args.split,
        "documents": len(rows),
        "memory_read_mode": config.memory_read_mode,
        "thresholds": {name: getattr(config, name) for name in THRESHOLD_NAMES},
        "reads": recorder.summary(config.memory_read_mode),
        "scores_reads_on": reads_on,
        "scores_reads_off": reads_off,
    }
    print(format_report(report))
    if args.output:
        with open(args.output, "w", encoding="utf-8") as handle:
            json.dump(report, handle, indent=2)
    return 0


def format_report(report: dict) -> str:
    lines = [
        f"{report['model']} on {report['split']} ({report['documents']} documents), "
        f"memory_read_mode={report['memory_read_mode']}"
    ]
    if report["memory_read_mode"] == "residual":
        header = "mean |X'-X|/|X|"
        lines.append(f"{'read':8} {'rows':>9} {header:>16} {'max (median doc)':>17}")
        for position, entry in report["reads"].items():
            lines.append(f"{position:8} {entry['rows']:>9} {entry['change_mean']:>16.4f} {entry['change_max']:>17.4f}")
    else:
        lines += format_position_reads(report["reads"])
    lines.append(f"{'level':16} {'F1 reads on':>12} {'F1 reads off':>13}")
    for level in ("mention", "coref", "entity", "relation_strict"):
        lines.append(
            f"{level:16} {report['scores_reads_on'][level + '_f1']:>12.2f} "
            f"{report['scores_reads_off'][level + '_f1']:>13.2f}"
        )
    return "\n".join(lines)


def format_position_reads(reads: dict) -> list:
    lines = [
        f"{'read':8} {'memory':9} {'N median':>9} {'peak a·N/K':>11} {'max peak':>9} {'top a/K':>8} "
        f"{'max scale':>10} {'mean scale':>11}"
    ]
    for position, entry in reads.items():
        for name in ("entity", "relation"):
            if name in entry:
                lines.append(
                    f"{position:8} {name:9} {entry['positions_median']:>9.0f} {entry[name]['peak']:>11.2f} "
                    f"{entry[name]['peak_max']:>9.2f} {entry[name]['top_share']:>8.4f} "
                    f"{entry['max_scale']:>10.4f} {entry['mean_scale']:>11.4f}"
                )
    return lines


if __name__ == "__main__":
    sys.exit(main())
