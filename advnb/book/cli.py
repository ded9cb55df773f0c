"""The command line: ``advnb run``, ``advnb sweep``, ``advnb replicate``, ``advnb list`` and ``advnb bench``.

    advnb run CHAPTER [--profile P] [-p NAME VALUE]... [--output-dir DIR]
    advnb sweep CHAPTER -p NAME V1,V2,... [-p ...] [--profile P] [--output-dir DIR]
                [--workers N | --scheduler ADDRESS]                                   (advnb.book.sweep)
    advnb replicate [--seeds 0,1,2,3,4] [--profile P] [--chapters all|a,b] [--output-dir DIR]
                [--workers N | --scheduler ADDRESS]                                   (advnb.book.replicate)
    advnb replicate --merge A/replicate.json B/replicate.json ... [--output-dir DIR]
    advnb list
    advnb bench [--json] ...                                                        (advnb.book.bench)

``run`` executes the chapter's notebook with papermill and writes
``DIR/CHAPTER.ipynb`` (the executed notebook) and ``DIR/CHAPTER.json``:
``{"chapter", "parameters", "profile", "device", "versions", "wall_time_s", "where", "results"}``
where ``results`` holds every value the chapter glued. Bad input (an unknown
chapter or parameter, a value of the wrong type or out of range) exits with code 2
and one line naming the parameter and what is allowed; nothing is written.
Both files appear only once the run has succeeded; a failed run leaves
``DIR/CHAPTER.failed.ipynb`` for inspection and exits with code 1. Ctrl-C or SIGTERM
removes the run's temporary folder and exits with code 130.
"""

from __future__ import annotations

import signal
import sys
import threading

from ..base import ParameterError, available_chapters
from .params import PROFILES
from .runs import Parser, UsageError, chapter_parameters, run


def list_chapters() -> None:
    for name, path in available_chapters().items():
        params = chapter_parameters(path)
        print(name)
        for pname, info in params.items():
            print(f"    {pname} = {info['default']}" + (f"    # {info['help']}" if info["help"] else ""))


def _take_parameters(argv: list[str]) -> tuple[list[str], list[list[str]]]:
    """Take every ``-p NAME VALUE`` out of ``argv`` before argparse sees it, so that a value that
    looks like an option (``-p beta -1e-3``, ``-p beta -inf``) reaches the parameter checks."""
    rest, pairs, i = [], [], 0
    while i < len(argv):
        if argv[i] in ("-p", "--parameter"):
            if len(argv) - i < 3:
                raise UsageError(f"argument {argv[i]}: expected two words, NAME VALUE")
            pairs.append([argv[i + 1], argv[i + 2]])
            i += 3
        else:
            rest.append(argv[i])
            i += 1
    return rest, pairs


def _report_runs(res: dict) -> None:
    print(f"advnb: {len(res['ran'])} run(s) executed, {len(res['skipped'])} already complete (skipped), "
          f"{len(res['failed'])} failed" + (f": {', '.join(res['failed'])}" if res["failed"] else "")
          + (f" ({res['where']})" if res["ran"] or res["failed"] else ""))


def _whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise UsageError(f"argument --workers: must be a whole number >= 1 (got {text!r})") from None


def _terminate(signum, frame):  # SIGTERM (a job killed, CI cancelled): unwind like Ctrl-C
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["bench"]:  # the benchmark has its own options (advnb.book.bench)
        from .bench import main as bench_main

        return bench_main(argv[1:])
    parser = Parser(prog="advnb", description="Run the chapters of the advnb book.")
    sub = parser.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run", help="execute a chapter with papermill")
    p_run.add_argument("chapter")
    p_run.add_argument("--profile", help=f"one of {', '.join(PROFILES)}")
    p_run.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"))
    p_run.add_argument("--output-dir", default="runs")
    p_sweep = sub.add_parser("sweep", help="run a chapter at every combination of parameter values")
    p_sweep.add_argument("chapter")
    p_sweep.add_argument("--profile", help=f"one of {', '.join(PROFILES)}")
    p_sweep.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "V1,V2,..."))
    p_sweep.add_argument("--output-dir", default="sweeps")
    p_rep = sub.add_parser("replicate", help="run the chapters at several seeds and judge every claim on each")
    p_rep.add_argument("--seeds", help="seeds separated by commas (default 0,1,2,3,4)")
    p_rep.add_argument("--profile", help=f"one of {', '.join(PROFILES)}")
    p_rep.add_argument("--chapters", help="all, or chapter names separated by commas (default all)")
    p_rep.add_argument("--output-dir", default="replicate")
    p_rep.add_argument("--merge", nargs="+", metavar="JSON", help="join these replicate.json of the same code "
                       "(made apart, on other seeds) into one in --output-dir, running nothing")
    for p in (p_sweep, p_rep):
        where = p.add_mutually_exclusive_group()
        where.add_argument("--workers", type=_whole, help="Dask workers of a local cluster (1: in this process; "
                           "default: one per core)")
        where.add_argument("--scheduler", help="address of an existing Dask scheduler, tcp://HOST:PORT")
    sub.add_parser("list", help="list the chapters and their parameters")
    sub.add_parser("bench", help="measure speed-ups and chapter times (advnb bench --help)")
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminate)
    try:
        rest, pairs = _take_parameters(argv)
        args = parser.parse_args(rest)
        if pairs and args.command not in ("run", "sweep"):
            raise UsageError(f"argument -p: only run and sweep take parameters (got {args.command})")
        if args.command in ("run", "sweep"):
            args.parameter = pairs
        if args.command == "list":
            list_chapters()
            return 0
        if args.command == "replicate":
            from .replicate import merge, parse_chapters, parse_seeds, replicate

            if args.merge:
                given = [o for o in ("seeds", "profile", "chapters", "workers", "scheduler")
                         if getattr(args, o) is not None]
                if given:
                    raise UsageError(f"argument --merge: runs nothing, so --{given[0]} has no use with it")
                res = merge(args.merge, args.output_dir)
            else:
                seeds = parse_seeds("0,1,2,3,4" if args.seeds is None else args.seeds)
                chapters = parse_chapters("all" if args.chapters is None else args.chapters)
                res = replicate(seeds, args.profile, chapters, args.output_dir, args.workers, args.scheduler)
                _report_runs(res)
            for row in res["claims"]:
                print(f"  {row['claim']:<26} {row['verdict']:<13} {row['seeds_holding']:>5} seeds  ({row['kind']})")
            if res["json"]:
                print(f"advnb: wrote {res['json']}, {res['csv']} and {res['plot']}")
            return 1 if res.get("failed") else 0
        if args.command == "sweep":
            from .sweep import sweep

            res = sweep(args.chapter, args.parameter, args.profile, args.output_dir, args.workers, args.scheduler)
            _report_runs(res)
            if res["csv"]:
                print(f"advnb: wrote {res['csv']} and {res['plot']}")
            return 1 if res["failed"] else 0
        path = run(args.chapter, args.parameter, args.profile, args.output_dir)
        print(f"advnb: wrote {path} and {path.with_suffix('.ipynb')}")
        return 0
    except (UsageError, ParameterError) as e:
        print(f"advnb: error: {e}", file=sys.stderr)
        return 2
    except RuntimeError as e:
        print(f"advnb: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("advnb: interrupted; runs that had not finished left no files (a sweep resumes where it stopped)",
              file=sys.stderr)
        return 130


if __name__ == "__main__":  # python -m advnb.book.cli: run the imported module, so its classes are advnb.book.cli's
    from advnb.book.cli import main as _main

    sys.exit(_main())
