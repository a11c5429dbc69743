// Bollard console: small progressive enhancements. Every page works without this script;
// it adds copy buttons, confirmations, local times, an "unsaved changes" hint and the audit
// log's live updates. Served as a file because the CSP allows no inline script.
"use strict";

(function () {
  const timeFmt = new Intl.DateTimeFormat(undefined, {
    year: "numeric", month: "short", day: "numeric",
    hour: "2-digit", minute: "2-digit", second: "2-digit",
  });

  const dateFmt = new Intl.DateTimeFormat(undefined, { year: "numeric", month: "short", day: "numeric" });

  function localTimes(root) {
    root.querySelectorAll("time[datetime]").forEach((t) => {
      const d = new Date(t.getAttribute("datetime"));
      if (!isNaN(d)) {
        t.title = timeFmt.format(d);
        t.textContent = t.hasAttribute("data-date") ? dateFmt.format(d) : timeFmt.format(d);
      }
    });
  }

  function copyButtons() {
    document.querySelectorAll("[data-copy]").forEach((btn) => {
      btn.addEventListener("click", async () => {
        const target = document.getElementById(btn.getAttribute("data-copy"));
        if (!target) return;
        const text = target.value || target.textContent;
        let ok = false;
        try {
          await navigator.clipboard.writeText(text);
          ok = true;
        } catch (_) {
          // Clipboard API refused (no secure context): select it so Ctrl-C works.
          target.focus();
          if (target.select) target.select();
        }
        const was = btn.textContent;
        btn.textContent = ok ? "Copied" : "Press Ctrl-C";
        setTimeout(() => { btn.textContent = was; }, 2000);
      });
    });
  }

  function confirmations() {
    document.querySelectorAll("form[data-confirm]").forEach((f) => {
      f.addEventListener("submit", (e) => {
        if (!window.confirm(f.getAttribute("data-confirm"))) e.preventDefault();
      });
    });
  }

  function dirtyTracking() {
    document.querySelectorAll("form[data-track]").forEach((f) => {
      const badge = f.querySelector("[data-dirty]");
      if (!badge) return;
      const initial = new URLSearchParams(new FormData(f)).toString();
      f.addEventListener("change", () => {
        badge.hidden = new URLSearchParams(new FormData(f)).toString() === initial;
      });
    });
  }

  function pill(decision) {
    const s = document.createElement("span");
    s.className = "pill pill-" + (decision === "allowed" ? "allowed" : "denied");
    s.textContent = decision === "allowed" ? "Allowed" : "Denied";
    return s;
  }

  // Builds a line with DOM methods only: sentences are agents' input and never become markup.
  function lineFor(c) {
    const li = document.createElement("li");
    li.className = "line line-" + (c.decision === "allowed" ? "allowed" : "denied") + " fresh";
    li.dataset.seq = String(c.seq);
    li.dataset.request = c.request_id;
    const meta = document.createElement("div");
    meta.className = "line-meta";
    meta.appendChild(pill(c.decision));
    const t = document.createElement("time");
    t.setAttribute("datetime", c.at);
    t.textContent = c.at;
    meta.appendChild(t);
    const p = document.createElement("p");
    p.className = "sentence";
    p.textContent = c.sentence;
    li.appendChild(meta);
    li.appendChild(p);
    localTimes(li);
    return li;
  }

  function liveAudit() {
    const list = document.getElementById("audit-list");
    if (!list || !list.dataset.feed) return;
    const status = document.querySelector("[data-live-status]");
    const feed = list.dataset.feed;
    const top = () => {
      let max = 0;
      list.querySelectorAll("li[data-seq]").forEach((li) => { max = Math.max(max, Number(li.dataset.seq) || 0); });
      return max;
    };
    let failures = 0;
    async function poll() {
      try {
        const sep = feed.includes("?") ? "&" : "?";
        const r = await fetch(feed + sep + "after=" + top(), { credentials: "same-origin", headers: { accept: "application/json" } });
        if (r.status === 401 || r.redirected) { window.location.reload(); return; }
        if (!r.ok) throw new Error(String(r.status));
        const data = await r.json();
        const calls = (data.calls || []).slice().reverse(); // oldest first, so the newest ends on top
        if (data.missed && !list.querySelector("[data-missed]")) {
          // More calls came than one poll brings: say so where the gap is, once.
          const gap = document.createElement("li");
          gap.dataset.missed = "";
          gap.className = "missed";
          gap.textContent = "More calls were recorded here than the live view brings at once. Reload the page to see them all.";
          list.insertBefore(gap, list.firstChild);
        }
        for (const c of calls) {
          const old = list.querySelector('li[data-request="' + CSS.escape(c.request_id) + '"]');
          if (old) old.remove();
          list.insertBefore(lineFor(c), list.firstChild);
        }
        if (calls.length) {
          const empty = document.querySelector("[data-empty]");
          if (empty) empty.remove();
          refreshVerify();
        }
        failures = 0;
        if (status) status.classList.remove("offline");
      } catch (_) {
        failures += 1;
        if (status) status.classList.add("offline");
      }
      setTimeout(poll, Math.min(2000 * (1 + failures), 15000));
    }
    setTimeout(poll, 2000);
  }

  async function refreshVerify() {
    const box = document.querySelector("[data-verify]");
    if (!box) return;
    try {
      const r = await fetch("/audit/verify", { credentials: "same-origin" });
      if (!r.ok) return;
      const v = await r.json();
      box.classList.toggle("ok", !!v.ok);
      box.classList.toggle("broken", !v.ok);
      box.querySelector(".chain-icon").textContent = v.ok ? "✓" : "!";
      box.querySelector("p").textContent = v.sentence;
    } catch (_) { /* keep the last known status */ }
  }

  function focusResult() {
    const r = document.getElementById("result");
    if (r) r.focus();
  }

  document.addEventListener("DOMContentLoaded", () => {
    localTimes(document);
    copyButtons();
    confirmations();
    dirtyTracking();
    liveAudit();
    focusResult();
  });
})();
