"""Model providers behind one interface: `converse(system, messages, tool)` returns a
Bedrock Converse response whose reply is a forced tool call.

`BedrockProvider` calls Amazon Bedrock, the only provider a Lambda archive holds. A
process that runs the functions itself (the local stack, tests) may `install` another
implementation of `Provider` in its place: the local stack's offline analyser
(local/offline/) is one, and product code never imports it.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Protocol

import boto3
from botocore.config import Config


class Provider(Protocol):
    model_id: str

    def converse(self, *, system: str, messages: list[dict], tool: dict, timeout_s: float) -> dict:
        """One model call that gives up after `timeout_s` (raising botocore's timeout errors)."""


class InputError(Exception):
    """The job's input cannot be analysed; `code` is the job's error code, `reason` the
    finer cause for metrics and logs (a short fixed word, never content: nothing about
    the user's file goes into the exception, so nothing can leak from it)."""

    def __init__(self, code: str, reason: str = ""):
        self.code = code
        self.reason = reason or code
        super().__init__(f"{code} ({self.reason})")


MAX_OUTPUT_TOKENS = 4096  # the most one reply may bill (and the cost model's worst case: cost/abuse.py)
MAX_READ_TIMEOUT_S = 120  # the longest a model call may take, when the deadline allows it


class BedrockProvider:
    def __init__(self, model_id: str):
        self.model_id = model_id
        self._client = self._client_for(MAX_READ_TIMEOUT_S)

    @staticmethod
    @lru_cache(maxsize=8)
    def _client_for(read_timeout_s: int):
        # botocore fixes timeouts per client: one client per whole second left (a few per
        # container at most). One attempt per call, the process function retries itself:
        # `total_max_attempts`, since botocore's `max_attempts` counts retries after the first.
        return boto3.client(
            "bedrock-runtime",
            config=Config(
                connect_timeout=min(5, read_timeout_s),
                read_timeout=read_timeout_s,
                retries={"mode": "standard", "total_max_attempts": 1},
            ),
        )

    def converse(self, *, system: str, messages: list[dict], tool: dict, timeout_s: float = MAX_READ_TIMEOUT_S) -> dict:
        client = self._client_for(max(1, min(MAX_READ_TIMEOUT_S, int(timeout_s))))
        return client.converse(
            modelId=self.model_id,
            system=[{"text": system}],
            messages=messages,
            toolConfig={"tools": [tool], "toolChoice": {"tool": {"name": tool["toolSpec"]["name"]}}},
            inferenceConfig={"maxTokens": MAX_OUTPUT_TOKENS, "temperature": 0.0},
        )


_installed: Provider | None = None


def install(replacement: Provider | None) -> None:
    """Answers every later model call of this process with `replacement` instead of
    Bedrock; None puts Bedrock back. Called by whoever runs the functions outside Lambda
    (local/offline.install), never by the functions themselves."""
    global _installed
    _installed = replacement


def provider() -> Provider:
    return _installed if _installed is not None else _bedrock()


@lru_cache(maxsize=1)
def _bedrock() -> BedrockProvider:
    return BedrockProvider(os.environ["BEDROCK_MODEL_ID"])


def tool_input(response: dict, tool_name: str) -> dict:
    """The input of the forced tool call; KeyError when the reply holds none."""
    for block in response["output"]["message"]["content"]:
        use = block.get("toolUse")
        if use and use.get("name") == tool_name:
            return use["input"]
    raise KeyError(f"no {tool_name} tool call in the reply")
