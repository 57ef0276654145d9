//! The pages. Each handler builds the same document as its JSON twin (the `*_doc`
//! functions of `api.rs`) and renders it; nothing here computes what the document does
//! not say. Every value goes through maud, which escapes it.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};
use serde_json::Value;
use trustfold_projections::LossReason;

use super::api::{self, EntitiesParams, EntityParams, EventsParams, ReviewsParams};
use super::auth::Access;
use super::blocking;
use super::error::{ApiError, Params};
use super::html::{
    api_form, json_block, n, none, page, page_with, pct, plain, s, seq_link, short, text, u, value,
    who_input, Nav,
};
use super::state::AppState;

/// An error as a page, with its status.
pub fn error_page(err: ApiError) -> Response {
    let body = html! {
        h1 { "Error " (err.status.as_u16()) }
        p.error { (text(&err.message)) }
        p { a href="/" { "Back to the overview" } }
    };
    (
        err.status,
        page("Error", Nav::None, None, Access::NoToken, body),
    )
        .into_response()
}

fn render(result: Result<Markup, ApiError>) -> Response {
    match result {
        Ok(m) => (StatusCode::OK, m).into_response(),
        Err(e) => error_page(e),
    }
}

fn access(state: &AppState, headers: &HeaderMap) -> Access {
    api::page_access(state, headers)
}

/// A query string of the non-empty pairs (escaped).
fn query_string(pairs: &[(&str, Option<&str>)]) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            q.append_pair(k, v);
        }
    }
    let q = q.finish();
    if q.is_empty() {
        q
    } else {
        format!("?{q}")
    }
}

fn status_badge(status: &str) -> Markup {
    html! { span class={ "badge status-" (status) } { (status) } }
}

// ----------------------------------------------------------------------------------------
// Overview

pub async fn overview(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let access = access(&state, &headers);
    render(
        blocking(&state, api::overview_doc)
            .await
            .map(|doc| overview_page(&doc, access)),
    )
}

fn overview_page(doc: &Value, access: Access) -> Markup {
    let counts = &doc["counts"];
    let log = &doc["log"];
    let policy = &doc["policy"];
    let body = html! {
        h1 { "Overview" }
        @if policy["stale"] == Value::Bool(true) {
            p.banner.stale {
                "Stale: the projections were built with the policy from " (text(s(policy, "origin")))
                " (" (short(s(policy, "hash"))) "); the current one is " (text(s(policy, "current_origin")))
                " (" (short(s(policy, "current_hash"))) "). Run " code { "trustfold rebuild-projections" } "."
            }
        }
        div.cards {
            div.card { div.big { (u(counts, "entities")) } div { a href="/entities" { "entities" } } }
            div.card { div.big { (u(counts, "open_reviews")) } div { a href="/reviews" { "open reviews" } } }
            div.card { div.big { (u(counts, "conflicting_fields")) } div { a href="/entities?conflicted=true" { "conflicting fields" } " in " (u(counts, "conflicted_entities")) " entities" } }
            div.card { div.big { (u(log, "projection_lag")) } div { "events not yet projected (log at " (seq_link(u(log, "head_seq"))) ", projections at #" (u(log, "checkpoint_seq")) ")" } }
        }
        h2 { "Sources" }
        @let sources = counts["sources"].as_array().cloned().unwrap_or_default();
        @if sources.is_empty() { (none("No records yet: start a run.")) } @else {
            table.sources {
                thead { tr { th { "Source" } th.num { "Records" } th.num { "Entities" } } }
                tbody {
                    @for src in &sources {
                        tr {
                            td { a href={ "/entities" (query_string(&[("source", Some(s(src, "source")))])) } { (s(src, "source")) } }
                            td.num { (u(src, "records")) }
                            td.num { (u(src, "entities")) }
                        }
                    }
                }
            }
        }
        h2 { "Recent runs" }
        (runs_table(&doc["recent_runs"], &doc["live_runs"]))
        p.muted { "Trust policy: " (text(s(policy, "origin"))) " (" (short(s(policy, "hash"))) ")" }
    };
    page(
        "Overview",
        Nav::Overview,
        Some("/api/overview"),
        access,
        body,
    )
}

fn runs_table(runs: &Value, live: &Value) -> Markup {
    let runs = runs.as_array().cloned().unwrap_or_default();
    let live = live.as_array().cloned().unwrap_or_default();
    let known: Vec<&str> = runs.iter().map(|r| s(r, "run_id")).collect();
    let starting: Vec<&Value> = live
        .iter()
        .filter(|l| !known.contains(&s(l, "run_id")))
        .collect();
    html! {
        @if runs.is_empty() && starting.is_empty() { (none("No runs yet.")) } @else {
            table.runs {
                thead { tr { th { "Run" } th { "Started" } th { "Status" } th { "Query" } th.num { "Candidates" } th.num { "New" } th.num { "Spent" } } }
                tbody {
                    @for l in &starting {
                        tr {
                            td { a href={ "/runs/" (s(l, "run_id")) } { (short(s(l, "run_id"))) } }
                            td { (s(l, "started_at")) }
                            td { (status_badge(s(l, "status"))) }
                            td { (text(s(l, "query"))) }
                            td.num {} td.num {} td.num {}
                        }
                    }
                    @for r in &runs {
                        @let status = if r["interrupted"] == Value::Bool(true) { "interrupted" } else { s(r, "status") };
                        tr {
                            td { a href={ "/runs/" (s(r, "run_id")) } { (short(s(r, "run_id"))) } }
                            td { (s(r, "started_at").chars().take(19).collect::<String>()) }
                            td { (status_badge(status)) }
                            td { (text(s(r, "query"))) }
                            td.num { (u(&r["counts"], "extracted")) }
                            td.num { (u(&r["counts"], "new_entities")) }
                            td.num { "$" (format!("{:.4}", n(&r["counts"], "spent_usd"))) }
                        }
                    }
                }
            }
        }
    }
}

// ----------------------------------------------------------------------------------------
// Entities

pub async fn entities(
    State(state): State<AppState>,
    headers: HeaderMap,
    Params(p): Params<EntitiesParams>,
) -> Response {
    let access = access(&state, &headers);
    let shown = p.clone();
    render(
        blocking(&state, move |s| api::entities_doc(s, &p))
            .await
            .map(|doc| entities_page(&doc, &shown, access)),
    )
}

fn entities_page(doc: &Value, p: &EntitiesParams, access: Access) -> Markup {
    let q = |v: &Option<String>| v.clone().unwrap_or_default();
    let twin = format!(
        "/api/entities{}",
        query_string(&[
            ("search", p.search.as_deref()),
            ("source", p.source.as_deref()),
            ("class", p.class.as_deref()),
            ("conflicted", p.conflicted.as_deref()),
            ("completeness", p.completeness.as_deref()),
            ("limit", p.limit.as_deref()),
            ("cursor", p.cursor.as_deref()),
        ])
    );
    let entities = doc["entities"].as_array().cloned().unwrap_or_default();
    let next = doc["next_cursor"].as_str().map(|c| {
        format!(
            "/entities{}",
            query_string(&[
                ("search", p.search.as_deref()),
                ("source", p.source.as_deref()),
                ("class", p.class.as_deref()),
                ("conflicted", p.conflicted.as_deref()),
                ("completeness", p.completeness.as_deref()),
                ("limit", p.limit.as_deref()),
                ("cursor", Some(c)),
            ])
        )
    });
    let sources: Vec<String> = doc["sources"]
        .as_array()
        .map(|a| a.iter().map(plain).collect())
        .unwrap_or_default();
    let classes: Vec<(String, u64)> = doc["classes"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|c| Some((c.get(0)?.as_str()?.to_string(), c.get(1)?.as_u64()?)))
                .collect()
        })
        .unwrap_or_default();
    let body = html! {
        h1 { "Entities" }
        form #filters.filters method="get" action="/entities"
            hx-get="/entities" hx-target="#results" hx-select="#results" hx-swap="outerHTML"
            hx-push-url="true" hx-trigger="input changed delay:300ms from:input[name=search], change, submit" {
            input #search type="search" name="search" placeholder="Search name, place, postcode" value=(q(&p.search)) maxlength="200" autofocus;
            select name="source" {
                option value="" { "any source" }
                @for src in &sources {
                    option value=(src) selected[p.source.as_deref() == Some(src.as_str())] { (src) }
                }
            }
            select name="class" {
                option value="" { "any class" }
                @for (c, count) in &classes {
                    option value=(c) selected[p.class.as_deref() == Some(c.as_str())] { (c) " (" (count) ")" }
                }
            }
            select name="conflicted" {
                option value="" { "with or without conflicts" }
                option value="true" selected[p.conflicted.as_deref() == Some("true")] { "with a conflict" }
                option value="false" selected[p.conflicted.as_deref() == Some("false")] { "without conflicts" }
            }
            label { "complete at least " input type="number" name="completeness" min="0" max="100" step="5" value=(q(&p.completeness)) placeholder="%"; }
            button type="submit" { "Filter" }
        }
        div #results {
            @if entities.is_empty() { (none("No entity matches.")) } @else {
                table.entities {
                    thead { tr { th { "Name" } th { "Class" } th { "Locality" } th { "Postcode" } th { "Sources" } th.num { "Complete" } th.num { "Conflicts" } } }
                    tbody {
                        @for e in &entities {
                            tr {
                                td { a.entity-link href={ "/entities/" (s(e, "slug")) } { (text(e["name"].as_str().unwrap_or("(no name)"))) } }
                                td { (value(&e["fields"]["entity_class"])) }
                                td { (value(&e["fields"]["locality"])) }
                                td { (value(&e["fields"]["postcode"])) }
                                td { (value(&e["sources"])) }
                                td.num { (pct(n(&e["completeness"], "pct"))) }
                                td.num {
                                    @let c = e["conflicts"].as_array().map_or(0, Vec::len);
                                    @if c > 0 { span.badge.conflict { (c) } } @else { "0" }
                                }
                            }
                        }
                    }
                }
            }
            @if let Some(next) = &next {
                p { a.next href=(next) hx-get=(next) hx-target="#results" hx-select="#results" hx-swap="outerHTML" hx-push-url="true" { "Next page →" } }
            }
        }
    };
    page("Entities", Nav::Entities, Some(&twin), access, body)
}

// ----------------------------------------------------------------------------------------
// One entity

pub async fn entity(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(key): Path<String>,
    Params(p): Params<EntityParams>,
) -> Response {
    let access = access(&state, &headers);
    let twin = format!(
        "/api/entities/{}{}",
        form_urlencoded::byte_serialize(key.as_bytes()).collect::<String>(),
        query_string(&[("as_of", p.as_of.as_deref()), ("field", p.field.as_deref())])
    );
    let asked = p.as_of.clone().unwrap_or_default();
    render(
        api::entity_doc(&state, key, p)
            .await
            .map(|doc| entity_page(&doc, &twin, &asked, access)),
    )
}

fn loss_text(v: &Value) -> String {
    serde_json::from_value::<LossReason>(v.clone())
        .map(|l| l.as_str().to_string())
        .unwrap_or_else(|_| plain(v))
}

fn entity_page(doc: &Value, twin: &str, asked: &str, access: Access) -> Markup {
    let name = doc["name"].as_str().unwrap_or("(no name)");
    let slug = s(doc, "slug");
    let entity_id = s(doc, "entity_id");
    let as_of = doc["as_of"] == Value::Bool(true);
    let overrides = doc["overrides"].as_array().cloned().unwrap_or_default();
    let members = doc["members"].as_array().cloned().unwrap_or_default();
    let fields = doc["provenance"].as_array().cloned().unwrap_or_default();
    let map = &doc["map"];
    let body = html! {
        div #entity {
            h1 { (text(name)) }
            p.meta {
                "id " code { (entity_id) } " · slug " code { (slug) }
                " · " (u(doc, "candidates")) " records from " (value(&doc["sources"]))
                " · complete " (pct(n(&doc["completeness"], "pct")))
                " · trust policy " (text(s(&doc["policy"], "origin"))) " (" (short(s(&doc["policy"], "hash"))) ")"
            }
            @if let Some(alias) = doc["alias"].as_object() {
                p #alias.banner.alias {
                    code { (text(alias.get("slug").and_then(Value::as_str).unwrap_or(""))) }
                    " (" code { (text(alias.get("entity_id").and_then(Value::as_str).unwrap_or(""))) } ")"
                    " was merged into this entity at " (seq_link(alias.get("seq").and_then(Value::as_u64).unwrap_or(0)))
                    " by " (text(alias.get("by").and_then(Value::as_str).unwrap_or("")))
                    ": " (text(alias.get("reason").and_then(Value::as_str).unwrap_or("")))
                }
            }
            form #asof.asof method="get" action={ "/entities/" (slug) }
                hx-get={ "/entities/" (slug) } hx-target="#entity" hx-select="#entity" hx-swap="outerHTML" hx-push-url="true" {
                label { "Show as of " input #as-of-input type="text" name="as_of" value=(asked) placeholder="a seq (e.g. 120) or a time (2026-11-22T10:00:00Z)" maxlength="64"; }
                button type="submit" { "Show" }
                @if as_of { " " a href={ "/entities/" (slug) } { "back to now" } }
            }
            @if as_of {
                @let changes = doc["changes_since"].as_array().cloned().unwrap_or_default();
                section #changes.asof-view {
                    p.banner.asof {
                        "As of " (seq_link(u(doc, "as_of_seq"))) ": the entity as the log described it then. "
                        (changes.len()) " field" (if changes.len() == 1 { "" } else { "s" }) " differ from now."
                    }
                    @if !changes.is_empty() {
                        table.changes {
                            thead { tr { th { "Field" } th { "Then" } th { "Now" } th { "Changed by" } } }
                            tbody {
                                @for c in &changes {
                                    tr.change data-field=(s(c, "field")) {
                                        td { (s(c, "field")) @if s(c, "what") == "source" { " " span.muted { "(same value, other source)" } } }
                                        td { (value(&c["then"]["value"])) " " span.src { (s(&c["then"], "source")) } }
                                        td { (value(&c["now"]["value"])) " " span.src { (s(&c["now"], "source")) } }
                                        td {
                                            @if let Some(seq) = c["changed_by"]["seq"].as_u64() {
                                                (seq_link(seq)) " " (s(&c["changed_by"], "kind"))
                                            } @else { span.muted { "—" } }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            } @else {
                p.muted { "Folded up to " (seq_link(u(doc, "as_of_seq"))) "." }
            }
            h2 { "Fields" }
            table #fields.fields {
                thead { tr { th { "Field" } th { "Value" } th { "Source" } th.num { "Trust" } th { "Tier" } th.num { "Confidence" } th { "From" } } }
                @for f in &fields {
                    @let field = s(f, "field");
                    @let rows = f["candidates"].as_array().cloned().unwrap_or_default();
                    @let winner = rows.iter().find(|r| r["winner"] == Value::Bool(true));
                    @let losers: Vec<&Value> = rows.iter().filter(|r| r["winner"] != Value::Bool(true)).collect();
                    @let ov = overrides.iter().find(|o| s(o, "field") == field);
                    tbody.field data-field=(field) {
                        tr.winner {
                            th scope="row" { (field) }
                            td.value {
                                (value(&f["value"]))
                                @if f["conflict"] == Value::Bool(true) { " " span.badge.conflict title="sources of near trust disagree" { "conflict" } }
                                @if let Some(o) = ov {
                                    " " span.badge.override title={ "admin override by " (s(o, "by")) ": " (s(o, "reason")) } {
                                        "override by " (text(s(o, "by"))) ": " (text(s(o, "reason")))
                                    }
                                }
                            }
                            td { (s(f, "source")) }
                            td.num { (format!("{:.2}", n(f, "trust"))) }
                            td { (s(f, "tier")) }
                            td.num { (format!("{:.2}", n(f, "confidence"))) }
                            td {
                                @if let Some(w) = winner {
                                    (seq_link(u(w, "seq")))
                                    @if let Some(run) = w["run_id"].as_str() { " run " a href={ "/runs/" (run) } { (short(run)) } }
                                }
                            }
                        }
                        @if !losers.is_empty() {
                            tr.losers-row {
                                td colspan="7" {
                                    details.losers {
                                        summary { (losers.len()) " other value" (if losers.len() == 1 { "" } else { "s" }) " and why each lost" }
                                        table.losers {
                                            thead { tr { th { "Source" } th { "Value" } th.num { "Trust" } th { "Tier" } th { "Why it lost" } th { "Event" } th { "Joined by" } } }
                                            tbody {
                                                @for r in &losers {
                                                    tr.loser {
                                                        td { (s(r, "source")) }
                                                        td.value { (value(&r["value"])) }
                                                        td.num { (format!("{:.2}", n(r, "trust"))) }
                                                        td { (s(r, "tier")) }
                                                        td.why {
                                                            (loss_text(&r["loss"]))
                                                            @if r["agrees"] == Value::Bool(true) { " (same value)" }
                                                        }
                                                        td { (seq_link(u(r, "seq"))) }
                                                        td { (text(r["decided_by"].as_str().or(r["note"].as_str()).unwrap_or(""))) }
                                                    }
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            h2 { "Where the sources put it" }
            @let points = map["points"].as_array().cloned().unwrap_or_default();
            @if points.is_empty() { (none("No source gives coordinates.")) } @else {
                div #map.map data-map=(map.to_string()) {}
                table.distances {
                    thead { tr { th { "Point" } th { "Source" } th { "Lat, lon" } th.num { "From the winner" } } }
                    tbody {
                        @for (i, pt) in points.iter().enumerate() {
                            tr {
                                td { (i + 1) @if pt["winner"] == Value::Bool(true) { " (winner)" } }
                                td { (s(pt, "source")) }
                                td { (format!("{:.6}, {:.6}", n(pt, "lat"), n(pt, "lon"))) }
                                td.num { (format!("{:.0} m", n(pt, "from_winner_metres"))) }
                            }
                        }
                    }
                }
                @let distances = map["distances"].as_array().cloned().unwrap_or_default();
                @if !distances.is_empty() {
                    details.pairs {
                        summary { "Distances between every two points" }
                        ul {
                            @for d in &distances {
                                li { "point " (u(d, "from") + 1) " – point " (u(d, "to") + 1) ": " (format!("{:.0} m", n(d, "metres"))) }
                            }
                        }
                    }
                }
                @if u(map, "points_left_out") > 0 { p.muted { (u(map, "points_left_out")) " more points are left out." } }
            }
            h2 { "Member records" }
            table.members {
                thead { tr { th { "Source" } th { "Record" } th { "Observed" } th { "Joined by" } th.num { "Score" } th { "Evidence" } th {} } }
                tbody {
                    @for m in &members {
                        @let decision = &m["decision"];
                        tr.member data-candidate=(s(m, "candidate_id")) {
                            td { (s(m, "source")) }
                            td { (text(m["name"].as_str().unwrap_or("(no name)"))) br; code.muted { (s(m, "candidate_id")) } }
                            td { (seq_link(u(m, "observed_seq"))) }
                            td { (text(m["decided_by"].as_str().unwrap_or("matcher"))) @if !decision.is_null() { " " (seq_link(u(decision, "seq"))) } }
                            td.num { @if !decision.is_null() { (format!("{:.3}", n(decision, "score"))) } }
                            td { @if !decision.is_null() { (evidence(decision, false)) } }
                            td {
                                @if members.len() > 1 && !as_of {
                                    (api_form("/api/splits", "post", access, "#entity", html! {
                                        input type="hidden" name="entity" value=(entity_id);
                                        input type="hidden" name="candidate_id" value=(s(m, "candidate_id"));
                                        input type="text" name="reason" placeholder="why split this record out" required maxlength="500";
                                        input.who type="hidden" name="by";
                                        button type="submit" { "Split out" }
                                    }))
                                }
                            }
                        }
                    }
                }
            }
            @let corrections = doc["corrections"].as_array().cloned().unwrap_or_default();
            @if !corrections.is_empty() {
                h2 { "Identity corrections" }
                table #identity-corrections.corrections-history {
                    thead { tr { th { "Event" } th { "When" } th { "What" } th { "By" } th { "Why" } } }
                    tbody {
                        @for c in &corrections {
                            tr.correction data-kind=(s(c, "kind")) {
                                td { (seq_link(u(c, "seq"))) }
                                td { (s(c, "recorded_at")) }
                                td {
                                    @if s(c, "kind") == "split" {
                                        "split: record " code { (s(c, "candidate_id")) } " left " code { (s(c, "from")) }
                                        " for " code { (s(c, "into")) } @if c["new_entity"] == Value::Bool(true) { " (new)" }
                                    } @else {
                                        "merge: " code { (s(c, "merged_entity_id")) } " joined " code { (s(c, "into")) }
                                        " (" (c["candidate_ids"].as_array().map_or(0, Vec::len)) " records)"
                                    }
                                }
                                td { (text(s(c, "by"))) }
                                td { (text(s(c, "reason"))) }
                            }
                        }
                    }
                }
            }
            @if !as_of {
                h2 { "Corrections" }
                div.corrections {
                    (api_form("/api/overrides", "post", access, "#entity", html! {
                        legend { "Override a field (an admin value above every source)" }
                        select name="field" required {
                            @for f in &fields { option value=(s(f, "field")) { (s(f, "field")) } }
                        }
                        input type="text" name="value" placeholder="value" maxlength="4096";
                        label { input type="checkbox" name="clear" value="true"; " clear the override instead" }
                        input type="hidden" name="entity" value=(entity_id);
                        input type="text" name="reason" placeholder="why" required maxlength="500";
                        (who_input())
                        button type="submit" { "Override" }
                    }))
                    (api_form("/api/merges", "post", access, "#entity", html! {
                        legend { "Merge another entity into this one" }
                        input type="hidden" name="entity" value=(entity_id);
                        input type="text" name="other" placeholder="the other entity's id or slug" required maxlength="200";
                        input type="text" name="reason" placeholder="why they are one place" required maxlength="500";
                        (who_input())
                        button type="submit" { "Merge in" }
                    }))
                }
            }
        }
    };
    page_with(name, Nav::Entities, Some(twin), access, true, body)
}

/// A match decision's evidence: each feature's similarity and what it added to the logit
/// (folded unless `open`).
fn evidence(decision: &Value, open: bool) -> Markup {
    let features = decision["features"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let contributions = decision["contributions"].as_array().cloned();
    html! {
        details.evidence open[open] {
            summary { (s(decision, "outcome")) " · matcher " (s(decision, "matcher_version")) }
            @if let Some(terms) = &contributions {
                table.contrib {
                    thead { tr { th { "Feature" } th.num { "Similarity" } th.num { "Adds to logit" } } }
                    tbody {
                        tr { td { "bias" } td.num {} td.num { (format!("{:+.2}", n(decision, "bias"))) } }
                        @for t in terms {
                            @let name = s(t, "feature");
                            tr data-feature=(name) {
                                td { (name) }
                                td.num { (features.get(name).and_then(Value::as_f64).map(|f| format!("{f:.2}")).unwrap_or_default()) }
                                td.num { (format!("{:+.2}", n(t, "logit"))) }
                            }
                        }
                        tr.total { td { "logit" } td.num {} td.num { (features.get("logit").and_then(Value::as_f64).map(|f| format!("{f:+.2}")).unwrap_or_default()) } }
                    }
                }
            } @else if !features.is_empty() {
                (json_block(&Value::Object(features.clone())))
            } @else {
                p.muted { "Decided by a person, not scored." }
            }
        }
    }
}

// ----------------------------------------------------------------------------------------
// Events

pub async fn events(
    State(state): State<AppState>,
    headers: HeaderMap,
    Params(p): Params<EventsParams>,
) -> Response {
    let access = access(&state, &headers);
    let shown = p.clone();
    render(
        blocking(&state, move |s| api::events_doc(s, &p))
            .await
            .map(|doc| events_page(&doc, &shown, access)),
    )
}

fn events_page(doc: &Value, p: &EventsParams, access: Access) -> Markup {
    let pairs = |cursor: Option<&str>| {
        query_string(&[
            ("run", p.run.as_deref()),
            ("stream", p.stream.as_deref()),
            ("kind", p.kind.as_deref()),
            ("grep", p.grep.as_deref()),
            ("from", p.from.as_deref()),
            ("limit", p.limit.as_deref()),
            ("cursor", cursor),
        ])
    };
    let twin = format!("/api/events{}", pairs(p.cursor.as_deref()));
    let events = doc["events"].as_array().cloned().unwrap_or_default();
    let next = doc["next_cursor"]
        .as_u64()
        .map(|c| format!("/events{}", pairs(Some(&c.to_string()))));
    let q = |v: &Option<String>| v.clone().unwrap_or_default();
    let body = html! {
        h1 { "Events" }
        form.filters method="get" action="/events" {
            input type="text" name="kind" placeholder="kind, e.g. MergeDecided" value=(q(&p.kind)) maxlength="64";
            input type="text" name="stream" placeholder="stream, e.g. run/<id>" value=(q(&p.stream)) maxlength="256";
            input type="text" name="run" placeholder="run id" value=(q(&p.run)) maxlength="64";
            input type="text" name="grep" placeholder="text in the event" value=(q(&p.grep)) maxlength="200";
            input type="number" name="from" placeholder="from seq" value=(q(&p.from)) min="1";
            button type="submit" { "Filter" }
        }
        @if events.is_empty() { (none("No event matches.")) } @else {
            table.events {
                thead { tr { th.num { "Seq" } th { "Recorded" } th { "Kind" } th { "Stream" } } }
                tbody {
                    @for e in &events {
                        tr {
                            td.num { (seq_link(u(e, "seq"))) }
                            td { (s(e, "recorded_at")) }
                            td { (s(e, "kind")) }
                            td { code { (text(s(e, "stream"))) } }
                        }
                    }
                }
            }
        }
        @if let Some(next) = &next { p { a.next href=(next) { "Next page →" } } }
        p.muted { "Read " (u(doc, "scanned")) " events for this page." }
    };
    page("Events", Nav::Events, Some(&twin), access, body)
}

pub async fn event(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(seq): Path<String>,
) -> Response {
    let access = access(&state, &headers);
    let seq = match api::parse_seq(&seq) {
        Ok(s) => s,
        Err(e) => return error_page(e),
    };
    render(
        blocking(&state, move |s| api::event_doc(s, seq))
            .await
            .map(|doc| event_page(&doc, access)),
    )
}

fn touched_link(t: &Value) -> Markup {
    let id = s(t, "id");
    match s(t, "type") {
        "entity" => {
            let key = t["slug"].as_str().unwrap_or(id);
            html! { "entity " a href={ "/entities/" (key) } { (key) } }
        }
        "run" => html! { "run " a href={ "/runs/" (id) } { (id) } },
        "review" => html! { "review " a href="/reviews?all=true" { (id) } },
        "candidate" => html! { "candidate " code { (id) } },
        other => html! { (other) " " code { (id) } },
    }
}

fn event_page(doc: &Value, access: Access) -> Markup {
    let seq = u(doc, "seq");
    let raw = &doc["raw_payload"];
    let caused = doc["caused"]["events"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let touched = doc["touched"].as_array().cloned().unwrap_or_default();
    let body = html! {
        h1 { "Event #" (seq) " · " (s(doc, "kind")) }
        p { (text(s(doc, "summary"))) }
        p.nav-seq {
            @if seq > 1 { a href={ "/events/" (seq - 1) } { "← #" (seq - 1) } " · " }
            a href={ "/events/" (seq + 1) } { "#" (seq + 1) " →" }
        }
        table.envelope {
            tbody {
                tr { th { "seq" } td { (seq) } }
                tr { th { "id" } td { code { (s(doc, "id")) } } }
                tr { th { "stream" } td { code { (text(s(doc, "stream"))) } " (version " (u(doc, "stream_version")) ")" } }
                tr { th { "kind" } td { (s(doc, "kind")) " (schema v" (u(doc, "schema_version")) ")" } }
                tr { th { "recorded at" } td { (s(doc, "recorded_at")) } }
                tr { th { "run" } td { @if let Some(r) = doc["run_id"].as_str() { a href={ "/runs/" (r) } { (r) } } } }
                tr { th { "trace" } td { code { (s(doc, "trace_id")) } } }
                tr { th { "caused by" } td {
                    @if let Some(c) = doc["cause"].as_object() {
                        (seq_link(c.get("seq").and_then(Value::as_u64).unwrap_or(0))) " " (c.get("kind").and_then(Value::as_str).unwrap_or(""))
                    } @else { span.muted { "—" } }
                } }
                tr { th { "hash" } td { code { (s(doc, "hash")) } } }
            }
        }
        h2 { "Payload" }
        (json_block(&doc["payload"]))
        @if !raw.is_null() {
            h2 { "Raw connector payload" }
            @if raw["verified"] == Value::Bool(true) {
                p.verified {
                    span.badge.ok { "verified" } " blake3 " code { (s(raw, "hash")) } " · " (u(raw, "bytes")) " bytes, re-hashed on this read"
                    @if raw["truncated"] == Value::Bool(true) { " · the first part is shown" }
                }
                pre.raw { (s(raw, "text")) }
            } @else {
                p.error { span.badge.bad { "not shown" } " " code { (s(raw, "hash")) } ": " (text(s(raw, "error"))) }
            }
        }
        h2 { "What it caused" }
        @if caused.is_empty() { (none("No later event names it as its cause (within the events after it that were searched).")) } @else {
            ul { @for c in &caused { li { (seq_link(u(c, "seq"))) " " (s(c, "kind")) " in " code { (text(s(c, "stream"))) } } } }
        }
        h2 { "What it touched" }
        @if touched.is_empty() { (none("Nothing in the projections.")) } @else {
            ul.touched { @for t in &touched { li { (touched_link(t)) } } }
        }
    };
    page(
        &format!("Event #{seq}"),
        Nav::Events,
        Some(&format!("/api/events/{seq}")),
        access,
        body,
    )
}

// ----------------------------------------------------------------------------------------
// Reviews

pub async fn reviews(
    State(state): State<AppState>,
    headers: HeaderMap,
    Params(p): Params<ReviewsParams>,
) -> Response {
    let access = access(&state, &headers);
    let all = matches!(p.all.as_deref(), Some("true" | "1" | "yes" | "on"));
    render(
        blocking(&state, move |s| {
            // The queue shows each open review as `review show` does.
            let list = api::reviews_doc(s, all)?;
            let listed = list.as_array().cloned().unwrap_or_default();
            let mut docs = Vec::new();
            for r in listed.iter().take(REVIEWS_SHOWN_MAX) {
                docs.push(api::review_doc(s, s_str(r, "review_id"))?);
            }
            Ok((docs, listed.len()))
        })
        .await
        .map(|(docs, total)| reviews_page(&docs, total, all, access)),
    )
}

fn s_str<'a>(v: &'a Value, key: &str) -> &'a str {
    s(v, key)
}

/// The rows a record and an entity are compared on, side by side.
const COMPARED: [(&str, &str); 10] = [
    ("name", "name"),
    ("entity_class", "entity_class"),
    ("categories", "categories"),
    ("sports", "sports"),
    ("address_lines", "address"),
    ("locality", "locality"),
    ("postcode", "postcode"),
    ("coordinates", "coordinates"),
    ("phone", "phone"),
    ("website", "website"),
];

fn record_value(fields: &Value, key: &str) -> Value {
    if key == "coordinates" {
        return match (fields.get("lat"), fields.get("lon")) {
            (Some(lat), Some(lon)) => serde_json::json!({"lat": lat, "lon": lon}),
            _ => Value::Null,
        };
    }
    fields.get(key).cloned().unwrap_or(Value::Null)
}

/// Reviews the queue page shows in full (oldest first); the rest are counted.
pub const REVIEWS_SHOWN_MAX: usize = 50;

fn reviews_page(docs: &[Value], total: usize, all: bool, access: Access) -> Markup {
    let twin = if all {
        "/api/reviews?all=true"
    } else {
        "/api/reviews"
    };
    let body = html! {
        h1 { "Review queue" }
        p {
            @if all { a href="/reviews" { "Show only the open reviews" } } @else { a href="/reviews?all=true" { "Show answered reviews too" } }
        }
        @if docs.is_empty() { (none("Nothing to review.")) }
        @if total > docs.len() { p.muted { "Showing the " (docs.len()) " oldest of " (total) "; answer these to see the next." } }
        @for doc in docs {
            @let r = &doc["review"];
            @let id = s(r, "review_id");
            @let status = s(doc, "status");
            @let record = &doc["candidate"]["observation"];
            @let entities = doc["entities"].as_array().cloned().unwrap_or_default();
            section.review id={ "review-" (id) } data-review=(id) data-status=(status) {
                h2 { "Review " code { (id) } " " (status_badge(status)) }
                p { (s(r, "reason")) ": " (text(s(r, "detail"))) }
                @if let Some(res) = r["resolution"].as_object() {
                    p.resolution {
                        (status) " by " (text(res.get("by").and_then(Value::as_str).unwrap_or(""))) ": "
                        (text(res.get("reason").and_then(Value::as_str).unwrap_or("")))
                        " (" (seq_link(res.get("seq").and_then(Value::as_u64).unwrap_or(0))) ")"
                        @if let Some(e) = res.get("entity_id").and_then(Value::as_str) { " → " a href={ "/entities/" (e) } { (e) } }
                    }
                }
                @if !record.is_null() || !entities.is_empty() {
                    table.side-by-side {
                        thead { tr {
                            th {}
                            th { "The record (" (s(record, "source")) " " code { (text(s(record, "external_id"))) } ")" }
                            @for e in &entities { th { "Entity " a href={ "/entities/" (s(e, "slug")) } { (text(e["name"].as_str().unwrap_or("(no name)"))) } } }
                        } }
                        tbody {
                            @for (rk, ek) in COMPARED {
                                tr {
                                    th scope="row" { (ek) }
                                    td { (value(&record_value(&record["fields"], rk))) }
                                    @for e in &entities { td { (value(&e["fields"][ek])) } }
                                }
                            }
                        }
                    }
                }
                @if !doc["evidence"].is_null() {
                    p { "Matcher score " (format!("{:.3}", n(&doc["evidence"], "score"))) " against the first entity:" }
                    (evidence(&doc["evidence"], true))
                }
                @if status == "open" {
                    div.answer {
                        (api_form(&format!("/api/reviews/{id}/approve"), "post", access, "#main", html! {
                            input type="text" name="reason" placeholder="why" required maxlength="500";
                            (who_input())
                            button.approve type="submit" { "Approve" }
                        }))
                        (api_form(&format!("/api/reviews/{id}/reject"), "post", access, "#main", html! {
                            input type="text" name="reason" placeholder="why" required maxlength="500";
                            (who_input())
                            button.reject type="submit" { "Reject" }
                        }))
                    }
                }
                p.muted { a href={ "/api/reviews/" (id) } { "JSON" } }
            }
        }
    };
    page("Reviews", Nav::Reviews, Some(twin), access, body)
}

// ----------------------------------------------------------------------------------------
// Runs

pub async fn runs(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let access = access(&state, &headers);
    render(
        blocking(&state, |s| {
            let runs = api::runs_doc(s)?;
            let live: Vec<Value> = s.runs().live().iter().map(|r| r.to_json()).collect();
            Ok((runs, Value::Array(live)))
        })
        .await
        .map(|(runs, live)| runs_page(&runs, &live, access)),
    )
}

fn runs_page(runs: &Value, live: &Value, access: Access) -> Markup {
    // Newest first, as people read a list of runs.
    let mut newest_first = runs.as_array().cloned().unwrap_or_default();
    newest_first.reverse();
    let body = html! {
        h1 { "Runs" }
        (api_form("/api/runs", "post", access, "run", html! {
            legend { "Start a run" }
            input #run-query type="text" name="query" placeholder="a question, e.g. powerleague portobello" required maxlength="500";
            label { "budget $ " input type="number" name="budget" step="0.01" min="0" placeholder="0.10"; }
            select name="mode" {
                option value="discover-many" { "discover many" }
                option value="resolve-one" { "resolve one" }
            }
            button #run-start type="submit" { "Start" }
        }))
        (runs_table(&Value::Array(newest_first), live))
    };
    page("Runs", Nav::Runs, Some("/api/runs"), access, body)
}

pub async fn run(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let access = access(&state, &headers);
    let twin = format!(
        "/api/runs/{}",
        form_urlencoded::byte_serialize(id.as_bytes()).collect::<String>()
    );
    render(
        blocking(&state, move |s| api::run_doc(s, &id))
            .await
            .map(|doc| run_page(&doc, &twin, access)),
    )
}

fn run_page(doc: &Value, twin: &str, access: Access) -> Markup {
    let run_id = s(doc, "run_id");
    let status = s(doc, "status");
    let live = doc["live"] == Value::Bool(true);
    let f = &doc["figures"];
    let connectors = f["connectors"].as_array().cloned().unwrap_or_default();
    let entities = doc["entities"].as_array().cloned().unwrap_or_default();
    let skipped = doc["skipped"].as_array().cloned().unwrap_or_default();
    let body = html! {
        // While the run is live the region polls itself; the poll stops once it ended.
        div #run data-status=(status)
            hx-get=[live.then(|| format!("/runs/{run_id}"))]
            hx-trigger=[live.then_some("every 1s")]
            hx-select="#run" hx-swap="outerHTML" {
            h1 { "Run " code { (short(run_id)) } " " span #run-status { (status_badge(status)) } }
            p { "Query: " (text(s(doc, "query"))) " · mode " (s(doc, "mode")) }
            @if let Some(e) = doc["error"].as_str() { p.error { (text(e)) } }
            @if live {
                (api_form(&format!("/api/runs/{run_id}"), "delete", access, "#run", html! {
                    input.who type="hidden" name="by";
                    button #run-cancel type="submit" { "Cancel this run" }
                }))
            }
            @if !f.is_null() {
                p {
                    "Run " code { (run_id) } " · trace " code { (s(doc, "trace_id")) }
                    " · budget $" (format!("{:.3}", n(doc, "budget_usd")))
                    " · estimated $" (format!("{:.4}", n(doc, "estimated_cost_usd")))
                    " · spent $" (format!("{:.4}", n(f, "cost_usd")))
                    " · " (u(f, "duration_ms")) " ms"
                }
                h2 { "Summary" }
                table.summary {
                    tbody {
                        tr { th { "Candidates found" } td.num { (u(f, "candidates_found")) } }
                        tr { th { "Accepted" } td.num { (u(f, "accepted")) } }
                        tr { th { "Duplicates removed" } td.num { (u(doc, "duplicates_removed")) } }
                        tr { th { "Invalid" } td.num { (u(doc, "rejected_invalid")) } }
                        tr { th { "Entities created" } td.num { (u(f, "entities_created")) } }
                        tr { th { "Entities updated" } td.num { (u(f, "entities_updated")) } }
                        tr { th { "Reviews requested" } td.num { (u(f, "reviews_requested")) } }
                    }
                }
                h2 { "Connector metrics" }
                @if connectors.is_empty() { (none("No connector ran.")) } @else {
                    table.connectors {
                        thead { tr { th { "Connector" } th { "Status" } th.num { "Time (ms)" } th.num { "Candidates" } th.num { "Cost (USD)" } th { "Transport" } th.num { "Attempts" } } }
                        tbody {
                            @for c in &connectors {
                                tr {
                                    td { (s(c, "connector")) }
                                    td { (status_badge(s(c, "status"))) @if let Some(e) = c["error"].as_str() { " " (text(e)) } }
                                    td.num { (u(c, "latency_ms")) }
                                    td.num { (u(c, "candidates")) }
                                    td.num { (format!("{:.4}", n(c, "cost_usd"))) }
                                    td { (s(c, "transport")) }
                                    td.num { (u(c, "attempts")) }
                                }
                            }
                        }
                    }
                }
                @if !skipped.is_empty() {
                    h2 { "Skipped" }
                    ul { @for sk in &skipped { li { (plain(&sk[0])) ": " (text(&plain(&sk[1]))) } } }
                }
                h2 { "Entities" }
                @if entities.is_empty() { (none("None.")) } @else {
                    table.run-entities {
                        thead { tr { th { "Entity" } th { "New" } th { "Sources" } } }
                        tbody {
                            @for e in &entities {
                                tr {
                                    td { a href={ "/entities/" (e["slug"].as_str().unwrap_or(s(e, "entity_id"))) } { (text(s(e, "name"))) } }
                                    td { @if e["created"] == Value::Bool(true) { "new" } }
                                    td { (value(&e["sources"])) }
                                }
                            }
                        }
                    }
                }
                p { a href={ "/events?run=" (run_id) } { "Every event of this run" } }
            } @else {
                p.muted { "Started " (s(doc, "started_at")) "; the report appears when the run's first events are projected." }
            }
        }
    };
    page(
        &format!("Run {}", short(run_id)),
        Nav::Runs,
        Some(twin),
        access,
        body,
    )
}
