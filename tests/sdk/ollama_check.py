"""Drives adk-llm-proxy's Ollama API with the official `ollama` Python client.

Run by tests/ollama_api.rs, which starts the scripted OpenAI-format upstream and the proxy and
passes the proxy's base URL in PROXY_BASE_URL. Exits non-zero with the failing check's message.
"""

import os
import sys

import ollama

client = ollama.Client(host=os.environ["PROXY_BASE_URL"].removesuffix("/v1"), timeout=20)


def check(condition, message):
    if not condition:
        print(f"FAILED: {message}", file=sys.stderr)
        sys.exit(1)


# list: the models and the agents
names = [m.model for m in client.list().models]
check("planner" in names and "test-model" in names, f"list: {names}")

# chat, not streaming
reply = client.chat(model="text", messages=[{"role": "user", "content": "hi"}], stream=False)
check(reply.message.content == "Hello!" and reply.done, f"chat: {reply}")
check(reply.done_reason == "stop" and reply.eval_count == 3, f"counts: {reply}")

# chat, streaming, with thinking from a reasoning model
parts = list(client.chat(model="reason", messages=[{"role": "user", "content": "6 times 7?"}], think=True, stream=True))
check(parts[-1].done and parts[-1].prompt_eval_count == 7, f"last part: {parts[-1]}")
check("".join(p.message.content for p in parts) == "42", f"streamed content: {parts}")
check("".join(p.message.thinking or "" for p in parts) == "Thinking it over.", f"thinking: {parts}")

# a tool round trip
tools = [{"type": "function", "function": {"name": "get_weather", "description": "Weather",
          "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]
messages = [{"role": "user", "content": "Weather in Oslo?"}]
first = client.chat(model="tools", messages=messages, tools=tools, stream=False)
calls = first.message.tool_calls or []
check(len(calls) == 1 and calls[0].function.name == "get_weather", f"tool call: {first}")
check(calls[0].function.arguments == {"city": "Oslo"}, f"arguments: {calls[0]}")
messages += [first.message, {"role": "tool", "tool_name": "get_weather", "content": "sunny"}]
second = client.chat(model="tools", messages=messages, tools=tools, stream=False)
check(second.message.content == "It is sunny in Oslo.", f"after the tool: {second}")

# an agent: its work as thinking, its answer as content
parts = list(client.chat(model="planner", messages=[{"role": "user", "content": "hello"}], stream=True))
check("1. Say hello" in "".join(p.message.thinking or "" for p in parts), f"agent thinking: {parts}")
check("".join(p.message.content for p in parts) == "Hello from the planner", f"agent answer: {parts}")

# generate
generated = client.generate(model="text", prompt="hi", stream=False)
check(generated.response == "Hello!" and generated.done, f"generate: {generated}")

# errors as the client's ResponseError, with the status
try:
    client.chat(model="e429", messages=[{"role": "user", "content": "hi"}], stream=False)
    check(False, "e429 did not raise")
except ollama.ResponseError as error:
    check(error.status_code == 429, f"status: {error.status_code}")

print("all checks passed")
