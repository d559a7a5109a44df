"""Prefect side of bench/compare: the same workloads as drctl's runbooks, as flows.

Run by bench/compare with PREFECT_API_URL pointing at a `prefect server start` it started
(local SQLite under PREFECT_HOME):

    python prefect_bench.py --out FILE CASE...

Each CASE is WORKLOAD:STEPS:RUNS with WORKLOAD one of seq, fan, exec. For every run it
appends `WORKLOAD STEPS TOTAL_MS` to FILE; TOTAL_MS is the wall time of the flow call,
which creates the flow run on the server, runs its task runs (each one tracked) and
returns. One untimed warm-up flow runs first, so lazy imports and the first client setup
are not charged to the first case.

Workloads (STEPS counts the task runs of each flow):
  seq   STEPS no-op tasks, each called in the flow and so finished before the next;
  fan   one root task, STEPS-2 no-op tasks by `.map` (default thread-pool runner), one
        join after all of them;
  exec  STEPS tasks, one after another, each running /bin/true with subprocess.run.

Each task gets its index as input so that no call could be served from another's cache;
everything else is Prefect's default.
"""

import argparse
import subprocess
import sys
import time

from prefect import flow, task


@task
def noop(i: int) -> None:
    return None


@task
def run_true(i: int) -> None:
    subprocess.run(["/bin/true"], check=True)


@flow
def sequential(steps: int) -> None:
    for i in range(steps):
        noop(i)


@flow
def fan_out(steps: int) -> None:
    noop(-1)
    futures = noop.map(range(steps - 2))
    futures.result()  # waits for every one, raises if any failed
    noop(-2)


@flow
def exec_true(steps: int) -> None:
    for i in range(steps):
        run_true(i)


FLOWS = {"seq": sequential, "fan": fan_out, "exec": exec_true}


def timed_run(kind: str, steps: int) -> float:
    t0 = time.perf_counter()
    FLOWS[kind](steps)
    return (time.perf_counter() - t0) * 1000.0


def parse_case(text: str) -> tuple[str, int, int]:
    kind, steps, runs = text.split(":")
    if kind not in FLOWS:
        raise SystemExit(f"unknown workload {kind!r}")
    return kind, int(steps), int(runs)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("cases", nargs="+", type=parse_case)
    args = parser.parse_args()

    timed_run("seq", 1)  # warm-up, not recorded
    with open(args.out, "a", encoding="utf-8") as out:
        for kind, steps, runs in args.cases:
            for _ in range(runs):
                ms = timed_run(kind, steps)
                out.write(f"{kind} {steps} {ms:.1f}\n")
                out.flush()
                print(f"prefect {kind} {steps}: {ms:.1f} ms", file=sys.stderr)


if __name__ == "__main__":
    main()
