"""Drives adk-llm-proxy with the official `openai` Python SDK.

Run by tests/openai_sdk.rs, which starts the fake upstream and the proxy and passes the proxy's
base URL in PROXY_BASE_URL. The fake answers by model name: text, tools, reason, e400, e429, e500.
Exits non-zero (with the failing check's message) on the first broken expectation.
"""

import os
import sys

import openai

base_url = os.environ["PROXY_BASE_URL"]
client = openai.OpenAI(base_url=base_url, api_key="sk-client", max_retries=0, timeout=20)


def check(condition, message):
    if not condition:
        print(f"FAILED: {message}", file=sys.stderr)
        sys.exit(1)


# models.list
ids = [m.id for m in client.models.list()]
check("test-model" in ids and "up-a" in ids, f"models.list ids: {ids}")
check("planner" in ids, f"agents are models: {ids}")

# non-stream
completion = client.chat.completions.create(model="text", messages=[{"role": "user", "content": "hi"}])
check(completion.choices[0].message.content == "Hello!", f"non-stream content: {completion}")
check(completion.usage.total_tokens == 12, f"non-stream usage: {completion.usage}")

# stream with include_usage
stream = client.chat.completions.create(
    model="text",
    messages=[{"role": "user", "content": "hi"}],
    stream=True,
    stream_options={"include_usage": True},
)
chunks = list(stream)
text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
check(text == "Hello!", f"stream text: {text!r}")
check(chunks[0].choices[0].delta.role == "assistant", "first delta has role")
check(chunks[-1].choices == [] and chunks[-1].usage.total_tokens == 6, f"usage chunk: {chunks[-1]}")
check(len({c.id for c in chunks}) == 1, "stable id")

# tool calls, streaming (assembled the way SDK users do) and not
tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]
calls = {}
finish = None
for c in client.chat.completions.create(model="tools", messages=[{"role": "user", "content": "weather?"}], tools=tools, stream=True):
    for choice in c.choices:
        finish = choice.finish_reason or finish
        for tc in choice.delta.tool_calls or []:
            entry = calls.setdefault(tc.index, {"id": None, "name": None, "arguments": ""})
            entry["id"] = tc.id or entry["id"]
            if tc.function:
                entry["name"] = tc.function.name or entry["name"]
                entry["arguments"] += tc.function.arguments or ""
check(finish == "tool_calls", f"stream finish_reason: {finish}")
check(calls.get(0) == {"id": "call_abc", "name": "get_weather", "arguments": '{"city":"Oslo"}'}, f"stream tool calls: {calls}")
whole = client.chat.completions.create(model="tools", messages=[{"role": "user", "content": "weather?"}], tools=tools)
tool_call = whole.choices[0].message.tool_calls[0]
check(tool_call.id == "call_abc" and tool_call.function.arguments == '{"city":"Oslo"}', f"non-stream tool call: {whole}")

# a llama.cpp-style upstream repeats the name in every fragment; the SDK's own accumulator
# (the stream helper) must still see one name
with client.chat.completions.stream(model="llama", messages=[{"role": "user", "content": "weather?"}], tools=tools) as s:
    final = s.get_final_completion()
llama_call = final.choices[0].message.tool_calls[0]
check(llama_call.function.name == "get_weather", f"accumulated name: {llama_call.function.name!r}")
check(llama_call.function.arguments == '{"city": "Oslo"}', f"accumulated arguments: {llama_call.function.arguments!r}")
check(llama_call.id == "call__0_get_weather_cmpl-1", f"accumulated id: {llama_call.id!r}")

# reasoning_content arrives in the delta's extra fields
reasoning = ""
content = ""
for c in client.chat.completions.create(model="reason", messages=[{"role": "user", "content": "?"}], stream=True):
    if c.choices:
        delta = c.choices[0].delta
        reasoning += (delta.model_extra or {}).get("reasoning_content") or ""
        content += delta.content or ""
check(reasoning == "Thinking it over.", f"reasoning_content: {reasoning!r}")
check(content == "42", f"content after reasoning: {content!r}")

# the shipped planner agent: the plan streams live as reasoning_content, the answer as content
reasoning = ""
content = ""
last = None
for c in client.chat.completions.create(model="planner", messages=[{"role": "user", "content": "hi"}], stream=True, stream_options={"include_usage": True}):
    last = c
    if c.choices:
        delta = c.choices[0].delta
        reasoning += (delta.model_extra or {}).get("reasoning_content") or ""
        content += delta.content or ""
check("[planning_step] 1. Say hello\n2. Be brief" in reasoning, f"planner reasoning: {reasoning!r}")
check(content == "Hello from the planner", f"planner content: {content!r}")
check(last.usage.total_tokens == 13, f"planner usage sums both model calls: {last.usage}")
whole = client.chat.completions.create(model="planner", messages=[{"role": "user", "content": "hi again"}])
check(whole.choices[0].message.content == "Hello from the planner", f"planner non-stream: {whole}")
check("1. Say hello" in (whole.choices[0].message.model_extra or {}).get("reasoning_content", ""), f"planner non-stream reasoning: {whole}")

# error classes
for model, cls, status in [("e400", openai.BadRequestError, 400), ("e429", openai.RateLimitError, 429), ("e500", openai.InternalServerError, 500)]:
    try:
        client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])
        check(False, f"{model} should raise")
    except cls as error:
        check(error.status_code == status, f"{model} status {error.status_code}")
        check(f"upstream {status}" in str(error.message), f"{model} message: {error.message}")

# the proxy's own validation error is a BadRequestError too
try:
    client.chat.completions.create(model="text", messages=[])
    check(False, "empty messages should raise")
except openai.BadRequestError as error:
    check(error.body.get("param") == "messages", f"param: {error.body}")

print("openai SDK compatibility: all checks passed")
