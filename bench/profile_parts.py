#!/usr/bin/env python3
"""Where a folded-stack profile's CPU time went (inferno-collapse-perf
--all output, weights in nanoseconds of cpu-clock), by part of orderly's
request path.

Two views. "Attributed": each sample goes to the part of the deepest frame
that belongs to a part (a buffer allocated for a JSON body counts as
allocation; the JSON code around it as JSON), so the shares add up to
100%. "Passing through": the share of samples whose stack passes through
a part at all; parts nest (everything runs inside hyper and tokio), so
these overlap."""

import re
import sys

# (part, tests of a frame), most specific first: a frame is given to the
# first part whose needle it contains.
PARTS = [
    ("kernel: network I/O, scheduling, interrupts", lambda f: f.endswith("_[k]")),
    ("allocation (mimalloc, Rust's allocator glue)",
     lambda f: f.startswith("mi_") or f.startswith("_mi_") or "mimalloc" in f or "__rust_alloc" in f
     or "__rust_dealloc" in f or "__rust_realloc" in f or "alloc::raw_vec" in f),
    ("memory copies (libc memcpy/memmove/memset)",
     lambda f: f.startswith("__memcpy") or f.startswith("__memmove") or f.startswith("__memset")),
    ("clock reads", lambda f: "clock_gettime" in f or "std::time::" in f or "Instant::now" in f),
    ("log line formatting and writing (tracing-subscriber, our writer)",
     lambda f: "tracing_subscriber::" in f or "orderly::telemetry::log_writer" in f or "tracing_core::" in f
     or "orderly::telemetry::line_layer" in f or "tracing_log::" in f
     or "tracing::span" in f or "tracing_serde" in f),
    ("metrics recording", lambda f: f.startswith("metrics::") or "metrics_util::" in f
     or "metrics_exporter_prometheus::" in f or "orderly::telemetry::metrics" in f),
    ("request tracking (id, span, log line call)", lambda f: "orderly::http::request_tracking" in f
     or "orderly::http::request_context" in f or "orderly::telemetry::request_id" in f or "uuid::" in f),
    ("API-key check", lambda f: "orderly::http::auth" in f or "orderly::app::access" in f or "sha2::" in f),
    ("JSON (serde_json)", lambda f: "serde_json::" in f or "serde::" in f),
    ("PostgreSQL client (tokio-postgres, postgres-protocol)",
     lambda f: "tokio_postgres::" in f or "postgres_protocol::" in f or "postgres_types::" in f),
    ("SQLite (the library, rusqlite)",
     lambda f: f.startswith(("sqlite3", "btree", "pager", "pcache", "vdbe", "wal", "moveTo", "balance",
                             "getPage", "unixRead", "unixWrite", "unixSync", "accessPayload"))
     or "rusqlite::" in f or "libsqlite3_sys::" in f),
    ("orderly: handlers, use cases, storage", lambda f: f.startswith("orderly::") or "<orderly::" in f),
    ("HTTP/1 parsing and writing (hyper, httparse)", lambda f: "hyper::" in f or "httparse::" in f
     or "hyper_util::" in f),
    ("routing and middleware (axum, tower, matchit)", lambda f: "axum::" in f or "tower::" in f
     or "matchit::" in f or "axum_core::" in f or "tower_http::" in f),
    ("tokio: scheduling, wake-ups, I/O driver", lambda f: "tokio::" in f),
]


def part_of(frame: str):
    for name, test in PARTS:
        if test(frame):
            return name
    return None


SYSCALL = re.compile(r"^__(?:x64|se|do)_sys_(\w+?)_\[k\]$")


def kernel_entry(frames):
    """What a kernel sample was doing: the system call it is inside (its
    outermost `__x64_sys_*` frame), else interrupts or softirq work."""
    for f in frames:
        m = SYSCALL.match(f)
        if m:
            return f"system call {m.group(1)}"
    if any("irq" in f or "interrupt" in f for f in frames):
        return "interrupts, softirq"
    return "other kernel"


def main():
    path, scenario = sys.argv[1], sys.argv[2]
    total = 0
    attributed, passing, kernel = {}, {}, {}
    for line in open(path):
        stack, _, weight = line.rstrip().rpartition(" ")
        n = int(weight)
        total += n
        frames = stack.split(";")
        owner = next((p for p in map(part_of, reversed(frames)) if p), "other (unresolved frames, std)")
        attributed[owner] = attributed.get(owner, 0) + n
        if owner.startswith("kernel"):
            entry = kernel_entry(frames)
            kernel[entry] = kernel.get(entry, 0) + n
        for name in {part_of(f) for f in frames} - {None}:
            passing[name] = passing.get(name, 0) + n
    print(f"{scenario}: {total / 1e9:.2f} s of orderly's CPU sampled (perf cpu-clock, 499 Hz, DWARF stacks)")
    print("\nattributed (each sample to the deepest part on its stack; adds up to 100%):")
    for name, n in sorted(attributed.items(), key=lambda kv: -kv[1]):
        print(f"  {100 * n / total:5.1f}%  {name}")
    print("\nthe kernel's share, by what it was doing:")
    for name, n in sorted(kernel.items(), key=lambda kv: -kv[1]):
        print(f"  {100 * n / total:5.1f}%  {name}")
    print("\npassing through (parts nest, so these overlap):")
    for name, _ in PARTS:
        print(f"  {100 * passing.get(name, 0) / total:5.1f}%  {name}")


if __name__ == "__main__":
    main()
