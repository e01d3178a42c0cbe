"""Runs the OpenAI Agents SDK (`openai-agents`) against adk-llm-proxy's Responses API.

Run by tests/responses_api.rs with PROXY_BASE_URL. An Agent with a function tool runs to
completion on a plain model (the SDK executes the call, the proxy passes it on), and an Agent
whose model is a proxy agent gets the proxy's own tool work as an executed mcp_call it must not
run itself.
"""

import asyncio
import os
import sys

from openai import AsyncOpenAI

from agents import Agent, OpenAIResponsesModel, Runner, function_tool, set_tracing_disabled

set_tracing_disabled(True)
client = AsyncOpenAI(base_url=os.environ["PROXY_BASE_URL"], api_key="sk-client", max_retries=0, timeout=20)


def check(condition, message):
    if not condition:
        print(f"FAILED: {message}", file=sys.stderr)
        sys.exit(1)


ran = []


@function_tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    ran.append(city)
    return f"sunny in {city}"


async def main():
    weather = Agent(
        name="weather",
        instructions="Answer about the weather.",
        tools=[get_weather],
        model=OpenAIResponsesModel(model="tools", openai_client=client),
    )
    result = await Runner.run(weather, "Weather in Oslo?")
    check(ran == ["Oslo"], f"the SDK ran its tool once: {ran}")
    check(result.final_output == "It is sunny in Oslo.", f"final output: {result.final_output!r}")

    streamed = Runner.run_streamed(weather, "Weather in Oslo?")
    async for _ in streamed.stream_events():
        pass
    check(streamed.final_output == "It is sunny in Oslo.", f"streamed: {streamed.final_output!r}")

    proxied = Agent(
        name="front",
        instructions="Be helpful.",
        model=OpenAIResponsesModel(model="assistant", openai_client=client),
    )
    result = await Runner.run(proxied, "Time in Tokyo?")
    check(str(result.final_output).startswith("Answer from"), f"agent answer: {result.final_output!r}")
    kinds = [item.type for item in result.new_items]
    check("tool_call_item" in kinds, f"the proxy's tool call is in the run's items: {kinds}")
    check("tool_call_output_item" not in kinds, f"and the SDK did not run it: {kinds}")
    print("all checks passed")


asyncio.run(main())
