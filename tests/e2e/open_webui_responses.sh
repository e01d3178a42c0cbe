#!/usr/bin/env bash
# End-to-end check of the Responses API in a real Open WebUI (issue 13), run by hand — not part
# of the default CI run:   tests/e2e/open_webui_responses.sh   (OUT=target/e2e-responses)
# Starts the scripted upstream (tests/e2e/fake_upstream.py), the release proxy with the shipped
# agents, and Open WebUI twice with its connection in Responses mode (`api_type: responses`):
#   1. with `X-Reasoning-Mode: open_webui` on the connection: the agent's server-side call comes
#      as a function_call + function_call_output pair, which Open WebUI draws as its own tool card;
#   2. without it (mcp_call items, what SDK clients get): the answer shows and a second turn works.
# In both, `assistant` is asked for the time in Tokyo, then a second turn; the scripted upstream's
# log shows what reached the model on the second turn (the earlier call as history, run once).
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${OUT:-target/e2e-responses}; mkdir -p "$out"; out=$(cd "$out" && pwd)
venv=${OWUI_VENV:-$HOME/.cache/open-webui-venv}
pw=${PW_DIR:-$HOME/.cache/playwright-core}
[ -x "$venv/bin/open-webui" ] || { python3 -m venv "$venv" && "$venv/bin/pip" install -q open-webui; }
command -v chromium >/dev/null || apt-get install -y -qq chromium
[ -d "$pw/node_modules/playwright-core" ] || (mkdir -p "$pw" && cd "$pw" && npm init -y >/dev/null && npm install -q playwright-core@1)
cargo build --release -q

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
up_port=$(free_port); proxy_port=$(free_port)
work=$(mktemp -d); pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
wait_port() { for _ in $(seq 1 1200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 never opened" >&2; return 1; }

cat > "$work/settings.yaml" <<YAML
server: { host: 127.0.0.1, port: $proxy_port }
defaults: { provider: up, model: e2e-model }
providers:
  up: { kind: openai, base_url: "http://127.0.0.1:$up_port/v1" }
agents:
  dir: $PWD/agents
  prompts_dir: $PWD/prompts
YAML
log="$out/upstream.jsonl"; rm -f "$log"
python3 tests/e2e/fake_upstream.py "$up_port" "$log" & pids+=($!)
target/release/adk-llm-proxy --config "$work/settings.yaml" >"$out/proxy.log" 2>&1 & pids+=($!)
wait_port "$up_port"; wait_port "$proxy_port"

failures=0
expect() { if grep -qF -- "$2" <<<"$1"; then echo "ok: $3"; else echo "FAILED: $3 (no '$2')"; failures=$((failures+1)); fi; }
second_turn() {
  python3 - "$log" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
agent = [r for r in rows if r["tools"]]
second = next((r for r in agent if any(m.get("content") == "Thanks! And in an hour?" for m in r["messages"])), None)
roles = [m["role"] for m in second["messages"]] if second else []
print(f"agent_calls={len(agent)} second_roles={','.join(roles[:6])}")
PY
}

for style in open_webui mcp_call; do
  ui_port=$(free_port)
  if [ "$style" = open_webui ]; then
    configs='{"0": {"api_type": "responses", "headers": {"X-Reasoning-Mode": "open_webui"}}}'
  else
    configs='{"0": {"api_type": "responses"}}'
  fi
  (cd "$work" && exec env DATA_DIR="$work/owui-$style" WEBUI_AUTH=False ENABLE_OLLAMA_API=False \
    OPENAI_API_BASE_URL="http://127.0.0.1:$proxy_port/v1" OPENAI_API_KEY=sk-local \
    OPENAI_API_CONFIGS="$configs" \
    HF_HUB_OFFLINE=1 OFFLINE_MODE=True RAG_EMBEDDING_MODEL_AUTO_UPDATE=False \
    BYPASS_EMBEDDING_AND_RETRIEVAL=True ANONYMIZED_TELEMETRY=False \
    "$venv/bin/open-webui" serve --host 127.0.0.1 --port "$ui_port" >"$out/open-webui-$style.log" 2>&1) & ui_pid=$!
  pids+=($ui_pid)
  wait_port "$ui_port"; sleep 5
  : >"$log"
  page=$(NODE_PATH="$pw/node_modules" node tests/e2e/owui_drive.js "http://127.0.0.1:$ui_port" assistant \
    "$out/assistant-$style.png" "What time is it in Tokyo?" "Thanks! And in an hour?")
  echo "$page" >"$out/page-$style.txt"
  expect "$page" "It is evening in Tokyo now." "$style: the answer"
  if [ "$style" = open_webui ]; then
    expect "$page" "current_time" "$style: Open WebUI's tool card for current_time"
  fi
  turns=$(second_turn); echo "$turns"
  expect "$turns" "second_roles=system,user,assistant,tool,assistant,user" "$style: turn 2 has the call as history (assistant tool_calls + tool)"
  expect "$turns" "agent_calls=4 " "$style: two model calls per message, the tool not run again"
  # Each agent's thinking is a reasoning item: Open WebUI shows it as a collapsed thought.
  page=$(NODE_PATH="$pw/node_modules" node tests/e2e/owui_drive.js "http://127.0.0.1:$ui_port" planner \
    "$out/planner-$style.png" "Plan a weekend in Rome")
  echo "$page" >"$out/page-planner-$style.txt"
  expect "$page" "Here is the answer." "$style: planner's answer"
  expect "$page" "planning_step: " "$style: planner's plan as a thought, the agent named"
  kill "$ui_pid" 2>/dev/null || true
done
grep -q 'path="/v1/responses"' "$out/proxy.log" && echo "ok: served on /v1/responses" || { echo "FAILED: no /v1/responses in the access log"; failures=$((failures+1)); }
echo "screenshots and logs in $out"
exit "$failures"
