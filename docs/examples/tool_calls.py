"""Tool calls: let the model ask for a function, run it, and stream the final answer.

The stream accumulates tool calls whichever way they arrive (whole in one delta, as Groq usually
sends them, or in OpenAI-style fragments), so read them from ``stream.completion`` at the end.
"""

from __future__ import annotations

import json
from typing import Any

import trio

import trio_groqstream as tgs

MODEL = "llama-3.3-70b-versatile"
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The current weather in a city.",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]


def get_weather(city: str) -> dict[str, Any]:
    return {"city": city, "celsius": 18, "sky": "sunny"}  # a stand-in for a real lookup


async def main() -> None:
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": "What is the weather in Paris right now?"}
    ]
    async with tgs.GroqClient() as client:
        async with tgs.open_stream(client, model=MODEL, messages=messages, tools=TOOLS) as stream:
            async for _chunk in stream:
                pass
        choice = stream.completion.choices[0]
        calls = choice.message.tool_calls or []
        print(f"finish reason: {choice.finish_reason}; {len(calls)} tool call(s)")

        # Echo the assistant's calls back, then one "tool" message per call with its result.
        messages.append(
            {
                "role": "assistant",
                "content": choice.message.content,
                "tool_calls": [
                    {
                        "id": call.id,
                        "type": call.type,
                        "function": {
                            "name": call.function.name,
                            "arguments": call.function.arguments,
                        },
                    }
                    for call in calls
                ],
            }
        )
        for call in calls:
            arguments = json.loads(call.function.arguments)
            print(f"calling {call.function.name}({arguments})")
            result = get_weather(**arguments)
            messages.append(
                {"role": "tool", "tool_call_id": call.id, "content": json.dumps(result)}
            )

        async with tgs.open_stream(client, model=MODEL, messages=messages, tools=TOOLS) as stream:
            async for chunk in stream:
                for delta_choice in chunk.choices:
                    print(delta_choice.delta.content or "", end="", flush=True)
        print()


if __name__ == "__main__":
    trio.run(main)
