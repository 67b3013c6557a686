"""Run a job through Groq's Batch API and get the completions back in request order."""

from __future__ import annotations

import trio

import trio_groqstream as tgs

TOPICS = ["latency", "throughput", "backpressure", "jitter"]


def show(job: tgs.BatchJob) -> None:
    counts = job.request_counts
    done = f" ({counts.completed}/{counts.total} done)" if counts else ""
    print(f"batch {job.id}: {job.status}{done}")


async def main() -> None:
    requests = [
        {
            "model": "llama-3.1-8b-instant",
            "messages": [{"role": "user", "content": f"Define {topic} in ten words."}],
            "max_completion_tokens": 60,
        }
        for topic in TOPICS
    ]
    async with tgs.GroqClient() as client:
        # Submit, poll with backoff (bounded here by our own deadline), fetch, match by custom_id.
        # Leaving early (the deadline, Ctrl-C) cancels the batch on Groq's side too.
        with trio.fail_after(48 * 3600):
            results = await tgs.run_batch(
                client, requests, on_error="collect", poll_interval=30, on_progress=show
            )
    for topic, result in zip(TOPICS, results, strict=True):
        if isinstance(result, tgs.ChatCompletion):
            print(f"{topic}: {result.text}")
        else:  # typed as the streaming path types it: BadRequestError, NotFoundError...
            print(f"{topic}: failed: {type(result).__name__}: {result}")


if __name__ == "__main__":
    trio.run(main)
