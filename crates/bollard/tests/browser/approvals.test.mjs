// Ask first in the console, in headless Chromium (#15): an agent's calls wait for a person;
// the approver sees each request's sentence, its arguments with personal data masked and the
// credits it can spend, reveals the personal data on request (recorded), approves one and
// denies the other with a note; the agent's retry of the approved call goes through once, and
// the denied call is refused with the note. Started by run.sh against `bollard demo`;
// screenshots go to ./screenshots/.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
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
const SHOTS = join(dirname(fileURLToPath(import.meta.url)), "screenshots");
mkdirSync(SHOTS, { recursive: true });

const EMAIL = "grace.hopper@example.com";
const ENRICH = { email: EMAIL, reveal_personal_emails: true };
const ADD = { emailer_campaign_id: "seq_q4", contact_ids: ["c_1", "c_2"], send_email_from_email_account_id: "ea_1" };

let browser;
let page;
let agentKey;
let enrichId;
let addId;
const problems = [];

const shot = (name) => page.screenshot({ path: join(SHOTS, name), fullPage: true });

/// The admin API, with the demo's admin key.
async function admin(method, path, body) {
  const r = await fetch(CONSOLE + path, {
    method,
    headers: { authorization: `Bearer ${ADMIN_KEY}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  assert.ok(r.ok, `${method} ${path}: ${r.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

/// One call as the agent makes it, through Bollard's Apollo-shaped REST door.
async function agentCall(path, body) {
  const r = await fetch(AGENT_API + path, {
    method: "POST",
    headers: { "x-api-key": agentKey, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: r.status, body: await r.json() };
}

before(async () => {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
  const context = await browser.newContext({ viewport: { width: 1360, height: 900 } });
  page = await context.newPage();
  page.setDefaultTimeout(10_000);
  page.on("console", (m) => { if (m.type() === "error") problems.push(m.text()); });
  page.on("pageerror", (e) => problems.push(String(e)));

  const made = await admin("POST", "/admin/api/v1/agents", { name: "Approval Agent" });
  agentKey = made.key;
  const id = made.agent.id;
  await admin("PUT", `/admin/api/v1/agents/${id}/grants`, {
    set: ["people=full", "reveal=full:ask", "sequences=full:ask"],
  });
  await admin("PUT", `/admin/api/v1/agents/${id}/limits`, { credits_per_day: 100 });
});

after(async () => {
  await browser?.close();
});

test("the agent's calls that need a person are refused with a request id and a sentence", async () => {
  // The directory picks up the new agent within its poll.
  let asked;
  for (let i = 0; i < 40; i++) {
    asked = await agentCall("/api/v1/people/match", ENRICH);
    if (asked.status !== 401) break;
    await new Promise((ok) => setTimeout(ok, 250));
  }
  assert.equal(asked.status, 403, JSON.stringify(asked.body));
  assert.equal(asked.body.error_code, "BOLLARD_APPROVAL_PENDING");
  enrichId = asked.body.bollard.approval_id;
  assert.match(enrichId, /^apr_/);
  assert.match(asked.body.error, /A person must approve this call before it runs/);

  const add = await agentCall("/api/v1/emailer_campaigns/seq_q4/add_contact_ids", ADD);
  assert.equal(add.body.error_code, "BOLLARD_APPROVAL_PENDING", JSON.stringify(add.body));
  addId = add.body.bollard.approval_id;
});

test("the approver signs in and sees each request: sentence, masked arguments, credits", async () => {
  await page.goto(CONSOLE + "/approvals");
  await page.getByLabel("Admin key").fill(ADMIN_KEY);
  await page.getByRole("button", { name: "Sign in" }).click();
  if (!new URL(page.url()).pathname.startsWith("/approvals")) {
    await page.goto(CONSOLE + "/approvals");
  }
  await page.getByRole("heading", { level: 1, name: "Approvals" }).waitFor();
  const enrich = page.getByRole("region", { name: `Request ${enrichId}` });
  await enrich.getByRole("heading", { name: /^Approval Agent asks to reveal personal emails/ }).waitFor();
  await enrich.getByText(/It can spend up to \d+ Apollo credits\./).waitFor();
  const masked = await enrich.locator("pre").first().innerText();
  assert.ok(masked.includes("hmac:"), masked);
  assert.ok(!masked.includes(EMAIL), "personal data is masked until asked for");
  assert.equal(await page.getByText(EMAIL).count(), 0);
  const add = page.getByRole("region", { name: `Request ${addId}` });
  await add.getByRole("heading", { name: /^Approval Agent asks to add 2 contacts to the sequence seq_q4/ }).waitFor();
  await shot("approvals-01-pending.png");
});

test("the approver reveals the personal data on request, and the reveal is on the record", async () => {
  const enrich = page.getByRole("region", { name: `Request ${enrichId}` });
  await enrich.getByRole("button", { name: "Reveal personal data" }).click();
  await page.getByText("your reveal is on the record").first().waitFor();
  const shown = page.getByRole("region", { name: `Request ${enrichId}` });
  await shown.getByText(EMAIL).waitFor();
  await shot("approvals-02-revealed.png");
  const audit = await admin("GET", "/admin/api/v1/audit?kind=admin&limit=50");
  const entries = JSON.stringify(audit);
  assert.match(entries, new RegExp(`revealed the personal data in Approval Agent's request ${enrichId}`));
});

test("approves one request and denies the other with a note", async () => {
  const enrich = page.getByRole("region", { name: `Request ${enrichId}` });
  await enrich.getByLabel(/^Note/).fill("checked: one person, our customer");
  await enrich.getByRole("button", { name: "Approve" }).click();
  await page.getByText("Approved: the agent's next identical call runs once.").waitFor();
  const add = page.getByRole("region", { name: `Request ${addId}` });
  await add.getByLabel(/^Note/).fill("not this week");
  await add.getByRole("button", { name: "Deny" }).click();
  await page.getByText("Denied: the agent's identical call is refused, with your note.").waitFor();
  await page.getByRole("heading", { name: "Recently decided" }).waitFor();
  await page.getByText(new RegExp(`${enrichId} .*approved by`)).waitFor();
  await shot("approvals-03-decided.png");
});

test("the agent's retry of the approved call goes through once; the denied call reads the note", async () => {
  const ran = await agentCall("/api/v1/people/match", ENRICH);
  assert.equal(ran.status, 200, JSON.stringify(ran.body));
  const again = await agentCall("/api/v1/people/match", ENRICH);
  assert.equal(again.body.error_code, "BOLLARD_APPROVAL_PENDING", JSON.stringify(again.body));
  assert.match(again.body.error, new RegExp(`The approval ${enrichId} was for one call`));
  const denied = await agentCall("/api/v1/emailer_campaigns/seq_q4/add_contact_ids", ADD);
  assert.equal(denied.status, 403);
  assert.equal(denied.body.error_code, "BOLLARD_DENIED");
  assert.match(denied.body.error, /not this week/);
  // The page now shows the new request the replay made, and what became of the first.
  await page.goto(CONSOLE + "/approvals");
  await page.getByText(new RegExp(`${enrichId} .*used by the call`)).waitFor();
  await shot("approvals-04-used-once.png");
});

test("no console errors or CSP violations on the way", () => {
  assert.deepEqual(problems, []);
});
