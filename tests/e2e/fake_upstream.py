"""A scripted OpenAI-compatible upstream for the Open WebUI end-to-end run (tests/e2e/open_webui.sh).

Streams like a real provider; logs one JSON line per request (to the file in argv[2]) so the run
can count what reached the model and check what the model was sent. Decisions, by request:
- a tool list with `current_time` and no tool result yet: call current_time for Asia/Tokyo;
- a tool list with `fetch_url` and no tool result yet: fetch this server's /page;
- a `transfer_to_agent` tool and a question about code: hand over to code_expert;
- GET /page: a small HTML page; anything else: a short text answer (a title for task prompts).
Usage: python3 fake_upstream.py PORT LOGFILE
"""
import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT, LOG = int(sys.argv[1]), sys.argv[2]


def chunk(delta, finish=None):
    return {"id": "chatcmpl-e2e", "object": "chat.completion.chunk", "created": int(time.time()),
            "model": "e2e-model", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path.startswith("/page"):
            body = b"<!doctype html><html><head><title>Rome</title></head><body><p>Rome has about 900 churches.</p></body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        body = json.dumps({"object": "list", "data": [{"id": "e2e-model", "object": "model", "created": 1, "owned_by": "e2e"}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        request = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        messages = request.get("messages", [])
        tools = [t["function"]["name"] for t in request.get("tools", [])]
        after_tool = bool(messages) and messages[-1].get("role") == "tool"
        last_user = next((m.get("content") for m in reversed(messages) if m.get("role") == "user"), "") or ""
        if isinstance(last_user, list):
            last_user = " ".join(p.get("text", "") for p in last_user if isinstance(p, dict))
        with open(LOG, "a") as log:
            log.write(json.dumps({"tools": tools, "messages": messages, "stream": request.get("stream")}) + "\n")
        call = None
        handed_over = any("transfer_to_agent" in json.dumps(m) for m in messages if m.get("role") != "system")
        if "transfer_to_agent" in tools and "code" in last_user.lower() and not after_tool and not handed_over:
            call = ("transfer_to_agent", {"agent_name": "code_expert"})
        elif "current_time" in tools and not after_tool:
            call = ("current_time", {"timezone": "Asia/Tokyo"})
        elif "fetch_url" in tools and not after_tool:
            call = ("fetch_url", {"url": f"http://127.0.0.1:{PORT}/page"})
        if last_user.lstrip().startswith("### Task:"):
            text = '{"title": "Tokyo Time Check"}' if "title" in last_user.split("\n")[1].lower() else '{"tags": [], "follow_ups": []}'
        elif after_tool:
            text = "It is evening in Tokyo now." if "current_time" in json.dumps(messages[-1]) or "Tokyo" in json.dumps(messages) else "Rome has about 900 churches."
        else:
            text = "Here is the answer."
        if not request.get("stream"):
            message = {"role": "assistant", "content": text}
            body = json.dumps({"id": "chatcmpl-e2e", "object": "chat.completion", "created": int(time.time()), "model": "e2e-model",
                               "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                               "usage": {"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        events = [chunk({"role": "assistant", "content": ""})]
        if call:
            name, args = call
            events.append(chunk({"tool_calls": [{"index": 0, "id": f"call_{int(time.time()*1000)}", "type": "function",
                                                 "function": {"name": name, "arguments": json.dumps(args)}}]}))
            events.append(chunk({}, "tool_calls"))
        else:
            for word in text.split(" "):
                events.append(chunk({"content": word + " "}))
            events.append(chunk({}, "stop"))
        for event in events:
            self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
            self.wfile.flush()
            time.sleep(0.02)
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()


ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
