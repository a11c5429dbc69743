// A real MCP client (the official TypeScript SDK, @modelcontextprotocol/sdk 1.x, which speaks the
// 2025-11-25 revision with sessions) against Bollard, driven by tests/it/mcp_sdk.rs.
//
// Usage: node mcp_client.mjs TRANSPORT TARGET KEY URL
//   TRANSPORT  http (TARGET is the gateway's /mcp URL) or stdio (TARGET is the bollard binary,
//              run as `bollard mcp` with URL and KEY in its environment)
// Prints one JSON object, as mcp_client.py does.

import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const [transportKind, target, key, url] = process.argv.slice(2);
const transport =
  transportKind === "http"
    ? new StreamableHTTPClientTransport(new URL(target), {
        requestInit: { headers: { Authorization: `Bearer ${key}` } },
      })
    : new StdioClientTransport({
        command: target,
        args: ["mcp"],
        env: { BOLLARD_MCP_URL: url, BOLLARD_AGENT_KEY: key, RUST_LOG: "warn" },
      });
const client = new Client({ name: "bollard-node-test", version: "0" });
await client.connect(transport);
const out = { protocol_version: transport.protocolVersion ?? "2025-11-25", warnings: [] };
const { tools } = await client.listTools();
out.tools = tools.map((t) => t.name);
out.schemas = Object.fromEntries(
  tools.map((t) => [t.name, Object.keys(t.inputSchema?.properties ?? {}).sort()]),
);
const allowed = await client.callTool({
  name: "apollo_mixed_people_api_search",
  arguments: { person_titles: ["cto"], per_page: 2 },
});
out.allowed = {
  is_error: Boolean(allowed.isError),
  has_people: Array.isArray(allowed.structuredContent?.people),
};
const denied = await client.callTool({ name: "apollo_contacts_create", arguments: { first_name: "Ada" } });
out.denied = { is_error: Boolean(denied.isError), text: denied.content.map((c) => c.text ?? "").join(" ") };
if (transportKind === "http") {
  // DELETE must succeed: the SDK throws on any status but 2xx and 405.
  await transport.terminateSession();
}
await client.close();
console.log(JSON.stringify(out));
