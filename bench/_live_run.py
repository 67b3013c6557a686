"""Live streams, the whole run: a pinned paced server, one search per client, ratios, report.

``python -m bench --only live [--quick]`` (or ``python -m bench._live_run [--quick]``) starts the
paced server (``_paced_server.py``) pinned to one CPU, then, for each rate and each repeat, runs
every client variant (``_live.py``) in its own process pinned to another CPU, each searching for
the most streams it follows live. The variants of one repeat run back to back, in an order that
rotates between repeats, so a burst of load from elsewhere spreads over all of them; each ratio
compares a variant with the floor of the same repeat, and the report gives the median ratio and
its spread across repeats.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import _live
from ._report import md_table, median, ratio

__all__ = ["FULL", "QUICK", "LiveConfig", "main", "render", "run_live"]

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class LiveConfig:
    rates: tuple[int, ...]  # events per second per stream
    seconds: float  # length of each stream
    repeats: int
    tolerance: float  # the search stops when its bounds are this close (relative)
    variants: tuple[str, ...]
    child_timeout: float
    bare_headers: bool = False  # the server sends no x-ratelimit-* headers


FULL = LiveConfig(
    rates=(1000, 500),
    seconds=1.5,
    repeats=3,
    tolerance=0.08,
    variants=tuple(_live.VARIANTS),
    child_timeout=600.0,
)
QUICK = LiveConfig(
    rates=(1000,),
    seconds=0.6,
    repeats=1,
    tolerance=0.15,
    variants=tuple(_live.VARIANTS),
    child_timeout=120.0,
)

#: At 1,000 events/s per stream: streams followed live, as a ratio to the floor's.
TARGETS = {"fanout": 0.5, "fanout-batch": 0.6, "gather": 0.8}


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def cpus() -> tuple[int | None, int | None]:
    """(server CPU, client CPU): two different CPUs this process may run on, or ``None`` each
    where pinning is not possible (not Linux, or a single CPU)."""
    if not hasattr(os, "sched_getaffinity"):
        return None, None
    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) < 2:
        return None, None
    return allowed[0], allowed[1]


class PacedServer:
    """The paced server's process, pinned; its CPU time read from /proc."""

    def __init__(self, cpu: int | None, sizes: list[int], *, bare_headers: bool = False) -> None:
        cmd = [sys.executable, "-m", "bench._paced_server", "--lifetime", "3600"]
        if cpu is not None:
            cmd += ["--cpu", str(cpu)]
        if bare_headers:
            cmd.append("--bare-headers")
        cmd += ["--prebuild", *map(str, sizes)]
        self.process = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.startswith("PORT "):
            self.process.kill()
            raise RuntimeError(f"the paced server did not start: {line!r}")
        self.port = int(line.split()[1])

    def cpu_seconds(self) -> float | None:
        try:
            with open(f"/proc/{self.process.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def run_search(
    server: PacedServer,
    cfg: LiveConfig,
    variant: str,
    rate: int,
    start: int,
    cpu: int | None,
) -> dict[str, Any]:
    """One variant's search, in its own process."""
    cmd = [
        sys.executable,
        "-m",
        "bench._live",
        variant,
        "--port",
        str(server.port),
        "--rate",
        str(rate),
        "--seconds",
        str(cfg.seconds),
        "--start",
        str(start),
        "--tolerance",
        str(cfg.tolerance),
    ]
    if cpu is not None:
        cmd += ["--cpu", str(cpu)]
    server_cpu0 = server.cpu_seconds()
    wall0 = time.perf_counter()
    process = subprocess.Popen(
        cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        out, _ = process.communicate(timeout=cfg.child_timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        return {"variant": variant, "rate": rate, "best": None, "error": "timed out"}
    wall = time.perf_counter() - wall0
    try:
        result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"variant": variant, "rate": rate, "best": None, "error": "no result"}
    server_cpu1 = server.cpu_seconds()
    if server_cpu0 is not None and server_cpu1 is not None:
        result["server_busy"] = (server_cpu1 - server_cpu0) / wall
    return result


def run_live(cfg: LiveConfig) -> dict[str, Any]:
    """Every search of the run, and its summary."""
    server_cpu, client_cpu = cpus()
    sizes = sorted({max(2, round(cfg.seconds * rate)) for rate in cfg.rates})
    server = PacedServer(server_cpu, sizes, bare_headers=cfg.bare_headers)
    searches: list[dict[str, Any]] = []
    hints: dict[tuple[str, int], int] = {}
    errors: list[str] = []
    try:
        for repeat in range(cfg.repeats):
            names = list(cfg.variants)
            order = names[repeat % len(names) :] + names[: repeat % len(names)]
            for rate in cfg.rates:
                for variant in order:
                    start = hints.get((variant, rate), 8)
                    result = run_search(server, cfg, variant, rate, start, client_cpu)
                    result["repeat"] = repeat
                    searches.append(result)
                    best = result.get("best")
                    if best is None:
                        errors.append(f"live {variant} @{rate}/s: {result.get('error')}")
                        _log(f"  FAILED live {variant} @{rate}/s: {result.get('error')}")
                        continue
                    # The next repeat starts near this answer: fewer doublings, same bisection.
                    hints[(variant, rate)] = max(1, best * 3 // 4)
                    broken = [t for t in result["trials"] if t["error"] or not t["intact"]]
                    disturbed = sum(1 for t in result["trials"] if t.get("disturbed"))
                    _log(
                        f"live repeat {repeat + 1}/{cfg.repeats} {rate:>5}/s {variant:<13} "
                        f"{best:>4} streams ({len(result['trials'])} trials"
                        + (f", {len(broken)} broken" if broken else "")
                        + (f", {disturbed} disturbed and rerun" if disturbed else "")
                        + f", server busy {result.get('server_busy', float('nan')):.0%})"
                    )
    finally:
        server.stop()
    return {
        "config": cfg.__dict__,
        "cpus": {"server": server_cpu, "client": client_cpu},
        "searches": searches,
        "summary": summarize(searches, cfg),
        "errors": errors,
    }


def summarize(searches: list[dict[str, Any]], cfg: LiveConfig) -> dict[str, dict[str, Any]]:
    """Per rate and variant: the best N of each repeat, and its ratio to that repeat's floor."""
    out: dict[str, dict[str, Any]] = {}
    for rate in cfg.rates:
        floors = {
            s["repeat"]: s["best"]
            for s in searches
            if s["rate"] == rate and s["variant"] == "floor" and s.get("best")
        }
        rows: dict[str, Any] = {}
        for variant in cfg.variants:
            mine = [s for s in searches if s["rate"] == rate and s["variant"] == variant]
            bests = [s["best"] for s in mine if s.get("best") is not None]
            ratios = [
                ratio(s["best"], floors[s["repeat"]])
                for s in mine
                if s.get("best") is not None and s["repeat"] in floors
            ]
            busy = [s["server_busy"] for s in mine if "server_busy" in s]
            trials = [t for s in mine for t in s.get("trials", ())]
            cpu = [_cpu_per_event(s) for s in mine if s.get("best")]
            rows[variant] = {
                "best": bests,
                "median": median(bests),
                "ratios": ratios,
                "ratio": median(ratios),
                "cpu_us_per_event": median(c for c in cpu if c is not None),
                "server_busy_max": max(busy) if busy else None,
                "trials": len(trials),
                "disturbed": sum(1 for t in trials if t.get("disturbed")),
            }
        out[str(rate)] = rows
    return out


def _cpu_per_event(search: dict[str, Any]) -> float | None:
    """CPU µs per event of the search's largest trial that kept up: less sensitive to other
    load on the machine than the count of streams (it is CPU time, not wall time)."""
    kept = [t for t in search["trials"] if t["keeps_up"] and t["streams"] == search["best"]]
    if not kept:
        return None
    events = int(kept[0]["streams"]) * int(search["chunks"])
    return float(kept[0]["cpu_s"]) / events * 1e6


def verdicts(summary: dict[str, dict[str, Any]]) -> list[tuple[str, float, float, bool]]:
    """(what, measured ratio, target, met) for the targets at 1,000 events/s."""
    rows = summary.get("1000")
    if rows is None:
        return []
    return [
        (name, rows[name]["ratio"], target, rows[name]["ratio"] >= target)
        for name, target in TARGETS.items()
        if name in rows
    ]


def _spread(values: list[float], digits: int) -> str:
    if len(values) < 2:
        return "-"
    return f"{min(values):.{digits}f}-{max(values):.{digits}f}"


def render(live: dict[str, Any]) -> str:
    cfg = live["config"]
    pins = live["cpus"]
    parts = [
        "## Live streams: how many paced streams each client follows live",
        "",
        f"Paced server pinned to CPU {pins['server']}, each client to CPU {pins['client']}; "
        f"streams of {cfg['seconds']:g} s; keeps up = every chunk intact, p99 lag < "
        f"{_live.KEEP_UP_P99_MS:g} ms and no stream finishing more than "
        f"{_live.KEEP_UP_LATE:.0%} late; search to within {cfg['tolerance']:.0%}; "
        f"{cfg['repeats']} repeat(s), ratios to the floor of the same repeat (median, and "
        "min-max across repeats). CPU µs/event: the client's CPU time per event in the largest "
        "trial it kept up with (connection setup included), which other load on the machine moves "
        "less than the stream counts; floor/this is its inverse ratio, comparable to x floor. "
        "Disturbed trials: failed while the client waited for its CPU more than "
        f"{_live.DISTURBED:.0%} of the time (other load on its core), and were run again."
        + (
            " The server sent no x-ratelimit-* headers (--bare-headers)."
            if cfg.get("bare_headers")
            else ""
        ),
        "",
    ]
    for rate, rows in live["summary"].items():
        parts += [f"### {int(rate):,} events/s per stream", ""]
        table = []
        for variant, row in rows.items():
            table.append(
                [
                    _live.describe(variant),
                    row["median"],
                    _spread(row["best"], 0),
                    row["ratio"],
                    _spread(row["ratios"], 2),
                    row["cpu_us_per_event"],
                    ratio(rows["floor"]["cpu_us_per_event"], row["cpu_us_per_event"])
                    if "floor" in rows
                    else None,
                    f"{row['server_busy_max']:.0%}" if row["server_busy_max"] is not None else "-",
                    f"{row['disturbed']}/{row['trials']}",
                ]
            )
        headers = [
            "client",
            "streams live",
            "spread",
            "x floor",
            "spread",
            "CPU µs/event",
            "floor/this",
            "server busy (max)",
            "disturbed trials",
        ]
        parts += [md_table(headers, table), ""]
    checks = verdicts(live["summary"])
    if checks:
        parts += [
            "Targets at 1,000 events/s:",
            "",
            md_table(
                ["client", "x floor", "wanted", "met"],
                [[_live.describe(n), r, f">= {t:g}", met] for n, r, t, met in checks],
            ),
            "",
        ]
    for error in live["errors"]:
        parts.append(f"- FAILED: {error}")
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench._live_run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="1,000 events/s only, one repeat")
    parser.add_argument("--repeats", type=int, help="override the number of repeats")
    parser.add_argument(
        "--variants",
        help=f"comma-separated, floor always runs: {', '.join(_live.VARIANTS)}; VARIANT:KEY runs "
        f"it with a piece of the library patched, KEY one of {', '.join(_live.ABLATIONS)}",
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="where to write the results")
    parser.add_argument(
        "--bare-headers",
        action="store_true",
        help="the paced server sends no x-ratelimit-* headers (a proxy, another compatible server)",
    )
    args = parser.parse_args(argv)
    cfg = QUICK if args.quick else FULL
    if args.bare_headers:
        cfg = LiveConfig(**{**cfg.__dict__, "bare_headers": True})
    if args.repeats:
        cfg = LiveConfig(**{**cfg.__dict__, "repeats": args.repeats})
    if args.variants:
        chosen = ["floor", *(v for v in args.variants.split(",") if v != "floor")]
        unknown = {name for name in chosen if not _live.known(name)}
        if unknown:
            parser.error(f"unknown variants: {', '.join(sorted(unknown))}")
        cfg = LiveConfig(**{**cfg.__dict__, "variants": tuple(chosen)})
    started = time.perf_counter()
    live = run_live(cfg)
    live["seconds"] = time.perf_counter() - started
    report = render(live)
    print(report)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "live.md").write_text(report)
    with open(args.out / "live.json", "w") as f:
        json.dump(live, f, indent=1, default=str)
    _log(f"wrote {args.out / 'live.md'} and live.json in {live['seconds']:.0f}s")
    return 1 if live["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
