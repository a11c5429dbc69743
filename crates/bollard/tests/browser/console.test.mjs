// The console as an admin uses it, in headless Chromium: sign in, create an agent, set its
// grid, watch a denied call's sentence appear live in the audit log, and dry-run a call.
// Started by run.sh against `bollard demo`; screenshots go to ./screenshots/.
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

let browser;
let page;
let agentKey;
const problems = [];

const shot = (name) => page.screenshot({ path: join(SHOTS, name), fullPage: true });

before(async () => {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
  const context = await browser.newContext({ viewport: { width: 1360, height: 900 } });
  page = await context.newPage();
  page.setDefaultTimeout(10_000);
  // A CSP violation or a script error is a bug even when the page still looks right.
  page.on("console", (m) => { if (m.type() === "error") problems.push(m.text()); });
  page.on("pageerror", (e) => problems.push(String(e)));
});

after(async () => {
  await browser?.close();
});

test("an unsigned visitor is sent to sign in, and a wrong key is refused with a reason", async () => {
  await page.goto(CONSOLE + "/");
  assert.match(new URL(page.url()).pathname, /^\/sign-in/);
  await page.getByLabel("Admin key").fill("bol_admin_not-a-real-key");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("alert").filter({ hasText: "not known" }).waitFor();
});

test("signs in with the demo's admin key and lists the demo agents", async () => {
  await page.getByLabel("Admin key").fill(ADMIN_KEY);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { level: 1, name: "Agents" }).waitFor();
  for (const name of ["Sales Agent", "Research Agent", "CRM Logger"]) {
    await page.getByRole("link", { name, exact: true }).waitFor();
  }
  await shot("01-agents.png");
});

test("creates an agent and shows its key once, with a copy button", async () => {
  await page.getByLabel("Name", { exact: true }).fill("Browser Agent");
  await page.getByLabel("What it is for").fill("Made by the browser test");
  await page.getByRole("button", { name: "Create agent" }).click();
  await page.getByRole("heading", { name: "Browser Agent is created" }).waitFor();
  agentKey = await page.getByLabel("The agent's key").inputValue();
  assert.match(agentKey, /^bol_agent_[0-9a-f]{48}$/);
  await page.getByRole("button", { name: "Copy key" }).click();
  await shot("02-key-shown-once.png");
  await page.getByRole("link", { name: "Set Browser Agent's access" }).click();
  await page.getByRole("heading", { level: 2, name: "Access" }).waitFor();
  // The key is never shown again.
  assert.equal(await page.getByText(agentKey).count(), 0);
});

test("sets the grid and reads what the agent can and cannot do", async () => {
  await page.getByLabel("People: Read").check();
  await page.getByLabel("Contacts: Full use").check();
  await page.locator("[data-dirty]").waitFor({ state: "visible" });
  // Groups without write actions have no Write cell.
  assert.equal(await page.getByLabel("Teammates and usage: Write").count(), 0);
  assert.equal(await page.getByRole("switch", { name: /Reveal emails and phone numbers/ }).isChecked(), false);
  await page.getByRole("button", { name: "Save access" }).click();
  await page.getByRole("status").filter({ hasText: "Access saved" }).waitFor();
  assert.equal(await page.getByLabel("People: Read").isChecked(), true);
  const summary = page.getByRole("region", { name: "What Browser Agent can do" });
  await summary.getByText("Browser Agent can use 24 of the 75 actions.").waitFor();
  await summary.getByText(/may not reveal personal emails or phone numbers/).waitFor();
  await shot("03-agent-access.png");
});

test("sets limits, including one action's own, and keeps them", async () => {
  await page.getByLabel("Credits a day").fill("40");
  await page.locator("details.action-limits > summary").click();
  await page.getByLabel("Enrich a person: requests a minute").fill("5");
  await page.getByRole("button", { name: "Save limits" }).click();
  await page.getByRole("status").filter({ hasText: "Limits saved" }).waitFor();
  assert.equal(await page.getByLabel("Credits a day").inputValue(), "40");
  assert.equal(await page.getByLabel("Enrich a person: requests a minute").inputValue(), "5");
  assert.equal(await page.getByLabel("Enrich a person: requests an hour").inputValue(), "");
});

test("a denied call made with the agent's key appears live in the audit log as a sentence", async () => {
  await page.getByRole("link", { name: "Audit log" }).click();
  await page.getByRole("heading", { level: 1, name: "Audit log" }).waitFor();
  await page.getByText(/The audit chain is intact/).waitFor();

  const allowed = await fetch(AGENT_API + "/api/v1/mixed_people/api_search", {
    method: "POST",
    headers: { "x-api-key": agentKey, "content-type": "application/json" },
    body: JSON.stringify({ person_titles: ["VP Sales"], per_page: 3 }),
  });
  assert.equal(allowed.status, 200);
  const denied = await fetch(AGENT_API + "/api/v1/people/match", {
    method: "POST",
    headers: { "x-api-key": agentKey, "content-type": "application/json" },
    body: JSON.stringify({
      domain: "acme.com", first_name: "Ada", last_name: "Lovelace",
      reveal_phone_number: true, webhook_url: "http://127.0.0.1:9999/hooks/phones",
    }),
  });
  assert.equal(denied.status, 403);
  const body = await denied.json();
  assert.equal(body.error_code, "BOLLARD_DENIED");

  // No reload: the page polls for new records.
  const line = page.locator("#audit-list li.line-denied").filter({ hasText: /Browser Agent\b.*reveal phone numbers/ });
  try {
    await line.waitFor({ timeout: 15_000 });
  } catch (e) {
    await shot("04-audit-live-FAILED.png");
    throw e;
  }
  const sentence = await line.locator(".sentence").innerText();
  assert.match(sentence, /denied, because 'Reveal emails and phone numbers' is Off for this agent/);
  assert.match(sentence, /Nothing was sent to Apollo\./);
  await page.locator("#audit-list li.line-allowed").filter({ hasText: /Browser Agent\b.*searched Apollo's people database/ }).waitFor();
  await shot("04-audit-live.png");

  // Filtering keeps only the denial.
  await page.getByLabel("Agent", { exact: true }).selectOption({ label: "Browser Agent" });
  await page.getByLabel("Decision").selectOption("denied");
  await page.getByRole("button", { name: "Filter" }).click();
  await page.locator("#audit-list li").first().waitFor();
  assert.equal(await page.locator("#audit-list li").count(), 1);
});

test("the dry run says why a call would be refused and what it could cost", async () => {
  await page.getByRole("link", { name: "Dry run" }).click();
  await page.getByLabel("Agent", { exact: true }).selectOption({ label: "Browser Agent" });
  await page.getByLabel("Action", { exact: true }).selectOption("people.enrich");
  await page.getByLabel("Arguments (JSON)").fill(JSON.stringify({ domain: "acme.com", reveal_personal_emails: true }));
  await page.getByRole("button", { name: "Check" }).click();
  const result = page.getByRole("region", { name: /It would be refused/ });
  await result.waitFor();
  await result.getByText(/Reveal emails and phone numbers/).first().waitFor();
  await result.getByText(/refused before any credit is spent/).waitFor();
  await shot("05-dry-run.png");
});

test("every control is reachable by keyboard, with a visible focus ring", async () => {
  await page.goto(CONSOLE + "/agents");
  await page.keyboard.press("Tab");
  const skip = page.getByRole("link", { name: "Skip to content" });
  assert.equal(await skip.evaluate((el) => el === document.activeElement), true);
  await page.keyboard.press("Tab");
  const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
  assert.notEqual(outline, "none");
});

// At about 800 px (a laptop window beside another), nothing may make the page scroll
// sideways: the header wraps, and a table wider than its card scrolls inside the card. The
// same pages are checked on a phone's width too, where the links move under the brand.
const NARROW = { width: 800, height: 900 };
const WIDTHS = [800, 390];

// What pokes out past the window's right edge, for the failure message: elements whose box
// ends beyond it and that no scrolling ancestor clips.
const overflow = (p) => p.evaluate(() => {
  const width = document.documentElement.clientWidth;
  const clipped = (el) => {
    for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
      if (getComputedStyle(a).overflowX !== "visible") return true;
    }
    return false;
  };
  const out = [];
  for (const el of document.body.querySelectorAll("*")) {
    const r = el.getBoundingClientRect();
    if (r.width > 0 && r.right > width + 0.5 && !clipped(el)) {
      out.push(`${el.tagName.toLowerCase()}${el.id ? "#" + el.id : ""}${el.className && typeof el.className === "string" ? "." + el.className.trim().split(/\s+/).join(".") : ""} ends at ${Math.round(r.right)}`);
    }
  }
  return {
    scrollWidth: document.documentElement.scrollWidth,
    innerWidth: window.innerWidth,
    culprits: out.slice(0, 12),
  };
});

const assertFits = async (p, name) => {
  for (const width of WIDTHS) {
    await p.setViewportSize({ ...NARROW, width });
    await p.screenshot({ path: join(SHOTS, `narrow-${name}-${width}.png`), fullPage: true });
    const o = await overflow(p);
    assert.ok(
      o.scrollWidth <= o.innerWidth,
      `${name} at ${o.innerWidth} px scrolls sideways to ${o.scrollWidth} px: ${o.culprits.join("; ")}`,
    );
  }
  await p.setViewportSize(NARROW);
};

// Words that cannot break, as real data has them: a name typed as one word, a rule name, a
// record id, a URL in a call's arguments.
const LONG_NAME = "enterprise_accounts_research_agent_north_america_emea_apac_pipeline_q4_2026";
const LONG_RULE = "only-sequences-approved-by-revops-for-enterprise-accounts-q4-26";
const LONG_ID = "5f2b8c0e9d1a4b3c2e1f0a9b8c7d6e5f5f2b8c0e9d1a4b3c2e1f0a9b8c7d6e5f";

test("at 800 px (and 390 px) wide no page scrolls sideways: the header wraps, long words break, tables scroll in their cards", async () => {
  await page.setViewportSize(NARROW);
  try {
    await page.goto(CONSOLE + "/agents");
    await page.getByLabel("Name", { exact: true }).fill(LONG_NAME);
    await page.getByRole("button", { name: "Create agent" }).click();
    await page.getByRole("heading", { name: `${LONG_NAME} is created` }).waitFor();
    await assertFits(page, "01-key-shown-once");

    await page.getByRole("link", { name: `Set ${LONG_NAME}'s access` }).click();
    await page.getByRole("heading", { level: 2, name: "Access" }).waitFor();
    await page.locator("details.add-rule > summary").click();
    await page.getByLabel("Name", { exact: true }).last().fill(LONG_RULE);
    await page.getByLabel("Cedar policy").fill("forbid(principal, action, resource) when { context.per_page > 99 };");
    await page.getByRole("button", { name: "Add rule" }).click();
    await page.getByRole("status").filter({ hasText: "Rule added" }).waitFor();
    // Unfold everything: the folded tables are the widest things on the page.
    await page.locator("details").evaluateAll((ds) => ds.forEach((d) => { d.open = true; }));
    await assertFits(page, "02-agent");

    const search = await fetch(AGENT_API + "/api/v1/mixed_people/api_search", {
      method: "POST",
      headers: { "x-api-key": agentKey, "content-type": "application/json" },
      body: JSON.stringify({ q_keywords: "https://www.example.com/enterprise/accounts/north-america/pipeline", per_page: 2 }),
    });
    assert.equal(search.status, 200);
    await page.goto(CONSOLE + "/audit");
    await page.locator("#audit-list li.line-allowed").filter({ hasText: /example\.com/ }).waitFor();
    await assertFits(page, "03-audit");

    await page.goto(CONSOLE + "/agents");
    await page.getByRole("heading", { level: 1, name: "Agents" }).waitFor();
    await assertFits(page, "04-agents");

    await page.getByRole("link", { name: "Dry run" }).click();
    await page.getByLabel("Agent", { exact: true }).selectOption({ label: "Browser Agent" });
    await page.getByLabel("Action", { exact: true }).selectOption("contacts.update");
    await page.getByLabel("Record id").fill(LONG_ID);
    await page.getByRole("button", { name: "Check" }).click();
    await page.getByRole("region", { name: /It would be/ }).waitFor();
    await assertFits(page, "05-dry-run");

    const signedOut = await browser.newContext({ viewport: NARROW });
    try {
      const p = await signedOut.newPage();
      await p.goto(CONSOLE + "/sign-in");
      await p.getByLabel("Admin key").waitFor();
      await assertFits(p, "06-sign-in");
    } finally {
      await signedOut.close();
    }
  } finally {
    await page.setViewportSize({ width: 1360, height: 900 });
  }
});

test("no script error or blocked resource on any page", () => {
  assert.deepEqual(problems.filter((p) => !p.includes("401")), []);
});
