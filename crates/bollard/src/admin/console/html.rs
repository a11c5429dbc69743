//! HTML building blocks for the console: the page frame and small widgets, written with
//! maud. maud escapes every value spliced into a page, in text and in attributes alike, so
//! agent names, descriptions, rules and audit sentences (all someone's input) can only ever
//! show as text. Nothing in the console opts out of that (no `PreEscaped`).

use std::fmt::Write as _;

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use maud::{DOCTYPE, Markup, Render, html};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;

/// Percent-encodes a value for a URL path segment or query value. (Escaping for HTML is
/// maud's; this is for what the URL itself must not contain, like `/` or `?` in a name.)
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
pub fn time(t: OffsetDateTime) -> Markup {
    let iso = t.format(&Rfc3339).unwrap_or_default();
    let shown = t
        .format(format_description!(
            "[year]-[month]-[day] [hour]:[minute]:[second] UTC"
        ))
        .unwrap_or_else(|_| iso.clone());
    html! { time datetime=(iso) { (shown) } }
}

/// A date alone (lists have no room for the time); the full time is its tooltip.
pub fn date(t: OffsetDateTime) -> Markup {
    let iso = t.format(&Rfc3339).unwrap_or_default();
    let shown = t
        .format(format_description!("[year]-[month]-[day]"))
        .unwrap_or_else(|_| iso.clone());
    html! { time datetime=(iso) data-date { (shown) } }
}

/// Which section of the console a page belongs to, for the navigation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Agents,
    Check,
    Audit,
    Approvals,
    None,
}

/// A message at the top of a page.
#[derive(Debug, Clone)]
pub enum Notice {
    Ok(String),
    Error(String),
}

impl Render for Notice {
    fn render(&self) -> Markup {
        match self {
            Notice::Ok(t) => html! {
                div.notice.ok role="status" {
                    span.notice-icon aria-hidden="true" { "✓" }
                    p { (t) }
                }
            },
            Notice::Error(t) => html! {
                div.notice.error role="alert" {
                    span.notice-icon aria-hidden="true" { "!" }
                    p { (t) }
                }
            },
        }
    }
}

/// The mark beside the name in the top bar. SVG elements are written with an explicit end
/// tag: inside `<svg>` the HTML parser does not treat `<rect>` or `<path>` as void.
fn logo() -> Markup {
    html! {
        svg.logo viewBox="0 0 32 32" aria-hidden="true" focusable="false" {
            rect width="32" height="32" rx="8" fill="#0f3d3e" {}
            path d="M10 25V13a6 6 0 0 1 12 0v12" fill="none" stroke="#5eead4" stroke-width="3"
                stroke-linecap="round" {}
            path d="M8 25h16" stroke="#ffffff" stroke-width="3" stroke-linecap="round" {}
        }
    }
}

/// A whole page. `csrf` is `None` on pages seen before signing in (no navigation then).
pub fn page(title: &str, section: Section, csrf: Option<&str>, body: Markup) -> Markup {
    let link = |s: Section, href: &str, label: &str| {
        html! { a href=(href) aria-current=[(s == section).then_some("page")] { (label) } }
    };
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Bollard" }
                link rel="stylesheet" href="/assets/console.css";
                link rel="icon" href="/assets/icon.svg" type="image/svg+xml";
                script src="/assets/console.js" defer {}
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    div.top-inner {
                        a.brand href="/agents" { (logo()) span { "Bollard" } }
                        @if let Some(token) = csrf {
                            nav aria-label="Main" {
                                (link(Section::Agents, "/agents", "Agents"))
                                (link(Section::Check, "/check", "Dry run"))
                                (link(Section::Audit, "/audit", "Audit log"))
                                (link(Section::Approvals, "/approvals", "Approvals"))
                            }
                            form.signout method="post" action="/sign-out" {
                                (csrf_field(token))
                                button.button.quiet.small type="submit" { "Sign out" }
                            }
                        }
                    }
                }
                main #main tabindex="-1" { (body) }
                footer.foot {
                    p { "Bollard " (env!("CARGO_PKG_VERSION")) " · every call checked, every call recorded." }
                }
            }
        }
    }
}

pub fn respond(status: StatusCode, page: Markup) -> Response {
    (status, Html(page.into_string())).into_response()
}

pub fn csrf_field(token: &str) -> Markup {
    html! { input type="hidden" name="csrf" value=(token); }
}

/// A status pill: active, revoked, expired, allowed, denied.
pub fn pill(word: &str) -> Markup {
    let label = match word {
        "active" => "Active",
        "revoked" => "Revoked",
        "expired" => "Expired",
        "allowed" => "Allowed",
        "denied" => "Denied",
        "changed" => "Admin change",
        "failed" => "Change failed",
        other => other,
    };
    html! { span class={ "pill pill-" (word) } { (label) } }
}

/// A table that scrolls sideways inside its card when the window is narrower than it, with a
/// caption for screen readers and a header row of `columns`; `rows` are its `<tr>`s.
pub fn table(class: &str, caption: &str, columns: &[&str], rows: Markup) -> Markup {
    html! {
        div.table-wrap {
            table class=(class) {
                caption.sr-only { (caption) }
                thead { tr { @for c in columns { th scope="col" { (c) } } } }
                tbody { (rows) }
            }
        }
    }
}

/// `<option>`s of `(value, label)`, with `selected` on the current value.
pub fn options<V, L>(items: impl IntoIterator<Item = (V, L)>, current: &str) -> Markup
where
    V: AsRef<str>,
    L: Render,
{
    html! {
        @for (value, label) in items {
            option value=(value.as_ref()) selected[value.as_ref() == current] { (label) }
        }
    }
}
