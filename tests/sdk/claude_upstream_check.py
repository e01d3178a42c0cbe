"""Claude models behind adk-llm-proxy (`kind: anthropic`), driven with the official SDKs.

Run by tests/anthropic_provider.rs, which starts a scripted Anthropic API (provider `claude`) and
the proxy, and passes the proxy's base URL in PROXY_BASE_URL. The scripted API refuses a tool-use
turn that comes back without its signed thinking, as Anthropic does. Exits non-zero with the
failing check's message.
"""

import json
import os
import sys

import anthropic
import openai

base = os.environ["PROXY_BASE_URL"]
chat = openai.OpenAI(base_url=base, api_key="unused", max_retries=0, timeout=20)
claude = anthropic.Anthropic(base_url=base.removesuffix("/v1"), api_key="unused", max_retries=0, timeout=20)


def check(condition, message):
    if not condition:
        print(f"FAILED: {message}", file=sys.stderr)
        sys.exit(1)


def signature_for(call_id):
    return f"EqQBCkYIBxgCKkD-{call_id}-signed"


TOOLS = [
    {"type": "function", "function": {"name": n, "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}
    for n in ("get_weather", "get_time")
]

# The OpenAI SDK's tool loop on a Claude model with thinking: three turns, the client never
# keeping the reasoning.
messages = [{"role": "user", "content": "Weather and time in Oslo?"}]
for expected_call, result in (("toolu_weather", "sunny"), ("toolu_time", "12:00")):
    stream = chat.chat.completions.create(
        model="claude/claude-think", messages=messages, tools=TOOLS, reasoning_effort="low", stream=True
    )
    reasoning, calls, finish = "", {}, None
    for chunk in stream:
        if not chunk.choices:
            continue
        choice = chunk.choices[0]
        finish = choice.finish_reason or finish
        reasoning += getattr(choice.delta, "reasoning_content", None) or ""
        for call in choice.delta.tool_calls or []:
            entry = calls.setdefault(call.index, {"id": call.id, "name": call.function.name, "arguments": ""})
            entry["arguments"] += call.function.arguments or ""
    check(finish == "tool_calls", f"finish: {finish}")
    check(reasoning, "thinking arrives as reasoning_content")
    call = calls[0]
    check(call["id"] == expected_call, f"call: {call}")
    check(json.loads(call["arguments"]) == {"city": "Oslo"}, f"arguments: {call}")
    messages.append({"role": "assistant", "content": None, "tool_calls": [
        {"id": call["id"], "type": "function", "function": {"name": call["name"], "arguments": call["arguments"]}}]})
    messages.append({"role": "tool", "tool_call_id": call["id"], "content": result})
final = chat.chat.completions.create(model="claude/claude-think", messages=messages, tools=TOOLS, reasoning_effort="low")
check(final.choices[0].message.content == "Sunny in Oslo, and it is noon.", f"final: {final}")
check(final.choices[0].finish_reason == "stop", f"finish: {final.choices[0].finish_reason}")
check(final.usage.prompt_tokens == 35 and final.usage.completion_tokens == 15, f"usage: {final.usage}")

# The Anthropic SDK on a Claude model: passed through, the SDK's own thinking blocks (with their
# real signatures) sent back by the SDK user, as Anthropic's docs show.
history = [{"role": "user", "content": "Weather and time in Oslo?"}]
anthropic_tools = [{"name": n, "input_schema": {"type": "object"}} for n in ("get_weather", "get_time")]
for expected_call, result in (("toolu_weather", "sunny"), ("toolu_time", "12:00")):
    with claude.messages.stream(
        model="claude/claude-think", max_tokens=2048, tools=anthropic_tools,
        thinking={"type": "enabled", "budget_tokens": 1024}, messages=history,
    ) as stream:
        reply = stream.get_final_message()
    kinds = [b.type for b in reply.content]
    check(kinds == ["thinking", "tool_use"], f"blocks: {kinds}")
    check(reply.content[0].signature == signature_for(expected_call), f"signature: {reply.content[0]}")
    check(reply.content[1].id == expected_call and reply.content[1].input == {"city": "Oslo"}, f"tool_use: {reply.content[1]}")
    check(reply.stop_reason == "tool_use", f"stop_reason: {reply.stop_reason}")
    history.append({"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in reply.content]})
    history.append({"role": "user", "content": [{"type": "tool_result", "tool_use_id": expected_call, "content": result}]})
reply = claude.messages.create(
    model="claude/claude-think", max_tokens=2048, tools=anthropic_tools,
    thinking={"type": "enabled", "budget_tokens": 1024}, messages=history,
)
check([b.type for b in reply.content] == ["thinking", "text"], f"final blocks: {reply.content}")
check(reply.content[1].text == "Sunny in Oslo, and it is noon.", f"final text: {reply.content[1]}")
check(reply.usage.input_tokens == 25 and reply.usage.cache_read_input_tokens == 10, f"usage: {reply.usage}")

# Overloaded, passed through: the SDK raises its own exception class for 529.
try:
    claude.messages.create(model="claude/claude-529", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    check(False, "claude-529 should fail")
except anthropic.APIStatusError as error:
    check(error.status_code == 529, f"status: {error.status_code}")
    check(error.body["error"]["type"] == "overloaded_error", f"body: {error.body}")

# The OpenAI SDK lists Claude models beside the default provider's.
ids = [m.id for m in chat.models.list()]
check("claude/claude-think" in ids and "claude/claude-text" in ids, f"models: {ids}")

print("all checks passed")
