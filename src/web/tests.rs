//! Handler tests without a browser: every route through the real router (tower's
//! `oneshot`), on a scratch data dir built from the offline fixtures, checked against the
//! library functions the command line prints.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use axum::body::Body as HttpBody;
use axum::http::{header, HeaderMap, Method, Request, StatusCode};
use axum::Router;
use serde_json::{json, Value};
use tower::ServiceExt;

use super::identity::NotYetAvailable;
use super::{router, AppState, Config, Token};
use crate::cmd;
use crate::datadir::DataDir;

const TOKEN: &str = "test-token-0123456789";
const HOST: &str = "127.0.0.1:7878";

/// A hostile name from a source: a script, quotes, an ampersand, a right-to-left override.
pub(crate) const HOSTILE_NAME: &str =
    "<script>window.__pwned=1</script> \"Quoted\" 'single' & \u{202e}gnirts-LTR\u{202c} Café שלום";

/// 10,000 characters of hostile text (an image whose error handler would run script).
pub(crate) fn hostile_long_text() -> String {
    let unit = "<img src=x onerror=window.__pwned=2> \u{202e}long & \"text\" ";
    unit.chars().cycle().take(10_000).collect()
}

/// What the template data dir holds.
pub(crate) struct Template {
    dir: PathBuf,
    pub review_id: String,
    pub review_entity: String,
    pub review_candidate: String,
    pub hostile_slug: String,
    /// The seed query's place (Powerleague Portobello), known to several sources.
    pub seed_slug: String,
}

/// The slug of the seed query's place.
fn seed() -> &'static str {
    &template().seed_slug
}

const MAP: &str =
    "id=external_id,name=name,addr=address,city=locality,pc=postcode,phone=phone,lat=lat,lon=lon";

/// Builds a data dir from the offline fixtures: the seed query's run, two council records
/// of which the second waits for review, and a record full of hostile text.
pub(crate) fn build_data_dir(dir: &Path) -> Template {
    let place = crate::datadir::Place::embedded(dir);
    let data = DataDir::writable(&place).unwrap();
    {
        let plan = cmd::plan::PlanArgs {
            query: "powerleague portobello".into(),
            budget: None,
            mode: "discover-many".into(),
            connectors: None,
        }
        .plan()
        .unwrap();
        let prepared = crate::ingest::query::prepare(&plan, true, None).unwrap();
        let store = data.write_log().unwrap();
        let blobs = data.blobs().unwrap();
        let driver = crate::ingest::query::Driver {
            run_id: uuid::Uuid::now_v7(),
            shutdown: crate::ingest::lifecycle::Shutdown::new(),
            progress: false,
            runtime: None,
            keep_off_topic: false,
        };
        crate::ingest::query::run_query(&data, &*store, &*blobs, &plan, prepared, driver).unwrap();
    }
    let import = |source: &str, name: &str, format: cmd::import::Format, map: &str, body: &str| {
        let file = dir.join(name);
        std::fs::write(&file, body).unwrap();
        cmd::import::run(
            &place,
            None,
            cmd::import::Args {
                source: source.into(),
                format,
                map: Some(map.into()),
                on_duplicate: cmd::import::OnDuplicate::Refuse,
                region: None,
                distinct_records: false,
                locality: None,
                file: file.clone(),
                json: true,
            },
        )
        .unwrap();
        std::fs::remove_file(file).unwrap();
    };
    import(
        "council_sheet",
        "founding.csv",
        cmd::import::Format::Csv,
        MAP,
        "id,name,addr,city,pc,phone,lat,lon\n\
         Q-1,Quarrymill Tennis Club,5 Quarry Lane,Edinburgh,EH9 9ZZ,0131 496 0777,55.9300,-3.2000\n",
    );
    import(
        "edinburgh_council",
        "second.csv",
        cmd::import::Format::Csv,
        MAP,
        // No town: the same one would take the pair past the review band (matcher 2).
        "id,name,addr,city,pc,phone,lat,lon\nC-7,Quarrymill Tennis Club,,,EH9 9ZY,,,\n",
    );
    let hostile = json!({
        "id": "H-1", "name": HOSTILE_NAME, "addr": "1 <b>Bold</b> Street", "city": "Edinburgh",
        "pc": "EH1 1AA", "lat": 55.95, "lon": -3.19, "desc": hostile_long_text(),
    });
    import(
        "council_sheet",
        "hostile.ndjson",
        cmd::import::Format::Ndjson,
        "id=external_id,name=name,addr=address,city=locality,pc=postcode,lat=lat,lon=lon,desc=description",
        &format!("{hostile}\n"),
    );
    crate::project::catch_up(
        &data,
        &*data.write_log().unwrap(),
        &crate::project::load_policy(None, &place).unwrap(),
        false,
    )
    .unwrap();
    let db = trustfold_projections::Projections::new(dir)
        .open_read()
        .unwrap()
        .unwrap();
    let review = db.reviews(false).unwrap().pop().expect("a review is open");
    let (hostile, _) = db
        .entities_page(
            &trustfold_projections::EntityFilter {
                search: Some("pwned".into()),
                ..Default::default()
            },
            None,
            1,
        )
        .unwrap()
        .entities
        .into_iter()
        .map(|e| (e.slug.clone(), e))
        .next()
        .expect("the hostile record founded an entity");
    let seed_slug = db
        .entities_page(
            &trustfold_projections::EntityFilter {
                search: Some("powerleague portobello".into()),
                ..Default::default()
            },
            None,
            100,
        )
        .unwrap()
        .entities
        .into_iter()
        .max_by_key(|e| e.n_candidates)
        .expect("the seed query found its place")
        .slug;
    Template {
        seed_slug,
        dir: dir.to_path_buf(),
        review_id: review.review_id,
        review_entity: review.entity_ids[0].clone(),
        review_candidate: review.candidate_id.unwrap(),
        hostile_slug: hostile,
    }
}

/// The template, built once per test binary (on a thread of its own: a run makes its own
/// runtime when it is given none).
fn template() -> &'static Template {
    static T: OnceLock<Template> = OnceLock::new();
    T.get_or_init(|| {
        std::thread::spawn(|| {
            let dir = tempfile::tempdir().unwrap().keep();
            build_data_dir(&dir.join("data"))
        })
        .join()
        .unwrap()
    })
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A test's own copy of the template, and the server on it.
struct Scratch {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    app: Router,
}

fn scratch_with(read_only: bool) -> Scratch {
    scratch_full(read_only, Arc::new(NotYetAvailable))
}

fn scratch_full(
    read_only: bool,
    identity: Arc<dyn super::identity::IdentityCorrections>,
) -> Scratch {
    let t = template();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    copy_dir(&t.dir, &dir);
    let state = AppState::new(
        Config {
            place: crate::datadir::Place::embedded(&dir),
            trust: None,
            token: Token::given(TOKEN).unwrap(),
            read_only,
            bind: HOST.parse().unwrap(),
        },
        identity,
    )
    .unwrap();
    Scratch {
        _tmp: tmp,
        dir,
        app: router(state),
    }
}

fn scratch() -> Scratch {
    scratch_with(false)
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "{e}: {} {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn content_type(&self) -> &str {
        self.headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// An error answer: the status, and a JSON `{"error"}` that says something.
    fn assert_error(&self, status: StatusCode) -> String {
        assert_eq!(self.status, status, "{}", self.text());
        assert!(
            self.content_type().starts_with("application/json"),
            "{}",
            self.content_type()
        );
        let doc = self.json();
        let msg = doc["error"].as_str().expect("an error message").to_string();
        assert!(!msg.is_empty());
        assert!(!msg.contains(TOKEN), "the token never reaches an error");
        msg
    }
}

fn request(method: Method, uri: &str) -> axum::http::request::Builder {
    Request::builder()
        .method(method)
        .uri(uri)
        .header(header::HOST, HOST)
}

impl Scratch {
    async fn send(&self, req: Request<HttpBody>) -> Answer {
        let response = self.app.clone().oneshot(req).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = axum::body::to_bytes(response.into_body(), 64 * 1024 * 1024)
            .await
            .unwrap()
            .to_vec();
        Answer {
            status,
            headers,
            body,
        }
    }

    async fn get(&self, uri: &str) -> Answer {
        self.send(request(Method::GET, uri).body(HttpBody::empty()).unwrap())
            .await
    }

    async fn get_json(&self, uri: &str) -> Value {
        let a = self.get(uri).await;
        assert_eq!(a.status, StatusCode::OK, "{uri}: {}", a.text());
        assert!(a.content_type().starts_with("application/json"), "{uri}");
        a.json()
    }

    /// A change with the bearer token.
    async fn call(&self, method: Method, uri: &str, body: Value) -> Answer {
        self.send(
            request(method, uri)
                .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
                .header(header::CONTENT_TYPE, "application/json")
                .body(HttpBody::from(body.to_string()))
                .unwrap(),
        )
        .await
    }

    fn db(&self) -> trustfold_projections::ProjectionDb {
        trustfold_projections::Projections::new(&self.dir)
            .open_read()
            .unwrap()
            .unwrap()
    }

    fn log(&self) -> Box<dyn trustfold_events::EventStore> {
        crate::project::log_for_reading(&crate::datadir::Place::embedded(&self.dir)).unwrap()
    }

    fn event_count(&self) -> u64 {
        trustfold_events::EventStore::head(&*self.log())
            .unwrap()
            .map_or(0, |h| h.seq)
    }
}

fn provenance_of(s: &Scratch, key: &str, as_of: Option<&str>) -> Value {
    let query = cmd::provenance::Query::parse(key, None, as_of).unwrap();
    let p = cmd::provenance::provenance(&s.db(), &*s.log(), &query).unwrap();
    cmd::provenance::provenance_document(&p)
}

// ----------------------------------------------------------------------------------------
// Pages and their JSON twins

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_answers_html_and_links_its_json_twin_which_answers_json() {
    let s = scratch();
    let t = template();
    let run_id = s.db().runs().unwrap()[0].run_id.clone();
    let pages = [
        ("/".to_string(), "/api/overview".to_string()),
        ("/entities".into(), "/api/entities".into()),
        (
            format!("/entities/{}", seed()),
            format!("/api/entities/{}", seed()),
        ),
        ("/events".into(), "/api/events".into()),
        ("/events/1".into(), "/api/events/1".into()),
        ("/reviews".into(), "/api/reviews".into()),
        ("/runs".into(), "/api/runs".into()),
        (format!("/runs/{run_id}"), format!("/api/runs/{run_id}")),
        (
            format!("/entities/{}", t.hostile_slug),
            format!("/api/entities/{}", t.hostile_slug),
        ),
    ];
    for (page, twin) in &pages {
        let a = s.get(page).await;
        assert_eq!(a.status, StatusCode::OK, "{page}: {}", a.text());
        assert!(a.content_type().starts_with("text/html"), "{page}");
        let html = a.text();
        assert!(
            html.contains(&format!(
                "<link rel=\"alternate\" type=\"application/json\" href=\"{twin}\">"
            )),
            "{page} links {twin}"
        );
        let csp = a.headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(csp.contains("script-src 'self'"), "{csp}");
        for attr in [
            "src=\"http",
            "href=\"http",
            "src=\"//",
            "href=\"//",
            "action=\"http",
        ] {
            assert!(
                !html.contains(attr),
                "{page} loads or links nothing from another site"
            );
        }
        s.get_json(twin).await;
    }
    let conflicts = s.get_json("/api/conflicts").await;
    assert!(conflicts.is_array());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_entity_document_is_the_provenance_document_and_the_page_shows_every_field_and_loser() {
    let s = scratch();
    let doc = s.get_json(&format!("/api/entities/{}", seed())).await;
    assert_eq!(doc, provenance_of(&s, seed(), None));
    // The entity id and a unique prefix name the same entity.
    let id = doc["entity_id"].as_str().unwrap();
    assert_eq!(s.get_json(&format!("/api/entities/{id}")).await, doc);
    assert_eq!(
        s.get_json(&format!("/api/entities/{}", &id[..10])).await,
        doc
    );

    let html = s.get(&format!("/entities/{}", seed())).await.text();
    for f in doc["provenance"].as_array().unwrap() {
        let field = f["field"].as_str().unwrap();
        assert!(
            html.contains(&format!("<tbody class=\"field\" data-field=\"{field}\">")),
            "a row for {field}"
        );
        let losers = f["candidates"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["winner"] != json!(true))
            .count();
        if losers > 0 {
            let summary = format!(
                "{losers} other value{} and why each lost",
                if losers == 1 { "" } else { "s" }
            );
            assert!(html.contains(&summary), "{field}: {summary}");
        }
    }
    // Members with their decisions, and the map's points with distances.
    let members = doc["members"].as_array().unwrap();
    assert!(members.len() >= 3, "{members:?}");
    for m in members {
        assert!(html.contains(&format!(
            "data-candidate=\"{}\"",
            m["candidate_id"].as_str().unwrap()
        )));
    }
    let scored = members
        .iter()
        .find(|m| m["decision"]["contributions"].is_array())
        .expect("a member joined by the matcher");
    let d = &scored["decision"];
    let sum: f64 = d["contributions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["logit"].as_f64().unwrap())
        .sum::<f64>()
        + d["bias"].as_f64().unwrap();
    let logit = d["features"]["logit"].as_f64().unwrap();
    assert!(
        (sum - logit).abs() < 1e-9,
        "the terms add up to the logit: {sum} vs {logit}"
    );
    let points = doc["map"]["points"].as_array().unwrap();
    assert!(points.len() >= 2, "{}", doc["map"]);
    assert_eq!(
        points.iter().filter(|p| p["winner"] == json!(true)).count(),
        1
    );
    let n = points.len();
    assert_eq!(
        doc["map"]["distances"].as_array().unwrap().len(),
        n * (n - 1) / 2
    );
    assert!(html.contains("id=\"map\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entities_page_through_the_whole_listing_with_a_cursor_and_filter_like_the_cli() {
    let s = scratch();
    let all = cmd::entities::list_entities(
        &s.db(),
        &trustfold_projections::EntityFilter::default(),
        None,
        usize::MAX,
    )
    .unwrap()
    .0;
    assert!(all.len() > 3, "{}", all.len());
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let uri = match &cursor {
            Some(c) => format!("/api/entities?limit=2&cursor={c}"),
            None => "/api/entities?limit=2".into(),
        };
        let page = s.get_json(&uri).await;
        let items = page["entities"].as_array().unwrap();
        assert!(items.len() <= 2);
        for e in items {
            assert_eq!(
                e,
                &cmd::entities::entity_json(
                    all.iter().find(|m| m.entity_id == e["entity_id"]).unwrap()
                )
            );
            seen.push(e["entity_id"].as_str().unwrap().to_string());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    let expected: Vec<String> = all.iter().map(|m| m.entity_id.clone()).collect();
    assert_eq!(seen, expected, "every entity once, in the CLI's order");

    let serper = s.get_json("/api/entities?source=serper&limit=500").await;
    let items = serper["entities"].as_array().unwrap();
    assert!(!items.is_empty());
    assert!(items
        .iter()
        .all(|e| e["sources"].as_array().unwrap().contains(&json!("serper"))));
    let found = s
        .get_json("/api/entities?search=powerleague%20portobello")
        .await;
    assert!(found["entities"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["slug"] == seed()));
    let complete = s.get_json("/api/entities?completeness=60&limit=500").await;
    assert!(complete["entities"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["completeness"]["pct"].as_f64().unwrap() >= 60.0));
    let none = s.get_json("/api/entities?conflicted=true").await;
    assert!(none["entities"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| !e["conflicts"].as_array().unwrap().is_empty()));

    for bad in [
        "/api/entities?limit=0",
        "/api/entities?limit=501",
        "/api/entities?limit=many",
        "/api/entities?source=myspace",
        "/api/entities?cursor=zz",
        "/api/entities?completeness=150",
        "/api/entities?conflicted=maybe",
        "/api/entities?serach=typo",
    ] {
        s.get(bad).await.assert_error(StatusCode::BAD_REQUEST);
    }
    // The page says the same, escaped, and offers the next page.
    let html = s.get("/entities?limit=2").await.text();
    assert!(html.contains("Next page"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_page_by_cursor_and_one_event_shows_its_verified_payload_cause_and_effects() {
    let s = scratch();
    let head = s.event_count();
    let mut seqs = Vec::new();
    let mut cursor = None::<u64>;
    loop {
        let uri = match cursor {
            Some(c) => format!("/api/events?limit=40&cursor={c}"),
            None => "/api/events?limit=40".into(),
        };
        let page = s.get_json(&uri).await;
        for e in page["events"].as_array().unwrap() {
            seqs.push(e["seq"].as_u64().unwrap());
        }
        match page["next_cursor"].as_u64() {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seqs, (1..=head).collect::<Vec<_>>());
    let kinds = s.get_json("/api/events?kind=RunStarted").await;
    assert!(kinds["events"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["kind"] == "RunStarted"));
    let grep = s.get_json("/api/events?grep=quarrymill&limit=500").await;
    assert!(!grep["events"].as_array().unwrap().is_empty());

    // A response: its payload read back and verified, what caused it, what it caused.
    let responded = s
        .get_json("/api/events?kind=ConnectorResponded&limit=1")
        .await;
    let seq = responded["events"][0]["seq"].as_u64().unwrap();
    let one = s.get_json(&format!("/api/events/{seq}")).await;
    assert_eq!(
        one["raw_payload"]["verified"], true,
        "{}",
        one["raw_payload"]
    );
    assert_eq!(
        one["raw_payload"]["bytes"], one["payload"]["payload_bytes"],
        "the whole payload was read"
    );
    assert_eq!(one["cause"]["kind"], "RunStarted");
    let caused = one["caused"]["events"].as_array().unwrap();
    assert!(
        caused.iter().any(|c| c["kind"] == "CandidateExtracted"),
        "{caused:?}"
    );
    assert!(one["touched"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["type"] == "entity"));
    let html = s.get(&format!("/events/{seq}")).await.text();
    assert!(html.contains("verified"));

    s.get(&format!("/api/events/{}", head + 100))
        .await
        .assert_error(StatusCode::NOT_FOUND);
    s.get("/api/events/abc")
        .await
        .assert_error(StatusCode::BAD_REQUEST);
    s.get("/api/events?kind=NoSuchKind")
        .await
        .assert_error(StatusCode::BAD_REQUEST);
    s.get("/api/events?run=not-a-uuid")
        .await
        .assert_error(StatusCode::BAD_REQUEST);
    assert_eq!(
        s.get(&format!("/events/{}", head + 100)).await.status,
        StatusCode::NOT_FOUND
    );
}

// ----------------------------------------------------------------------------------------
// The token rules

/// Every route that changes something, with a body it would accept.
fn mutating_routes() -> Vec<(Method, String, Value)> {
    let t = template();
    vec![
        (
            Method::POST,
            format!("/api/reviews/{}/approve", t.review_id),
            json!({"reason": "same club", "by": "alice"}),
        ),
        (
            Method::POST,
            format!("/api/reviews/{}/reject", t.review_id),
            json!({"reason": "another club", "by": "alice"}),
        ),
        (
            Method::POST,
            "/api/overrides".into(),
            json!({"entity": seed(), "field": "phone", "value": "+44 131 496 0000", "reason": "called them", "by": "alice"}),
        ),
        (
            Method::POST,
            "/api/splits".into(),
            json!({"entity": seed(), "candidate_id": "c_x", "reason": "r", "by": "alice"}),
        ),
        (
            Method::POST,
            "/api/merges".into(),
            json!({"entity": seed(), "other": "x", "reason": "r", "by": "alice"}),
        ),
        (
            Method::POST,
            "/api/runs".into(),
            json!({"query": "powerleague portobello"}),
        ),
        (
            Method::DELETE,
            format!("/api/runs/{}", uuid::Uuid::now_v7()),
            Value::Null,
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_change_needs_the_token_401_without_it_and_403_when_read_only() {
    let s = scratch();
    let before = s.event_count();
    for (method, uri, body) in mutating_routes() {
        let no_token = s
            .send(
                request(method.clone(), &uri)
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(HttpBody::from(body.to_string()))
                    .unwrap(),
            )
            .await;
        no_token.assert_error(StatusCode::UNAUTHORIZED);
        assert!(no_token.headers.contains_key(header::WWW_AUTHENTICATE));
        let wrong = s
            .send(
                request(method.clone(), &uri)
                    .header(header::AUTHORIZATION, "Bearer not-the-token-at-all")
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(HttpBody::from(body.to_string()))
                    .unwrap(),
            )
            .await;
        wrong.assert_error(StatusCode::UNAUTHORIZED);
    }
    let ro = scratch_with(true);
    for (method, uri, body) in mutating_routes() {
        ro.call(method, &uri, body)
            .await
            .assert_error(StatusCode::FORBIDDEN);
    }
    assert_eq!(s.event_count(), before, "nothing was recorded");
    assert_eq!(ro.event_count(), before, "nothing was recorded");
    // Reading needs no token, read-only or not.
    ro.get_json("/api/overview").await;
    let page = ro.get("/reviews").await.text();
    assert!(page.contains("--read-only"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_login_url_sets_an_httponly_samesite_strict_cookie_that_the_page_changes_with() {
    let s = scratch();
    let login = s.get(&format!("/login?token={TOKEN}")).await;
    assert_eq!(login.status, StatusCode::SEE_OTHER, "{}", login.text());
    assert_eq!(login.headers[header::LOCATION], "/");
    let cookie = login.headers[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        cookie.starts_with(&format!("trustfold_token={TOKEN};")),
        "{cookie}"
    );
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Strict"), "{cookie}");
    assert!(cookie.contains("Path=/"), "{cookie}");

    let wrong = s.get("/login?token=guess-guess-guess-guess").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(!wrong.headers.contains_key(header::SET_COOKIE));

    // The page knows it may change things with the cookie, and offers live forms.
    let with_cookie = |method: Method, uri: &str| {
        request(method, uri).header(header::COOKIE, format!("trustfold_token={TOKEN}"))
    };
    let page = s
        .send(
            with_cookie(Method::GET, "/reviews")
                .body(HttpBody::empty())
                .unwrap(),
        )
        .await
        .text();
    assert!(page.contains("data-access=\"write\""));
    assert!(!page.contains("fieldset disabled"));
    let anonymous = s.get("/reviews").await.text();
    assert!(anonymous.contains("data-access=\"no-token\""));
    assert!(anonymous.contains("fieldset disabled"));

    // A cookie-borne change from another origin is refused; from this one it is taken.
    let body = json!({"entity": seed(), "field": "phone", "value": "+44 131 496 0000", "reason": "called", "by": "bob"});
    let foreign = s
        .send(
            with_cookie(Method::POST, "/api/overrides")
                .header(header::ORIGIN, "http://evil.example")
                .header(header::CONTENT_TYPE, "application/json")
                .body(HttpBody::from(body.to_string()))
                .unwrap(),
        )
        .await;
    foreign.assert_error(StatusCode::FORBIDDEN);
    let own = s
        .send(
            with_cookie(Method::POST, "/api/overrides")
                .header(header::ORIGIN, format!("http://{HOST}"))
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(HttpBody::from(format!(
                    "entity={}&field=phone&value=%2B44+131+496+0000&reason=called&by=bob",
                    seed()
                )))
                .unwrap(),
        )
        .await;
    assert_eq!(own.status, StatusCode::OK, "{}", own.text());
    assert_eq!(own.json()["source"], "admin");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_loopback_only_loopback_host_names_are_served() {
    let s = scratch();
    let evil = s
        .send(
            Request::builder()
                .uri("/api/overview")
                .header(header::HOST, "rebound.evil.example:7878")
                .body(HttpBody::empty())
                .unwrap(),
        )
        .await;
    evil.assert_error(StatusCode::FORBIDDEN);
    for host in ["localhost:7878", "127.0.0.1:7878", "[::1]:7878"] {
        let ok = s
            .send(
                Request::builder()
                    .uri("/api/overview")
                    .header(header::HOST, host)
                    .body(HttpBody::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(ok.status, StatusCode::OK, "{host}");
    }
}

// ----------------------------------------------------------------------------------------
// Reviews, overrides, identity corrections

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approving_a_review_changes_the_provenance_and_a_second_answer_is_a_conflict() {
    let s = scratch();
    let t = template();
    let listed = s.get_json("/api/reviews").await;
    assert_eq!(
        listed,
        serde_json::to_value(s.db().reviews(false).unwrap()).unwrap()
    );
    let shown = s.get_json(&format!("/api/reviews/{}", t.review_id)).await;
    assert_eq!(shown["status"], "open");
    assert_eq!(shown["candidate"]["observation"]["external_id"], "C-7");
    assert_eq!(shown["entities"][0]["entity_id"], t.review_entity.as_str());
    let evidence = &shown["evidence"];
    assert_eq!(evidence["outcome"], "needs_review");
    assert!(evidence["contributions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["feature"] == "name"));
    let page = s.get("/reviews").await.text();
    assert!(page.contains(&format!("data-review=\"{}\"", t.review_id)));
    assert!(page.contains("Quarrymill Tennis Club"));

    let before = s
        .get_json(&format!("/api/entities/{}", t.review_entity))
        .await;
    assert!(!before["members"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["candidate_id"] == t.review_candidate.as_str()));

    let approve = format!("/api/reviews/{}/approve", t.review_id);
    // A malformed answer changes nothing.
    s.call(
        Method::POST,
        &approve,
        json!({"reason": "  ", "by": "alice"}),
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST);
    assert_eq!(
        s.call(Method::POST, &approve, json!({"by": "alice"}))
            .await
            .status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let ok = s
        .call(
            Method::POST,
            &approve,
            json!({"reason": "the same club", "by": "alice"}),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text());
    let answered = ok.json();
    assert_eq!(answered["entity_id"], t.review_entity.as_str());

    let after = s
        .get_json(&format!("/api/entities/{}", t.review_entity))
        .await;
    let joined = after["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["candidate_id"] == t.review_candidate.as_str())
        .expect("the record is now a member");
    assert_eq!(joined["decided_by"], format!("review:{}", t.review_id));
    assert!(after["sources"]
        .as_array()
        .unwrap()
        .contains(&json!("edinburgh_council")));

    let again = s
        .call(
            Method::POST,
            &approve,
            json!({"reason": "twice", "by": "bob"}),
        )
        .await;
    let msg = again.assert_error(StatusCode::CONFLICT);
    assert!(msg.contains("already answered"), "{msg}");
    s.call(
        Method::POST,
        "/api/reviews/r_nonesuch/approve",
        json!({"reason": "x", "by": "alice"}),
    )
    .await
    .assert_error(StatusCode::NOT_FOUND);
    s.get("/api/reviews/r_nonesuch")
        .await
        .assert_error(StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejecting_a_review_founds_an_entity_of_its_own_for_the_record() {
    let s = scratch();
    let t = template();
    let ok = s
        .send(
            request(
                Method::POST,
                &format!("/api/reviews/{}/reject", t.review_id),
            )
            .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(HttpBody::from("reason=another+club&by=carol"))
            .unwrap(),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text());
    let answered = ok.json();
    assert_eq!(answered["decision"], "rejected");
    let own = answered["entity_id"].as_str().unwrap();
    assert_eq!(own, crate::resolve::entity_id_for(&t.review_candidate));
    let doc = s.get_json(&format!("/api/entities/{own}")).await;
    assert_eq!(
        doc["members"][0]["candidate_id"],
        t.review_candidate.as_str()
    );
    assert_eq!(
        doc["members"][0]["decided_by"],
        format!("review:{}", t.review_id)
    );
    let shown = s.get_json(&format!("/api/reviews/{}", t.review_id)).await;
    assert_eq!(shown["status"], "rejected");
    assert_eq!(shown["review"]["resolution"]["by"], "carol");
    assert_eq!(s.get_json("/api/reviews").await, json!([]));
    let all = s.get_json("/api/reviews?all=true").await;
    assert_eq!(all.as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_people_answering_one_review_at_once_get_one_answer_and_one_conflict() {
    let s = scratch();
    let t = template();
    let approve = format!("/api/reviews/{}/approve", t.review_id);
    let reject = format!("/api/reviews/{}/reject", t.review_id);
    let (a, b) = tokio::join!(
        s.call(
            Method::POST,
            &approve,
            json!({"reason": "same", "by": "alice"})
        ),
        s.call(
            Method::POST,
            &reject,
            json!({"reason": "different", "by": "bob"})
        ),
    );
    let mut statuses = [a.status, b.status];
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::OK, StatusCode::CONFLICT],
        "{} / {}",
        a.text(),
        b.text()
    );
    let resolved = s
        .log()
        .read_filtered(trustfold_events::EventFilter {
            from_seq: 1,
            kind: Some("ReviewResolved".into()),
            ..Default::default()
        })
        .count();
    assert_eq!(resolved, 1, "one decision in the log");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_override_over_http_is_the_cli_override_and_bad_ones_say_why() {
    let s = scratch();
    let ok = s
        .call(
            Method::POST,
            "/api/overrides",
            json!({"entity": seed(), "field": "phone", "value": "+44 131 496 0000", "reason": "called them", "by": "alice"}),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text());
    let doc = ok.json();
    assert_eq!(doc["value"], "+441314960000");
    assert_eq!(doc["source"], "admin");
    let entity = s.get_json(&format!("/api/entities/{}", seed())).await;
    let badge = &entity["overrides"][0];
    assert_eq!(badge["by"], "alice");
    assert_eq!(badge["reason"], "called them");
    let html = s.get(&format!("/entities/{}", seed())).await.text();
    assert!(html
        .contains("override by <bdi class=\"v\">alice</bdi>: <bdi class=\"v\">called them</bdi>"));

    for (body, status) in [
        (
            json!({"entity": "nonesuch-place", "field": "phone", "value": "+44 131 496 0000", "reason": "r", "by": "a"}),
            StatusCode::NOT_FOUND,
        ),
        (
            json!({"entity": seed(), "field": "colour", "value": "red", "reason": "r", "by": "a"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"entity": seed(), "field": "phone", "value": "not a phone", "reason": "r", "by": "a"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"entity": seed(), "field": "phone", "value": "+44 131 496 0000", "clear": true, "reason": "r", "by": "a"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"entity": seed(), "field": "website", "clear": true, "reason": "r", "by": "a"}),
            StatusCode::CONFLICT,
        ),
        (
            json!({"entity": seed(), "field": "phone", "reason": "r", "by": "a"}),
            StatusCode::BAD_REQUEST,
        ),
    ] {
        s.call(Method::POST, "/api/overrides", body)
            .await
            .assert_error(status);
    }
    // Clearing it brings the sources' value back.
    let cleared = s
        .call(
            Method::POST,
            "/api/overrides",
            json!({"entity": seed(), "field": "phone", "clear": true, "reason": "wrong number", "by": "alice"}),
        )
        .await;
    assert_eq!(cleared.status, StatusCode::OK, "{}", cleared.text());
    assert_ne!(cleared.json()["source"], "admin");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn splits_and_merges_are_routed_and_answer_501_without_identity_corrections() {
    let s = scratch();
    let before = s.event_count();
    for uri in ["/api/splits", "/api/merges"] {
        let body = if uri == "/api/splits" {
            json!({"entity": seed(), "candidate_id": "c_x", "reason": "two places", "by": "alice"})
        } else {
            json!({"entity": seed(), "other": "another-place", "reason": "one place", "by": "alice"})
        };
        let a = s.call(Method::POST, uri, body).await;
        assert_eq!(
            a.assert_error(StatusCode::NOT_IMPLEMENTED),
            "not available in this build yet"
        );
        // The body is still checked first.
        s.call(Method::POST, uri, json!({"entity": "x"}))
            .await
            .assert_error(StatusCode::UNPROCESSABLE_ENTITY);
    }
    assert_eq!(s.event_count(), before);
    let page = s.get(&format!("/entities/{}", seed())).await.text();
    assert!(page.contains("hx-post=\"/api/splits\""));
    assert!(page.contains("hx-post=\"/api/merges\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn splits_and_merges_call_the_commands_functions_and_answer_their_documents() {
    let s = scratch_full(false, Arc::new(crate::cmd::corrections::Corrections));
    let before = s.event_count();
    let doc = s.get_json(&format!("/api/entities/{}", seed())).await;
    let seed_id = doc["entity_id"].as_str().unwrap().to_string();
    let cid = doc["members"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|m| m["decided_by"] == "matcher")
        .expect("a member the matcher placed")["candidate_id"]
        .as_str()
        .unwrap()
        .to_string();
    // Bad input: an unknown record (404), merging into itself (400); nothing appended.
    let split = |candidate: &str| json!({"entity": seed(), "candidate_id": candidate, "reason": "two places", "by": "alice"});
    s.call(Method::POST, "/api/splits", split("c_x"))
        .await
        .assert_error(StatusCode::NOT_FOUND);
    let itself = json!({"entity": seed(), "other": seed(), "reason": "r", "by": "alice"});
    s.call(Method::POST, "/api/merges", itself)
        .await
        .assert_error(StatusCode::BAD_REQUEST);
    assert_eq!(s.event_count(), before);
    // A split: the record founds an entity of its own.
    let a = s.call(Method::POST, "/api/splits", split(&cid)).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    let done = a.json();
    assert_eq!(done["entity_id"], seed_id.as_str());
    assert_eq!(done["new_entity"], true);
    let new_id = done["into_entity_id"].as_str().unwrap().to_string();
    let new_doc = s.get_json(&format!("/api/entities/{new_id}")).await;
    assert_eq!(new_doc["members"][0]["candidate_id"], cid.as_str());
    assert_eq!(new_doc["corrections"][0]["by"], "alice");
    // A merge back: the split-out entity's id now names the seed entity.
    let merge = json!({"entity": seed(), "other": new_id, "reason": "one place", "by": "bob"});
    let a = s.call(Method::POST, "/api/merges", merge.clone()).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert_eq!(a.json()["merged_entity_id"], new_id.as_str());
    let aliased = s.get_json(&format!("/api/entities/{new_id}")).await;
    assert_eq!(aliased["entity_id"], seed_id.as_str());
    assert_eq!(aliased["alias"]["entity_id"], new_id.as_str());
    // The page asked by the old id says so, and lists both corrections with who and why.
    let page = s.get(&format!("/entities/{new_id}")).await.text();
    let banner = page.split("id=\"alias\"").nth(1).expect("an alias banner");
    assert!(
        banner.contains(new_id.as_str()) && banner.contains("bob") && banner.contains("one place"),
        "{banner:.600}"
    );
    let history = page
        .split("id=\"identity-corrections\"")
        .nth(1)
        .expect("a corrections table")
        .split("</table>")
        .next()
        .unwrap();
    assert_eq!(
        history.matches("class=\"correction\"").count(),
        2,
        "{history}"
    );
    assert!(
        history.contains("split: record") && history.contains(cid.as_str()),
        "{history}"
    );
    assert!(
        history.contains("merge: ") && history.contains("two places"),
        "{history}"
    );
    let plain_page = s.get(&format!("/entities/{}", seed())).await.text();
    assert!(!plain_page.contains("id=\"alias\""));
    // Searching the list by the old id finds the survivor, saying so (as `entities
    // --search` does).
    let found = s.get_json(&format!("/api/entities?search={new_id}")).await;
    assert_eq!(
        found["entities"][0]["entity_id"],
        seed_id.as_str(),
        "{found}"
    );
    assert_eq!(found["alias"]["entity_id"], new_id.as_str());
    assert_eq!(found["alias"]["merged_into"], seed_id.as_str());
    let plain = s.get_json("/api/entities?search=quarrymill").await;
    assert!(plain["alias"].is_null(), "{plain}");
    // The same merge again: that entity is the seed entity now.
    s.call(Method::POST, "/api/merges", merge)
        .await
        .assert_error(StatusCode::BAD_REQUEST);
}

// ----------------------------------------------------------------------------------------
// As of

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_as_of_view_is_provenance_as_of_and_lists_what_changed_since_with_its_event() {
    let s = scratch();
    let now = s.get_json(&format!("/api/entities/{}", seed())).await;
    // Just after the entity was founded: one member, every later member's fields differ.
    let founded = now["members"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["decision"]["seq"].as_u64())
        .min()
        .unwrap();
    let point = founded.to_string();
    let doc = s
        .get_json(&format!("/api/entities/{}?as_of={point}", seed()))
        .await;
    assert_eq!(doc, provenance_of(&s, seed(), Some(&point)));
    assert_eq!(doc["as_of"], true);
    assert_eq!(doc["as_of_seq"], founded);
    let changes = doc["changes_since"].as_array().unwrap();
    assert!(!changes.is_empty(), "{doc}");
    for c in changes {
        let seq = c["changed_by"]["seq"]
            .as_u64()
            .expect("each change names its event");
        assert!(seq > founded, "{c}");
        s.get_json(&format!("/api/events/{seq}")).await;
    }
    let html = s
        .get(&format!("/entities/{}?as_of={point}", seed()))
        .await
        .text();
    assert!(html.contains("differ from now"));
    assert!(html.contains(&format!(
        "href=\"/events/{}\"",
        changes[0]["changed_by"]["seq"]
    )));

    s.get(&format!("/api/entities/{}?as_of=yesterday-ish", seed()))
        .await
        .assert_error(StatusCode::BAD_REQUEST);
    s.get(&format!("/api/entities/{}?as_of=1", seed()))
        .await
        .assert_error(StatusCode::NOT_FOUND);
    // A time works as a seq does: before the log began, the place did not exist; a time
    // after the last event is now.
    let msg = s
        .get(&format!("/api/entities/{}?as_of=2000-01-01", seed()))
        .await
        .assert_error(StatusCode::NOT_FOUND);
    assert!(msg.contains("did not exist yet"), "{msg}");
    let later = s
        .get_json(&format!(
            "/api/entities/{}?as_of=2999-01-01T00:00:00Z",
            seed()
        ))
        .await;
    assert_eq!(later["changes_since"], json!([]), "{later}");
    assert_eq!(later["fields"], now["fields"]);
    s.get("/api/entities/no-such-place")
        .await
        .assert_error(StatusCode::NOT_FOUND);
    s.get(&format!("/api/entities/{}?field=colour", seed()))
        .await
        .assert_error(StatusCode::BAD_REQUEST);
}

// ----------------------------------------------------------------------------------------
// Runs

async fn wait_for_run(s: &Scratch, run_id: &str) -> Value {
    for _ in 0..600 {
        let doc = s.get_json(&format!("/api/runs/{run_id}")).await;
        if doc["live"] == json!(false) && doc["status"] != "running" {
            return doc;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("run {run_id} did not end in 30 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_started_over_http_runs_in_the_server_and_its_report_is_the_cli_report() {
    let s = scratch();
    let started = s
        .call(
            Method::POST,
            "/api/runs",
            json!({"query": "leisure centre portobello", "budget": 0.05, "mode": "discover-many"}),
        )
        .await;
    assert_eq!(started.status, StatusCode::ACCEPTED, "{}", started.text());
    let run_id = started.json()["run_id"].as_str().unwrap().to_string();
    assert_eq!(
        started.headers[header::LOCATION].to_str().unwrap(),
        format!("/api/runs/{run_id}")
    );
    let doc = wait_for_run(&s, &run_id).await;
    assert_eq!(doc["status"], "completed", "{doc}");
    let mut cli = cmd::runs::report_document(
        &s.db(),
        &DataDir::existing(&crate::datadir::Place::embedded(&s.dir)).unwrap(),
        &run_id,
    )
    .unwrap();
    cli["live"] = json!(false);
    assert_eq!(doc, cli);
    assert!(doc["figures"]["candidates_found"].as_u64().unwrap() > 0);
    let page = s.get(&format!("/runs/{run_id}")).await.text();
    assert!(page.contains("Connector metrics"));
    assert!(page.contains("data-status=\"completed\""));
    // An ended run cannot be cancelled; an unknown one is not found.
    s.call(Method::DELETE, &format!("/api/runs/{run_id}"), Value::Null)
        .await
        .assert_error(StatusCode::CONFLICT);
    s.call(
        Method::DELETE,
        &format!("/api/runs/{}", uuid::Uuid::now_v7()),
        Value::Null,
    )
    .await
    .assert_error(StatusCode::NOT_FOUND);
    s.get(&format!("/api/runs/{}", uuid::Uuid::now_v7()))
        .await
        .assert_error(StatusCode::NOT_FOUND);
    for bad in [
        json!({"query": ""}),
        json!({"query": "x", "mode": "everything"}),
        json!({"query": "powerleague portobello", "budget": -1}),
        json!({"query": "powerleague portobello", "connectors": ["myspace"]}),
    ] {
        s.call(Method::POST, "/api/runs", bad)
            .await
            .assert_error(StatusCode::BAD_REQUEST);
    }
    s.call(Method::POST, "/api/runs", json!({"question": "x"}))
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY);
}

// ----------------------------------------------------------------------------------------
// Metrics

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_the_log_by_kind_connector_decision_and_run_with_gauges_and_no_ids() {
    let s = scratch();
    let a = s.get("/metrics").await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(
        a.content_type().contains("openmetrics-text"),
        "{}",
        a.content_type()
    );
    let text = a.text();
    let value_of = |line_start: &str| -> f64 {
        text.lines()
            .find(|l| l.starts_with(line_start))
            .unwrap_or_else(|| panic!("{line_start} in {text}"))
            .rsplit(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    let log = s.log();
    let count = |kind: &str| {
        log.read_filtered(trustfold_events::EventFilter {
            from_seq: 1,
            kind: Some(kind.into()),
            ..Default::default()
        })
        .count() as f64
    };
    for kind in [
        "RunStarted",
        "ConnectorResponded",
        "CandidateExtracted",
        "MergeDecided",
        "RunCompleted",
    ] {
        assert_eq!(
            value_of(&format!(
                "trustfold_events_appended_total{{kind=\"{kind}\"}}"
            )),
            count(kind),
            "{kind}"
        );
    }
    assert_eq!(
        value_of("trustfold_runs_total{status=\"completed\"}"),
        count("RunCompleted")
    );
    assert!(
        value_of("trustfold_connector_requests_total{connector=\"google_places\",outcome=\"ok\"}")
            >= 1.0
    );
    assert!(text.contains("trustfold_connector_latency_seconds_bucket{"));
    assert!(
        value_of(
            "trustfold_merge_decisions_total{decision=\"needs_review\",decided_by=\"matcher\"}"
        ) >= 1.0
    );
    assert_eq!(value_of("trustfold_open_reviews "), 1.0);
    assert_eq!(value_of("trustfold_projection_lag_events "), 0.0);
    assert!(text.contains("trustfold_open_conflicts "));
    assert!(text.trim_end().ends_with("# EOF"));
    // Scraping twice counts nothing twice.
    let again = s.get("/metrics").await.text();
    assert!(again.contains(&format!(
        "trustfold_events_appended_total{{kind=\"RunStarted\"}} {}",
        count("RunStarted")
    )));
    for line in again.lines().filter(|l| !l.starts_with('#')) {
        for label in line.split("=\"").skip(1) {
            let v = label.split('"').next().unwrap();
            let id_like = ["e_", "c_", "r_"].iter().any(|p| v.starts_with(p))
                || uuid::Uuid::parse_str(v).is_ok();
            assert!(!id_like, "no ids as labels: {line}");
        }
    }
}

// ----------------------------------------------------------------------------------------
// Errors and hostile text

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_json_with_the_right_status_and_pages_render_them() {
    let s = scratch();
    s.get("/api/nope").await.assert_error(StatusCode::NOT_FOUND);
    let page = s.get("/nope").await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(page.content_type().starts_with("text/html"));
    s.send(
        request(Method::PUT, "/api/entities")
            .body(HttpBody::empty())
            .unwrap(),
    )
    .await
    .assert_error(StatusCode::UNAUTHORIZED);
    s.send(
        request(Method::PUT, "/api/entities")
            .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
            .body(HttpBody::empty())
            .unwrap(),
    )
    .await
    .assert_error(StatusCode::METHOD_NOT_ALLOWED);
    let huge = "x".repeat(super::REQUEST_BODY_BYTES_MAX + 1);
    s.call(
        Method::POST,
        "/api/overrides",
        json!({"entity": huge, "field": "phone", "value": "1", "reason": "r", "by": "a"}),
    )
    .await
    .assert_error(StatusCode::PAYLOAD_TOO_LARGE);
    let malformed = s
        .send(
            request(Method::POST, "/api/runs")
                .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
                .header(header::CONTENT_TYPE, "application/json")
                .body(HttpBody::from("{\"query\": "))
                .unwrap(),
        )
        .await;
    malformed.assert_error(StatusCode::BAD_REQUEST);
    s.get("/assets/nope.js")
        .await
        .assert_error(StatusCode::NOT_FOUND);
    let missing_entity = s.get("/entities/no-such-place").await;
    assert_eq!(missing_entity.status, StatusCode::NOT_FOUND);
    assert!(
        missing_entity.text().contains("no entity"),
        "{}",
        missing_entity.text()
    );
    // Every asset is served with a type.
    for path in super::assets::paths() {
        let a = s.get(&format!("/assets/{path}")).await;
        assert_eq!(a.status, StatusCode::OK, "{path}");
        assert!(!a.content_type().is_empty());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_text_from_a_source_renders_escaped_isolated_and_whole() {
    let s = scratch();
    let t = template();
    let doc = s
        .get_json(&format!("/api/entities/{}", t.hostile_slug))
        .await;
    assert_eq!(doc["name"], HOSTILE_NAME, "the log's text, unchanged");
    let html = s.get(&format!("/entities/{}", t.hostile_slug)).await.text();
    let escaped = maud::html! { (HOSTILE_NAME) }.into_string();
    assert!(escaped.contains("&lt;script&gt;") && escaped.contains("&quot;"));
    assert!(html.contains(&format!("<h1><bdi class=\"v\">{escaped}</bdi></h1>")));
    assert!(!html.contains("<script>window"), "no live script tag");
    assert!(!html.contains("<img src=x"), "no live image tag");
    assert!(!html.contains("<b>Bold</b>"));
    // The description as stored (clipped to TEXT_CHARS_MAX by extraction) is shown whole.
    let description = doc["fields"]["description"].as_str().unwrap();
    assert_eq!(
        description.chars().count(),
        trustfold_normalize::text::TEXT_CHARS_MAX
    );
    assert!(html.contains(&maud::html! { (description) }.into_string()));
    // The raw payload keeps all 10,000 characters; its event page shows them whole.
    let seq = doc["members"][0]["observed_seq"].as_u64().unwrap();
    let extracted = s.get_json(&format!("/api/events/{seq}")).await;
    let raw = extracted["raw_payload"]["text"].as_str().unwrap();
    let long = hostile_long_text();
    let record: Value = serde_json::from_str(raw.trim()).unwrap();
    assert_eq!(record["desc"].as_str().unwrap(), long);
    let page = s.get(&format!("/events/{seq}")).await.text();
    assert!(
        page.contains(&maud::html! { (raw) }.into_string()),
        "the payload, escaped and whole"
    );
    assert!(!page.contains("<img src=x"));
    // Listings and the search escape it too.
    let list = s.get("/entities?search=pwned").await.text();
    assert!(list.contains(&escaped));
    assert!(!list.contains("<script>window"));
}
