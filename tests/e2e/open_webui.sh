#!/usr/bin/env bash
# End-to-end check in a real Open WebUI (issue 12), run by hand — not part of the default CI run:
#   tests/e2e/open_webui.sh            (OUT=target/e2e for screenshots and logs)
# Starts a scripted upstream (tests/e2e/fake_upstream.py), the release proxy with the shipped
# agents plus a `reader` agent with fetch_url, and Open WebUI with its connection sending
# `X-Reasoning-Mode: open_webui`; drives Open WebUI in headless Chromium and checks: the tool card
# with the tool's result, the answer, the hand-over in the status line, a source, that the second
# turn reaches the model as a tool call and a tool message (no markup), and that each of Open
# WebUI's background tasks cost one plain call.
# First use installs Open WebUI into $OWUI_VENV (default ~/.cache/open-webui-venv, ~7 GB),
# Debian's chromium and playwright-core into ~/.cache/playwright-core.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${OUT:-target/e2e}; mkdir -p "$out"; out=$(cd "$out" && pwd)
venv=${OWUI_VENV:-$HOME/.cache/open-webui-venv}
pw=${PW_DIR:-$HOME/.cache/playwright-core}
[ -x "$venv/bin/open-webui" ] || { python3 -m venv "$venv" && "$venv/bin/pip" install -q open-webui; }
command -v chromium >/dev/null || apt-get install -y -qq chromium
[ -d "$pw/node_modules/playwright-core" ] || (mkdir -p "$pw" && cd "$pw" && npm init -y >/dev/null && npm install -q playwright-core@1)
cargo build --release -q

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
up_port=$(free_port); proxy_port=$(free_port); ui_port=$(free_port)
work=$(mktemp -d); pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
wait_port() { for _ in $(seq 1 1200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 never opened" >&2; return 1; }

cp -r agents "$work/agents"
cat > "$work/agents/reader.yaml" <<'YAML'
name: reader
description: Reads web pages and answers from them.
instruction: Read the page the user needs with fetch_url, then answer from it.
tools:
  - name: fetch_url
    args: { allow_private: true }
YAML
cat > "$work/settings.yaml" <<YAML
server: { host: 127.0.0.1, port: $proxy_port }
defaults: { provider: up, model: e2e-model }
providers:
  up: { kind: openai, base_url: "http://127.0.0.1:$up_port/v1" }
agents:
  dir: $work/agents
  prompts_dir: $PWD/prompts
YAML
log="$out/upstream.jsonl"; rm -f "$log"
python3 tests/e2e/fake_upstream.py "$up_port" "$log" & pids+=($!)
target/release/adk-llm-proxy --config "$work/settings.yaml" >"$out/proxy.log" 2>&1 & pids+=($!)
wait_port "$up_port"; wait_port "$proxy_port"
(cd "$work" && exec env DATA_DIR="$work/owui" WEBUI_AUTH=False ENABLE_OLLAMA_API=False \
  OPENAI_API_BASE_URL="http://127.0.0.1:$proxy_port/v1" OPENAI_API_KEY=sk-local \
  OPENAI_API_CONFIGS='{"0": {"headers": {"X-Reasoning-Mode": "open_webui"}}}' \
  HF_HUB_OFFLINE=1 OFFLINE_MODE=True RAG_EMBEDDING_MODEL_AUTO_UPDATE=False \
  BYPASS_EMBEDDING_AND_RETRIEVAL=True ANONYMIZED_TELEMETRY=False \
  "$venv/bin/open-webui" serve --host 127.0.0.1 --port "$ui_port" >"$out/open-webui.log" 2>&1) & pids+=($!)
wait_port "$ui_port"; sleep 5

drive() { NODE_PATH="$pw/node_modules" node tests/e2e/owui_drive.js "http://127.0.0.1:$ui_port" "$@"; }
failures=0
expect() { if grep -qF -- "$2" <<<"$1"; then echo "ok: $3"; else echo "FAILED: $3 (no '$2')"; failures=$((failures+1)); fi; }

page=$(drive assistant "$out/assistant.png" "What time is it in Tokyo?" "Thanks! What did the clock say exactly?")
expect "$page" "View Result from current_time" "assistant: a tool card for current_time"
expect "$page" "Asia/Tokyo" "assistant: the card shows the call's input"
expect "$page" "It is evening in Tokyo now." "assistant: the answer"
calls=$(python3 - "$log" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
agent = [r for r in rows if r["tools"]]
tasks = [r for r in rows if not r["tools"]]
kinds = sorted(r["messages"][-1]["content"].split("\n")[1].split(" ")[0] for r in tasks)
second = next((r for r in agent if any(m.get("content") == "Thanks! What did the clock say exactly?" for m in r["messages"])), None)
roles = [m["role"] for m in second["messages"]] if second else []
ok_second = roles[:6] == ["system", "user", "assistant", "tool", "assistant", "user"] and "<details" not in json.dumps(second["messages"])
print(f"agent_calls={len(agent)} task_calls={len(tasks)} task_kinds={','.join(kinds)} second_turn_ok={ok_second}")
PY
)
echo "$calls"
expect "$calls" "agent_calls=4 " "assistant: two model calls per message, nothing more"
expect "$calls" "second_turn_ok=True" "turn 2 reaches the model as tool call + tool message, no markup"
task_calls=$(sed 's/.*task_calls=\([0-9]*\).*/\1/' <<<"$calls")
[ "$task_calls" -ge 3 ] && echo "ok: background tasks served by $task_calls plain calls (one each)" || { echo "FAILED: background tasks"; failures=$((failures+1)); }
expect "$(grep 'task=\"title\"' "$out/proxy.log" || true)" 'task="title"' "access log names the task"

# One message to `planner`: its two steps plus one plain call per background task.
: >"$log"
page=$(drive planner "$out/planner.png" "Plan a weekend in Rome")
expect "$page" "Here is the answer." "planner: the answer"
counts=$(python3 - "$log" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
steps = [r for r in rows if r["messages"] and r["messages"][0].get("role") == "system"]
tasks = [r["messages"][-1]["content"].split("\n")[1] for r in rows if not (r["messages"] and r["messages"][0].get("role") == "system")]
kinds = sorted("title" if "title" in t else "tags" if "tags" in t else "follow_ups" if "send next" in t else "other" for t in tasks)
print(f"planner_steps={len(steps)} tasks={','.join(kinds)}")
PY
)
echo "$counts"
expect "$counts" "planner_steps=2 tasks=follow_ups,tags,title" "planner: exactly its 2 calls + one plain call per task"

page=$(drive router "$out/router.png" "Please write code that reverses a string")
expect "$page" "Done: router → code_expert" "router: the hand-over in the status line"

page=$(drive reader "$out/reader.png" "How many churches does Rome have? Read the page.")
expect "$page" "View Result from fetch_url" "reader: a tool card for fetch_url"
expect "$page" "1 Source" "reader: the page under Sources"

echo "screenshots and logs in $out"
exit "$failures"
