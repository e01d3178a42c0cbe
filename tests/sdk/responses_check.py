"""Drives adk-llm-proxy's Responses API with the official `openai` Python SDK.

Run by tests/responses_api.rs, which starts the scripted upstream and the proxy and passes the
proxy's base URL in PROXY_BASE_URL. Exits non-zero with the failing check's message.
"""

import os
import sys

import openai

client = openai.OpenAI(base_url=os.environ["PROXY_BASE_URL"], api_key="sk-client", max_retries=0, timeout=20)


def check(condition, message):
    if not condition:
        print(f"FAILED: {message}", file=sys.stderr)
        sys.exit(1)


# non-streaming
response = client.responses.create(model="text", input="hi")
check(response.output_text == "Hello!", f"output_text: {response}")
check(response.status == "completed", f"status: {response.status}")
check(response.id.startswith("resp_"), f"id: {response.id}")

# streaming, raw events
events = list(client.responses.create(model="reason", input="hi", stream=True))
types = [e.type for e in events]
check(types[0] == "response.created" and types[-1] == "response.completed", f"event order: {types}")
check([e.sequence_number for e in events] == list(range(len(events))), "sequence numbers")
text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
check(text == "42", f"streamed text: {text!r}")
final = events[-1].response
check(final.output[0].type == "reasoning", f"reasoning item: {final.output[0]}")
check(final.output[0].content[0].text == "Thinking it over.", f"reasoning text: {final.output[0]}")
check(final.usage.output_tokens == 5 and final.usage.input_tokens == 7, f"usage: {final.usage}")

# the stream helper (strict about item identity and completion)
with client.responses.stream(model="text", input="hi") as stream:
    deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
    helper_final = stream.get_final_response()
check("".join(deltas) == "Hello!", f"helper deltas: {deltas}")
check(helper_final.output_text == "Hello!", f"helper final: {helper_final}")

# previous_response_id, and reading a stored response back
follow = client.responses.create(model="text", input="again", previous_response_id=response.id)
check(follow.previous_response_id == response.id, f"previous id: {follow}")
check(client.responses.retrieve(response.id).output_text == "Hello!", "retrieve")
items = client.responses.input_items.list(response.id)
check(items.data[0].content[0].text == "hi", f"input items: {items}")

# a function tool round trip
tools = [{"type": "function", "name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]
first = client.responses.create(model="tools", input="weather in Oslo?", tools=tools)
calls = [item for item in first.output if item.type == "function_call"]
check(len(calls) == 1 and calls[0].name == "get_weather", f"function call: {first.output}")
check(calls[0].arguments == '{"city":"Oslo"}', f"arguments: {calls[0].arguments}")
second = client.responses.create(
    model="tools",
    previous_response_id=first.id,
    input=[{"type": "function_call_output", "call_id": calls[0].call_id, "output": "sunny"}],
    tools=tools,
)
check(second.output_text == "It is sunny in Oslo.", f"after the tool: {second.output_text}")

# streamed function call arguments
with client.responses.stream(model="tools", input="weather?", tools=tools) as stream:
    arg_deltas = [e.delta for e in stream if e.type == "response.function_call_arguments.delta"]
    streamed = stream.get_final_response()
check("".join(arg_deltas) == '{"city":"Oslo"}', f"argument deltas: {arg_deltas}")
check(streamed.output[0].type == "function_call", f"streamed call: {streamed.output}")

# an agent's server-side tool: an mcp_call that carries its output
agent = client.responses.create(model="assistant", input="Time in Tokyo?")
kinds = [item.type for item in agent.output]
check(kinds == ["mcp_call", "message"], f"agent items: {kinds}")
check(agent.output[0].output and "timezone" in agent.output[0].output, f"mcp output: {agent.output[0]}")

# an agent's steps streamed: each agent's thinking a reasoning item, named in its summary
with client.responses.stream(model="planner", input="Say hello") as stream:
    summary = "".join(e.delta for e in stream if e.type == "response.reasoning_summary_text.delta")
    planned = stream.get_final_response()
check(summary == "planning_step: 1. Say hello", f"summary deltas: {summary!r}")
check([item.type for item in planned.output] == ["reasoning", "message"], f"planner items: {planned.output}")
check(planned.output_text == "Hello from the planner", f"planner answer: {planned.output_text!r}")

# errors as the SDK's exception classes
try:
    client.responses.create(model="e429", input="hi")
    check(False, "429 raised nothing")
except openai.RateLimitError:
    pass
try:
    client.responses.create(model="text", input="hi", tools=[{"type": "web_search_preview"}])
    check(False, "hosted tool raised nothing")
except openai.BadRequestError as error:
    check(error.param == "tools[0].type", f"400 names the field: {error.param}")
try:
    client.responses.retrieve("resp_missing")
    check(False, "missing response raised nothing")
except openai.NotFoundError:
    pass

print("all checks passed")
