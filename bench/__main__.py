"""``python -m bench [--full] [--scenarios fanout,idle,orders,pgorders,ingest,city,logins,storm] [--targets hub,…]``."""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import sys
from pathlib import Path

import uvloop

from bench.cluster import Services
from bench.measure import fmt
from bench.runner import Options, run
from bench.scenarios import SCENARIOS
from bench.targets import TARGETS, missing

_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
_REDIS = "redis://127.0.0.1:6379/0"


def _names(value: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip())


def _command(generated_by: str, argv: list[str]) -> str:
    """How docs/benchmarks.md says it was made, e.g. "`make bench` (`python -m bench`)"."""
    shown: list[str] = []
    skip = False
    for arg in argv:
        if skip or arg.startswith("--generated-by="):
            skip = False
            continue
        skip = arg == "--generated-by"
        if not skip:
            shown.append(arg)
    direct = " ".join(["python -m bench", *map(shlex.quote, shown)])
    return f"`{generated_by}` (`{direct}`)" if generated_by else f"`{direct}`"


def _runnable_targets() -> tuple[str, ...]:
    """Every target whose software is installed; a peer that is not is named and left out (not an error)."""
    why = {name: missing(name) for name in TARGETS}
    for name, reason in why.items():
        if reason is not None:
            print(f"bench: leaving out the {name} peer: {reason}", file=sys.stderr)
    return tuple(name for name, reason in why.items() if reason is None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description="FusionX hub benchmarks vs its peers")
    parser.add_argument("--full", action="store_true", help="full sizes (1,000/5,000 subscribers, 10,000 idle)")
    parser.add_argument("--profile", choices=("quick", "full", "smoke"), help="sizes; --full means --profile full")
    parser.add_argument("--scenarios", type=_names, default=tuple(SCENARIOS), help=",".join(SCENARIOS))
    parser.add_argument("--targets", type=_names, help=f"{','.join(TARGETS)} (default: those this machine can run)")
    parser.add_argument("--client-procs", type=int, default=0, help="receiver processes (default: one per client CPU)")
    parser.add_argument("--results", type=Path, help="directory for the JSON results (default bench/results)")
    parser.add_argument("--no-docs", action="store_true", help="do not rewrite docs/benchmarks.md")
    parser.add_argument("--no-ceiling", action="store_true", help="skip the client ceiling measurement")
    parser.add_argument("--generated-by", default="", help="command named in docs/benchmarks.md (the Makefile's)")
    parser.add_argument(
        "--database-url", default=os.environ.get("BENCH_DATABASE_URL", _POSTGRES),
        help=f"city: PostgreSQL where throw-away databases are created (env BENCH_DATABASE_URL; default {_POSTGRES})",
    )  # fmt: skip
    parser.add_argument(
        "--redis-url", default=os.environ.get("BENCH_REDIS_URL", _REDIS),
        help=f"city: Redis for the two-node case, keys under a namespace of the run (env BENCH_REDIS_URL; {_REDIS})",
    )  # fmt: skip
    args = parser.parse_args(argv)
    options = Options(
        profile=args.profile or ("full" if args.full else "quick"),
        scenarios=args.scenarios,
        targets=args.targets or _runnable_targets(),
        client_processes=args.client_procs,
        ceiling=not args.no_ceiling,
        command=_command(args.generated_by, sys.argv[1:] if argv is None else argv),
        services=Services(args.database_url, args.redis_url),
    )
    if args.results is not None:
        options.results_dir = args.results
    if args.no_docs:
        options.docs = None
    try:
        record = uvloop.run(run(options))
    except (asyncio.CancelledError, KeyboardInterrupt):
        print("bench interrupted: every child process was stopped", file=sys.stderr)
        return 130
    for row in record["ratios"]:
        peers = ", ".join(f"{k} {fmt(v, 2)}" for k, v in row.items() if k.startswith("hub/"))
        bound = f"; client-bound: {', '.join(row['client_bound'])}" if row["client_bound"] else ""
        print(f"ratio {row['metric']}: {peers} ({'higher' if row['higher_is_better'] else 'lower'} is better{bound})")
    return 1 if record["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
