"""Temporal side of bench/compare: the same workloads as drctl's runbooks, as workflows.

Run by bench/compare against a `temporal server start-dev` it started:

    python temporal_bench.py --address 127.0.0.1:PORT --out FILE CASE...

Each CASE is WORKLOAD:STEPS:RUNS with WORKLOAD one of seq, fan, exec. For every run it
appends `WORKLOAD STEPS TOTAL_MS` to FILE; TOTAL_MS is the wall time from the client's
start_workflow to the workflow's result, the worker living in this same process. One
untimed warm-up workflow runs first, so lazy imports and the first sandbox load are not
charged to the first case.

Workloads (STEPS counts the activities each workflow runs):
  seq   STEPS no-op activities, each awaited before the next starts;
  fan   one root activity, STEPS-2 no-op activities at once (asyncio.gather), one join;
  exec  STEPS activities, one after another, each running /bin/true in a subprocess.
"""

import argparse
import asyncio
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker

TASK_QUEUE = "drctl-bench"
TIMEOUT = timedelta(seconds=60)


@activity.defn
async def noop() -> None:
    return None


# A plain (sync) activity, so it runs in the worker's thread pool as blocking work should.
@activity.defn
def run_true() -> None:
    subprocess.run(["/bin/true"], check=True)


@workflow.defn
class Sequential:
    @workflow.run
    async def run(self, steps: int) -> None:
        for _ in range(steps):
            await workflow.execute_activity(noop, start_to_close_timeout=TIMEOUT)


@workflow.defn
class FanOut:
    @workflow.run
    async def run(self, steps: int) -> None:
        await workflow.execute_activity(noop, start_to_close_timeout=TIMEOUT)
        await asyncio.gather(
            *(
                workflow.execute_activity(noop, start_to_close_timeout=TIMEOUT)
                for _ in range(steps - 2)
            )
        )
        await workflow.execute_activity(noop, start_to_close_timeout=TIMEOUT)


@workflow.defn
class Exec:
    @workflow.run
    async def run(self, steps: int) -> None:
        for _ in range(steps):
            await workflow.execute_activity(run_true, start_to_close_timeout=TIMEOUT)


WORKFLOWS = {"seq": Sequential, "fan": FanOut, "exec": Exec}


async def timed_run(client: Client, kind: str, steps: int) -> float:
    wf = WORKFLOWS[kind]
    t0 = time.perf_counter()
    handle = await client.start_workflow(
        wf.run, steps, id=f"bench-{kind}-{uuid.uuid4()}", task_queue=TASK_QUEUE
    )
    await handle.result()
    return (time.perf_counter() - t0) * 1000.0


def parse_case(text: str) -> tuple[str, int, int]:
    kind, steps, runs = text.split(":")
    if kind not in WORKFLOWS:
        raise SystemExit(f"unknown workload {kind!r}")
    return kind, int(steps), int(runs)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--address", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("cases", nargs="+", type=parse_case)
    args = parser.parse_args()

    widest = max(steps for _, steps, _ in args.cases)
    client = await Client.connect(args.address)
    # Every activity of the widest fan-out may run at once: the worker's default cap (100)
    # would otherwise be what the fan-out measures.
    with ThreadPoolExecutor(max_workers=widest) as pool:
        async with Worker(
            client,
            task_queue=TASK_QUEUE,
            workflows=list(WORKFLOWS.values()),
            activities=[noop, run_true],
            activity_executor=pool,
            max_concurrent_activities=widest,
        ):
            await timed_run(client, "seq", 1)  # warm-up, not recorded
            with open(args.out, "a", encoding="utf-8") as out:
                for kind, steps, runs in args.cases:
                    for _ in range(runs):
                        ms = await timed_run(client, kind, steps)
                        out.write(f"{kind} {steps} {ms:.1f}\n")
                        out.flush()
                        print(f"temporal {kind} {steps}: {ms:.1f} ms", file=sys.stderr)


if __name__ == "__main__":
    asyncio.run(main())
