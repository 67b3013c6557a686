"""Two fan-outs sharing one concurrency budget and one borrowed, well-sized HTTP client.

A ``trio.CapacityLimiter`` passed as ``limiter=`` bounds the requests in flight across every
fan-out that shares it. The borrowed ``httpx.AsyncClient`` is sized for fan-out: no cap on
connections below the concurrency, and at most 100 idle keep-alive connections (see the fan-out
guide for why more is slower).
"""

from __future__ import annotations

import httpx
import trio

import trio_groqstream as tgs

LIMITS = httpx.Limits(max_connections=None, max_keepalive_connections=100)


def batch(topic: str, count: int) -> list[tgs.ChatRequest]:
    return [
        {
            "model": "llama-3.1-8b-instant",
            "messages": [{"role": "user", "content": f"{topic} fact number {n}, in one line."}],
        }
        for n in range(count)
    ]


async def run_batch(
    client: tgs.GroqClient, limiter: trio.CapacityLimiter, topic: str, count: int
) -> None:
    async with tgs.open_fanout(client, batch(topic, count), limiter=limiter) as fanout:
        async for _event in fanout:
            pass
    done = sum(isinstance(result, tgs.ChatCompletion) for result in fanout.results)
    print(f"{topic}: {done} of {count} done")


async def main() -> None:
    limiter = trio.CapacityLimiter(4)  # 4 requests in flight, whichever batch they belong to
    async with (
        httpx.AsyncClient(limits=LIMITS, timeout=httpx.Timeout(30.0, pool=None)) as http,
        tgs.GroqClient(http_client=http) as client,  # borrows http: closing it is our job
        trio.open_nursery() as nursery,
    ):
        nursery.start_soon(run_batch, client, limiter, "Ocean", 6)
        nursery.start_soon(run_batch, client, limiter, "Volcano", 6)


if __name__ == "__main__":
    trio.run(main)
