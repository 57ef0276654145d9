//! Projection rebuild benchmark. Run:
//! `cargo bench -p trustfold-projections --bench rebuild` (N events via
//! `TRUSTFOLD_BENCH_EVENTS`, default 1,000,000; `TRUSTFOLD_BENCH_EVENTS=50000` is quick).
//!
//! It writes a log shaped like real runs (see `src/ingest/`) into a real `SqliteEventStore`,
//! in appends of 1,000 events: per run `RunStarted`, one `ConnectorResponded` for each of
//! four sources, about 20 `CandidateExtracted`, then per candidate `CandidateAccepted` +
//! `MergeDecided` (a new or an existing entity; a place is known to 1 to 4 of the six
//! sources), a re-observation, or a `CandidateRejected` (invalid, or `duplicate_in_source`
//! following a record kept earlier in the run), and `RunCompleted`; now and then an admin's
//! `FieldOverridden` (outside any run). 1M events are about 16k runs, 300k candidates and
//! 120k entities. The seed is fixed, so runs are comparable. It then measures, on that same
//! file and in the same run:
//!
//! - baselines: a plain rusqlite `SELECT seq, kind, payload` scan with a
//!   `serde_json::Value` decode of every payload, and `store.read_from(1)` (the store's own
//!   full typed decode);
//! - `Projections::rebuild` (`rebuild-projections --full`) with the shipped trust policy:
//!   wall time, events/s, entities, the size of the projection database, and the ratio to
//!   the plain-scan baseline. It runs in a child process (this binary re-executed), so its
//!   peak RSS is the rebuild's alone;
//! - a policy change on that database, each in its own child: the dry run of a change that
//!   touches every entity (the conflict gap), the re-merge after one source's trust
//!   changes, and the re-merge of every entity, each beside the plain-scan baseline;
//! - the costs of the fold's pieces (read, decode, `apply`, merging every entity in
//!   memory), timed with the crate's public pieces in another child process;
//! - incremental `Projections::catch_up` after one more run, and a no-op catch-up.
//!
//! `TRUSTFOLD_BENCH_DIR=<dir>` keeps the data dir (for `perf`): a log already there is
//! reused instead of generated (each bench run appends a few runs for the catch-up figures).
//! To profile the rebuild alone on such a dir:
//! `TRUSTFOLD_BENCH_CHILD=rebuild:<dir> perf record -g <bench binary>`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};
use trustfold_events::*;
use trustfold_projections::merge::merge_values;
use trustfold_projections::policy::SHIPPED_POLICY;
use trustfold_projections::state::{Candidate, EntityState, State};
use trustfold_projections::TrustPolicy;
use trustfold_projections::{apply, merge_entity, MergedEntity, ProjectionEvent, Projections};
mod loggen;
use loggen::*;

/// Re-executed with `rebuild:<data dir>` or `phases:<data dir>`, the binary does only that.
const CHILD_ENV: &str = "TRUSTFOLD_BENCH_CHILD";
/// Runs appended (one at a time) to time the incremental catch-up.
const CATCH_UP_RUNS: usize = 5;

// ---------------------------------------------------------------------------------------
// Measurements.

fn policy() -> TrustPolicy {
    TrustPolicy::parse(SHIPPED_POLICY, "trust.toml", &SOURCES).expect("the shipped policy parses")
}

fn rate(n: u64, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64().max(1e-9)
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / 1_048_576.0
}

/// A `/proc/self/status` figure in KiB (`VmHWM` peak RSS, `VmRSS` current).
fn status_kib(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn file_size(path: &Path) -> u64 {
    let mut total = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    for suffix in ["-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        total += std::fs::metadata(PathBuf::from(p))
            .map(|m| m.len())
            .unwrap_or(0);
    }
    total
}

/// The plain baseline: a rusqlite scan of seq, kind and payload, each payload decoded as
/// an untyped JSON value.
fn plain_scan(log: &Path) -> (u64, Duration) {
    let conn = Connection::open_with_flags(
        log,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .expect("open the log read-only");
    let t = Instant::now();
    let mut n = 0u64;
    let mut stmt = conn
        .prepare("SELECT seq, kind, payload FROM events ORDER BY seq")
        .expect("prepare");
    let mut rows = stmt.query([]).expect("query");
    while let Some(row) = rows.next().expect("row") {
        let seq: i64 = row.get(0).expect("seq");
        let kind = row.get_ref(1).expect("kind").as_str().expect("kind text");
        let bytes = row
            .get_ref(2)
            .expect("payload")
            .as_blob()
            .expect("payload blob");
        let v: serde_json::Value = serde_json::from_slice(bytes).expect("payload json");
        std::hint::black_box((seq, kind, v));
        n += 1;
    }
    (n, t.elapsed())
}

/// `key=value` pairs of the child's `CHILD` line.
fn run_child(mode: &str, data_dir: &Path) -> BTreeMap<String, String> {
    let exe = std::env::current_exe().expect("current exe");
    let out = Command::new(exe)
        .env(CHILD_ENV, format!("{mode}:{}", data_dir.display()))
        .output()
        .expect("run the child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child {mode} failed: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout
        .lines()
        .find(|l| l.starts_with("CHILD "))
        .unwrap_or_else(|| panic!("child {mode} printed no figures:\n{stdout}"));
    line.split_whitespace()
        .skip(1)
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn wall_s_of(m: &BTreeMap<String, String>) -> f64 {
    num(m, "wall_us") / 1e6
}

fn num(m: &BTreeMap<String, String>, key: &str) -> f64 {
    m.get(key)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("child figure {key} missing"))
}

/// Child: only the rebuild, so VmHWM is the rebuild's.
fn child_rebuild(data_dir: &Path) {
    let rss_start = status_kib("VmRSS:");
    let store = SqliteEventStore::open(data_dir.join("log.sqlite3"), OpenMode::ReadOnly)
        .expect("open the log");
    let policy = policy();
    let projections = Projections::new(data_dir);
    let t = Instant::now();
    let report = projections
        .rebuild(&store, &policy, &mut |_, _| {})
        .expect("rebuild");
    let wall = t.elapsed();
    let db = projections
        .current_path()
        .expect("current")
        .expect("a database");
    let (user_s, sys_s) = cpu_seconds();
    println!(
        "CHILD wall_us={} events={} entities={} db_bytes={} hwm_kib={} rss_start_kib={} \
         rss_end_kib={} user_s={user_s:.2} sys_s={sys_s:.2}",
        wall.as_micros(),
        report.events,
        report.entities_written,
        file_size(&db),
        status_kib("VmHWM:"),
        rss_start,
        status_kib("VmRSS:"),
    );
}

/// The policy changes the re-merge lines measure, against the shipped policy.
#[derive(Clone, Copy)]
enum PolicyChange {
    /// serper's trust goes from 0.75 to 0.60: the entities with a serper record.
    OneSource,
    /// The conflict gap goes from 0.15 to 0.20 (and serper as above): every entity.
    Every,
}

fn changed_policy(change: PolicyChange) -> TrustPolicy {
    let mut text = SHIPPED_POLICY.replace(
        "[sources.serper]\ntrust = 0.75",
        "[sources.serper]\ntrust = 0.60",
    );
    assert_ne!(
        text, SHIPPED_POLICY,
        "the shipped policy still has serper at 0.75"
    );
    if let PolicyChange::Every = change {
        text = text.replace(
            "conflict_trust_gap_max = 0.15",
            "conflict_trust_gap_max = 0.20",
        );
    }
    TrustPolicy::parse(&text, "bench.toml", &SOURCES).expect("the changed policy parses")
}

/// Counts changes without keeping them.
struct CountChanges(u64);

impl trustfold_projections::ChangeSink for CountChanges {
    fn change(&mut self, _: &trustfold_projections::FieldChange) -> std::io::Result<()> {
        self.0 += 1;
        Ok(())
    }
}

/// Child: a re-merge (or its dry run) after a policy change, alone, so VmHWM is its own.
fn child_remerge(data_dir: &Path, change: PolicyChange, dry: bool) {
    let store = SqliteEventStore::open(data_dir.join("log.sqlite3"), OpenMode::ReadOnly)
        .expect("open the log");
    let policy = changed_policy(change);
    let projections = Projections::new(data_dir);
    let t = Instant::now();
    let (examined, changed) = if dry {
        let mut sink = CountChanges(0);
        let s = projections
            .dry_run(&store, &policy, &SOURCES, &mut sink)
            .expect("dry run");
        (s.entities_examined, sink.0)
    } else {
        let r = projections
            .remerge(&store, &policy, &SOURCES, &mut |_, _| {})
            .expect("re-merge");
        assert_eq!(r.mode, "remerge", "{r:?}");
        (r.entities_remerged, r.entities_changed)
    };
    let wall = t.elapsed();
    let (user_s, sys_s) = cpu_seconds();
    println!(
        "CHILD wall_us={} examined={examined} changed={changed} hwm_kib={} user_s={user_s:.2} \
         sys_s={sys_s:.2}",
        wall.as_micros(),
        status_kib("VmHWM:"),
    );
}

/// User and system CPU seconds of this process so far (`/proc/self/stat`, at the usual
/// 100 clock ticks a second).
fn cpu_seconds() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses): utime is the 12th, stime the 13th.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let field = |i: usize| -> f64 {
        rest.split_whitespace()
            .nth(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 100.0
    };
    (field(11), field(12))
}

/// The JSON a row of `write_rows` carries for one merged entity (the text columns).
fn encode_entity(m: &MergedEntity, es: &EntityState) -> usize {
    let mut bytes = serde_json::to_string(&m.sources).map_or(0, |s| s.len());
    bytes += serde_json::to_string(&m.conflicts()).map_or(0, |s| s.len());
    bytes += serde_json::to_string(m).map_or(0, |s| s.len());
    bytes += serde_json::to_string(es).map_or(0, |s| s.len());
    bytes
}

/// Child: the rebuild's phases with the crate's public pieces.
fn child_phases(data_dir: &Path) {
    let store = SqliteEventStore::open(data_dir.join("log.sqlite3"), OpenMode::ReadOnly)
        .expect("open the log");
    let policy = policy();

    // 1. Reading alone (the store's prefetching scan, no payload decode).
    let t = Instant::now();
    let mut n = 0u64;
    for ev in store.read_raw_from(1) {
        std::hint::black_box(ev.expect("read"));
        n += 1;
    }
    let read = t.elapsed();

    // 2. The fold: read + `ProjectionEvent::from_stored` + `apply`, decode and apply timed
    //    apart (reading is the rest of the loop).
    let mut state = State {
        untracked: true,
        ..State::default()
    };
    let (mut decode, mut applying) = (Duration::ZERO, Duration::ZERO);
    let t = Instant::now();
    for ev in store.read_raw_from(1) {
        let ev = ev.expect("read");
        let t1 = Instant::now();
        let pe = ProjectionEvent::from_stored(&ev).expect("decode");
        let t2 = Instant::now();
        apply(&mut state, pe);
        applying += t2.elapsed();
        decode += t2 - t1;
    }
    let fold = t.elapsed();
    let hwm_fold = status_kib("VmHWM:");

    // 3. Merging every entity, split over threads as `merge_many` does (CPU time beside
    //    wall time shows what the threads bought).
    let ids: Vec<&String> = state.entities.keys().collect();
    let one = |eid: &String| -> Option<(MergedEntity, &EntityState)> {
        let es = state.entities.get(eid)?;
        let members: Vec<&Candidate> = es
            .members
            .iter()
            .filter_map(|c| state.candidates.get(c))
            .collect();
        Some((merge_values(es, &members, &policy), es))
    };
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(8);
    let (user0, sys0) = cpu_seconds();
    let t = Instant::now();
    let chunk = ids.len().div_ceil(threads).max(1);
    let merged: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = ids
            .chunks(chunk)
            .map(|part| s.spawn(move || part.iter().filter_map(|e| one(e)).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("merge"))
            .collect()
    });
    let merge_n = t.elapsed();
    let (user1, sys1) = cpu_seconds();
    let merge_cpu = (user1 - user0) + (sys1 - sys0);
    let hwm_merged = status_kib("VmHWM:");
    // Provenance rows are merged per entity when read, not stored: count what one full
    // merge of every entity would produce, for scale.
    let provenance_rows: usize = ids
        .iter()
        .filter_map(|eid| {
            let es = state.entities.get(*eid)?;
            let members: Vec<&Candidate> = es
                .members
                .iter()
                .filter_map(|c| state.candidates.get(c))
                .collect();
            Some(merge_entity(es, &members, &policy).provenance.len())
        })
        .sum();

    // 4. JSON of every row (what `write_rows` serialises before binding).
    let t = Instant::now();
    let mut json_bytes = 0usize;
    for c in state.candidates.values() {
        json_bytes += serde_json::to_string(c).map_or(0, |s| s.len());
    }
    for r in state.runs.values() {
        json_bytes += serde_json::to_string(r).map_or(0, |s| s.len());
        json_bytes += r.started_at.to_rfc3339().len();
    }
    for (m, es) in merged.iter() {
        json_bytes += encode_entity(m, es);
    }
    let encode = t.elapsed();
    let conflicts: usize = merged.iter().map(|(m, _)| m.conflicts().len()).sum();
    let (n_candidates, n_entities, n_runs) = (
        state.candidates.len(),
        state.entities.len(),
        state.runs.len(),
    );

    // 5. Freeing it all (the rebuild drops the merged rows, then the state).
    let t = Instant::now();
    drop(merged);
    drop(ids);
    drop(state);
    let free = t.elapsed();

    println!(
        "CHILD events={n} read_us={} fold_us={} decode_us={} apply_us={} merge_cpu_s={merge_cpu:.2} \
         merge_threads={threads} mergen_us={} encode_us={} free_us={} json_bytes={json_bytes} \
         candidates={n_candidates} entities={n_entities} runs={n_runs} \
         provenance_rows={provenance_rows} conflict_fields={conflicts} hwm_fold_kib={hwm_fold} \
         hwm_merged_kib={hwm_merged}",
        read.as_micros(),
        fold.as_micros(),
        decode.as_micros(),
        applying.as_micros(),
        merge_n.as_micros(),
        encode.as_micros(),
        free.as_micros(),
    );
}

fn main() {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        let (mode, dir) = spec.split_once(':').expect("mode:dir");
        match mode {
            "rebuild" => child_rebuild(Path::new(dir)),
            "phases" => child_phases(Path::new(dir)),
            "plain" => {
                let (n, t) = plain_scan(&Path::new(dir).join("log.sqlite3"));
                println!("CHILD events={n} wall_us={}", t.as_micros());
            }
            "dryrun_all" => child_remerge(Path::new(dir), PolicyChange::Every, true),
            "remerge_one" => child_remerge(Path::new(dir), PolicyChange::OneSource, false),
            "remerge_all" => child_remerge(Path::new(dir), PolicyChange::Every, false),
            other => panic!("unknown child mode {other}"),
        }
        return;
    }

    let n: u64 = std::env::var("TRUSTFOLD_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let temp = tempfile::tempdir().expect("tempdir");
    let data_dir = match std::env::var_os("TRUSTFOLD_BENCH_DIR") {
        Some(d) => {
            let d = PathBuf::from(d);
            std::fs::create_dir_all(&d).expect("create TRUSTFOLD_BENCH_DIR");
            d
        }
        None => temp.path().to_path_buf(),
    };
    let log_path = data_dir.join("log.sqlite3");
    let store = SqliteEventStore::open(&log_path, OpenMode::ReadWrite).expect("open the log");
    let mut world = World::new(SEED, 0);

    // 1. The log.
    let existing = store.head().expect("head").map_or(0, |h| h.seq);
    if existing == 0 {
        let t = Instant::now();
        let appending = generate(&store, &mut world, n);
        let c = &world.counts;
        println!(
            "generated {} events in {:.1} s ({:.0} events/s appending): {} runs, {} extractions \
             ({} re-observed), {} entities founded, {} joined, {} rejected invalid, \
             {} rejected duplicate_in_source, {} overrides",
            c.events,
            t.elapsed().as_secs_f64(),
            rate(c.events, appending),
            c.runs,
            c.extracted,
            c.reobserved,
            c.entities,
            c.existing,
            c.rejected_invalid,
            c.rejected_dup,
            c.overrides
        );
    } else {
        println!(
            "reusing the log in {} ({existing} events)",
            data_dir.display()
        );
        // The catch-up runs below must be new facts: another seed, other record ids.
        world = World::new(SEED ^ existing.rotate_left(17), 1_000_000_000 + existing);
    }
    let total = store.head().expect("head").expect("a log").seq;
    let log_bytes = file_size(&log_path);

    // 2. Baselines.
    let (plain_n, plain) = plain_scan(&log_path);
    assert_eq!(plain_n, total, "the plain scan sees every event");
    let plain_rate = rate(plain_n, plain);
    let t = Instant::now();
    let mut typed_n = 0u64;
    for ev in store.read_from(1) {
        std::hint::black_box(ev.expect("decode"));
        typed_n += 1;
    }
    let typed = t.elapsed();
    assert_eq!(typed_n, total);
    let typed_rate = rate(typed_n, typed);

    // 3 and 4. The rebuild, alone in a child process.
    let rss_parent = status_kib("VmRSS:");
    let r = run_child("rebuild", &data_dir);
    let wall = Duration::from_micros(num(&r, "wall_us") as u64);
    let rebuilt = num(&r, "events") as u64;
    assert_eq!(rebuilt, total, "the rebuild folds every event");
    let entities = num(&r, "entities") as u64;
    assert!(entities > 0, "the rebuild writes entities");
    let rebuild_rate = rate(rebuilt, wall);

    // A policy change on that database: the dry run first (it writes nothing), then a
    // re-merge after one source's trust changes, then one that touches every entity.
    let dry = run_child("dryrun_all", &data_dir);
    let one = run_child("remerge_one", &data_dir);
    let all = run_child("remerge_all", &data_dir);

    // Phases on the same log, in another child (the rebuild's database is left as it is).
    let p = run_child("phases", &data_dir);
    assert_eq!(num(&p, "events") as u64, total);

    // 5. Incremental catch-up: one more run at a time, then nothing new.
    let policy = policy();
    let projections = Projections::new(&data_dir);
    let mut catch_up_ms = Vec::new();
    let mut catch_up_events = 0;
    // A typical run: 21 candidates, about 66 events.
    world.per_run = Some(21);
    for _ in 0..CATCH_UP_RUNS {
        let events = world.run();
        let k = events.len();
        store
            .append(AppendBatch {
                events,
                expected: BTreeMap::new(),
            })
            .expect("append one run");
        let t = Instant::now();
        let rep = projections
            .catch_up(&store, &policy, &SOURCES, &mut |_, _| {})
            .expect("catch up");
        catch_up_ms.push(t.elapsed().as_secs_f64() * 1e3);
        assert_eq!(rep.events, k as u64, "the catch-up folds the new run");
        catch_up_events += k;
    }
    let mut noop_ms = Vec::new();
    for _ in 0..CATCH_UP_RUNS {
        let t = Instant::now();
        let rep = projections
            .catch_up(&store, &policy, &SOURCES, &mut |_, _| {})
            .expect("no-op catch up");
        noop_ms.push(t.elapsed().as_secs_f64() * 1e3);
        assert_eq!(rep.events, 0);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let first_catch_up = catch_up_ms[0];
    let catch_up_med = median(&mut catch_up_ms);
    let noop_med = median(&mut noop_ms);

    let us = |k: &str| num(&p, k) / 1e6;
    let (read_s, fold_s, decode_s, apply_s) = (
        us("read_us"),
        us("fold_us"),
        us("decode_us"),
        us("apply_us"),
    );
    let (merge_cpu_s, mergen_s) = (num(&p, "merge_cpu_s"), us("mergen_us"));
    let wall_s = wall.as_secs_f64();
    let pct = |s: f64| 100.0 * s / wall_s;

    println!();
    println!(
        "trustfold-projections rebuild benchmark: {total} events, log {:.1} MiB, \
         shipped trust policy, {} threads",
        mib(log_bytes),
        num(&p, "merge_threads")
    );
    println!(
        "  {} candidates, {} entities, {} runs, {} provenance rows, {} conflicting fields",
        num(&p, "candidates"),
        num(&p, "entities"),
        num(&p, "runs"),
        num(&p, "provenance_rows"),
        num(&p, "conflict_fields")
    );
    println!(
        "plain scan+decode  {:>10.0} events/s   (rusqlite SELECT seq,kind,payload + serde_json::Value; {:.2} s)",
        plain_rate,
        plain.as_secs_f64()
    );
    println!(
        "store.read_from    {:>10.0} events/s   plain baseline {:>10.0} events/s   ratio {:.2}",
        typed_rate,
        plain_rate,
        typed_rate / plain_rate
    );
    println!(
        "rebuild --full     {:>10.0} events/s   plain baseline {:>10.0} events/s   ratio {:.2} (goal >= 0.50)",
        rebuild_rate,
        plain_rate,
        rebuild_rate / plain_rate
    );
    println!(
        "  wall             {:>10.2} s          plain baseline {:>10.2} s",
        wall_s,
        plain.as_secs_f64()
    );
    println!(
        "  cpu              {:>10.2} s user  {:.2} s system (child process)",
        num(&r, "user_s"),
        num(&r, "sys_s")
    );
    println!(
        "  entities written {:>10}            projection db {:.1} MiB ({:.2}x the log)",
        entities,
        mib(num(&r, "db_bytes") as u64),
        num(&r, "db_bytes") / log_bytes as f64
    );
    println!(
        "  peak RSS         {:>10.1} MiB        (child process; {:.1} MiB at its start; this process holds {:.1} MiB)",
        num(&r, "hwm_kib") / 1024.0,
        num(&r, "rss_start_kib") / 1024.0,
        rss_parent as f64 / 1024.0
    );
    let remerge_line = |label: &str, m: &BTreeMap<String, String>, goal: &str| {
        let w = num(m, "wall_us") / 1e6;
        println!(
            "{label:<18} {:>10.2} s          plain baseline {:>10.2} s   ratio {:.2} (baseline / it; {goal}); \
             {} entities examined, {} changed; peak RSS {:.1} MiB",
            w,
            plain.as_secs_f64(),
            plain.as_secs_f64() / w,
            num(m, "examined"),
            num(m, "changed"),
            num(m, "hwm_kib") / 1024.0
        );
    };
    remerge_line(
        "re-merge, 1 source",
        &one,
        "the entities with a serper record",
    );
    remerge_line("re-merge, every", &all, "goal >= 1.00");
    remerge_line("dry run, every", &dry, "goal: no slower than the re-merge");
    println!(
        "  full rebuild / re-merge of every entity: {:.2}x the time",
        wall_s_of(&r) / (num(&all, "wall_us") / 1e6)
    );
    println!(
        "catch-up           {:>10.1} ms         one run of ~{} events (median of {CATCH_UP_RUNS} runs; first {:.1} ms)",
        catch_up_med,
        catch_up_events / CATCH_UP_RUNS,
        first_catch_up
    );
    println!(
        "catch-up (no-op)   {:>10.2} ms         (median of {CATCH_UP_RUNS})",
        noop_med
    );
    println!("pieces (public pieces, separate child; % of the full rebuild's wall):");
    println!(
        "  read (raw scan alone)       {:>7.2} s  ({:>10.0} events/s)",
        read_s,
        rate(total, Duration::from_secs_f64(read_s))
    );
    println!(
        "  fold = read+decode+apply    {:>7.2} s  {:>5.1}%   of which decode {:.2} s, apply {:.2} s, reading {:.2} s",
        fold_s,
        pct(fold_s),
        decode_s,
        apply_s,
        (fold_s - decode_s - apply_s).max(0.0)
    );
    println!(
        "  merge ({} threads)           {:>7.2} s  {:>5.1}%   ({:.2} s of CPU)",
        num(&p, "merge_threads"),
        mergen_s,
        pct(mergen_s),
        merge_cpu_s
    );
    println!(
        "  peak RSS after fold {:.1} MiB, after merge {:.1} MiB",
        num(&p, "hwm_fold_kib") / 1024.0,
        num(&p, "hwm_merged_kib") / 1024.0
    );
}
