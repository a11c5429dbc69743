// Connecting a hosted assistant by OAuth (issue 13), with the consent step done by a person in
// headless Chromium: the official Python MCP SDK's OAuth client discovers Bollard from its
// 401, registers, and prints the authorization URL; Chromium opens it, signs in, chooses the
// agent, reads what it can do and connects; the browser returns to the client's loopback
// redirect URI with the code. The client then lists tools, calls one and refreshes its token,
// and the audit log shows the call under the connection's name. Started by run.sh against
// `bollard demo` (whose public_url is its own agent address); screenshots go to ./screenshots/.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set; run this through run.sh`);
  return v;
};
const ADMIN_KEY = env("BOLLARD_ADMIN_KEY");
const CONSOLE = env("BOLLARD_CONSOLE_URL").replace(/\/$/, "");
const AGENT_API = env("BOLLARD_AGENT_URL").replace(/\/$/, "");
const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, "../../../..");
const SHOTS = join(HERE, "screenshots");
const CLIENT = join(HERE, "../it/mcp_oauth_client.py");
// The SDK version tests/it/mcp_sdk.rs installs, in the same virtual environment.
const SDK = "mcp==2.3.0";
const CONNECTION = "Team assistant";
mkdirSync(SHOTS, { recursive: true });

let browser;
let page;
const problems = [];

const shot = (name) => page.screenshot({ path: join(SHOTS, name), fullPage: true });

/** The venv's python with the SDK, made as tests/it/mcp_sdk.rs makes it if it is missing. */
function python() {
  const target = process.env.CARGO_TARGET_DIR || join(ROOT, "target");
  const dir = join(target, "mcp-py");
  const py = join(dir, "bin/python");
  const version = SDK.split("==")[1];
  const has = existsSync(py) && spawnSync(py, ["-c",
    `import importlib.metadata as m; assert m.version('mcp') == '${version}'`]).status === 0;
  if (!has) {
    for (const [cmd, args] of [["python3", ["-m", "venv", dir]],
      [join(dir, "bin/pip"), ["install", "--quiet", "--disable-pip-version-check", SDK]]]) {
      const r = spawnSync(cmd, args, { encoding: "utf8" });
      assert.equal(r.status, 0, `${cmd} ${args.join(" ")}: ${r.stderr}`);
    }
  }
  return py;
}

/** The admin API, as the demo's admin. */
async function admin(path) {
  const r = await fetch(CONSOLE + "/admin/api/v1" + path, {
    headers: { authorization: `Bearer ${ADMIN_KEY}` },
  });
  const text = await r.text();
  assert.equal(r.status, 200, `${path}: ${text}`);
  return JSON.parse(text);
}

before(async () => {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
  const context = await browser.newContext({ viewport: { width: 1360, height: 900 } });
  page = await context.newPage();
  page.setDefaultTimeout(15_000);
  // Errors on Bollard's pages (and any without an address) count; not those of the client's
  // loopback redirect page, which is the assistant's: the browser asks it for a favicon, and
  // that request can meet the client already gone (net::ERR_CONNECTION_RESET).
  const ours = (url) => !url || [CONSOLE, AGENT_API].some((origin) => url.startsWith(origin + "/"));
  page.on("console", (m) => {
    if (m.type() === "error" && ours(m.location().url)) problems.push(`${m.text()} (${m.location().url})`);
  });
  page.on("pageerror", (e) => problems.push(String(e)));
});

after(async () => {
  await browser?.close();
});

test("the demo says how a hosted assistant connects, and /mcp points a client at Bollard's sign-in", async () => {
  const r = await fetch(AGENT_API + "/mcp", { method: "POST", body: "{}" });
  assert.equal(r.status, 401);
  const challenge = r.headers.get("www-authenticate");
  assert.match(challenge, /resource_metadata="[^"]+\/\.well-known\/oauth-protected-resource\/mcp"/);
  const meta = await (await fetch(AGENT_API + "/.well-known/oauth-authorization-server")).json();
  assert.equal(meta.issuer, AGENT_API);
  assert.deepEqual(meta.code_challenge_methods_supported, ["S256"]);
});

test("the Python SDK's OAuth client connects through consent in Chromium, calls a tool and refreshes", async () => {
  const child = spawn(python(), [CLIENT, AGENT_API + "/mcp", "--browser"], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (d) => { stderr += d; });
  const exited = new Promise((ok) => child.on("exit", (code) => ok(code)));
  const lines = [];
  const authorize = new Promise((ok, fail) => {
    createInterface({ input: child.stdout }).on("line", (line) => {
      lines.push(line);
      const m = JSON.parse(line);
      if (m.authorize) ok(m.authorize);
    });
    exited.then((code) => fail(new Error(`the client exited (${code}) before authorizing:\n${stderr}`)));
  });
  try {
    const url = await authorize;
    assert.ok(url.startsWith(AGENT_API + "/oauth/authorize?"), url);

    // A person: the assistant's link lands on the console, which asks them to sign in first.
    await page.goto(url);
    assert.match(new URL(page.url()).pathname, /^\/sign-in/);
    await page.getByLabel("Admin key").fill(ADMIN_KEY);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("heading", { level: 1, name: "Connect Python SDK" }).waitFor();
    await page.getByText("No admin has approved this client in advance").waitFor();

    // They choose the agent, read what it can do and what it costs, name the connection.
    await page.getByLabel("Act as agent").selectOption({ label: "Sales Agent" });
    await page.getByRole("button", { name: "Show what it can do" }).click();
    const card = page.getByRole("region", { name: "What Sales Agent can do" });
    await card.waitFor();
    await card.getByText(/may not reveal personal emails or phone numbers/).waitFor();
    await card.getByText("It may spend at most 50 Apollo credits a day.").waitFor();
    await page.getByLabel("Name of this connection").fill(CONNECTION);
    await shot("connect-01-consent.png");
    await page.getByRole("button", { name: "Connect as Sales Agent" }).click();

    // The browser goes back to the client, which takes the code from there.
    await page.waitForURL(/^http:\/\/127\.0\.0\.1:\d+\/callback\?/);
    const back = new URL(page.url());
    assert.ok(back.searchParams.get("code")?.startsWith("bol_code_"), page.url());
    assert.equal(back.searchParams.get("iss"), AGENT_API, "RFC 9207: the answer names its issuer");
    await page.getByText("You can close this window").waitFor();
    await shot("connect-02-back-to-the-client.png");

    const code = await exited;
    assert.equal(code, 0, `the client failed:\n${stderr}`);
    const out = JSON.parse(lines[lines.length - 1]);
    assert.ok(out.tools.includes("apollo_mixed_people_api_search"), JSON.stringify(out));
    assert.ok(!out.tools.includes("apollo_contacts_create"), "Sales Agent may only read contacts");
    assert.deepEqual(out.called, { is_error: false, has_people: true });
    assert.equal(out.called_after_refresh, true);
    assert.equal(out.refreshed, true, "the refresh token was rotated");
  } finally {
    child.kill();
  }
});

test("the calls are on record under the connection, and the agent page lists it", async () => {
  const { calls } = await admin("/audit?kind=calls&agent=Sales%20Agent&limit=50");
  const via = calls.filter((c) => c.connection === CONNECTION);
  assert.ok(via.length >= 2, JSON.stringify(calls.slice(0, 3)));
  const prefix = `Sales Agent (through the connection '${CONNECTION}'), over MCP, `;
  for (const c of via) assert.ok(c.sentence.startsWith(prefix), c.sentence);
  const { calls: changes } = await admin("/audit?kind=admin&agent=Sales%20Agent&limit=50");
  assert.ok(changes.some((c) => c.sentence.endsWith(`connected '${CONNECTION}' to Sales Agent.`)),
    JSON.stringify(changes.map((c) => c.sentence)));

  await page.goto(CONSOLE + "/audit?kind=calls");
  await page.getByRole("heading", { level: 1, name: "Audit log" }).waitFor();
  await page.getByText(prefix + "searched", { exact: false }).first().waitFor();
  await shot("connect-03-audit.png");

  const { connections } = await admin("/agents/Sales%20Agent/connections");
  const live = connections.find((c) => c.name === CONNECTION && !c.revoked_at);
  assert.ok(live, JSON.stringify(connections));
  await page.goto(`${CONSOLE}/agents/${encodeURIComponent(live.agent_id)}`);
  const section = page.getByRole("region", { name: "Connected assistants" });
  await section.getByText(CONNECTION).waitFor();
  await shot("connect-04-agent-connections.png");
  await section.getByRole("button", { name: "Disconnect" }).click();
  await page.getByRole("region", { name: "Connected assistants" }).getByText("None.", { exact: false }).waitFor();
  const after = await admin("/agents/Sales%20Agent/connections");
  assert.ok(after.connections.every((c) => c.revoked_at), JSON.stringify(after));
  assert.deepEqual(problems, [], "no script errors or CSP violations");
});
