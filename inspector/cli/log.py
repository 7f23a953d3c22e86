"""`inspector log`: query the inspection log of a project, export it as CSV, record a decision.

    inspector log PROJECT [--class C] [--since 7d] [--until 2024-06-30] [--verdict FAIL] [--limit 50]
    inspector log PROJECT --export out.csv [filters]
    inspector log PROJECT --decide ROW PASS|FAIL [--operator NAME]
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Optional, TextIO

from inspector.store.log import COLUMNS, VERDICTS, InspectionLog
from inspector.store.safe_output import terminal_text
from inspector.types import InspectorError

_RELATIVE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([mhdw])\s*$", re.IGNORECASE)
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_time(text: str, now: Optional[datetime] = None) -> datetime:
    """'2024-06-01', '2024-06-01T14:30', 'today', 'yesterday', or an age: '30m', '24h', '7d', '2w'."""
    now = now or datetime.now()
    value = text.strip().lower()
    if value == "now":
        return now
    if value == "today":
        return now.replace(hour=0, minute=0, second=0, microsecond=0)
    if value == "yesterday":
        return now.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)
    match = _RELATIVE.match(value)
    if match:
        return now - timedelta(**{_UNITS[match.group(2).lower()]: float(match.group(1))})
    try:
        return datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a time: '{text}' (use 2024-06-01, 2024-06-01T14:30, today, yesterday, 30m, 24h, 7d or 2w)"
        ) from None


def _verdict(text: str) -> str:
    value = text.strip().upper()
    if value not in VERDICTS:
        raise argparse.ArgumentTypeError(f"unknown verdict '{text}' (use {', '.join(VERDICTS)})")
    return value


def add_parser(subparsers: "argparse._SubParsersAction") -> argparse.ArgumentParser:
    """Register the `log` verb on the main parser's subparsers."""
    parser = subparsers.add_parser(
        "log",
        help="query or export the inspection log of a project",
        description="Show the inspections recorded in a project (newest first), export them as CSV, "
                    "or store an operator's decision on one of them.",
    )
    parser.add_argument("project", type=Path, help="project folder (or its inspections.sqlite file)")
    filters = parser.add_argument_group("filters")
    filters.add_argument("--class", dest="class_name", metavar="NAME", help="only this part class")
    filters.add_argument("--since", type=parse_time, metavar="TIME",
                         help="from this time on (2024-06-01, 2024-06-01T14:30, today, 24h, 7d ...)")
    filters.add_argument("--until", type=parse_time, metavar="TIME", help="before this time")
    filters.add_argument("--verdict", type=_verdict, action="append", metavar="VERDICT",
                         help="machine verdict PASS, REVIEW or FAIL (repeat for several)")
    filters.add_argument("--final", type=_verdict, action="append", metavar="VERDICT",
                         help="final verdict: the operator's decision when there is one (repeatable)")
    filters.add_argument("--model", dest="model_id", metavar="ID", help="only inspections by this model")
    filters.add_argument("--undecided", action="store_true", help="only rows without an operator decision")
    filters.add_argument("--limit", type=int, default=None, metavar="N",
                         help="at most N rows (default: 50 on screen, all for --export)")
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--export", type=Path, metavar="CSV", help="write the matching rows to a CSV file")
    output.add_argument("--format", choices=("table", "csv", "json"), default="table", help="screen output format")
    output.add_argument("--summary", action="store_true", help="print counts per final verdict only")
    output.add_argument("--decide", nargs=2, metavar=("ROW", "DECISION"),
                        help="store an operator decision (PASS or FAIL) on inspection ROW")
    parser.add_argument("--operator", metavar="NAME", help="who decided (with --decide)")
    parser.set_defaults(func=run, handler=run)
    return parser


def _log_path(target: Path) -> Path:
    from inspector.store.project import LOG_FILE, PROJECT_FILE

    if target.is_dir():
        path = target / LOG_FILE
        if not path.exists():
            if not (target / PROJECT_FILE).exists():
                raise InspectorError(f"{target} is not an Inspector project (no project.json).")
            raise InspectorError(f"The project {target} has no inspection log yet: nothing was inspected.")
        return path
    if target.is_file():
        return target
    raise InspectorError(f"Not found: {target}")


def _filters(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "class_name": args.class_name, "since": args.since, "until": args.until, "verdict": args.verdict,
        "final_verdict": args.final, "model_id": args.model_id, "decided": False if args.undecided else None,
    }


def _print_table(rows: list[dict], out: TextIO) -> None:
    if not rows:
        print("No inspections match.", file=out)
        return
    headers = ("id", "time (local)", "class", "score", "threshold", "verdict", "operator", "image")
    lines = []
    for row in rows:
        local = datetime.fromisoformat(row["time"]).astimezone().strftime("%Y-%m-%d %H:%M:%S")
        verdict = row["verdict"] if row["operator_decision"] is None else f"{row['verdict']}->{row['operator_decision']}"
        lines.append((str(row["id"]), local, row["class_name"],
                      "" if row["score"] is None else f"{row['score']:.4g}",
                      "" if row["threshold"] is None else f"{row['threshold']:.4g}",
                      verdict, row["operator"] or "", row["image_path"] or ""))
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip(), file=out)
    for line in lines:
        print(terminal_text("  ".join(v.ljust(w) for v, w in zip(line, widths)).rstrip()), file=out)


def run(args: argparse.Namespace, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """Handle `inspector log`; returns the exit status (0 ok, 1 error)."""
    try:
        from inspector.store.repair import is_writable

        path = _log_path(args.project)
        with InspectionLog(path, read_only=not is_writable(path.parent)) as log:  # read-only media: view, export
            filters = _filters(args)
            if args.decide:
                row_text, decision = args.decide
                try:
                    row_id = int(row_text)
                except ValueError:
                    raise InspectorError(f"--decide needs an inspection id (a number), got '{row_text}'.") from None
                before = log.get(row_id)
                log.set_operator_decision(row_id, decision, args.operator)
                after = log.get(row_id)
                print(f"Inspection {row_id}: machine verdict {before['verdict']}, operator decision "
                      f"{after['operator_decision']}.", file=out)
            elif args.export:
                count = log.export_csv(args.export, limit=args.limit, **filters)
                print(f"Exported {count} inspection(s) to {args.export}.", file=out)
            elif args.summary:
                counts = log.counts(**filters)
                total = sum(counts.values())
                print("  ".join(f"{k}: {v}" for k, v in counts.items()) + f"  total: {total}", file=out)
            else:
                rows = log.query(limit=50 if args.limit is None else args.limit, **filters)
                if args.format == "json":
                    json.dump(rows, out, indent=2)
                    out.write("\n")
                elif args.format == "csv":
                    from inspector.store.safe_output import CsvWriter

                    writer = CsvWriter(out)  # as the log's own export: formula cells escaped
                    writer.writerow(COLUMNS)
                    writer.writerows([row[c] for c in COLUMNS] for row in reversed(rows))
                else:
                    _print_table(rows, out)
    except InspectorError as exc:
        print(f"error: {exc}", file=err)
        return 1
    return 0


def main(argv: Optional[list[str]] = None) -> int:
    """Run the verb on its own (`python -m inspector.cli.log PROJECT ...`)."""
    parser = argparse.ArgumentParser(prog="inspector")
    sub = parser.add_subparsers(dest="command", required=True)
    add_parser(sub)
    args = parser.parse_args(["log", *(sys.argv[1:] if argv is None else argv)])
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
