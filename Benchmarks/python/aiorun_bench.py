"""The Python aiorun 2025.1.1 side of the benchmarks: the same workloads as the AioRun plugins.

    python aiorun_bench.py sleepers N         N tasks sleeping an hour; BENCH-READY; SIGTERM stops
    python aiorun_bench.py shields COUNT MS   COUNT shutdown_waits_for of an MS ms sleep;
                                              BENCH-READY due=<CLOCK_MONOTONIC ns>
    python aiorun_bench.py executor JOBS WINDOW
                                              JOBS no-op run_in_executor jobs from WINDOW callers;
                                              BENCH-ELAPSED ns=<ns>, then loop.stop()
    python aiorun_bench.py empty              an empty main; BENCH-READY
"""
import asyncio
import sys
import time

from aiorun import run, shutdown_waits_for


def say(line):
    print(line, flush=True)


async def sleepers(count):
    tasks = [asyncio.create_task(asyncio.sleep(3600)) for _ in range(count)]
    say("BENCH-READY")
    # main returns; aiorun keeps the loop (and the tasks) running until the signal.
    return tasks


async def shields(count, millis):
    state = {"count": 0, "due": 0}

    async def nap():
        due = time.monotonic_ns() + millis * 1_000_000
        state["count"] += 1
        state["due"] = max(state["due"], due)
        if state["count"] == count:
            say(f"BENCH-READY due={state['due']}")
        await asyncio.sleep(millis / 1000)

    async def caller():
        try:
            await shutdown_waits_for(nap())
        except asyncio.CancelledError:
            pass

    global _callers
    _callers = [asyncio.create_task(caller()) for _ in range(count)]


def noop():
    pass


async def executor(jobs, window):
    loop = asyncio.get_running_loop()

    async def caller(share):
        for _ in range(share):
            await loop.run_in_executor(None, noop)

    start = time.perf_counter_ns()
    await asyncio.gather(*(caller(jobs // window + (i < jobs % window)) for i in range(window)))
    say(f"BENCH-ELAPSED ns={time.perf_counter_ns() - start}")
    loop.stop()


async def empty():
    say("BENCH-READY")


def main():
    mode, args = sys.argv[1], [int(a) for a in sys.argv[2:]]
    coro = {"sleepers": sleepers, "shields": shields, "executor": executor, "empty": empty}[mode](*args)
    run(coro)


if __name__ == "__main__":
    main()
