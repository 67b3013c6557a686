"""The whole benchmark: decode only, end to end, trio primitives, targets, report."""

from __future__ import annotations

import argparse
import ast
import datetime
import hashlib
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import _decode, _e2e, _live_run, _micro
from ._data import make_stream, reads_for
from ._report import md_table, median, ratio

__all__ = ["main"]

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class Config:
    decode_chunks: int
    read_modes: tuple[str, ...]  # keys of _data.READ_MODES
    decode_rounds: int
    scenarios: tuple[tuple[int, int], ...]  # (streams, chunks per stream)
    e2e_rounds: int
    micro_n: int
    micro_rounds: int
    child_timeout: float


FULL = Config(
    decode_chunks=10_000,
    read_modes=("16KiB", "64B", "1event"),
    decode_rounds=7,
    scenarios=((1, 20_000), (100, 500), (1000, 20)),
    e2e_rounds=3,
    micro_n=100_000,
    micro_rounds=3,
    child_timeout=300.0,
)
QUICK = Config(
    decode_chunks=2_000,
    read_modes=("16KiB", "64B", "1event"),
    decode_rounds=3,
    scenarios=((1, 4_000), (20, 200), (200, 20)),
    e2e_rounds=1,
    micro_n=20_000,
    micro_rounds=1,
    child_timeout=120.0,
)

SINGLE_VARIANTS = (
    "floor",
    "httpx-bytes",
    "tgs",
    "tgs-batch",
    "tgs-gather",
    "sdk-asyncio",
    "sdk-trio",
)
MANY_VARIANTS = (
    "floor",
    "httpx-bytes",
    "tgs",
    "tgs-batch",
    "tgs-gather",
    "sdk-asyncio",
    "sdk-trio",
)

E2E_DESCRIPTIONS = {
    "floor": "httpx.AsyncClient.stream + aiter_bytes + split on b'\\n\\n' + CHUNK_DECODER (trio)",
    "httpx-bytes": "httpx.AsyncClient.stream + aiter_bytes, no decoding at all (trio)",
    "tgs": "trio_groqstream: open_stream (1 stream) / open_fanout (many)",
    "tgs-gather": "trio_groqstream: gather (completions only)",
    "tgs-batch": "trio_groqstream: open_stream / open_fanout read with receive_batch()",
    "sdk-asyncio": "groq.AsyncGroq, stream=True, asyncio.gather, max_retries=0, the same pool "
    "limits as GroqClient (max_connections=None, 100 kept alive)",
    "sdk-trio": "groq.AsyncGroq as above, run under trio.run (nursery instead of gather)",
    "sdk-asyncio-default-pool": "sdk-asyncio with the SDK's default pool (100 connections, 20 kept "
    "alive); not in the default run (--variants)",
}


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- (a) decode only ---------------------------------------------------------------------------


def run_decode(cfg: Config) -> dict[str, Any]:
    stream = make_stream(cfg.decode_chunks)
    errors: list[str] = []
    names = list(_decode.VARIANTS)
    reads = {mode: reads_for(stream, mode) for mode in cfg.read_modes}
    raw: dict[str, dict[str, list[float]]] = {
        mode: {name: [] for name in names} for mode in cfg.read_modes
    }
    for round_ in range(cfg.decode_rounds):
        # Interleave: each round runs every read mode and every variant once, starting at a
        # different variant, so a burst of noise from elsewhere spreads over all of them.
        order = names[round_ % len(names) :] + names[: round_ % len(names)]
        for mode in cfg.read_modes:
            for name in order:
                seconds, (chunks, text) = _decode.time_variant(_decode.VARIANTS[name], reads[mode])
                if (chunks, text) != (stream.chunks, stream.text_len):
                    errors.append(
                        f"decode {name} @{mode}: got {chunks} chunks/{text} chars, "
                        f"want {stream.chunks}/{stream.text_len}"
                    )
                raw[mode][name].append(seconds / stream.chunks * 1e6)
    for mode, samples in raw.items():
        _log(
            f"decode {mode:>6} reads: "
            + ", ".join(f"{name} {median(samples[name]):.2f}" for name in names)
            + " µs/chunk"
        )
    summary = {
        size: {name: median(values) for name, values in samples.items()}
        for size, samples in raw.items()
    }
    return {
        "chunks": stream.chunks,
        "mean_chunk_bytes": stream.mean_chunk_bytes,
        "body_bytes": len(stream.body),
        "rounds": cfg.decode_rounds,
        "us_per_chunk_samples": raw,
        "us_per_chunk": summary,
        "errors": errors,
    }


# --- (b) end to end ----------------------------------------------------------------------------


@dataclass
class Server:
    process: subprocess.Popen[str]
    port: int

    def cpu_seconds(self) -> float | None:
        """utime + stime of the server process, from /proc (Linux); ``None`` elsewhere."""
        try:
            with open(f"/proc/{self.process.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            return None
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_server(sizes: list[int]) -> Server:
    process = subprocess.Popen(
        [sys.executable, "-m", "bench._server", "--lifetime", "1800", "--prebuild"]
        + [str(s) for s in sizes],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.startswith("PORT "):
        process.kill()
        raise RuntimeError(f"the bench server did not start: {line!r}")
    return Server(process, int(line.split()[1]))


def run_child(
    server: Server, variant: str, streams: int, chunks: int, timeout: float, profile: str | None
) -> dict[str, Any]:
    cmd = [
        sys.executable,
        "-m",
        "bench._e2e",
        variant,
        "--port",
        str(server.port),
        "--streams",
        str(streams),
        "--chunks",
        str(chunks),
    ]
    if profile:
        cmd += ["--profile", profile]
    server_cpu0 = server.cpu_seconds()
    process = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        out, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        return {"variant": variant, "ok": False, "error": f"timed out after {timeout:g}s"}
    server_cpu1 = server.cpu_seconds()
    try:
        result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"variant": variant, "ok": False, "error": f"no result (exit {process.returncode})"}
    if server_cpu0 is not None and server_cpu1 is not None:
        result["server_cpu_s"] = server_cpu1 - server_cpu0
    return result


def run_e2e(cfg: Config, *, variants: set[str] | None = None) -> dict[str, Any]:
    server = start_server(sorted({chunks for _, chunks in cfg.scenarios}))
    samples: dict[str, dict[str, list[dict[str, Any]]]] = {}
    errors: list[str] = []
    try:
        for round_ in range(cfg.e2e_rounds):
            for streams, chunks in cfg.scenarios:
                key = f"{streams}x{chunks}"
                defaults = SINGLE_VARIANTS if streams == 1 else MANY_VARIANTS
                if variants is None:
                    names = list(defaults)
                else:
                    names = ["floor", *sorted(variants - {"floor"})]
                order = names[round_ % len(names) :] + names[: round_ % len(names)]
                for variant in order:
                    result = run_child(server, variant, streams, chunks, cfg.child_timeout, None)
                    samples.setdefault(key, {}).setdefault(variant, []).append(result)
                    if not result.get("ok"):
                        errors.append(f"e2e {key} {variant}: {result.get('error') or result}")
                        _log(f"  FAILED {key} {variant}: {result.get('error') or result}")
                    else:
                        _log(
                            f"e2e round {round_ + 1}/{cfg.e2e_rounds} {key:>9} {variant:<12} "
                            f"cpu {result['cpu_s']:.3f}s wall {result['wall_s']:.3f}s "
                            f"rss {result['rss_peak_kib'] / 1024:.0f} MiB"
                        )
    finally:
        server.stop()
    return {"rounds": cfg.e2e_rounds, "samples": samples, "errors": errors}


def summarize_e2e(e2e: dict[str, Any]) -> dict[str, dict[str, dict[str, float]]]:
    out: dict[str, dict[str, dict[str, float]]] = {}
    for key, by_variant in e2e["samples"].items():
        rows: dict[str, dict[str, float]] = {}
        for variant, runs in by_variant.items():
            good = [r for r in runs if r.get("ok")]
            if not good:
                continue
            total = good[0]["expected_chunks"]
            cpu = median(r["cpu_s"] for r in good)
            wall = median(r["wall_s"] for r in good)
            server_runs = [r["server_cpu_s"] for r in good if "server_cpu_s" in r]
            rows[variant] = {
                "chunks": total,
                "cpu_s": cpu,
                "wall_s": wall,
                "cpu_us_per_chunk": cpu / total * 1e6,
                "chunks_per_s": total / wall,
                "rss_peak_mib": median(r["rss_peak_kib"] for r in good) / 1024,
                "rss_growth_mib": median(r["rss_peak_kib"] - r["rss_base_kib"] for r in good)
                / 1024,
                "server_cpu_s": median(server_runs) if server_runs else float("nan"),
                "runs_ok": len(good),
                "runs": len(runs),
            }
        out[key] = rows
    return out


# --- targets -----------------------------------------------------------------------------------


@dataclass
class Verdict:
    name: str
    measured: str
    target: str
    met: bool | None
    notes: list[str] = field(default_factory=list)


def judge(
    decode: dict[str, Any] | None, e2e: dict[str, dict[str, dict[str, float]]] | None
) -> list[Verdict]:
    verdicts: list[Verdict] = []
    if decode is not None:
        for size, values in decode["us_per_chunk"].items():
            floor_us = values["floor"]
            for name in ("tgs", "tgs+acc"):
                r = ratio(values[name], floor_us)
                verdicts.append(
                    Verdict(
                        f"decode, {size} reads: {name} vs floor",
                        f"{r:.2f}x",
                        "<= 1.5x",
                        r <= 1.5,
                    )
                )
            r = ratio(values["sdk"], values["tgs"])
            verdicts.append(
                Verdict(f"decode, {size} reads: sdk / tgs", f"{r:.1f}x", ">= 40x", r >= 40)
            )
    if e2e is not None:
        for key, rows in e2e.items():
            if "floor" not in rows or "tgs" not in rows:
                continue
            floor_us = rows["floor"]["cpu_us_per_chunk"]
            tgs_us = rows["tgs"]["cpu_us_per_chunk"]
            for name in ("tgs", "tgs-gather"):
                if name in rows:
                    r = ratio(rows[name]["cpu_us_per_chunk"], floor_us)
                    verdicts.append(
                        Verdict(
                            f"e2e {key}: {name} CPU/chunk vs floor",
                            f"{r:.2f}x",
                            "<= 1.3x",
                            r <= 1.3,
                        )
                    )
            if "sdk-asyncio" in rows:
                r = ratio(rows["sdk-asyncio"]["cpu_us_per_chunk"], tgs_us)
                verdicts.append(
                    Verdict(f"e2e {key}: sdk-asyncio / tgs CPU/chunk", f"{r:.1f}x", ">= 6x", r >= 6)
                )
        many = [key for key in e2e if not key.startswith("1x")]
        if many:
            key = max(many, key=lambda k: int(k.split("x")[0]))
            rows = e2e[key]
            if "tgs" in rows and "sdk-asyncio" in rows:
                tgs, sdk = rows["tgs"], rows["sdk-asyncio"]
                r = ratio(tgs["chunks_per_s"], sdk["chunks_per_s"])
                verdicts.append(
                    Verdict(
                        f"fan-out {key}: tgs / sdk-asyncio throughput", f"{r:.2f}x", ">= 2x", r >= 2
                    )
                )
                verdicts.append(
                    Verdict(
                        f"fan-out {key}: peak RSS tgs vs sdk-asyncio",
                        f"{tgs['rss_peak_mib']:.0f} vs {sdk['rss_peak_mib']:.0f} MiB "
                        f"(growth {tgs['rss_growth_mib']:.0f} vs {sdk['rss_growth_mib']:.0f})",
                        "tgs <= sdk",
                        tgs["rss_peak_mib"] <= sdk["rss_peak_mib"],
                    )
                )
    return verdicts


# --- report ------------------------------------------------------------------------------------


def _code_digest(source: bytes) -> bytes:
    """The module's code without its docstrings and comments, so that editing prose in the
    library (which others do while a run goes on) does not count as a change of what is run."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return source
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(body, list)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            body[0] = ast.Pass()
    return ast.dump(tree).encode()


def library_state() -> dict[str, Any]:
    """Which code was measured: the git commit, whether the library's files differ from it, and a
    hash of the library's code (docstrings and comments left out: others may edit the library
    while a run goes on, and the report warns when the code changed between start and end)."""
    package = ROOT / "trio_groqstream"
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0")
        digest.update(_code_digest(path.read_bytes()))
    state: dict[str, Any] = {"code_sha256": digest.hexdigest()[:16]}
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "trio_groqstream"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        state["commit"] = head.stdout.strip() or None
        state["uncommitted"] = [line[3:] for line in dirty.stdout.splitlines()]
    except OSError:
        pass
    return state


def environment() -> dict[str, Any]:
    def version(name: str) -> str:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return "-"

    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_implementation() + " " + platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "loadavg_at_end": list(load),
        "packages": {
            name: version(name)
            for name in (
                "trio-groqstream",
                "trio",
                "httpx",
                "httpcore",
                "h11",
                "msgspec",
                "groq",
                "pydantic",
                "httpx-sse",
                "anyio",
            )
        },
    }


def render(result: dict[str, Any]) -> str:
    env = result["environment"]
    parts = [
        "# trio_groqstream benchmarks",
        "",
        f"{env['date']} · {env['python']} · {env['cpus']} CPUs · load average at end "
        + ", ".join(f"{x:.2f}" for x in env["loadavg_at_end"])
        + f" · mode: {result['mode']}",
        "",
        "Packages: " + ", ".join(f"{k} {v}" for k, v in env["packages"].items()),
        "",
    ]
    lib = result.get("library_at_start") or {}
    uncommitted = lib.get("uncommitted") or []
    parts += [
        f"Library measured: commit {lib.get('commit')}"
        + (f" + uncommitted changes to {', '.join(uncommitted)}" if uncommitted else "")
        + f" (code sha256 {lib.get('code_sha256')})",
        "",
    ]
    end = result.get("library_at_end") or {}
    if end.get("code_sha256") != lib.get("code_sha256"):
        parts += [
            "**Warning: the library's code changed during this run "
            f"(sha256 {lib.get('code_sha256')} -> {end.get('code_sha256')}, commit "
            f"{lib.get('commit')} -> {end.get('commit')}); the rounds measured different code. "
            "Run again.**",
            "",
        ]
    decode = result.get("decode")
    if decode is not None:
        parts += [
            f"## (a) Decode only: {decode['chunks']:,} chunks, "
            f"mean {decode['mean_chunk_bytes']:.0f} bytes/event, {decode['body_bytes']:,} bytes; "
            f"median of {decode['rounds']} "
            "interleaved rounds, CPU µs per chunk",
            "",
        ]
        sizes = list(decode["us_per_chunk"])
        headers = ["variant"]
        for size in sizes:
            headers += [f"µs/chunk {size}", f"x floor {size}"]
        headers.append("what it runs")
        rows = []
        for name in _decode.VARIANTS:
            row: list[Any] = [name]
            for size in sizes:
                values = decode["us_per_chunk"][size]
                row += [values[name], ratio(values[name], values["floor"])]
            row.append(_decode.DESCRIPTIONS[name])
            rows.append(row)
        parts += [md_table(headers, rows), ""]
    e2e = result.get("e2e_summary")
    if e2e is not None:
        parts += [
            f"## (b) End to end over loopback: median of {result['e2e']['rounds']} interleaved "
            "rounds, each variant in its own process",
            "",
            "CPU = the client process's CPU time from the moment its HTTP client exists (the "
            "server is another process; its CPU is shown for reference). RSS = the client's "
            "peak resident set (VmHWM); growth = peak minus the RSS after imports.",
            "",
        ]
        for key, rows_by_variant in e2e.items():
            streams, chunks = key.split("x")
            floor = rows_by_variant.get("floor")
            parts += [f"### {int(streams):,} stream(s) x {int(chunks):,} chunks", ""]
            headers = [
                "variant",
                "CPU µs/chunk",
                "x floor",
                "wall s",
                "x floor",
                "chunks/s",
                "x floor",
                "peak RSS MiB",
                "x floor",
                "RSS growth MiB",
                "server CPU s",
                "ok runs",
            ]
            rows = []
            for variant, row in rows_by_variant.items():
                rows.append(
                    [
                        variant,
                        row["cpu_us_per_chunk"],
                        ratio(row["cpu_us_per_chunk"], floor["cpu_us_per_chunk"])
                        if floor
                        else None,
                        row["wall_s"],
                        ratio(row["wall_s"], floor["wall_s"]) if floor else None,
                        row["chunks_per_s"],
                        ratio(row["chunks_per_s"], floor["chunks_per_s"]) if floor else None,
                        row["rss_peak_mib"],
                        ratio(row["rss_peak_mib"], floor["rss_peak_mib"]) if floor else None,
                        row["rss_growth_mib"],
                        row["server_cpu_s"],
                        f"{row['runs_ok']}/{row['runs']}",
                    ]
                )
            parts += [md_table(headers, rows), ""]
        parts += ["Variants:", ""]
        parts += [f"- `{name}`: {text}" for name, text in E2E_DESCRIPTIONS.items()]
        parts.append("")
    micro = result.get("micro")
    if micro is not None:
        parts += [
            "## (c) Trio primitives, CPU µs per operation (median)",
            "",
            md_table(
                ["primitive", "µs/op", "what"],
                [[name, micro[name], _micro.MICROS[name][0]] for name in micro],
            ),
            "",
        ]
    live = result.get("live")
    if live is not None:
        parts += [_live_run.render(live), ""]
    verdicts = result.get("verdicts") or []
    if verdicts:
        parts += ["## Targets", ""]
        parts.append(
            md_table(
                ["target", "measured", "wanted", "met"],
                [[v["name"], v["measured"], v["target"], v["met"]] for v in verdicts],
            )
        )
        parts.append("")
    errors = result.get("errors") or []
    parts += ["## Correctness", ""]
    if errors:
        parts += [f"- FAILED: {e.splitlines()[0]}" for e in errors]
    else:
        parts.append(
            "Every variant in every round produced the expected chunk count and text length."
        )
    parts.append("")
    return "\n".join(parts)


# --- profiling ---------------------------------------------------------------------------------


def run_profiles(out_dir: Path, scenarios: tuple[tuple[int, int], ...]) -> list[Path]:
    """cProfile the trio_groqstream and floor variants once per scenario; write the top functions
    by own time to text files next to the report."""
    import pstats

    written: list[Path] = []
    server = start_server(sorted({chunks for _, chunks in scenarios}))
    try:
        for streams, chunks in scenarios:
            for variant in ("tgs", "floor"):
                prof = out_dir / f"profile-{variant}-{streams}x{chunks}.prof"
                result = run_child(server, variant, streams, chunks, 600.0, str(prof))
                text_path = prof.with_suffix(".txt")
                with open(text_path, "w") as f:
                    f.write(f"# {variant} {streams}x{chunks}: {json.dumps(result)}\n")
                    stats = pstats.Stats(str(prof), stream=f)
                    stats.sort_stats("tottime").print_stats(40)
                written.append(text_path)
                _log(f"profile written: {text_path}")
    finally:
        server.stop()
    return written


# --- entry -------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmarks: trio_groqstream vs the official groq SDK vs the floor.",
    )
    parser.add_argument("--quick", action="store_true", help="a ~2 minute smoke run")
    parser.add_argument(
        "--only",
        choices=("decode", "e2e", "micro", "live"),
        action="append",
        help="run only these parts (repeatable)",
    )
    parser.add_argument("--rounds", type=int, help="override the number of rounds")
    parser.add_argument(
        "--variants",
        help="e2e variants to run in every scenario, comma-separated (floor always runs); "
        f"known: {', '.join(_e2e.VARIANTS)}",
    )
    parser.add_argument(
        "--profile", action="store_true", help="also cProfile tgs and floor per scenario"
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="where to write the results")
    parser.add_argument(
        "--strict", action="store_true", help="exit 1 when a target is missed (not only on errors)"
    )
    args = parser.parse_args(argv)
    cfg = QUICK if args.quick else FULL
    if args.rounds:
        cfg = Config(**{**cfg.__dict__, "decode_rounds": args.rounds, "e2e_rounds": args.rounds})
    parts = set(args.only or ("decode", "e2e", "micro", "live"))
    variants = set(args.variants.split(",")) if args.variants else None
    unknown = (variants or set()) - set(_e2e.VARIANTS)
    if unknown:
        parser.error(f"unknown variants: {', '.join(sorted(unknown))}")
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    result: dict[str, Any] = {"mode": "quick" if args.quick else "full", "errors": []}
    result["library_at_start"] = library_state()
    if "decode" in parts:
        result["decode"] = run_decode(cfg)
        result["errors"] += result["decode"]["errors"]
    if "e2e" in parts:
        result["e2e"] = run_e2e(cfg, variants=variants)
        result["e2e_summary"] = summarize_e2e(result["e2e"])
        result["errors"] += result["e2e"]["errors"]
    if "micro" in parts:
        result["micro"] = _micro.run_micros(cfg.micro_n, cfg.micro_rounds)
    if "live" in parts:
        result["live"] = _live_run.run_live(_live_run.QUICK if args.quick else _live_run.FULL)
        result["errors"] += result["live"]["errors"]
    verdicts = judge(result.get("decode"), result.get("e2e_summary"))
    if "live" in result:
        verdicts += [
            Verdict(f"live 1,000 events/s: {name} streams vs floor", f"{r:.2f}x", f">= {t:g}x", met)
            for name, r, t, met in _live_run.verdicts(result["live"]["summary"])
        ]
    result["verdicts"] = [v.__dict__ for v in verdicts]
    result["environment"] = environment()
    result["library_at_end"] = library_state()
    result["seconds"] = time.perf_counter() - started
    if args.profile:
        result["profiles"] = [str(p) for p in run_profiles(args.out, cfg.scenarios)]
    report = render(result)
    print(report)
    (args.out / "latest.md").write_text(report)
    with open(args.out / "latest.json", "w") as f:
        json.dump(result, f, indent=1, default=str)
    _log(f"wrote {args.out / 'latest.md'} and latest.json in {result['seconds']:.0f}s")
    if result["errors"]:
        return 1
    if args.strict and any(v.met is False for v in verdicts):
        return 1
    return 0
