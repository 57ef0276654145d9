//! `trustfold serve` as a real process on 127.0.0.1: its command line, the token in its
//! logs, runs over HTTP (cancel, the bound on concurrent runs), readers beside a run, and
//! the provenance flow in a real browser (Debian's chromium over WebDriver).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{
    assert_exit, assert_success, clean_env, setup, stderr, write, Scratch, CLUB_FOUNDING,
    CLUB_IN_REVIEW, MAP,
};

const TOKEN: &str = "e2e-token-0123456789abcdef";

/// Why these tests run on the embedded store only for now: every one ingests, and an
/// ingest on PostgreSQL waits for the identity index there (`resolve::store`). The server
/// opens its stores through `DataDir` like every command, so they should run on both once
/// ingests do.
/// A hostile name from a source: a script, quotes, an ampersand, a right-to-left override.
const HOSTILE_NAME: &str =
    "<script>window.__pwned=1</script> \"Quoted\" 'single' & \u{202e}gnirts-LTR\u{202c} Café שלום";

/// 10,000 characters of hostile text.
fn hostile_long_text() -> String {
    let unit = "<img src=x onerror=window.__pwned=2> \u{202e}long & \"text\" ";
    unit.chars().cycle().take(10_000).collect()
}

/// The seed run, a record waiting for review and a hostile record, through the CLI.
fn populate(dir: &Scratch) {
    let out = clean_env(&mut dir.cmd())
        .args(["ingest", "powerleague portobello", "--offline"])
        .output()
        .unwrap();
    assert_success(&out);
    for (source, name, body) in [
        ("council_sheet", "founding.csv", CLUB_FOUNDING),
        ("edinburgh_council", "second.csv", CLUB_IN_REVIEW),
    ] {
        let path = write(dir, name, body.as_bytes());
        let out = dir.tf(&[
            "import",
            "--source",
            source,
            "--format",
            "csv",
            "--map",
            MAP,
            path.to_str().unwrap(),
        ]);
        assert_success(&out);
    }
    let record = json!({
        "id": "H-1", "name": HOSTILE_NAME, "addr": "1 <b>Bold</b> Street", "city": "Edinburgh",
        "pc": "EH1 1AA", "lat": 55.95, "lon": -3.19, "desc": hostile_long_text(),
    });
    let path = write(dir, "hostile.ndjson", format!("{record}\n").as_bytes());
    let out = dir.tf(&[
        "import", "--source", "council_sheet", "--format", "ndjson", "--map",
        "id=external_id,name=name,addr=address,city=locality,pc=postcode,lat=lat,lon=lon,desc=description",
        path.to_str().unwrap(),
    ]);
    assert_success(&out);
}

/// A `trustfold serve` process; killed (by its own pid) when dropped.
struct Server {
    child: Child,
    base: String,
    stderr_path: PathBuf,
}

impl Server {
    fn start(dir: &Scratch, args: &[&str], env: &[(&str, &str)]) -> Server {
        let stderr_path = dir
            ._tmp
            .path()
            .join(format!("serve-{}.err", uuid::Uuid::new_v4()));
        let mut cmd = dir.cmd();
        clean_env(&mut cmd).arg("serve");
        if !args.contains(&"--bind") {
            cmd.args(["--bind", "127.0.0.1:0"]);
        }
        cmd.args(args)
            .env_remove("TRUSTFOLD_TOKEN")
            .env_remove("TRUSTFOLD_FAILPOINT");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr_path).unwrap())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines.next().expect("serve prints where it serves").unwrap();
        let base = first
            .split(" on ")
            .nth(1)
            .expect("the address")
            .trim_end_matches('/')
            .to_string();
        // Keep reading stdout so the process never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Server {
            child,
            base,
            stderr_path,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// Stops the server with SIGTERM (as a person's Ctrl-C would) and waits for it.
    fn stop(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                started.elapsed() < Duration::from_secs(40),
                "serve did not stop"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

async fn get_json(http: &reqwest::Client, url: &str) -> (u16, Value) {
    let r = http.get(url).send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn call(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    body: Value,
) -> (u16, Value) {
    let r = http
        .request(method, url)
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn wait_until_ended(http: &reqwest::Client, server: &Server, run_id: &str) -> Value {
    let started = Instant::now();
    loop {
        let (status, doc) = get_json(http, &server.url(&format!("/api/runs/{run_id}"))).await;
        assert_eq!(status, 200, "{doc}");
        if doc["live"] == json!(false) && doc["status"] != "running" {
            return doc;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "run {run_id} did not end: {doc}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[test]
fn serve_refuses_bad_arguments_and_warns_loudly_off_loopback() {
    let dir = setup();
    // No log yet: nothing to serve, and it says how to make one.
    let out = dir.tf(&["serve", "--token", TOKEN]);
    assert_exit(&out, 2);
    assert!(stderr(&out).contains("ingest"), "{}", stderr(&out));
    populate(&dir);
    for args in [
        &["serve", "--bind", "not-an-address"][..],
        &["serve", "--token", "short"][..],
        &["serve", "--token", "has;semicolons;in;it;here"][..],
    ] {
        let out = dir.tf(args);
        assert_exit(&out, 2);
        assert!(
            !stderr(&out).contains("semicolons"),
            "the token is not echoed"
        );
    }
    let server = Server::start(&dir, &["--bind", "0.0.0.0:0", "--token", TOKEN], &[]);
    let started = Instant::now();
    while !server.stderr().contains("not a loopback address") {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{}",
            server.stderr()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(server.stderr().contains("WARNING"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_entities_filters_and_the_api_list_the_same_documents() {
    let dir = setup();
    populate(&dir);
    let server = Server::start(&dir, &["--token", TOKEN], &[]);
    let http = client();
    for (cli, api) in [
        (
            vec!["entities", "--source", "serper", "--json"],
            "/api/entities?source=serper&limit=500",
        ),
        (
            vec!["entities", "--min-completeness", "60", "--json"],
            "/api/entities?completeness=60&limit=500",
        ),
        (
            vec!["entities", "--search", "quarrymill", "--json"],
            "/api/entities?search=quarrymill&limit=500",
        ),
        (
            vec!["entities", "--conflicted", "--json"],
            "/api/entities?conflicted=true&limit=500",
        ),
    ] {
        let printed = dir.tf_json(&cli);
        let (status, served) = get_json(&http, &server.url(api)).await;
        assert_eq!(status, 200, "{served}");
        assert_eq!(served["entities"], printed, "{cli:?} vs {api}");
        assert!(served["next_cursor"].is_null());
    }
    let out = dir.tf(&["entities", "--source", "myspace"]);
    assert_exit(&out, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_is_printed_once_in_the_login_url_and_never_reaches_the_logs() {
    let dir = setup();
    populate(&dir);
    let mut child = clean_env(&mut dir.cmd())
        .args(["serve", "--bind", "127.0.0.1:0", "--log-format", "json"])
        .env("TRUSTFOLD_TOKEN", TOKEN)
        .env("RUST_LOG", "debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Drained as it comes: debug logs (a line per PostgreSQL statement, on that store)
    // fill a pipe that nobody reads, and the server would block writing to it.
    let mut err_pipe = child.stderr.take().unwrap();
    let drained = std::thread::spawn(move || {
        let mut logs = Vec::new();
        std::io::Read::read_to_end(&mut err_pipe, &mut logs).unwrap();
        logs
    });
    let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = out.next().unwrap().unwrap();
    let base = first
        .split(" on ")
        .nth(1)
        .unwrap()
        .trim_end_matches('/')
        .to_string();
    let login_line = out.next().unwrap().unwrap();
    assert_eq!(
        login_line,
        format!("open {base}/login?token={TOKEN} to review, override and start runs")
    );
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let login = http
        .get(format!("{base}/login?token={TOKEN}"))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status().as_u16(), 303);
    let (status, _) = call(
        &http,
        reqwest::Method::POST,
        &format!("{base}/api/overrides"),
        json!({"entity": "no-such-place", "field": "phone", "value": "+44 131 496 0000", "reason": "r", "by": "a"}),
    )
    .await;
    assert_eq!(status, 404);
    let wrong = http
        .post(format!("{base}/api/runs"))
        .bearer_auth(format!("{TOKEN}-but-wrong"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status().as_u16(), 401);
    let pid = child.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let logs = drained.join().unwrap();
    let logs = String::from_utf8_lossy(&logs);
    assert!(
        logs.contains("\"route\":\"/login\""),
        "requests are logged: {logs}"
    );
    assert!(!logs.contains(TOKEN), "the token never reaches a log line");
    assert!(!logs.contains("e2e-token"), "not even part of it");
    // Nor an event.
    let events = dir.tf(&["events", "--json"]);
    assert!(!String::from_utf8_lossy(&events.stdout).contains(TOKEN));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_over_http_are_bounded_and_a_cancel_records_run_cancelled_with_who_asked() {
    let dir = setup();
    populate(&dir);
    // Each run sleeps after fetching, long enough to be cancelled there.
    let server = Server::start(
        &dir,
        &["--token", TOKEN],
        &[("TRUSTFOLD_FAILPOINT", "sleep:fetch:4000")],
    );
    let http = client();
    let mut ids = Vec::new();
    for _ in 0..2 {
        let (status, doc) = call(
            &http,
            reqwest::Method::POST,
            &server.url("/api/runs"),
            json!({"query": "powerleague portobello"}),
        )
        .await;
        assert_eq!(status, 202, "{doc}");
        ids.push(doc["run_id"].as_str().unwrap().to_string());
    }
    let (status, doc) = call(
        &http,
        reqwest::Method::POST,
        &server.url("/api/runs"),
        json!({"query": "leisure centre portobello"}),
    )
    .await;
    assert_eq!(status, 429, "the third concurrent run waits: {doc}");
    assert!(doc["error"]
        .as_str()
        .unwrap()
        .contains("RUNS_CONCURRENT_MAX"));
    // Both are live; cancel them.
    for id in &ids {
        let (status, doc) = get_json(&http, &server.url(&format!("/api/runs/{id}"))).await;
        assert_eq!(status, 200);
        assert_eq!(doc["live"], true, "{doc}");
        let (status, doc) = call(
            &http,
            reqwest::Method::DELETE,
            &server.url(&format!("/api/runs/{id}?by=tester")),
            Value::Null,
        )
        .await;
        assert_eq!(status, 202, "{doc}");
        assert_eq!(doc["status"], "cancelling");
    }
    for id in &ids {
        let doc = wait_until_ended(&http, &server, id).await;
        assert_eq!(doc["status"], "cancelled", "{doc}");
        assert!(
            doc["error"]
                .as_str()
                .unwrap()
                .contains("cancelled over HTTP by tester"),
            "{doc}"
        );
    }
    let events = dir.tf_json(&["runs", "--json"]);
    for id in &ids {
        let row = events
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["run_id"] == id.as_str())
            .unwrap();
        assert_eq!(row["status"], "cancelled");
        assert_eq!(row["interrupted"], false);
    }
    let cancelled = dir.events_of_kind("RunCancelled");
    assert_eq!(cancelled.len(), 2, "{cancelled:?}");
    // With the slots free again, a run is accepted.
    let (status, _) = call(
        &http,
        reqwest::Method::POST,
        &server.url("/api/runs"),
        json!({"query": "leisure centre portobello"}),
    )
    .await;
    assert_eq!(status, 202);
    // Stopping the server cancels its live run and waits for its terminal event.
    let status = server.stop();
    assert!(status.success(), "{status:?}");
    assert_eq!(dir.events_of_kind("RunCancelled").len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_clients_read_entity_pages_while_a_run_ingests_and_none_sees_an_error() {
    let dir = setup();
    populate(&dir);
    let server = Server::start(&dir, &["--token", TOKEN], &[]);
    let http = client();
    let (_, page) = get_json(&http, &server.url("/api/entities?limit=20")).await;
    let slugs: Vec<String> = page["entities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["slug"].as_str().unwrap().to_string())
        .collect();
    assert!(slugs.len() >= 3, "{page}");
    let (status, doc) = call(
        &http,
        reqwest::Method::POST,
        &server.url("/api/runs"),
        json!({"query": "leisure centre edinburgh"}),
    )
    .await;
    assert_eq!(status, 202, "{doc}");
    let run_id = doc["run_id"].as_str().unwrap().to_string();
    let mut readers = Vec::new();
    for i in 0..8 {
        let http = http.clone();
        let base = server.base.clone();
        let slugs = slugs.clone();
        readers.push(tokio::spawn(async move {
            let mut n = 0;
            for round in 0..15 {
                let slug = &slugs[(i + round) % slugs.len()];
                for path in [format!("/entities/{slug}"), format!("/api/entities/{slug}")] {
                    let r = http.get(format!("{base}{path}")).send().await.unwrap();
                    let status = r.status().as_u16();
                    let body = r.text().await.unwrap();
                    assert_eq!(status, 200, "{path}: {body}");
                    assert!(!body.is_empty());
                    n += 1;
                }
            }
            n
        }));
    }
    let mut total = 0;
    for r in readers {
        total += r.await.unwrap();
    }
    assert_eq!(total, 8 * 15 * 2);
    let doc = wait_until_ended(&http, &server, &run_id).await;
    assert_eq!(doc["status"], "completed", "{doc}");
    // What the server shows is what the CLI prints, for the same entity.
    let (_, served) = get_json(&http, &server.url(&format!("/api/entities/{}", slugs[0]))).await;
    let cli = dir.tf_json(&["provenance", &slugs[0], "--json"]);
    assert_eq!(served, cli);
    // And an event page is `events --seq`.
    let responded = dir.events_of_kind("ConnectorResponded");
    let seq = responded.last().unwrap()["seq"].as_u64().unwrap();
    let (_, served) = get_json(&http, &server.url(&format!("/api/events/{seq}"))).await;
    assert_eq!(served["raw_payload"]["verified"], true, "{served}");
    let cli = dir.tf_json(&["events", "--seq", &seq.to_string(), "--json"]);
    assert_eq!(served, cli);
}

// ----------------------------------------------------------------------------------------
// The browser

/// Where screenshots go: `target/serve-screenshots/`.
fn screenshot_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target")
        .join("serve-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Chromium's flags as root in a container without a network: see the machine notes.
const CHROMIUM_ARGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1400,1100",
];

/// A chromedriver we started, killed by pid on drop.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts chromedriver, or says why it cannot. Outside CI the test may then skip; in CI
/// (CI=true) it fails, because `.ci/run` installs the browser.
fn start_driver() -> Result<Driver, String> {
    for bin in ["/usr/bin/chromium", "/usr/bin/chromedriver"] {
        if !Path::new(bin).exists() {
            return Err(format!(
                "{bin} is missing (apt-get install chromium chromium-driver)"
            ));
        }
    }
    let port = free_port();
    let child = Command::new("/usr/bin/chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("chromedriver did not start: {e}"))?;
    let driver = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if started.elapsed() > Duration::from_secs(20) {
            return Err("chromedriver did not listen within 20 s".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(driver)
}

fn browser_unavailable(why: &str) {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("the browser test cannot start its browser in CI: {why}");
    }
    eprintln!("skipping the browser test: {why}");
}

struct Browser {
    client: fantoccini::Client,
    base: String,
    shots: PathBuf,
}

impl Browser {
    async fn js(&self, script: &str) -> Value {
        self.client.execute(script, vec![]).await.unwrap()
    }

    /// Waits until `condition` (a JS expression) is true.
    async fn until(&self, condition: &str, what: &str) {
        let started = Instant::now();
        loop {
            if self.js(&format!("return !!({condition});")).await == json!(true) {
                return;
            }
            if started.elapsed() > Duration::from_secs(30) {
                let _ = self.shot("timeout").await;
                let url = self
                    .client
                    .current_url()
                    .await
                    .map(|u| u.to_string())
                    .unwrap_or_default();
                panic!("timed out waiting for {what} ({condition}) on {url}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn goto(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .unwrap();
        self.until(
            "document.readyState === 'complete' && window.htmx",
            "the page",
        )
        .await;
        self.assert_only_local_requests().await;
    }

    async fn shot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.unwrap();
        let path = self.shots.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        path
    }

    /// Every request this document made (itself, scripts, styles, images, fetches, htmx
    /// requests) went to this server on 127.0.0.1, and no script ran from the data.
    async fn assert_only_local_requests(&self) {
        let urls = self
            .js("return [location.href].concat(performance.getEntries().map(e => e.name).filter(n => /^[a-z]+:/.test(n)));")
            .await;
        let origin = format!("{}/", self.base);
        for u in urls.as_array().unwrap() {
            let u = u.as_str().unwrap();
            assert!(u.starts_with(&origin), "a request left 127.0.0.1: {u}");
        }
        assert_eq!(
            self.js("return typeof window.__pwned;").await,
            json!("undefined"),
            "hostile text ran"
        );
    }

    async fn click(&self, css: &str) {
        self.client
            .find(fantoccini::Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .click()
            .await
            .unwrap();
    }

    async fn type_into(&self, css: &str, text: &str) {
        let el = self
            .client
            .find(fantoccini::Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"));
        el.clear().await.unwrap();
        el.send_keys(text).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_provenance_flow_in_a_real_browser() {
    let driver = match start_driver() {
        Ok(d) => d,
        Err(why) => return browser_unavailable(&why),
    };
    let dir = setup();
    populate(&dir);
    let server = Server::start(&dir, &["--token", TOKEN], &[]);
    let profile = tempfile::tempdir().unwrap();
    let mut args: Vec<String> = CHROMIUM_ARGS.iter().map(|s| s.to_string()).collect();
    args.push(format!("--user-data-dir={}", profile.path().display()));
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({"binary": "/usr/bin/chromium", "args": args}),
    );
    let webdriver =
        fantoccini::ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&driver.url)
            .await;
    let webdriver = match webdriver {
        Ok(c) => c,
        Err(e) => return browser_unavailable(&format!("chromium did not start: {e}")),
    };
    let b = Browser {
        client: webdriver,
        base: server.base.clone(),
        shots: screenshot_dir(),
    };
    let http = client();

    // Log in: the cookie is set and the overview says changes are possible.
    b.goto(&format!("/login?token={TOKEN}")).await;
    b.until(
        "location.pathname === '/' && document.body.dataset.access === 'write'",
        "the overview, logged in",
    )
    .await;
    let cookie_visible = b
        .js("return document.cookie.includes('trustfold_token');")
        .await;
    assert_eq!(
        cookie_visible,
        json!(false),
        "the cookie is HttpOnly: no script sees it"
    );
    b.shot("01-overview").await;

    // Search, and open the seed place.
    b.goto("/entities").await;
    b.type_into("#search", "powerleague portob").await;
    b.until(
        "document.querySelectorAll('#results a.entity-link').length >= 1 && [...document.querySelectorAll('#results a.entity-link')].every(a => /powerleague/i.test(a.textContent))",
        "search results",
    )
    .await;
    assert!(b
        .js("return location.search;")
        .await
        .as_str()
        .unwrap()
        .contains("search=powerleague"));
    b.assert_only_local_requests().await;
    let (_, found) = get_json(
        &http,
        &server.url("/api/entities?search=powerleague%20portobello"),
    )
    .await;
    let seed = found["entities"]
        .as_array()
        .unwrap()
        .iter()
        .max_by_key(|e| e["candidates"].as_u64().unwrap())
        .unwrap()["slug"]
        .as_str()
        .unwrap()
        .to_string();
    b.click(&format!("#results a.entity-link[href='/entities/{seed}']"))
        .await;
    b.until(
        &format!("location.pathname === '/entities/{seed}' && document.querySelector('#fields')"),
        "the entity page",
    )
    .await;
    b.until(
        "document.querySelectorAll('#map path.leaflet-interactive').length >= 2",
        "the map's points",
    )
    .await;
    b.assert_only_local_requests().await;

    // Unfold a field's losers: each says why it lost.
    let (_, doc) = get_json(&http, &server.url(&format!("/api/entities/{seed}"))).await;
    let field = doc["provenance"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| {
            f["candidates"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["winner"] == json!(false) && r["loss"] == json!("lower_trust"))
        })
        .expect("a field with a value that lost on trust")["field"]
        .as_str()
        .unwrap()
        .to_string();
    let details = format!("tbody.field[data-field='{field}'] details.losers");
    assert_eq!(
        b.js(&format!(
            "return document.querySelector(\"{details}\").open;"
        ))
        .await,
        json!(false)
    );
    b.click(&format!("{details} summary")).await;
    b.until(
        &format!("document.querySelector(\"{details}\").open"),
        "the losers unfolded",
    )
    .await;
    let why = b
        .js(&format!("return [...document.querySelectorAll(\"{details} td.why\")].map(t => t.textContent).join('|');"))
        .await;
    assert!(why.as_str().unwrap().contains("lower trust"), "{why}");
    let visible = b
        .js(&format!("return document.querySelector(\"{details} tr.loser\").getBoundingClientRect().height > 0;"))
        .await;
    assert_eq!(visible, json!(true));
    b.shot("02-entity-losers").await;
    b.js("document.querySelector('#map').scrollIntoView(); return null;")
        .await;
    b.shot("03-entity-map").await;

    // The as-of view: the entity just after it was founded, and what changed since.
    let founded = doc["members"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["decision"]["seq"].as_u64())
        .min()
        .unwrap();
    b.type_into("#as-of-input", &founded.to_string()).await;
    b.click("#asof button[type=submit]").await;
    b.until("document.querySelector('#changes') && document.querySelectorAll('#changes tr.change').length >= 1", "the as-of view").await;
    assert!(b
        .js("return location.search;")
        .await
        .as_str()
        .unwrap()
        .contains(&format!("as_of={founded}")));
    let links = b.js("return [...document.querySelectorAll('#changes a.seq')].map(a => a.getAttribute('href'));").await;
    assert!(
        !links.as_array().unwrap().is_empty(),
        "each change links its event"
    );
    b.until(
        "document.querySelectorAll('#map path.leaflet-interactive').length >= 1",
        "the as-of map",
    )
    .await;
    b.assert_only_local_requests().await;
    b.shot("04-as-of").await;

    // Approve the review, and see the provenance change.
    let (_, reviews) = get_json(&http, &server.url("/api/reviews")).await;
    let review = reviews[0].clone();
    let review_id = review["review_id"].as_str().unwrap().to_string();
    let entity = review["entity_ids"][0].as_str().unwrap().to_string();
    let candidate = review["candidate_id"].as_str().unwrap().to_string();
    b.goto("/reviews").await;
    let section = format!("section.review[data-review='{review_id}']");
    b.until(
        &format!("document.querySelector(\"{section} table.side-by-side\")"),
        "the two records side by side",
    )
    .await;
    b.type_into(
        &format!("{section} form[hx-post$='/approve'] input[name=reason]"),
        "the same club in the council register",
    )
    .await;
    b.type_into(
        &format!("{section} form[hx-post$='/approve'] input[name=by]"),
        "Alice Auditor",
    )
    .await;
    b.shot("05-review").await;
    b.click(&format!("{section} button.approve")).await;
    b.until(&format!("!document.querySelector(\"{section}\") && document.querySelector('#flash').textContent === 'Recorded.'"), "the review answered").await;
    b.goto(&format!("/entities/{entity}")).await;
    b.until(
        &format!("document.querySelector(\"tr.member[data-candidate='{candidate}']\")"),
        "the record as a member",
    )
    .await;
    let joined_by = b
        .js(&format!("return document.querySelector(\"tr.member[data-candidate='{candidate}']\").textContent;"))
        .await;
    assert!(
        joined_by
            .as_str()
            .unwrap()
            .contains(&format!("review:{review_id}")),
        "{joined_by}"
    );
    b.shot("06-entity-after-review").await;

    // Start a run and see it complete.
    b.goto("/runs").await;
    b.type_into("#run-query", "leisure centre portobello").await;
    b.click("#run-start").await;
    b.until(
        "location.pathname.startsWith('/runs/') && document.querySelector('#run')",
        "the run's page",
    )
    .await;
    b.until(
        "document.querySelector('#run').dataset.status === 'completed'",
        "the run completed",
    )
    .await;
    assert!(
        b.js("return document.querySelector('table.connectors') !== null;")
            .await
            == json!(true)
    );
    b.assert_only_local_requests().await;
    b.shot("07-run-completed").await;

    // Hostile text renders as text, whole, and runs nothing.
    let (_, hostile) = get_json(&http, &server.url("/api/entities?search=pwned")).await;
    let slug = hostile["entities"][0]["slug"].as_str().unwrap().to_string();
    b.goto(&format!("/entities/{slug}")).await;
    assert_eq!(
        b.js("return document.querySelector('h1').textContent;")
            .await,
        json!(HOSTILE_NAME)
    );
    let desc = b
        .js("return document.querySelector(\"tbody.field[data-field='description'] td.value\").textContent;")
        .await;
    let (_, hdoc) = get_json(&http, &server.url(&format!("/api/entities/{slug}"))).await;
    assert_eq!(
        desc.as_str().unwrap().trim(),
        hdoc["fields"]["description"].as_str().unwrap().trim()
    );
    let seq = hdoc["members"][0]["observed_seq"].as_u64().unwrap();
    b.goto(&format!("/events/{seq}")).await;
    let raw = b
        .js("return JSON.parse(document.querySelector('pre.raw').textContent.trim()).desc;")
        .await;
    assert_eq!(
        raw,
        json!(hostile_long_text()),
        "the 10,000 characters, whole"
    );
    b.assert_only_local_requests().await;
    b.shot("08-hostile-text").await;

    b.client.close().await.unwrap();
    drop(driver);
}
