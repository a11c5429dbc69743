"""A real MCP client (the official Python SDK, 2.x) against Bollard, driven by tests/it/mcp_sdk.rs.

Usage: mcp_client.py MODE TRANSPORT TARGET KEY
  MODE       auto (probe server/discover, the SDK's default) or legacy (initialize handshake)
  TRANSPORT  http (TARGET is the gateway's /mcp URL) or stdio (TARGET is the bollard binary,
             run as `bollard mcp --url URL` with URL and KEY in its environment)

Prints one JSON object: the protocol version in use, the tools listed, and the outcome of an
allowed and a denied call. Exits non-zero with the error on stderr when anything fails.
"""

import asyncio
import json
import logging
import sys

import httpx2
from mcp.client.client import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client


class Warnings(logging.Handler):
    """Collects the SDK's warnings (say, "Session termination failed: 202")."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.seen: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.seen.append(record.getMessage())


async def main(mode: str, transport: str, target: str, key: str, url: str) -> dict:
    if transport == "http":
        http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"})
        server = streamable_http_client(target, http_client=http)
    else:
        server = StdioServerParameters(
            command=target,
            args=["mcp"],
            env={"BOLLARD_MCP_URL": url, "BOLLARD_AGENT_KEY": key, "RUST_LOG": "warn"},
        )
    warnings = Warnings()
    logging.getLogger().addHandler(warnings)
    out: dict = {}
    async with Client(server, mode=mode) as client:
        out["protocol_version"] = client.protocol_version
        tools = await client.list_tools()
        out["tools"] = [t.name for t in tools.tools]
        out["schemas"] = {t.name: sorted((t.input_schema or {}).get("properties", {}).keys()) for t in tools.tools}
        allowed = await client.call_tool(
            "apollo_mixed_people_api_search", {"person_titles": ["cto"], "per_page": 2}
        )
        out["allowed"] = {
            "is_error": bool(allowed.is_error),
            "has_people": isinstance(allowed.structured_content, dict)
            and "people" in allowed.structured_content,
        }
        # Not in this agent's list: a tool error in the sessions era, "Unknown tool" (a
        # protocol error) in the stateless one.
        try:
            denied = await client.call_tool("apollo_contacts_create", {"first_name": "Ada"})
            out["denied"] = {
                "is_error": bool(denied.is_error),
                "text": " ".join(getattr(c, "text", "") for c in denied.content),
            }
        except Exception as e:  # noqa: BLE001 - the error is the outcome under test
            out["denied"] = {"is_error": True, "protocol_error": True, "text": str(e)}
    out["warnings"] = warnings.seen
    return out


if __name__ == "__main__":
    mode, transport, target, key = sys.argv[1:5]
    url = sys.argv[5] if len(sys.argv) > 5 else ""
    try:
        result = asyncio.run(main(mode, transport, target, key, url))
    except BaseException as e:  # the test prints whatever went wrong
        print(f"{type(e).__name__}: {e}", file=sys.stderr)
        raise
    print(json.dumps(result))
