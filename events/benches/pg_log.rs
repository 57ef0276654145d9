//! Event log benchmark on PostgreSQL. Run:
//! `TRUSTFOLD_TEST_PG_URL=postgres://postgres@127.0.0.1:5432/postgres cargo bench -p trustfold-events --bench pg_log`
//! (the URL names a server whose user may create databases; each part runs in a throw-away
//! database of its own, made with `pg::testing::TestDb`). Without the variable it says so
//! and exits 0. Every figure is printed beside a raw baseline measured in the same run, on
//! the same server, through a connection opened the same way (`StoreUrl::connect`, so the
//! same session timeouts), so the ratio is what counts on a noisy machine:
//!
//! - bulk append (`PgEventStore::append`, batches of 1,000: binary COPY) vs a raw binary
//!   COPY of the same payload bytes into `(seq BIGINT PRIMARY KEY, payload BYTEA)`, one
//!   commit per batch. The two alternate batch by batch, so both see the same load.
//! - durable single-event append p50/p99 vs a raw BEGIN + one-row INSERT (prepared) +
//!   COMMIT into the same kind of table, alternating.
//! - N concurrent writers (threads, each with its own `PgEventStore` and its own stream,
//!   appended with a strict expected version) vs one writer appending the same number of
//!   events in batches of the same size, for batches of 100 and of 1,000; afterwards every
//!   seq is checked to be handed out once, each batch's seqs to be contiguous, and the log
//!   to verify (`trustfold_events::verify`, blobs included).
//!
//! Sizes (defaults finish each part in well under a minute on two cores):
//! `TRUSTFOLD_BENCH_PG_EVENTS` (bulk, 100,000), `TRUSTFOLD_BENCH_PG_BATCH` (bulk batch,
//! 1,000), `TRUSTFOLD_BENCH_PG_SINGLE` (single appends, 1,000),
//! `TRUSTFOLD_BENCH_PG_CONCURRENT_EVENTS` (events per concurrent measurement, 40,000),
//! `TRUSTFOLD_BENCH_PG_CONCURRENT_BATCHES` (`100,1000`), `TRUSTFOLD_BENCH_PG_WRITERS` (4),
//! `TRUSTFOLD_BENCH_PG_ROUNDS` (concurrent measurements alternated per batch length, 3).
//! `TRUSTFOLD_BENCH_PG_ONLY=bulk,single,concurrent` runs some parts only.

use std::collections::BTreeMap;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::Type;
use trustfold_events::pg::testing::{TestDb, TEST_URL_ENV};
use trustfold_events::*;

/// Candidates per connector response: every `BLOB_EVERY` events name one stored blob, so
/// `verify` can check the blobs too (a run's extraction names its payload many times).
const BLOB_EVERY: usize = 1_000;
/// Untimed single appends before the timed ones (first statements, cold caches).
const SINGLE_WARMUP: usize = 20;

/// The same candidate as `benches/log.rs`, naming a blob that is stored.
fn payload(i: usize) -> EventPayload {
    CandidateExtracted {
        candidate_id: format!("cand-{i:012}"),
        source: "sport_scotland".into(),
        external_id: format!("pub_spfp.{i}"),
        fields: CandidateFields {
            name: Some(format!("Powerleague Portobello {i}")),
            categories: vec!["five_a_side".into()],
            sports: vec!["football".into()],
            address_lines: vec!["10 Westbank Street".into()],
            locality: Some("Edinburgh".into()),
            postcode: Some("EH15 1DR".into()),
            lat: Some(55.956_558_895 + i as f64 * 1e-7),
            lon: Some(-3.119_323_379),
            ..CandidateFields::default()
        },
        extractor: "sport_scotland".into(),
        extractor_version: 1,
        payload_hash: Hash32::of(&blob_bytes(i / BLOB_EVERY)),
        skipped_records: vec![],
    }
    .into()
}

fn blob_bytes(response_idx: usize) -> Vec<u8> {
    format!("{{\"bench\": \"connector response {response_idx}\"}}").into_bytes()
}

/// Stores the blobs the events `0..n_events` name.
fn put_blobs(url: &StoreUrl, n_events: usize) {
    let blobs = PgBlobStore::open(url, true).unwrap();
    for r in 0..n_events.div_ceil(BLOB_EVERY) {
        blobs.put(&blob_bytes(r)).unwrap();
    }
}

fn env_usize(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(v) => v
            .trim()
            .replace('_', "")
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a number")),
        Err(_) => default,
    }
}

fn rate(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// A raw two-column table on a connection of its own.
fn raw_table(url: &StoreUrl) -> postgres::Client {
    let mut raw = url.connect().unwrap();
    raw.batch_execute("CREATE TABLE bench_raw (seq BIGINT PRIMARY KEY, payload BYTEA NOT NULL)")
        .unwrap();
    raw
}

/// One batch of raw payloads written with binary COPY and committed.
fn raw_copy(raw: &mut postgres::Client, first_seq: usize, payloads: &[Vec<u8>]) {
    let mut tx = raw.transaction().unwrap();
    let sink = tx
        .copy_in("COPY bench_raw (seq, payload) FROM STDIN (FORMAT binary)")
        .unwrap();
    let mut writer = BinaryCopyInWriter::new(sink, &[Type::INT8, Type::BYTEA]);
    for (i, bytes) in payloads.iter().enumerate() {
        writer
            .write(&[&((first_seq + i) as i64), &bytes.as_slice()])
            .unwrap();
    }
    writer.finish().unwrap();
    tx.commit().unwrap();
}

/// Every check a finished log must pass: `n_events` events, seqs 1..=n, chain, head, blobs.
fn check_log(url: &StoreUrl, n_events: usize) -> Duration {
    let store = PgEventStore::open(url, false).unwrap();
    let blobs = PgBlobStore::open(url, false).unwrap();
    let t = Instant::now();
    let report = verify(&store, Some(&blobs)).unwrap();
    let took = t.elapsed();
    assert!(
        report.is_intact(),
        "the log does not verify: {:?}",
        report.first_problem()
    );
    assert_eq!(report.n_events, n_events as u64);
    assert_eq!(report.head.map(|h| h.seq), Some(n_events as u64));
    took
}

fn bulk(n: usize, batch_len: usize) {
    let db = TestDb::create().expect("the variable was checked");
    let url = db.store_url();
    put_blobs(&url, n);
    let store = PgEventStore::open(&url, true).unwrap();
    let mut raw = raw_table(&url);

    // Events and raw bytes are built before the clock starts.
    let payloads: Vec<EventPayload> = (0..n).map(payload).collect();
    let encoded: Vec<Vec<u8>> = payloads.iter().map(|p| p.encode()).collect();
    let avg_bytes = encoded.iter().map(Vec::len).sum::<usize>() / n.max(1);
    let batches: Vec<AppendBatch> = payloads
        .chunks(batch_len)
        .enumerate()
        .map(|(b, chunk)| {
            let stream = format!("bench/{b}");
            let events = chunk
                .iter()
                .map(|p| NewEvent::new(&stream, p.clone()))
                .collect();
            AppendBatch::for_stream(&stream, ExpectedVersion::NoStream, events)
        })
        .collect();
    println!(
        "bulk: {n} events, ~{avg_bytes} payload bytes each, batches of {batch_len}{}",
        if batch_len < pg::COPY_MIN_EVENTS {
            " (below COPY_MIN_EVENTS: the log uses INSERT)"
        } else {
            ""
        }
    );

    let (mut raw_time, mut log_time) = (Duration::ZERO, Duration::ZERO);
    let mut seq = 1;
    for (batch, bytes) in batches.into_iter().zip(encoded.chunks(batch_len)) {
        let t = Instant::now();
        raw_copy(&mut raw, seq, bytes);
        raw_time += t.elapsed();
        let t = Instant::now();
        let appended = store.append(batch).unwrap();
        log_time += t.elapsed();
        assert_eq!(appended.seqs.first(), Some(&(seq as u64)));
        seq += bytes.len();
    }
    println!(
        "  bulk append      {:>9.0} events/s   raw binary COPY {:>9.0} events/s   ratio {:.2} (goal >= 0.50)",
        rate(n, log_time),
        rate(n, raw_time),
        raw_time.as_secs_f64() / log_time.as_secs_f64()
    );

    // Where the client's share goes: the work `append` does on this side, measured apart.
    let t = Instant::now();
    let again: Vec<Vec<u8>> = payloads.iter().map(|p| p.encode()).collect();
    let encode_time = t.elapsed();
    let t = Instant::now();
    let mut prev = Hash32::ZERO;
    for (i, bytes) in again.iter().enumerate() {
        let env = Envelope {
            seq: i as u64 + 1,
            id: uuid::Uuid::nil(),
            stream: "bench/0",
            stream_version: i as u64 + 1,
            kind: "CandidateExtracted",
            schema_version: 1,
            recorded_at_us: 0,
            run_id: None,
            trace_id: None,
            causation_id: None,
            payload: bytes,
        };
        prev = env.chained_hash(&prev);
    }
    std::hint::black_box(prev);
    let hash_time = t.elapsed();
    println!(
        "  of the append time: encoding payloads {:.0}%, chaining hashes {:.0}% (client CPU, timed apart)",
        100.0 * encode_time.as_secs_f64() / log_time.as_secs_f64(),
        100.0 * hash_time.as_secs_f64() / log_time.as_secs_f64(),
    );

    let sizes: (i64, i64) = raw
        .query_one(
            "SELECT pg_total_relation_size('trustfold.events'), pg_total_relation_size('bench_raw')",
            &[],
        )
        .map(|r| (r.get(0), r.get(1)))
        .unwrap();
    let verify_time = check_log(&url, n);
    println!(
        "  on disk          log {:.1} MiB, raw {:.1} MiB; verify {:.0} events/s: intact",
        sizes.0 as f64 / 1048576.0,
        sizes.1 as f64 / 1048576.0,
        rate(n, verify_time)
    );
}

fn single(n: usize) {
    let db = TestDb::create().expect("the variable was checked");
    let url = db.store_url();
    put_blobs(&url, n + SINGLE_WARMUP);
    let store = PgEventStore::open(&url, true).unwrap();
    let mut raw = raw_table(&url);
    let insert = raw
        .prepare("INSERT INTO bench_raw (seq, payload) VALUES ($1, $2)")
        .unwrap();
    let payloads: Vec<EventPayload> = (0..n + SINGLE_WARMUP).map(payload).collect();
    let encoded: Vec<Vec<u8>> = payloads.iter().map(|p| p.encode()).collect();

    let mut log_lat = Vec::with_capacity(n);
    let mut raw_lat = Vec::with_capacity(n);
    for (k, (p, bytes)) in payloads.into_iter().zip(&encoded).enumerate() {
        let batch = AppendBatch::new().push(NewEvent::new("bench/single", p));
        let t = Instant::now();
        store.append(batch).unwrap();
        let log = t.elapsed();
        let t = Instant::now();
        let mut tx = raw.transaction().unwrap();
        tx.execute(&insert, &[&(k as i64 + 1), &bytes.as_slice()])
            .unwrap();
        tx.commit().unwrap();
        let raw = t.elapsed();
        if k >= SINGLE_WARMUP {
            log_lat.push(log);
            raw_lat.push(raw);
        }
    }
    log_lat.sort();
    raw_lat.sort();
    let (log50, log99) = (percentile(&log_lat, 0.5), percentile(&log_lat, 0.99));
    let (raw50, raw99) = (percentile(&raw_lat, 0.5), percentile(&raw_lat, 0.99));
    println!("single: {n} durable appends of one event, each its own transaction");
    println!(
        "  single append    p50 {:>7.3} ms  p99 {:>7.3} ms   raw BEGIN+INSERT+COMMIT p50 {:>7.3} ms  p99 {:>7.3} ms   log/raw p50 x{:.2}  p99 x{:.2}",
        ms(log50),
        ms(log99),
        ms(raw50),
        ms(raw99),
        log50.as_secs_f64() / raw50.as_secs_f64(),
        log99.as_secs_f64() / raw99.as_secs_f64(),
    );
    check_log(&url, n + SINGLE_WARMUP);
}

/// What one concurrent measurement saw.
struct Writers {
    elapsed: Duration,
    /// Every batch's append latency, sorted.
    batch_lat: Vec<Duration>,
    /// When each writer finished, from the common start.
    finished: Vec<Duration>,
}

/// `n_writers` threads append `n_events` between them in batches of `batch_len`, each to a
/// stream of its own with a strict expected version, on a fresh log; then the log is checked.
fn writers(url: &StoreUrl, n_writers: usize, n_events: usize, batch_len: usize) -> Writers {
    put_blobs(url, n_events);
    let per_writer = n_events / n_writers;
    let start = Arc::new(Barrier::new(n_writers + 1));
    let threads: Vec<_> = (0..n_writers)
        .map(|w| {
            let url = url.clone();
            let start = Arc::clone(&start);
            std::thread::spawn(move || {
                let store = PgEventStore::open(&url, true).unwrap();
                let stream = format!("run/{w}");
                let first = w * per_writer;
                let batches: Vec<AppendBatch> = (first..first + per_writer)
                    .collect::<Vec<_>>()
                    .chunks(batch_len)
                    .enumerate()
                    .map(|(b, idx)| {
                        let events = idx
                            .iter()
                            .map(|i| NewEvent::new(&stream, payload(*i)))
                            .collect();
                        let expected = match b {
                            0 => ExpectedVersion::NoStream,
                            _ => ExpectedVersion::Exact((b * batch_len) as u64),
                        };
                        AppendBatch::for_stream(&stream, expected, events)
                    })
                    .collect();
                start.wait();
                let t0 = Instant::now();
                let mut lat = Vec::with_capacity(batches.len());
                let mut seqs = Vec::with_capacity(per_writer);
                for batch in batches {
                    let t = Instant::now();
                    let appended = store.append(batch).unwrap();
                    lat.push(t.elapsed());
                    // One batch, one transaction under the head lock: contiguous seqs.
                    assert!(appended.seqs.windows(2).all(|w| w[1] == w[0] + 1));
                    seqs.extend(appended.seqs);
                }
                (t0, t0.elapsed(), lat, seqs)
            })
        })
        .collect();
    start.wait();
    let t = Instant::now();
    let results: Vec<_> = threads.into_iter().map(|h| h.join().unwrap()).collect();
    let elapsed = t.elapsed();

    let mut all_seqs: Vec<u64> = results.iter().flat_map(|r| r.3.iter().copied()).collect();
    all_seqs.sort_unstable();
    let total = per_writer * n_writers;
    assert!(
        all_seqs.iter().copied().eq(1..=total as u64),
        "the writers' seqs are not exactly 1..={total}"
    );
    check_log(url, total);
    let mut batch_lat: Vec<Duration> = results.iter().flat_map(|r| r.2.clone()).collect();
    batch_lat.sort();
    Writers {
        elapsed,
        batch_lat,
        finished: results
            .iter()
            .map(|r| (r.0 + r.1).saturating_duration_since(t))
            .collect(),
    }
}

fn concurrent(n_events: usize, n_writers: usize, batch_lens: &[usize], rounds: usize) {
    println!(
        "concurrent: {n_writers} writers vs 1, {n_events} events each way, one stream per \
         writer, {rounds} rounds alternating (median shown)"
    );
    for &batch_len in batch_lens {
        let n = n_events - n_events % (n_writers * batch_len);
        assert!(
            n > 0,
            "too few events for {n_writers} writers x {batch_len}"
        );
        let (mut ones, mut manys) = (Vec::new(), Vec::new());
        for _ in 0..rounds.max(1) {
            // Each measurement on a fresh log of its own, so neither writes into a bigger one.
            let (db_one, db_many) = (TestDb::create().unwrap(), TestDb::create().unwrap());
            ones.push(writers(&db_one.store_url(), 1, n, batch_len));
            manys.push(writers(&db_many.store_url(), n_writers, n, batch_len));
        }
        let median = |runs: &[Writers]| {
            let mut rates: Vec<f64> = runs.iter().map(|w| rate(n, w.elapsed)).collect();
            rates.sort_by(f64::total_cmp);
            rates[rates.len() / 2]
        };
        let mut ratios: Vec<f64> = ones
            .iter()
            .zip(&manys)
            .map(|(one, many)| one.elapsed.as_secs_f64() / many.elapsed.as_secs_f64())
            .collect();
        let each = ratios
            .iter()
            .map(|r| format!("{r:.2}"))
            .collect::<Vec<_>>()
            .join(" ");
        ratios.sort_by(f64::total_cmp);
        println!(
            "  batches of {batch_len:>5}: {n_writers} writers {:>9.0} events/s   1 writer {:>9.0} events/s   ratio {:.2} (goal >= 1.00; rounds {each}); gap-free, verified",
            median(&manys),
            median(&ones),
            ratios[ratios.len() / 2],
        );
        let pooled = |runs: &[Writers]| {
            let mut lat: Vec<Duration> = runs.iter().flat_map(|w| w.batch_lat.clone()).collect();
            lat.sort();
            let max = lat.last().copied().unwrap_or_default();
            (
                ms(percentile(&lat, 0.5)),
                ms(percentile(&lat, 0.99)),
                ms(max),
            )
        };
        let (m50, m99, mmax) = pooled(&manys);
        let (o50, o99, omax) = pooled(&ones);
        // How far apart the writers finished: a starved writer would finish last by far.
        let spread_pct = manys
            .iter()
            .map(|w| {
                let first = w.finished.iter().min().copied().unwrap_or_default();
                let last = w.finished.iter().max().copied().unwrap_or_default();
                100.0 * (last - first).as_secs_f64() / w.elapsed.as_secs_f64()
            })
            .fold(0.0, f64::max);
        println!(
            "      batch latency p50/p99/max: {n_writers} writers {m50:.1}/{m99:.1}/{mmax:.1} ms, 1 writer {o50:.1}/{o99:.1}/{omax:.1} ms; first and last writer finished at most {spread_pct:.0}% of the run apart"
        );
    }
}

fn main() {
    if std::env::var_os(TEST_URL_ENV).is_none() {
        println!(
            "pg_log benchmark skipped: set {TEST_URL_ENV} to a PostgreSQL URL whose user may \
             create databases (e.g. postgres://postgres@127.0.0.1:5432/postgres)"
        );
        return;
    }
    let only = std::env::var("TRUSTFOLD_BENCH_PG_ONLY").unwrap_or_default();
    let wanted = |part: &str| only.is_empty() || only.split(',').any(|p| p.trim() == part);
    let mut server = StoreUrl::parse(&std::env::var(TEST_URL_ENV).unwrap())
        .unwrap()
        .connect()
        .unwrap();
    let settings: BTreeMap<String, String> = server
        .query(
            "SELECT name, setting FROM pg_settings WHERE name IN
               ('server_version', 'fsync', 'synchronous_commit', 'shared_buffers', 'wal_level')",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    println!("trustfold-events PostgreSQL benchmark; server {settings:?}");

    if wanted("bulk") {
        bulk(
            env_usize("TRUSTFOLD_BENCH_PG_EVENTS", 100_000),
            env_usize("TRUSTFOLD_BENCH_PG_BATCH", 1_000),
        );
    }
    if wanted("single") {
        single(env_usize("TRUSTFOLD_BENCH_PG_SINGLE", 1_000));
    }
    if wanted("concurrent") {
        let batch_lens: Vec<usize> = std::env::var("TRUSTFOLD_BENCH_PG_CONCURRENT_BATCHES")
            .unwrap_or_else(|_| "100,1000".into())
            .split(',')
            .map(|b| b.trim().parse().expect("batch lengths, comma-separated"))
            .collect();
        concurrent(
            env_usize("TRUSTFOLD_BENCH_PG_CONCURRENT_EVENTS", 40_000),
            env_usize("TRUSTFOLD_BENCH_PG_WRITERS", 4),
            &batch_lens,
            env_usize("TRUSTFOLD_BENCH_PG_ROUNDS", 3),
        );
    }
}
