"""The third-party Apollo MCP server `mcparmory-apollo` (pinned by tests/it/clients.rs), run
over stdio with its BASE_URL at Bollard and the agent's Bollard key as its API_KEY, every
tool called once with arguments drawn from its own input schema. Prints one JSON object per
tool: whether it was an error, and its text.

    python mcparmory_client.py SERVER_COMMAND BOLLARD_URL AGENT_KEY FIXTURES_JSON
"""

import asyncio
import json
import os
import sys

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client


def value_for(tool: str, name: str, schema: dict, f: dict):
    """A plausible value for argument `name` of `tool`, from the sandbox's fixtures."""
    by_tool = {
        ("get_organization", "id"): f["organization"],
        ("get_account", "id"): f["account"],
        ("update_call", "id"): f["call"],
        ("get_email_activities", "id"): f["message"],
        ("activate_email_sequence", "sequence_id"): f["inactive_sequence"],
        ("abort_email_sequence", "sequence_id"): f["inactive_sequence"],
        ("archive_sequence", "sequence_id"): f["inactive_sequence"],
    }
    if (tool, name) in by_tool:
        return by_tool[(tool, name)]
    ids = {
        "contact_id": f["contact"], "account_id": f["account"], "organization_id": f["organization"],
        "opportunity_id": f["deal"], "sequence_id": f["sequence"], "user_id": f["user"],
        "owner_id": f["user"], "contact_stage_id": f["contact_stage"],
        "send_email_from_email_account_id": f["email_account"], "emailer_campaign_id": f["sequence"],
        "domain": "example.com", "name": "Sandbox Co", "email": "nobody@example.com",
        "first_name": "Ada", "last_name": "Lovelace", "label": "Renewal owner",
        "due_at": "2026-12-24T09:00:00Z", "status": "scheduled", "mode": "stop",
        "amount": "1000", "closed_date": "2026-12-31", "type": None, "modality": "contact",
    }
    lists = {
        "contact_ids": [f["contact"]], "account_ids": [f["account"]], "domains": ["example.com"],
        "emailer_campaign_ids": [f["sequence"]], "organization_ids": [f["organization"]],
        "details": [{"email": "nobody@example.com"}],
        "contacts": [{"first_name": "Ada", "last_name": "Bulk"}],
        "accounts": [{"name": "Bulk Co"}],
        "contact_attributes": [{"id": f["contact"], "title": "CTO"}],
        "account_attributes": [{"id": f["account"], "name": "Renamed"}],
    }
    if name in lists:
        return lists[name]
    if "enum" in schema:
        return ids.get(name) if ids.get(name) in schema["enum"] else schema["enum"][0]
    if ids.get(name) is not None:
        return ids[name]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if "anyOf" in schema:
        first = next((s for s in schema["anyOf"] if s.get("type") != "null"), {})
        return value_for(tool, name, first, f)
    return {"integer": 1, "number": 1, "boolean": False, "array": ["x"], "object": {}}.get(kind, "Sandbox")


async def main() -> None:
    command, base, key, f = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
    env = dict(os.environ, BASE_URL=base, API_KEY=key, LOG_LEVEL="ERROR", MAX_RETRIES="0")
    server = StdioServerParameters(
        command=command, args=["--no-retry", "--rate-limiting", "disabled"], env=env
    )
    out = []
    async with stdio_client(server) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            tools = (await session.list_tools()).tools
            for tool in tools:
                schema = getattr(tool, "input_schema", None) or getattr(tool, "inputSchema", None) or {}
                props = schema.get("properties", {})
                args = {}
                for name in schema.get("required", []):
                    args[name] = value_for(tool.name, name, props.get(name, {}), f)
                if tool.name == "create_custom_field":
                    args.update(label="Renewal owner", modality="contact", type="string")
                # Optional arguments without which the call means nothing.
                extra = {
                    "enrich_person": {"email": "nobody@example.com"},
                    "bulk_update_accounts": {"account_ids": [f["account"]], "name": "Renamed"},
                    "add_contacts_to_sequence": {
                        "contact_ids": [f["contact"]], "emailer_campaign_id": f["sequence"],
                        "send_email_from_email_account_id": f["email_account"],
                    },
                }
                for name, value in extra.get(tool.name, {}).items():
                    if name in props:
                        args[name] = value
                try:
                    result = await session.call_tool(tool.name, args)
                    text = " ".join(getattr(c, "text", "") for c in result.content)
                    # The server reports an HTTP error as text ("Tool: x\nStatus: 422\n...").
                    failed = bool(getattr(result, "is_error", None) or getattr(result, "isError", None))
                    failed = failed or "\nStatus: " in text or "validation error" in text
                    out.append({"tool": tool.name, "error": failed, "text": text[:700], "args": args})
                except Exception as e:  # a protocol failure: report it, the test fails on it
                    out.append({"tool": tool.name, "error": True, "text": f"{type(e).__name__}: {e}"[:700], "args": args})
    print(json.dumps(out))


if __name__ == "__main__":
    asyncio.run(main())
