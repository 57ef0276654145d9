//! The entity page under load: 8 clients read entity pages from `trustfold serve` on
//! 127.0.0.1 while ingests run in the server, on the 1M-event bench log. Run:
//! `cargo bench --bench serve_load` (`TRUSTFOLD_BENCH_EVENTS=100000` is quick;
//! `TRUSTFOLD_BENCH_DIR=<dir>` keeps the data dir, and a log already there is reused).
//!
//! It prints, from the same run and for the same entities:
//! - the baselines: `trustfold provenance <slug> --json` as a process (what a script pays),
//!   and the same library call in-process (what a page has to pay at least);
//! - `GET /entities/{slug}` (the page) and `GET /api/entities/{slug}` (its JSON twin)
//!   under 8 concurrent clients while runs ingest: p50, p90, p99 and max, and the errors
//!   (there must be none).
//!
//! The log is the projections benchmark's (`projections/benches/loggen`): about 16k runs,
//! 300k candidates and 120k entities per million events. Timing is never asserted here.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use trustfold_events::{EventStore, OpenMode, SqliteEventStore};

#[path = "../projections/benches/loggen/mod.rs"]
mod loggen;

/// Concurrent readers.
const CLIENTS: usize = 8;
/// Requests per client (page and JSON alternate): enough for the load to span several runs.
const REQUESTS_PER_CLIENT: usize = 1_000;
/// Entities read (spread over the table).
const ENTITIES: usize = 64;
/// CLI invocations for the process baseline.
const CLI_RUNS: usize = 24;
/// The longest the loaded phase may take; the clients stop there.
const LOAD_SECONDS_MAX: u64 = 300;
/// The token of the bench's server.
const TOKEN: &str = "bench-token-0123456789";
/// Queries the ingests cycle through (offline fixtures).
const QUERIES: [&str; 4] = [
    "powerleague portobello",
    "leisure centre edinburgh",
    "tennis edinburgh",
    "ev charging leith",
];

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_trustfold")
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn summary(label: &str, mut ms: Vec<f64>) {
    ms.sort_by(|a, b| a.total_cmp(b));
    println!(
        "{label:<52} n={:>5}  p50 {:>7.2} ms  p90 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms",
        ms.len(),
        percentile(&ms, 50.0),
        percentile(&ms, 90.0),
        percentile(&ms, 99.0),
        ms.last().copied().unwrap_or(f64::NAN)
    );
}

/// A `trustfold serve` we started; killed by its pid when dropped.
struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server(data_dir: &Path) -> Server {
    let mut child = Command::new(bin())
        .args(["--data-dir"])
        .arg(data_dir)
        .args(["serve", "--bind", "127.0.0.1:0", "--token", TOKEN])
        .env_remove("TRUSTFOLD_FAILPOINT")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start trustfold serve");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().expect("serve prints its address").unwrap();
    let base = first
        .split(" on ")
        .nth(1)
        .unwrap()
        .trim_end_matches('/')
        .to_string();
    std::thread::spawn(move || for _ in lines {});
    Server { child, base }
}

fn main() {
    let n: u64 = std::env::var("TRUSTFOLD_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let temp = tempfile::tempdir().expect("tempdir");
    let data_dir: PathBuf = match std::env::var_os("TRUSTFOLD_BENCH_DIR") {
        Some(d) => PathBuf::from(d),
        None => temp.path().join("data"),
    };
    std::fs::create_dir_all(&data_dir).unwrap();

    // 1. The log and its projections.
    let store = SqliteEventStore::open(data_dir.join("log.sqlite3"), OpenMode::ReadWrite).unwrap();
    if store.head().unwrap().is_none() {
        let t = Instant::now();
        let mut world = loggen::World::new(loggen::SEED, 0);
        loggen::generate(&store, &mut world, n);
        println!(
            "generated {} events in {:.1} s ({} entities founded)",
            world.counts.events,
            t.elapsed().as_secs_f64(),
            world.counts.entities
        );
    } else {
        println!("reusing the log in {}", data_dir.display());
    }
    let head = store.head().unwrap().unwrap().seq;
    drop(store);
    let t = Instant::now();
    let out = Command::new(bin())
        .arg("--data-dir")
        .arg(&data_dir)
        .args(["rebuild-projections"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    println!(
        "projections of {head} events ready in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    // 2. The entities read: spread over the listing.
    let db = trustfold_projections::Projections::new(&data_dir)
        .open_read()
        .unwrap()
        .unwrap();
    let all = db
        .entities_page(&Default::default(), None, usize::MAX)
        .unwrap()
        .entities;
    let step = (all.len() / ENTITIES).max(1);
    let slugs: Vec<String> = all
        .iter()
        .step_by(step)
        .take(ENTITIES)
        .map(|e| e.slug.clone())
        .collect();
    let members: f64 = all
        .iter()
        .step_by(step)
        .take(ENTITIES)
        .map(|e| e.n_candidates as f64)
        .sum::<f64>()
        / slugs.len() as f64;
    println!(
        "{} entities in the table; reading {} of them ({members:.1} records each on average)",
        all.len(),
        slugs.len()
    );
    drop(all);

    // 3. Baselines: the CLI as a process, and the library call in-process. The first
    // command after a rebuild catches up what a reading command catches up (the identity
    // index among them): timed apart, once, so the steady cost is what is compared.
    let t = Instant::now();
    let out = Command::new(bin())
        .arg("--data-dir")
        .arg(&data_dir)
        .args(["provenance", &slugs[0], "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    println!(
        "the first `provenance --json` after the rebuild: {:.0} ms (not in the figures below)",
        t.elapsed().as_secs_f64() * 1000.0
    );
    let mut cli_ms = Vec::new();
    for slug in slugs.iter().cycle().take(CLI_RUNS) {
        let t = Instant::now();
        let out = Command::new(bin())
            .arg("--data-dir")
            .arg(&data_dir)
            .args(["provenance", slug, "--json"])
            .output()
            .unwrap();
        cli_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let log = SqliteEventStore::open(data_dir.join("log.sqlite3"), OpenMode::ReadOnly).unwrap();
    let mut lib_ms = Vec::new();
    for slug in slugs.iter().cycle().take(slugs.len() * 4) {
        let t = Instant::now();
        let q = trustfold::cmd::provenance::Query::parse(slug, None, None).unwrap();
        let p = trustfold::cmd::provenance::provenance(&db, &log, &q).unwrap();
        std::hint::black_box(trustfold::cmd::provenance::provenance_document(&p));
        lib_ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    drop(db);
    drop(log);

    // 4. The server, 8 readers, and ingests running beside them.
    let server = start_server(&data_dir);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let load_started = Instant::now();
    let (page_ms, api_ms, errors, runs, appended) = runtime.block_on(async {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(CLIENTS)
            .build()
            .unwrap();
        let base = Arc::new(server.base.clone());
        // Warm up (and check) every entity once.
        for slug in &slugs {
            let r = http
                .get(format!("{base}/api/entities/{slug}"))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 200, "{slug}");
        }
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let ingests = {
            let http = http.clone();
            let base = base.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                // Runs one after another for as long as the readers read (the stop is
                // checked between runs, so one is always live while they do).
                let mut done = 0usize;
                let mut i = 0usize;
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    let r = http
                        .post(format!("{base}/api/runs"))
                        .bearer_auth(TOKEN)
                        .header("content-type", "application/json")
                        .body(
                            json!({"query": QUERIES[i % QUERIES.len()], "offline": true})
                                .to_string(),
                        )
                        .send()
                        .await
                        .unwrap();
                    i += 1;
                    if r.status().as_u16() != 202 {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                    let doc: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
                    let id = doc["run_id"].as_str().unwrap().to_string();
                    loop {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        let r = http
                            .get(format!("{base}/api/runs/{id}"))
                            .send()
                            .await
                            .unwrap();
                        let doc: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
                        if doc["live"] == json!(false) && doc["status"] != "running" {
                            assert_eq!(doc["status"], "completed", "{doc}");
                            done += 1;
                            break;
                        }
                    }
                }
                done
            })
        };
        let deadline = Instant::now() + Duration::from_secs(LOAD_SECONDS_MAX);
        let mut clients = Vec::new();
        for c in 0..CLIENTS {
            let http = http.clone();
            let base = base.clone();
            let slugs = slugs.clone();
            clients.push(tokio::spawn(async move {
                let (mut page, mut api, mut errors) = (Vec::new(), Vec::new(), 0usize);
                for i in 0..REQUESTS_PER_CLIENT {
                    if Instant::now() > deadline {
                        break;
                    }
                    let slug = &slugs[(c * 7 + i) % slugs.len()];
                    let json_twin = i % 2 == 1;
                    let url = if json_twin {
                        format!("{base}/api/entities/{slug}")
                    } else {
                        format!("{base}/entities/{slug}")
                    };
                    let t = Instant::now();
                    let ok = match http.get(&url).send().await {
                        Ok(r) => r.status().as_u16() == 200 && r.bytes().await.is_ok(),
                        Err(_) => false,
                    };
                    let ms = t.elapsed().as_secs_f64() * 1000.0;
                    if !ok {
                        errors += 1;
                    }
                    if json_twin {
                        api.push(ms);
                    } else {
                        page.push(ms);
                    }
                }
                (page, api, errors)
            }));
        }
        let (mut page, mut api, mut errors) = (Vec::new(), Vec::new(), 0usize);
        for c in clients {
            let (p, a, e) = c.await.unwrap();
            page.extend(p);
            api.extend(a);
            errors += e;
        }
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let runs = ingests.await.unwrap();
        let log = SqliteEventStore::open(data_dir.join("log.sqlite3"), OpenMode::ReadOnly).unwrap();
        let appended = log.head().unwrap().unwrap().seq - head;
        (page, api, errors, runs, appended)
    });
    let load_s = load_started.elapsed().as_secs_f64();
    drop(server);

    println!();
    println!(
        "log of {head} events; {CLIENTS} clients for {load_s:.1} s while runs ingested in the \
         server, one after another: {runs} completed ({appended} events appended)"
    );
    summary("baseline: `trustfold provenance --json` (process)", cli_ms);
    summary(
        "baseline: provenance_document (library, in-process)",
        lib_ms,
    );
    summary("GET /entities/{slug} (page) under load", page_ms);
    summary("GET /api/entities/{slug} (JSON) under load", api_ms);
    println!("errors under load: {errors}");
    assert_eq!(errors, 0, "no request may fail under load");
}
