"""Lists the proxy's models with the official `openai` SDK (two providers, `up` the default and
`local`, behind it). Run by tests/model_listing.rs with the proxy's base URL in PROXY_BASE_URL."""

import os
import sys

import openai

client = openai.OpenAI(base_url=os.environ["PROXY_BASE_URL"], api_key="unused", max_retries=0, timeout=20)
ids = [model.id for model in client.models.list()]
expected = ["gpt-4o", "up/gpt-4o", "local/llama3.2", "planner", "router"]
missing = [id for id in expected if id not in ids]
if missing:
    print(f"FAILED: {missing} not listed in {ids}", file=sys.stderr)
    sys.exit(1)
print("all checks passed")
