"""A small MCP server over stdio for tests/mcp.rs (JSON-RPC, one message per line).

Tools: add (a + b), echo_env (the value of $MCP_GREETING), slow (never answers), crash (exits),
hidden (filtered out by the agent's tool_filter). Each start appends a line to $MCP_STARTS_FILE,
so the test can see restarts.
"""

import json
import os
import sys
import time

if os.environ.get("MCP_STARTS_FILE"):
    with open(os.environ["MCP_STARTS_FILE"], "a") as f:
        f.write("start\n")

TOOLS = [
    {"name": "add", "description": "Adds two numbers.",
     "inputSchema": {"type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}}, "required": ["a", "b"]}},
    {"name": "echo_env", "description": "Returns the greeting from the environment.", "inputSchema": {"type": "object", "properties": {}}},
    {"name": "slow", "description": "Never answers.", "inputSchema": {"type": "object", "properties": {}}},
    {"name": "crash", "description": "Exits the server.", "inputSchema": {"type": "object", "properties": {}}},
    {"name": "hidden", "description": "Filtered out.", "inputSchema": {"type": "object", "properties": {}}},
]


def reply(message_id, result=None, error=None):
    body = {"jsonrpc": "2.0", "id": message_id}
    if error is not None:
        body["error"] = error
    else:
        body["result"] = result
    sys.stdout.write(json.dumps(body) + "\n")
    sys.stdout.flush()


for line in sys.stdin:
    line = line.strip()
    if not line:
        continue
    message = json.loads(line)
    method = message.get("method")
    message_id = message.get("id")
    if message_id is None:
        continue  # a notification
    params = message.get("params") or {}
    if method == "initialize":
        reply(message_id, {"protocolVersion": params.get("protocolVersion", "2025-06-18"),
                           "capabilities": {"tools": {}}, "serverInfo": {"name": "test-stdio", "version": "1.0"}})
    elif method == "tools/list":
        reply(message_id, {"tools": TOOLS})
    elif method == "tools/call":
        name = params.get("name")
        args = params.get("arguments") or {}
        if name == "add":
            reply(message_id, {"content": [{"type": "text", "text": str(args["a"] + args["b"])}]})
        elif name == "echo_env":
            reply(message_id, {"content": [{"type": "text", "text": os.environ.get("MCP_GREETING", "")}]})
        elif name == "slow":
            time.sleep(3600)
        elif name == "crash":
            sys.exit(1)
        else:
            reply(message_id, {"content": [{"type": "text", "text": "no such tool"}], "isError": True})
    elif method == "ping":
        reply(message_id, {})
    else:
        reply(message_id, error={"code": -32601, "message": "method not found"})
