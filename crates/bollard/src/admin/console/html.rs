//! HTML building blocks for the console: escaping, the page frame and small widgets. Every
//! value that did not come from this file goes through [`esc`]; agent names, descriptions,
//! rules and audit sentences are all someone's input.

use std::fmt::Write as _;

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;

/// Escapes text for HTML content and quoted attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Percent-encodes a value for a URL path segment or query value.
pub fn url(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// A time as the console shows it; the script rewrites it into the reader's local time.
pub fn time(t: OffsetDateTime) -> String {
    let iso = t.format(&Rfc3339).unwrap_or_default();
    let shown = t
        .format(format_description!(
            "[year]-[month]-[day] [hour]:[minute]:[second] UTC"
        ))
        .unwrap_or_else(|_| iso.clone());
    format!("<time datetime=\"{}\">{}</time>", esc(&iso), esc(&shown))
}

/// A date alone (lists have no room for the time); the full time is its tooltip.
pub fn date(t: OffsetDateTime) -> String {
    let iso = t.format(&Rfc3339).unwrap_or_default();
    let shown = t
        .format(format_description!("[year]-[month]-[day]"))
        .unwrap_or_else(|_| iso.clone());
    format!(
        "<time datetime=\"{}\" data-date>{}</time>",
        esc(&iso),
        esc(&shown)
    )
}

/// Which section of the console a page belongs to, for the navigation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Agents,
    Check,
    Audit,
    None,
}

/// A message at the top of a page.
#[derive(Debug, Clone)]
pub enum Notice {
    Ok(String),
    Error(String),
}

impl Notice {
    pub fn html(&self) -> String {
        match self {
            Notice::Ok(t) => format!(
                "<div class=\"notice ok\" role=\"status\"><span class=\"notice-icon\" aria-hidden=\"true\">✓</span><p>{}</p></div>",
                esc(t)
            ),
            Notice::Error(t) => format!(
                "<div class=\"notice error\" role=\"alert\"><span class=\"notice-icon\" aria-hidden=\"true\">!</span><p>{}</p></div>",
                esc(t)
            ),
        }
    }
}

const LOGO: &str = r##"<svg class="logo" viewBox="0 0 32 32" aria-hidden="true" focusable="false"><rect width="32" height="32" rx="8" fill="#0f3d3e"/><path d="M10 25V13a6 6 0 0 1 12 0v12" fill="none" stroke="#5eead4" stroke-width="3" stroke-linecap="round"/><path d="M8 25h16" stroke="#ffffff" stroke-width="3" stroke-linecap="round"/></svg>"##;

/// A whole page. `csrf` is `None` on pages seen before signing in (no navigation then).
pub fn page(title: &str, section: Section, csrf: Option<&str>, body: &str) -> String {
    let nav = match csrf {
        None => String::new(),
        Some(token) => {
            let link = |s: Section, href: &str, label: &str| {
                let current = if s == section {
                    " aria-current=\"page\""
                } else {
                    ""
                };
                format!("<a href=\"{href}\"{current}>{label}</a>")
            };
            format!(
                "<nav aria-label=\"Main\">{}{}{}</nav><form method=\"post\" action=\"/sign-out\" class=\"signout\">{}<button type=\"submit\" class=\"button quiet small\">Sign out</button></form>",
                link(Section::Agents, "/agents", "Agents"),
                link(Section::Check, "/check", "Dry run"),
                link(Section::Audit, "/audit", "Audit log"),
                csrf_field(token)
            )
        }
    };
    format!(
        "<!doctype html>
<html lang=\"en\">
<head>
<meta charset=\"utf-8\">
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">
<title>{} · Bollard</title>
<link rel=\"stylesheet\" href=\"/assets/console.css\">
<link rel=\"icon\" href=\"/assets/icon.svg\" type=\"image/svg+xml\">
<script src=\"/assets/console.js\" defer></script>
</head>
<body>
<a class=\"skip\" href=\"#main\">Skip to content</a>
<header class=\"top\"><div class=\"top-inner\"><a class=\"brand\" href=\"/agents\">{LOGO}<span>Bollard</span></a>{nav}</div></header>
<main id=\"main\" tabindex=\"-1\">
{body}
</main>
<footer class=\"foot\"><p>Bollard {} · every call checked, every call recorded.</p></footer>
</body>
</html>",
        esc(title),
        env!("CARGO_PKG_VERSION")
    )
}

pub fn respond(status: StatusCode, html: String) -> Response {
    (status, Html(html)).into_response()
}

pub fn csrf_field(token: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        esc(token)
    )
}

/// A status pill: active, revoked, expired, allowed, denied.
pub fn pill(word: &str) -> String {
    let label = match word {
        "active" => "Active",
        "revoked" => "Revoked",
        "expired" => "Expired",
        "allowed" => "Allowed",
        "denied" => "Denied",
        other => other,
    };
    format!(
        "<span class=\"pill pill-{}\">{}</span>",
        esc(word),
        esc(label)
    )
}

/// `<option>`s, with `selected` on the current value.
pub fn options(items: &[(String, String)], current: &str) -> String {
    items
        .iter()
        .map(|(v, label)| {
            let sel = if v == current { " selected" } else { "" };
            format!("<option value=\"{}\"{sel}>{}</option>", esc(v), esc(label))
        })
        .collect()
}
