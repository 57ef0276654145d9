//! The page frame and small pieces every page uses. maud escapes every value it
//! interpolates; values from sources are wrapped in `<bdi>` so right-to-left text cannot
//! reorder the page around it.

use maud::{html, Markup, DOCTYPE};
use serde_json::Value;

use super::auth::Access;

/// The htmx settings of every page: no `eval`, no inline scripts, no indicator styles (the
/// CSP allows no inline style), requests only to this server.
const HTMX_CONFIG: &str = r#"{"allowEval":false,"allowScriptTags":false,"includeIndicatorStyles":false,"selfRequestsOnly":true,"historyCacheSize":0}"#;

/// Which section of the navigation a page belongs to.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Overview,
    Entities,
    Events,
    Reviews,
    Runs,
    None,
}

/// A whole page: head, navigation, a banner when changes are not possible, the body, and a
/// link to the page's JSON twin.
pub fn page(title: &str, nav: Nav, twin: Option<&str>, access: Access, body: Markup) -> Markup {
    page_with(title, nav, twin, access, false, body)
}

/// [`page`] with Leaflet loaded (the entity page's map).
pub fn page_with(
    title: &str,
    nav: Nav,
    twin: Option<&str>,
    access: Access,
    map: bool,
    body: Markup,
) -> Markup {
    let item = |n: Nav, href: &str, label: &str| {
        html! {
            a href=(href) class=@if nav == n { "active" } { (label) }
        }
    };
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="htmx-config" content=(HTMX_CONFIG);
                meta name="referrer" content="no-referrer";
                title { (title) " · trustfold" }
                link rel="stylesheet" href="/assets/app.css";
                @if map {
                    link rel="stylesheet" href="/assets/leaflet-1.9.4/leaflet.css";
                    script src="/assets/leaflet-1.9.4/leaflet.js" defer {}
                }
                script src="/assets/htmx-2.0.11/htmx.min.js" defer {}
                script src="/assets/app.js" defer {}
                @if let Some(t) = twin {
                    link rel="alternate" type="application/json" href=(t);
                }
            }
            body data-access=(access_word(access)) {
                header.top {
                    a.brand href="/" { "trustfold" }
                    nav {
                        (item(Nav::Overview, "/", "Overview"))
                        (item(Nav::Entities, "/entities", "Entities"))
                        (item(Nav::Reviews, "/reviews", "Reviews"))
                        (item(Nav::Runs, "/runs", "Runs"))
                        (item(Nav::Events, "/events", "Events"))
                    }
                    @if let Some(t) = twin {
                        a.twin href=(t) title="The same document as JSON" { "JSON" }
                    }
                }
                @match access {
                    Access::Write => {},
                    Access::ReadOnly => {
                        p.banner.readonly { "This server runs with --read-only: reading only, nothing can be changed here." }
                    },
                    Access::NoToken => {
                        p.banner.notoken { "Reading only: to review, override or start runs, open the login URL that " code { "trustfold serve" } " printed." }
                    },
                }
                div #flash.flash role="alert" hidden {}
                main #main { (body) }
                footer {
                    "trustfold · every value links to the event that recorded it · "
                    a href="/assets/licenses/htmx.txt" { "htmx (0BSD)" } " · "
                    a href="/assets/licenses/leaflet.txt" { "Leaflet (BSD-2-Clause)" }
                }
            }
        }
    }
}

fn access_word(a: Access) -> &'static str {
    match a {
        Access::Write => "write",
        Access::ReadOnly => "read-only",
        Access::NoToken => "no-token",
    }
}

/// Text from a source: escaped by maud, isolated for bidi, wrapped when long.
pub fn text(s: &str) -> Markup {
    html! { bdi.v { (s) } }
}

/// A JSON value as a person reads it: text as is, lists joined, coordinates as "lat, lon",
/// anything else as compact JSON. Always escaped.
pub fn value(v: &Value) -> Markup {
    match v {
        Value::Null => html! { span.muted { "—" } },
        Value::String(s) => text(s),
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(plain).collect();
            text(&parts.join(", "))
        }
        Value::Object(o) if o.contains_key("lat") && o.contains_key("lon") => {
            text(&format!("{}, {}", plain(&o["lat"]), plain(&o["lon"])))
        }
        other => text(&other.to_string()),
    }
}

/// A JSON value as plain text (strings without quotes).
pub fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// A string field of a document.
pub fn s<'a>(doc: &'a Value, key: &str) -> &'a str {
    doc.get(key).and_then(Value::as_str).unwrap_or("")
}

/// A number field of a document.
pub fn n(doc: &Value, key: &str) -> f64 {
    doc.get(key).and_then(Value::as_f64).unwrap_or(0.0)
}

/// A whole-number field of a document.
pub fn u(doc: &Value, key: &str) -> u64 {
    doc.get(key).and_then(Value::as_u64).unwrap_or(0)
}

/// A link to the event page of `seq`.
pub fn seq_link(seq: u64) -> Markup {
    html! { a.seq href={ "/events/" (seq) } { "#" (seq) } }
}

/// A short form of a long hash or id.
pub fn short(s: &str) -> &str {
    &s[..s.len().min(12)]
}

/// A percentage.
pub fn pct(x: f64) -> String {
    format!("{x:.0}%")
}

/// Pretty JSON inside `<pre>` (escaped). Invisible formatting characters (bidi overrides
/// and isolates, zero-width marks) are written as `\uXXXX` escapes: the same JSON, but a
/// right-to-left override in a value can no longer reorder what a person reads.
pub fn json_block(v: &Value) -> Markup {
    let text = visible_format_chars(&serde_json::to_string_pretty(v).unwrap_or_default());
    html! { pre.json { (text) } }
}

/// `text` with the invisible formatting characters as JSON `\uXXXX` escapes (they only
/// occur inside JSON strings, where the escape means the same character).
fn visible_format_chars(text: &str) -> String {
    let invisible = |c: char| matches!(c as u32, 0x061C | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x2069 | 0xFEFF);
    if !text.chars().any(invisible) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if invisible(c) {
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// The name a form pre-fills as "who" (the page's script fills in the remembered one).
pub fn who_input() -> Markup {
    html! {
        label { "Your name " input.who type="text" name="by" required maxlength="500" autocomplete="name"; }
    }
}

/// A form that posts to the API through htmx; the page script shows the answer (an error
/// in the flash area, or a reload of the region on success).
pub fn api_form(action: &str, method: &str, access: Access, reload: &str, inner: Markup) -> Markup {
    let disabled = access != Access::Write;
    html! {
        form.api data-reload=(reload) hx-swap="none"
            hx-post=[(method == "post").then_some(action)]
            hx-delete=[(method == "delete").then_some(action)] {
            fieldset disabled[disabled] { (inner) }
        }
    }
}

/// An empty-state line.
pub fn none(text: &str) -> Markup {
    html! { p.muted { (text) } }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_json_block_is_the_same_json_with_bidi_controls_escaped() {
        let v = serde_json::json!({"name": "\u{202e}gnirts <b>", "plain": "Café"});
        let html = json_block(&v).into_string();
        assert!(!html.contains('\u{202e}'), "{html}");
        assert!(html.contains("\\u202e"), "{html}");
        assert!(html.contains("&lt;b&gt;"));
        let text = html
            .trim_start_matches("<pre class=\"json\">")
            .trim_end_matches("</pre>")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"");
        let back: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, v, "the same document");
    }
}
