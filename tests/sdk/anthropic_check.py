"""Drives adk-llm-proxy's Anthropic Messages API with the official `anthropic` Python SDK.

Run by tests/anthropic_api.rs, which starts the scripted OpenAI-format upstream and the proxy
(with a client key `sk-client`) and passes the proxy's base URL in PROXY_BASE_URL. Exits non-zero
with the failing check's message.
"""

import os
import sys

import anthropic

base = os.environ["PROXY_BASE_URL"].removesuffix("/v1")
client = anthropic.Anthropic(base_url=base, api_key="sk-client", max_retries=0, timeout=20)


def check(condition, message):
    if not condition:
        print(f"FAILED: {message}", file=sys.stderr)
        sys.exit(1)


# non-streaming text
message = client.messages.create(model="text", max_tokens=100, messages=[{"role": "user", "content": "hi"}])
check(message.content[0].type == "text" and message.content[0].text == "Hello!", f"text: {message}")
check(message.stop_reason == "end_turn", f"stop_reason: {message.stop_reason}")
check(message.id.startswith("msg_") and message.model == "text", f"id/model: {message}")
check(message.usage.input_tokens == 9 and message.usage.output_tokens == 3, f"usage: {message.usage}")

# streaming text through the SDK's stream helper
with client.messages.stream(model="text", max_tokens=100, messages=[{"role": "user", "content": "hi"}]) as stream:
    pieces = list(stream.text_stream)
    final = stream.get_final_message()
check("".join(pieces) == "Hello!", f"streamed text: {pieces}")
check(final.content[0].text == "Hello!" and final.stop_reason == "end_turn", f"final: {final}")
check(final.usage.input_tokens == 4 and final.usage.output_tokens == 2, f"stream usage: {final.usage}")

# thinking from a reasoning model: a thinking block before the text
with client.messages.stream(
    model="reason",
    max_tokens=100,
    thinking={"type": "enabled", "budget_tokens": 2048},
    messages=[{"role": "user", "content": "6 times 7?"}],
) as stream:
    events = [event.type for event in stream]
    final = stream.get_final_message()
check([b.type for b in final.content] == ["thinking", "text"], f"blocks: {final.content}")
check(final.content[0].thinking == "Thinking it over.", f"thinking: {final.content[0]}")
check(final.content[0].signature, "a thinking block has a signature")
check(final.content[1].text == "42", f"answer: {final.content[1]}")
check(events[0] == "message_start" and events[-1] == "message_stop", f"event order: {events}")

# a tool_use round trip: the call, then the answer from the client's result
tools = [
    {
        "name": "get_weather",
        "description": "Weather for a city",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    }
]
messages = [{"role": "user", "content": "Weather in Oslo?"}]
with client.messages.stream(model="tools", max_tokens=100, tools=tools, messages=messages) as stream:
    first = stream.get_final_message()
check(first.stop_reason == "tool_use", f"stop_reason: {first.stop_reason}")
calls = [b for b in first.content if b.type == "tool_use"]
check(len(calls) == 1 and calls[0].name == "get_weather", f"tool_use: {first.content}")
check(calls[0].input == {"city": "Oslo"}, f"input: {calls[0].input}")
messages += [
    {"role": "assistant", "content": first.content},
    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": calls[0].id, "content": "sunny"}]},
]
second = client.messages.create(model="tools", max_tokens=100, tools=tools, messages=messages)
check(second.content[0].text == "It is sunny in Oslo.", f"answer after the tool: {second}")

# an agent: its work as thinking, the answer as text
agent = client.messages.create(model="planner", max_tokens=200, messages=[{"role": "user", "content": "hello"}])
kinds = [b.type for b in agent.content]
check(kinds == ["thinking", "text"], f"agent blocks: {kinds}")
check("1. Say hello" in agent.content[0].thinking, f"the plan as thinking: {agent.content[0]}")
check(agent.content[1].text == "Hello from the planner", f"agent answer: {agent.content[1]}")

# the model list in Anthropic's shape: the models and the agents
listed = [model.id for model in client.models.list()]
check("text" in listed or "test-model" in listed, f"models: {listed}")
check("planner" in listed, f"agents listed: {listed}")

# count_tokens: an estimate, positive
count = client.messages.count_tokens(model="text", messages=[{"role": "user", "content": "Hello there, how are you?"}])
check(count.input_tokens > 0, f"count_tokens: {count}")

# errors as the SDK's exception classes
try:
    client.messages.create(model="e429", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    check(False, "e429 did not raise")
except anthropic.RateLimitError as error:
    check(error.body["error"]["type"] == "rate_limit_error", f"429 body: {error.body}")
try:
    client.messages.create(
        model="text", max_tokens=10, messages=[{"role": "user", "content": "hi"}],
        tools=[{"type": "web_search_20250305", "name": "web_search"}],
    )
    check(False, "a server tool was not refused")
except anthropic.BadRequestError as error:
    check("tools[0].type" in error.message, f"400 names the field: {error.message}")
try:
    anthropic.Anthropic(base_url=base, api_key="wrong", max_retries=0).messages.create(
        model="text", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
    )
    check(False, "a wrong key was accepted")
except anthropic.AuthenticationError as error:
    check(error.body["type"] == "error", f"401 body: {error.body}")

print("all checks passed")
