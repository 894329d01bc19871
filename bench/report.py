"""Turns the JSON lines of one bench/compare run into bench/REPORT.md: medians per target and
workload, and the ratios the issue sets targets for."""

import datetime
import json
import platform
import sys
from collections import defaultdict

from results import machine, median

path, rounds, seconds = sys.argv[1], sys.argv[2], sys.argv[3]
runs = [json.loads(line) for line in open(path)]
groups = defaultdict(list)
for r in runs:
    groups[(r["label"], r["workload"], r["concurrency"])].append(r)


def med(target, workload, conc, field):
    return median(groups.get((target, workload, conc), []), field)


def errors(target, workload, conc):
    total = defaultdict(int)
    for r in groups.get((target, workload, conc), []):
        for k, v in r["errors"].items():
            total[k] += v
    return dict(total) or "none"


cpu, cores, commit = machine()

print("# Cove benchmark report\n")
print(f"Produced by `bench/compare {rounds} {seconds}` on {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, "
      f"commit {commit}, {platform.system()} on {cores} cores ({cpu}). "
      f"Each figure is the median of {rounds} rounds of {seconds} s; the targets alternate within each round, and Cove's four GetItem paths run back to back before its write workload, in an order rotated each round. "
      "Cove runs its release build with default settings (durable commits, SigV4 verified); `cove` signs as the "
      "account's root user, `cove-iam` as an IAM user whose every request is decided by a 10-statement identity policy; `cove-vpce` is the same Cove reached through an interface VPC endpoint's address with EC2's default endpoint policy (its security group checked at accept), `cove-vpce-policy` through a second endpoint whose two-statement policy (an Allow with an ARN pattern and a condition, a Deny) is evaluated on every request; "
      "dynalite runs on disk (`--path`). The floor is `cove-bench floor`: a fixed GetItem answer with no storage. "
      + ("`cove-pg` is Cove on PostgreSQL (the machine's own server, on a database of its own, with `synchronous_commit` on), "
         "whose server CPU counts Cove's process only, not PostgreSQL's.\n"
         if any(label == "cove-pg" for label, _, _ in groups)
         else "The PostgreSQL column was not measured (no COVE_BENCH_POSTGRES_URL or COVE_TEST_POSTGRES_URL).\n"))
print("| target | workload | concurrency | ops/s | p50 ms | p99 ms | p99.9 ms | server CPU µs/op | client CPU µs/op | errors |")
print("|---|---|---|---|---|---|---|---|---|---|")
for workload, conc in [("C", 32), ("A", 32), ("C", 1)]:
    for target in ["floor", "cove", "cove-iam", "cove-vpce", "cove-vpce-policy", "cove-dev", "dynalite", "cove-pg"]:
        if (target, workload, conc) not in groups:
            continue
        print(f"| {target} | {workload} | {conc} | {med(target, workload, conc, 'throughput'):.0f} | "
              f"{med(target, workload, conc, 'latency_ms.p50'):.3f} | {med(target, workload, conc, 'latency_ms.p99'):.3f} | "
              f"{med(target, workload, conc, 'latency_ms.p999'):.3f} | {med(target, workload, conc, 'server_cpu_us_per_op'):.1f} | "
              f"{med(target, workload, conc, 'client_cpu_us_per_op'):.1f} | {errors(target, workload, conc)} |")

print("\n## Where a GetItem's server CPU goes (C@32)\n")
floor_cpu = med("floor", "C", 32, "server_cpu_us_per_op")
dev_cpu = med("cove-dev", "C", 32, "server_cpu_us_per_op")
full_cpu = med("cove", "C", 32, "server_cpu_us_per_op")
print("| layer | µs per GetItem | how it is measured |")
print("|---|---|---|")
print(f"| HTTP/1.1 (hyper, sockets) | {floor_cpu:.1f} | the floor's server CPU |")
print(f"| JSON, wire decoding, engine, storage | {dev_cpu - floor_cpu:.1f} | Cove with `--dev` minus the floor |")
print(f"| SigV4 verification | {full_cpu - dev_cpu:.1f} | Cove minus Cove with `--dev` |")
iam_cpu = med("cove-iam", "C", 32, "server_cpu_us_per_op")
print(f"| policy evaluation (IAM user, 10-statement identity policy) | {iam_cpu - full_cpu:.1f} | "
      "Cove with the IAM user minus Cove with the root user (which needs no evaluation) |")
print("\nThese are wall-clock CPU differences on a shared machine. For a steadier per-layer figure, "
      "`bench/instructions` counts the instructions each layer executes per GetItem under callgrind, "
      "the floor's included: see [INSTRUCTIONS.md](INSTRUCTIONS.md), and [PROFILE.md](PROFILE.md) "
      "for what was cut from the GetItem path, what is left, and the system-call side.")

loads = {r["label"]: r for r in runs if r["workload"] == "Load"}
print("\n## Load\n")
for target, r in loads.items():
    items = r["ops"] * 25
    print(f"- {target}: {r['ops']} BatchWriteItem calls ({items} items) in {r['seconds']:.2f} s = "
          f"{items / r['seconds']:.0f} items/s, errors: {r['errors'] or 'none'}")


def ratio(a, b):
    return a / b if b else float("nan")


rows = [
    ("C@32 throughput, Cove / floor", ratio(med("cove", "C", 32, "throughput"), med("floor", "C", 32, "throughput")), "≥ 0.6"),
    ("C@32 throughput, Cove / dynalite", ratio(med("cove", "C", 32, "throughput"), med("dynalite", "C", 32, "throughput")), "≥ 2"),
    ("C@32 server CPU per op, Cove / floor", ratio(med("cove", "C", 32, "server_cpu_us_per_op"), med("floor", "C", 32, "server_cpu_us_per_op")), "≤ 2"),
    ("C@32 server CPU per op, Cove / dynalite", ratio(med("cove", "C", 32, "server_cpu_us_per_op"), med("dynalite", "C", 32, "server_cpu_us_per_op")), "≤ 0.33"),
    ("A@32 throughput, Cove / floor", ratio(med("cove", "A", 32, "throughput"), med("floor", "A", 32, "throughput")), "≥ 0.4"),
    ("A@32 throughput, Cove / dynalite", ratio(med("cove", "A", 32, "throughput"), med("dynalite", "A", 32, "throughput")), "≥ 2"),
    ("A@32 server CPU per op, Cove / dynalite", ratio(med("cove", "A", 32, "server_cpu_us_per_op"), med("dynalite", "A", 32, "server_cpu_us_per_op")), "≤ 0.33"),
    ("C@1 p99 latency (ms), Cove", med("cove", "C", 1, "latency_ms.p99"), "< 1"),
    ("C@32 server CPU per op, through an interface endpoint (default policy) / regional listener", ratio(med("cove-vpce", "C", 32, "server_cpu_us_per_op"), med("cove", "C", 32, "server_cpu_us_per_op")), "≤ 1.10"),
    ("C@32 server CPU per op, through an interface endpoint (a policy evaluated per request) / regional listener", ratio(med("cove-vpce-policy", "C", 32, "server_cpu_us_per_op"), med("cove", "C", 32, "server_cpu_us_per_op")), "≤ 1.10"),
    ("C@32 server CPU per op, IAM user with a 10-statement policy / root", ratio(med("cove-iam", "C", 32, "server_cpu_us_per_op"), med("cove", "C", 32, "server_cpu_us_per_op")), "≤ 1.10"),
]
if any(label == "cove-pg" for label, _, _ in groups):
    print("\n## PostgreSQL against SQLite\n")
    print("| measure | cove-pg / cove |")
    print("|---|---|")
    for name, workload, conc, field in [
        ("C@32 throughput", "C", 32, "throughput"),
        ("A@32 throughput", "A", 32, "throughput"),
        ("C@1 p99 latency", "C", 1, "latency_ms.p99"),
        ("C@32 Cove server CPU per op", "C", 32, "server_cpu_us_per_op"),
        ("A@32 Cove server CPU per op", "A", 32, "server_cpu_us_per_op"),
    ]:
        print(f"| {name} | {ratio(med('cove-pg', workload, conc, field), med('cove', workload, conc, field)):.2f} |")
    pg_load = loads.get("cove-pg")
    if pg_load and "cove" in loads:
        print(f"| load, items/s | {ratio(loads['cove']['seconds'], pg_load['seconds']):.2f} |")

print("\n## Targets\n")
print("| measure | value | target |")
print("|---|---|---|")
for name, value, target in rows:
    print(f"| {name} | {value:.2f} | {target} |")
