"""chat_prompts: the suggested questions, versioned with the code (no AWS call)."""

import json
from pathlib import Path

from functions.common.api import api_handler
from functions.common.http import make_resolver

app = make_resolver()
PROMPTS = json.loads((Path(__file__).parent.parent / "common" / "chat_prompts.json").read_text())


@app.get("/api/v1/chat/prompts")
def prompts():
    return {"prompts": PROMPTS["prompts"], "version": PROMPTS["version"]}


handler = api_handler(app)
