"""chat_prompts: the suggested questions, versioned with the code (one AWS call: the
account check every authorized route makes, common/accounts.py)."""

import json
from pathlib import Path

from functions.common.api import api_handler
from functions.common.http import caller_id, make_resolver

app = make_resolver()
PROMPTS = json.loads((Path(__file__).parent.parent / "common" / "chat_prompts.json").read_text())


@app.get("/api/v1/chat/prompts")
def prompts():
    caller_id(app)  # a deleted account's token stops here, whatever the authorizer cache says
    return {"prompts": PROMPTS["prompts"], "version": PROMPTS["version"]}


handler = api_handler(app)
