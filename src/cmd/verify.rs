//! `trustfold verify [--expect SEQ:HASH]...`: hash chain, sequence contiguity, the recorded
//! head, every blob, and the anchors a user kept elsewhere (`trustfold head`).

use std::process::ExitCode;

use anyhow::Result;
use serde_json::json;
use trustfold_events::{verify_with, Hash32, Head, Problem, VerifyOptions};

use crate::datadir::{DataDir, Place};
use crate::exit::INTEGRITY_FAILURE;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// One JSON document instead of text.
    #[arg(long)]
    pub json: bool,
    /// An anchor printed earlier by `trustfold head` and kept elsewhere: the log must still
    /// hold the event at SEQ with HASH, else exit 3 (repeatable).
    #[arg(long, value_name = "SEQ:HASH", value_parser = parse_anchor)]
    pub expect: Vec<Head>,
}

/// Parses `SEQ:HASH` as `trustfold head` prints it.
pub fn parse_anchor(text: &str) -> Result<Head, String> {
    let (seq, hash) = text
        .trim()
        .split_once(':')
        .ok_or_else(|| format!("{text:?}: want SEQ:HASH, as `trustfold head` prints it"))?;
    let seq: u64 = seq
        .parse()
        .ok()
        .filter(|s| *s > 0)
        .ok_or_else(|| format!("{seq:?}: the seq of an anchor is a number from 1"))?;
    let hash: Hash32 = hash.parse().map_err(|e| format!("{e}"))?;
    Ok(Head { seq, hash })
}

fn problem_json(p: &Problem) -> serde_json::Value {
    let mut doc = json!({
        "seq": p.seq(),
        "kind": p.kind(),
        "problem": p.to_string(),
    });
    if let Problem::Blob {
        hash,
        fault,
        seqs,
        n_events,
    } = p
    {
        doc["blob"] = json!(hash.to_hex());
        doc["fault"] = json!(fault.as_str());
        doc["seqs"] = json!(seqs);
        doc["events"] = json!(n_events);
    }
    doc
}

pub fn run(data_dir: &Place, args: Args) -> Result<ExitCode> {
    let dir = DataDir::existing(data_dir)?;
    let Some(store) = dir.read_log()? else {
        if args.expect.is_empty() {
            if args.json {
                println!(
                    "{}",
                    json!({"intact": true, "events": 0, "blobs_checked": 0, "problems": []})
                );
            } else {
                println!("intact: the log at {} is empty", dir.describe());
            }
            return Ok(ExitCode::SUCCESS);
        }
        let problems: Vec<Problem> = args
            .expect
            .iter()
            .map(|anchor| Problem::AnchorMismatch {
                anchor: *anchor,
                found: None,
                log_end: 0,
            })
            .collect();
        return report_problems(&problems, args.json, json!({"events": 0}));
    };
    // A store that cannot be opened does not stop the check: the log is verified, and
    // every event naming a blob is reported with the reason.
    let (blobs, blob_store_error) = match dir.existing_blobs() {
        Ok(b) => (b, None),
        Err(e) => (None, Some(format!("{e:#}"))),
    };
    let options = VerifyOptions {
        expect: args.expect.clone(),
        blob_store_error: blob_store_error.clone(),
    };
    let report = verify_with(&*store, blobs.as_deref(), &options)?;
    if let (Some(e), false) = (&blob_store_error, report.is_intact()) {
        eprintln!("the blob store cannot be opened: {e}");
    }
    let summary = json!({
        "events": report.n_events,
        "head_seq": report.head.map(|h| h.seq),
        "head_hash": report.head.map(|h| h.hash.to_hex()),
        "blobs_checked": report.n_blobs_checked,
        "anchors_checked": report.n_anchors_checked,
        "truncated": report.truncated,
    });
    if report.is_intact() && blob_store_error.is_none() {
        if args.json {
            let mut doc = summary;
            doc["intact"] = json!(true);
            doc["problems"] = json!([]);
            println!("{doc}");
        } else {
            let head = report
                .head
                .map_or("none".to_string(), |h| format!("seq {} {}", h.seq, h.hash));
            let anchors = match report.n_anchors_checked {
                0 => String::new(),
                n => format!(", {n} anchor{} found", if n == 1 { "" } else { "s" }),
            };
            println!(
                "intact: {} events, {} blobs checked{anchors}, head {head}",
                report.n_events, report.n_blobs_checked
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    if report.is_intact() {
        // The log is intact and names no blob, but the store itself cannot be opened.
        let why = format!(
            "the blob store cannot be opened: {}",
            blob_store_error.unwrap_or_default()
        );
        if args.json {
            let mut doc = summary;
            doc["intact"] = json!(false);
            doc["first_bad_seq"] = json!(null);
            doc["problems"] = json!([{"seq": null, "kind": "blob_store", "problem": why}]);
            println!("{doc}");
        } else {
            eprintln!("integrity failure: {why}");
        }
        return Ok(ExitCode::from(INTEGRITY_FAILURE));
    }
    report_problems(&report.problems, args.json, summary)
}

/// Prints the problems (first on its own line, the rest as "also") and exits 3.
fn report_problems(
    problems: &[Problem],
    json: bool,
    mut summary: serde_json::Value,
) -> Result<ExitCode> {
    let first = problems.iter().min_by_key(|p| p.seq().unwrap_or(u64::MAX));
    if json {
        summary["intact"] = json!(false);
        summary["first_bad_seq"] = json!(first.and_then(|p| p.seq()));
        summary["problems"] = problems.iter().map(problem_json).collect();
        println!("{summary}");
    } else {
        if let Some(first) = first {
            eprintln!("integrity failure: {first}");
        }
        for p in problems {
            if Some(p) != first {
                eprintln!("  also: {p}");
            }
        }
        if summary["truncated"] == json!(true) {
            eprintln!("  (more problems not listed)");
        }
    }
    Ok(ExitCode::from(INTEGRITY_FAILURE))
}
