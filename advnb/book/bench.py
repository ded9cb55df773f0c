"""``advnb bench``: how fast the library's hot paths are, and how long each chapter takes.

    advnb bench [--json] [--output FILE] [--profiles smoke[,quick,...]]
                [--chapters a,b,...|all|none] [--repeat K] [--device auto|cpu|cuda]
                [--batch B] [--sizes 784,3072] [--steps M] [--threads T] [--cache fresh|shared]

Every speed-up is a ratio taken in one run, in one process, on one device: the
new way against its baseline, each timed as the median of ``K`` runs after one
warm-up (CUDA-synchronised on a GPU). Each comparison also checks that both ways
give the same numbers, and reports by how much they differ. Analysis runs in
float64, as in the chapters. Measured:

1. Theorem 2 by the C x C push-through form (:func:`advnb.core.theory.infinite_step_delta`)
   against the dense n x n eigendecomposition (:func:`advnb.core.theory.delta_eigensum`),
   C = 10, for a batch of random inputs at n = 784 (MNIST) and n = 3072 (CIFAR);
   the push-through form alone at n = 3 x 224 x 224 (ImageNet), where the dense
   matrix would not fit in memory.
2. Per-sample Jacobians: :func:`advnb.core.linearize.linearize` (``vmap(jacrev)``) against a
   plain loop of one ``torch.autograd.functional.jacobian`` per input, on CNN-3 of
   the model zoo at the ``smoke`` width.
3. Attack steps per second of the A1 attack (:func:`advnb.core.attacks.gradient_ascent`)
   on the same CNN-3, on the real network and under frozen gating.
4. The wall time of each chapter at each requested profile, through
   :func:`advnb.book.runs.run` (the ``wall_time_s`` of its record). With ``--cache fresh``
   (the default) the chapters share a new, empty model cache and run in book order,
   so a chapter's time includes training the networks it is the first to need: the
   sum is what a first ``make book`` costs on this machine.

Speed is reported, never asserted. Bad input exits with code 2 and one line
``advnb: error: parameter X: ...``; a chapter that fails is recorded as ``null``
with its error, the other measurements are still written, and the exit code is 1.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import torch

from ..base import ParameterError, atomic_write
from .cluster import cores
from .params import PROFILES, check, convert
from .runs import Parser, UsageError

C = 10  # classes of every comparison


DEFAULT_SIZES = (784, 3072)  # input sizes of the dense-vs-push-through comparison


IMAGENET_N = 3 * 224 * 224  # push-through only: the dense H̄_x would need n*n*8 bytes = 169 GiB


ZOO_ARCH, ZOO_WIDTH = "cnn-3", 0.125  # the network of the Jacobian and attack measurements


DTYPE = torch.float64


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_seconds(fns: dict[str, Callable[[], Any]], repeat: int, device: torch.device) -> tuple[dict, dict]:
    """Time several functions the same way: each once as a warm-up, then ``repeat`` rounds.

    In each round every function runs once, in turn, so that a slow spell of a shared
    machine falls on all of them alike. Returns ({name: median seconds},
    {name: what its warm-up returned}); the warm-up outputs serve the agreement checks.
    """
    outputs = {}
    for name, fn in fns.items():
        outputs[name] = fn()
        _sync(device)
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            _sync(device)
            t0 = time.perf_counter()
            fn()
            _sync(device)
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(t) for name, t in times.items()}, outputs


def theorem2_instance(batch: int, n: int, device: torch.device, seed: int = 0):
    """A random Theorem 2 problem in float64.

    Returns J (B, C, n) with entries of variance 1/n, a softmax-type H̄_z = diag(p) - p p^T
    (B, C, C), singular as in every softmax network, and g_z = p - e_0 (B, C).
    """
    g = torch.Generator().manual_seed(seed)
    J = torch.randn(batch, C, n, generator=g, dtype=DTYPE) / n**0.5
    p = torch.softmax(3 * torch.randn(batch, C, generator=g, dtype=DTYPE), dim=1)
    hz = torch.diag_embed(p) - p[:, :, None] * p[:, None, :]
    g_z = p - torch.nn.functional.one_hot(torch.zeros(batch, dtype=torch.long), C).to(DTYPE)
    return J.to(device), hz.to(device), g_z.to(device)


def pushthrough_vs_dense(n: int, batch: int, repeat: int, device: torch.device, beta: float = 1.0) -> dict:
    """Time deltâ by the dense eigen-sum and by the push-through form on one batch (B, C, n).

    Returns seconds of each (for the whole batch), the speed-up dense / push-through and
    the largest relative difference max_b ||dense_b - push_b|| / ||dense_b||.
    """
    from ..core.theory import delta_eigensum, infinite_step_delta

    J, hz, g_z = theorem2_instance(batch, n, device)
    t, out = median_seconds({"dense": lambda: delta_eigensum(J, hz, g_z, beta).delta,
                             "push": lambda: infinite_step_delta(J, hz, g_z, beta).delta}, repeat, device)
    rel = ((out["dense"] - out["push"]).norm(dim=1) / out["dense"].norm(dim=1)).max().item()
    return {"n": n, "batch": batch, "beta": beta, "dense_s": t["dense"], "pushthrough_s": t["push"],
            "speedup": t["dense"] / t["push"], "max_rel_diff": rel}


def pushthrough_only(n: int, batch: int, repeat: int, device: torch.device, beta: float = 1.0) -> dict:
    """Time the push-through form alone on a batch (B, C, n); n may be far too large for the dense form."""
    from ..core.theory import infinite_step_delta

    J, hz, g_z = theorem2_instance(batch, n, device)
    t = median_seconds({"push": lambda: infinite_step_delta(J, hz, g_z, beta)}, repeat, device)[0]["push"]
    return {"n": n, "batch": batch, "pushthrough_s": t, "ms_per_input": 1e3 * t / batch,
            "dense_matrix_gib": n * n * 8 / 2**30}


def zoo_network(device: torch.device, seed: int = 0) -> torch.nn.Module:
    """CNN-3 of the zoo at the ``smoke`` width, randomly initialised, eval mode, float64.

    Speed does not depend on training, so the network is not trained.
    """
    from ..nets.models import build_model

    torch.manual_seed(seed)
    return build_model(ZOO_ARCH, width=ZOO_WIDTH).eval().to(device=device, dtype=DTYPE)


def digits_like(batch: int, device: torch.device, seed: int = 0) -> torch.Tensor:
    """Random inputs x: (B, 1, 28, 28), uniform in [0, 1], float64."""
    g = torch.Generator().manual_seed(seed)
    return torch.rand(batch, 1, 28, 28, generator=g, dtype=DTYPE).to(device)


def jacobian_loop(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The baseline: one ``torch.autograd.functional.jacobian`` per input, in a Python loop.

    x: (B, *input_shape). Returns J: (B, C, n), n = prod(input_shape).
    """
    shape = x.shape[1:]

    def z_of(xi: torch.Tensor) -> torch.Tensor:  # xi: (n,) -> z: (C,)
        return model(xi.reshape(1, *shape)).squeeze(0)

    return torch.stack([torch.autograd.functional.jacobian(z_of, xi) for xi in x.reshape(x.shape[0], -1)])


def jacobian_vmap_vs_loop(batch: int, repeat: int, device: torch.device) -> dict:
    """Time :func:`advnb.core.linearize.linearize` (vmap(jacrev)) against :func:`jacobian_loop` on CNN-3.

    Returns seconds of each for the batch, the speed-up loop / vmap and the largest
    difference max |J_vmap - J_loop| / max |J_loop|.
    """
    from ..core.linearize import linearize

    model, x = zoo_network(device), digits_like(batch, device)
    t, out = median_seconds({"vmap": lambda: linearize(model, x)[0], "loop": lambda: jacobian_loop(model, x)},
                            repeat, device)
    diff = ((out["vmap"] - out["loop"]).abs().max() / out["loop"].abs().max()).item()
    return {"model": f"{ZOO_ARCH} at width {ZOO_WIDTH:g}, random weights", "batch": batch,
            "vmap_s": t["vmap"], "loop_s": t["loop"], "speedup": t["loop"] / t["vmap"], "max_rel_diff": diff}


def attack_steps(batch: int, m: int, repeat: int, device: torch.device, beta: float = 0.01) -> dict:
    """A1 attack steps per second on CNN-3 for a batch of B inputs: real network and frozen gating.

    A step moves all B inputs. Under frozen gating the linearisation (J, b) is taken
    once beforehand and not timed: the steps are what is measured.
    """
    from ..core.attacks import gradient_ascent
    from ..core.linearize import linearize

    model, x = zoo_network(device), digits_like(batch, device)
    with torch.no_grad():
        y = model(x).argmax(1)
    lin = linearize(model, x)
    t, _ = median_seconds({"real": lambda: gradient_ascent(model, x, y, beta, m, frozen_gating=False),
                           "frozen_gating": lambda: gradient_ascent(model, x, y, beta, m, linearization=lin)},
                          repeat, device)
    return {"model": f"{ZOO_ARCH} at width {ZOO_WIDTH:g}, random weights", "batch": batch, "m": m,
            "steps_per_second": {name: m / seconds for name, seconds in t.items()}}


def micro_benchmarks(sizes: tuple[int, ...], batch: int, repeat: int, device: torch.device,
                     imagenet: bool = True, attack_m: int = 50) -> dict:
    """Every measurement but the chapters: the headline numbers first, then the details of each."""
    head: dict[str, Any] = {}
    detail: dict[str, Any] = {"pushthrough_vs_dense": []}
    for n in sizes:
        r = pushthrough_vs_dense(n, batch, repeat, device)
        head[f"speedup_pushthrough_vs_dense_n{n}"] = r["speedup"]
        head[f"max_rel_diff_pushthrough_vs_dense_n{n}"] = r["max_rel_diff"]
        detail["pushthrough_vs_dense"].append(r)
    if imagenet:
        r = pushthrough_only(IMAGENET_N, batch, repeat, device)
        head[f"pushthrough_ms_per_input_n{IMAGENET_N}"] = r["ms_per_input"]
        detail["pushthrough_imagenet"] = r
    jac = jacobian_vmap_vs_loop(4 * batch, repeat, device)
    head["speedup_jacobian_vmap_vs_loop"] = jac["speedup"]
    head["max_rel_diff_jacobian_vmap_vs_loop"] = jac["max_rel_diff"]
    detail["jacobian"] = jac
    att = attack_steps(4 * batch, attack_m, repeat, device)
    head["attack_steps_per_second"] = att.pop("steps_per_second")
    detail["attack"] = att
    return head | detail


def book_order(names: list[str]) -> list[str]:
    """``names`` in the order of book/_toc.yml (chapters not listed there last, sorted)."""
    from ..base import chapters_dir

    def files(node) -> list[str]:  # every "file:" entry of the toc, in order, at any depth
        if isinstance(node, dict):
            return ([Path(node["file"]).name] if "file" in node else []) + [f for v in node.values() for f in files(v)]
        return [f for v in node for f in files(v)] if isinstance(node, list) else []

    toc = chapters_dir().parent / "_toc.yml"
    listed = []
    if toc.exists():
        import yaml

        listed = files(yaml.safe_load(toc.read_text()))
    rank = {name: i for i, name in enumerate(listed)}
    return sorted(names, key=lambda name: (rank.get(name, len(rank)), name))


def chapter_seconds(profiles: list[str], chapters: list[str], device: str, cache: str) -> tuple[dict, dict]:
    """Run every chapter at every profile through :func:`advnb.book.runs.run`; read back ``wall_time_s``.

    ``profiles``: concrete names (smoke, quick, paper). Returns
    ({profile: {chapter: seconds or None}}, {"profile/chapter": error}).
    ``cache="fresh"`` gives each profile a new, empty model cache (``$ADVNB_CACHE``).
    Papermill's progress bar is off; one bar runs over (profile, chapter).
    """
    from tqdm.auto import tqdm

    from ..base import available_chapters
    from .runs import chapter_parameters, run

    paths = available_chapters()
    seconds: dict[str, dict] = {}
    errors: dict[str, str] = {}
    old_cache = os.environ.get("ADVNB_CACHE")
    bar = tqdm(total=len(profiles) * len(chapters), desc="chapters", unit="chapter", file=sys.stderr)
    try:
        for name in profiles:
            seconds[name] = {}
            with tempfile.TemporaryDirectory(prefix="advnb-bench-") as tmp:
                if cache == "fresh":
                    os.environ["ADVNB_CACHE"] = str(Path(tmp) / "cache")
                for chapter in chapters:
                    bar.set_postfix_str(f"{name}/{chapter}")
                    pairs = [["device", device]] if device != "auto" and "device" in chapter_parameters(paths[chapter]) else []
                    try:
                        record = run(chapter, pairs, name, str(Path(tmp) / "runs"), progress=False)
                        seconds[name][chapter] = json.loads(record.read_text())["wall_time_s"]
                    except RuntimeError as e:
                        seconds[name][chapter] = None
                        errors[f"{name}/{chapter}"] = str(e)
                    bar.update(1)
    finally:
        bar.close()
        if old_cache is None:
            os.environ.pop("ADVNB_CACHE", None)
        else:
            os.environ["ADVNB_CACHE"] = old_cache
    return seconds, errors


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine(device: torch.device) -> dict:
    """What the numbers were measured on (no host name)."""
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else None
    mem = None
    try:
        kib = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal"))
        mem = round(kib / 2**20, 1)
    except (OSError, StopIteration, ValueError):
        pass
    return {
        "cpu": _cpu_model(),
        "logical_cores": os.cpu_count(),
        "cores_available": cores(),
        "memory_gib": mem,
        "load_average_at_start": [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None,
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda if gpu else None,
        "gpu": gpu,
        "python": platform.python_version(),
        "os": platform.platform(terse=True),
    }


def format_table(rec: dict) -> str:
    """A short human-readable summary of a record."""
    m = rec["machine"]
    lines = [f"device {rec['device']}  ({m['gpu'] or m['cpu']}; {m['cores_available']} cores, "
             f"{m['torch_threads']} torch threads, torch {m['torch']})", ""]
    for r in rec.get("pushthrough_vs_dense", []):
        lines.append(f"Theorem 2, n = {r['n']:>6}, batch {r['batch']}:  dense {1e3 * r['dense_s']:10.2f} ms  "
                     f"push-through {1e3 * r['pushthrough_s']:8.3f} ms  speed-up {r['speedup']:9.1f}x  "
                     f"max rel. diff {r['max_rel_diff']:.1e}")
    if "pushthrough_imagenet" in rec:
        r = rec["pushthrough_imagenet"]
        lines.append(f"Theorem 2, n = {r['n']}, batch {r['batch']}:  push-through {r['ms_per_input']:.3f} ms per input "
                     f"(the dense matrix would need {r['dense_matrix_gib']:.0f} GiB)")
    j = rec["jacobian"]
    lines.append(f"Jacobians, {j['model']}, batch {j['batch']}:  loop {1e3 * j['loop_s']:.1f} ms  "
                 f"vmap(jacrev) {1e3 * j['vmap_s']:.1f} ms  speed-up {j['speedup']:.1f}x  max rel. diff {j['max_rel_diff']:.1e}")
    a, s = rec["attack"], rec["attack_steps_per_second"]
    lines.append(f"A1 attack, {a['model']}, batch {a['batch']}:  {s['real']:.0f} steps/s on the real network, "
                 f"{s['frozen_gating']:.0f} steps/s under frozen gating")
    for profile, chapters in rec["chapter_seconds"].items():
        lines += ["", f"chapters at {profile} (cache: {rec['chapter_cache']}):"]
        for name, sec in chapters.items():
            lines.append(f"  {name:<12} " + ("failed" if sec is None else f"{sec:8.1f} s"))
        done = [s for s in chapters.values() if s is not None]
        lines.append(f"  {'total':<12} {sum(done):8.1f} s")
    return "\n".join(lines)


def _list(name: str, text: str, allowed: list[str] | tuple[str, ...], extra: str = "") -> list[str]:
    """The comma-separated names in ``text``, each one of ``allowed`` (duplicates dropped)."""
    items = [t.strip() for t in text.split(",") if t.strip()]
    bad = [t for t in items if t not in allowed]
    if not items or bad:
        raise ParameterError(f"parameter {name}: must be a comma-separated list of {', '.join(allowed)}{extra} "
                             f"(got {text!r})")
    return list(dict.fromkeys(items))


def _positive_ints(name: str, text: str) -> list[int]:
    try:
        values = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        values = []
    if not values or any(v < 1 for v in values):
        raise ParameterError(f"parameter {name}: must be a comma-separated list of integers >= 1 (got {text!r})")
    return values


def _positive_int(name: str, text: str) -> int:
    values = _positive_ints(name, text)
    if len(values) != 1:
        raise ParameterError(f"parameter {name}: must be one integer >= 1 (got {text!r})")
    return values[0]


def parse(argv: list[str] | None) -> argparse.Namespace:
    """Parse and check the arguments; raise UsageError or ParameterError (one line) on bad input."""
    from ..base import available_chapters, chapters_dir
    from ..nets.profiles import resolve_device, resolve_name

    p = Parser(prog="advnb bench", description="Speed of advnb's hot paths, and the time of each chapter.")
    p.add_argument("--json", action="store_true", help="print the record as JSON on stdout")
    p.add_argument("--output", help="also write the JSON record to this file (atomically)")
    p.add_argument("--profiles", default="smoke", help=f"comma-separated, from {', '.join(PROFILES)}")
    p.add_argument("--chapters", default="all", help="comma-separated chapter names, 'all' (book/chapters) or 'none'")
    p.add_argument("--repeat", default="3", help="timed runs per measurement, after one warm-up (median)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")
    p.add_argument("--batch", default="2", help="inputs per Theorem 2 batch (Jacobians and attacks: 4x)")
    p.add_argument("--sizes", default=",".join(map(str, DEFAULT_SIZES)), help="input sizes n of the dense comparison")
    p.add_argument("--steps", default="50", help="attack steps m per timed attack")
    p.add_argument("--threads", default=None, help="torch threads here and in the chapters' kernels (default: torch's)")
    p.add_argument("--cache", default="fresh", help="fresh (a new empty model cache) | shared ($ADVNB_CACHE as is)")
    args = p.parse_args(argv)

    args.repeat = convert("repeat", args.repeat)
    check({"repeat": args.repeat, "device": args.device})
    args.dev = resolve_device(args.device)
    args.batch, args.steps = _positive_int("batch", args.batch), _positive_int("steps", args.steps)
    args.threads = None if args.threads is None else _positive_int("threads", args.threads)
    args.sizes = tuple(_positive_ints("sizes", args.sizes))
    args.profiles = list(dict.fromkeys(resolve_name(p) for p in _list("profiles", args.profiles, PROFILES)))
    if args.cache not in ("fresh", "shared"):
        raise ParameterError(f"parameter cache: must be fresh or shared (got {args.cache!r})")
    known = available_chapters()
    if args.chapters == "none":
        args.chapters = []
    elif args.chapters == "all":  # the chapters proper, not the pages that gather results
        args.chapters = book_order([name for name, path in known.items() if path.parent == chapters_dir()])
    else:
        args.chapters = book_order(_list("chapters", args.chapters, list(known), "; or all, or none"))
    if args.output:
        args.output = Path(args.output)
        try:
            args.output.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ParameterError(f"parameter output: cannot create the folder of {str(args.output)!r} ({e.strerror})") from None
        if args.output.is_dir():
            raise ParameterError(f"parameter output: {str(args.output)!r} is a folder, not a file")
    return args


def main(argv: list[str] | None = None) -> int:
    """``advnb bench``: returns the exit code (0, 1 if a chapter failed, 2 on bad input)."""
    start = time.perf_counter()
    try:
        args = parse(argv)
        if args.threads is not None:  # here, and in the kernels the chapters run in
            torch.set_num_threads(args.threads)
            os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(args.threads)
        rec: dict[str, Any] = {
            "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "device": str(args.dev),
            "dtype": str(DTYPE).removeprefix("torch."),
            "repeat": args.repeat,
            "machine": machine(args.dev),
        }
        rec.update(micro_benchmarks(args.sizes, args.batch, args.repeat, args.dev, attack_m=args.steps))
        rec["chapter_cache"] = args.cache
        rec["chapter_seconds"], rec["chapter_errors"] = chapter_seconds(args.profiles, args.chapters, args.device, args.cache) \
            if args.chapters else ({}, {})
        rec["load_average_at_end"] = [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None
        rec["elapsed_s"] = round(time.perf_counter() - start, 1)
    except (UsageError, ParameterError) as e:
        print(f"advnb: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("advnb: interrupted; nothing was written", file=sys.stderr)
        return 130
    text = json.dumps(rec, indent=2) + "\n"
    if args.output:
        atomic_write(args.output, lambda tmp: Path(tmp).write_text(text))
    print(text if args.json else format_table(rec), end="" if args.json else "\n")
    for where, error in rec["chapter_errors"].items():
        print(f"advnb: error: {where}: {error}", file=sys.stderr)
    return 1 if rec["chapter_errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
