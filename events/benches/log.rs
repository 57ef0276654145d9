//! Event log benchmark. Run: `cargo bench -p trustfold-events` (N events via
//! `TRUSTFOLD_BENCH_EVENTS`, default 1,000,000). Every figure is printed beside a raw
//! baseline measured in the same run on the same machine, so the ratio is what counts:
//!
//! - bulk append (batches of 1,000) vs a plain rusqlite batched INSERT of the same bytes;
//! - durable single-event append latency vs a plain single-row INSERT + commit;
//! - full scan + decode vs a plain SELECT + serde_json decode of the same payloads.

use std::time::{Duration, Instant};

use rusqlite::{params, Connection};
use trustfold_events::*;

const BATCH: usize = 1_000;
const SINGLE_APPENDS: usize = 2_000;

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
        payload_hash: Hash32::of(&i.to_le_bytes()),
        skipped_records: vec![],
    }
    .into()
}

fn rate(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn raw_conn(path: &std::path::Path) -> Connection {
    let conn = Connection::open(path).unwrap();
    conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))
        .unwrap();
    conn.execute_batch(
        "PRAGMA synchronous = FULL; PRAGMA cache_size = -32768;
         CREATE TABLE raw (seq INTEGER PRIMARY KEY, payload BLOB NOT NULL);",
    )
    .unwrap();
    conn
}

fn main() {
    let n: usize = std::env::var("TRUSTFOLD_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().unwrap();
    let payloads: Vec<EventPayload> = (0..n).map(payload).collect();
    let encoded: Vec<Vec<u8>> = payloads.iter().map(|p| p.encode()).collect();
    let avg_bytes = encoded.iter().map(Vec::len).sum::<usize>() / n.max(1);
    println!("trustfold-events benchmark: {n} events, ~{avg_bytes} payload bytes each, batches of {BATCH}");

    // Raw baseline: plain batched INSERT of the same bytes.
    let raw = raw_conn(&dir.path().join("raw.sqlite3"));
    let t = Instant::now();
    for (b, chunk) in encoded.chunks(BATCH).enumerate() {
        let tx = raw.unchecked_transaction().unwrap();
        {
            let mut stmt = tx
                .prepare_cached("INSERT INTO raw (seq, payload) VALUES (?1, ?2)")
                .unwrap();
            for (i, bytes) in chunk.iter().enumerate() {
                stmt.execute(params![(b * BATCH + i + 1) as i64, bytes])
                    .unwrap();
            }
        }
        tx.commit().unwrap();
    }
    let raw_append = t.elapsed();

    // The log: typed events, hash chain, id and stream indexes, one stream per batch.
    let store =
        SqliteEventStore::open(dir.path().join("log.sqlite3"), OpenMode::ReadWrite).unwrap();
    // Events are built before the clock starts, as the baseline's bytes are.
    let batches: Vec<AppendBatch> = payloads
        .chunks(BATCH)
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
    let t = Instant::now();
    let mut i = 0;
    for batch in batches {
        i += batch.events.len();
        store.append(batch).unwrap();
    }
    let log_append = t.elapsed();
    assert_eq!(store.head().unwrap().unwrap().seq, i as u64);
    println!(
        "bulk append        {:>10.0} events/s   raw INSERT baseline {:>10.0} events/s   ratio {:.2} (goal >= 0.60)",
        rate(n, log_append),
        rate(n, raw_append),
        raw_append.as_secs_f64() / log_append.as_secs_f64()
    );

    // Durable single-event appends (each its own fsynced transaction).
    let mut log_lat = Vec::with_capacity(SINGLE_APPENDS);
    let mut raw_lat = Vec::with_capacity(SINGLE_APPENDS);
    for k in 0..SINGLE_APPENDS {
        let ev = NewEvent::new("bench/single", payloads[k % n].clone());
        let t = Instant::now();
        store.append(AppendBatch::new().push(ev)).unwrap();
        log_lat.push(t.elapsed());
        let t = Instant::now();
        raw.execute("INSERT INTO raw (payload) VALUES (?1)", [&encoded[k % n]])
            .unwrap();
        raw_lat.push(t.elapsed());
    }
    log_lat.sort();
    raw_lat.sort();
    println!(
        "single append      p50 {:>8.3} ms  p99 {:>8.3} ms   raw INSERT+commit p50 {:>8.3} ms  p99 {:>8.3} ms",
        percentile(&log_lat, 0.5).as_secs_f64() * 1e3,
        percentile(&log_lat, 0.99).as_secs_f64() * 1e3,
        percentile(&raw_lat, 0.5).as_secs_f64() * 1e3,
        percentile(&raw_lat, 0.99).as_secs_f64() * 1e3,
    );

    // Raw scan baseline: SELECT the payloads and decode them into the same typed struct.
    let t = Instant::now();
    let mut count = 0usize;
    {
        let mut stmt = raw.prepare("SELECT payload FROM raw ORDER BY seq").unwrap();
        let mut rows = stmt.query([]).unwrap();
        while let Some(row) = rows.next().unwrap() {
            let bytes = row.get_ref(0).unwrap().as_blob().unwrap();
            let p: CandidateExtracted = serde_json::from_slice(bytes).unwrap();
            std::hint::black_box(p);
            count += 1;
        }
    }
    let raw_scan = t.elapsed();

    let t = Instant::now();
    let mut scanned = 0usize;
    for ev in store.read_from(1) {
        std::hint::black_box(ev.unwrap());
        scanned += 1;
    }
    let log_scan = t.elapsed();
    println!(
        "scan + decode      {:>10.0} events/s   raw SELECT+decode   {:>10.0} events/s   ratio {:.2} (goal >= 0.80)",
        rate(scanned, log_scan),
        rate(count, raw_scan),
        raw_scan.as_secs_f64() * scanned as f64 / (log_scan.as_secs_f64() * count as f64)
    );

    let t = Instant::now();
    let report = verify(&store, None).unwrap();
    println!(
        "verify (chain)     {:>10.0} events/s   ({} events)",
        rate(report.n_events as usize, t.elapsed()),
        report.n_events
    );
    let size = std::fs::metadata(store.path()).unwrap().len();
    println!("log file           {:.1} MiB", size as f64 / 1048576.0);
}
