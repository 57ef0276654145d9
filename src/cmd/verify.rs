//! `trustfold verify`: hash chain, sequence contiguity and blob integrity.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use serde_json::json;
use trustfold_events::verify;

use crate::datadir::DataDir;
use crate::exit::INTEGRITY_FAILURE;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// One JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

pub fn run(data_dir: &Path, args: Args) -> Result<ExitCode> {
    let dir = DataDir::existing(data_dir)?;
    let Some(store) = dir.read_log()? else {
        if args.json {
            println!(
                "{}",
                json!({"intact": true, "events": 0, "blobs_checked": 0, "problems": []})
            );
        } else {
            println!("intact: the log at {} is empty", dir.root().display());
        }
        return Ok(ExitCode::SUCCESS);
    };
    let blobs = dir.existing_blobs()?;
    let report = verify(&store, blobs.as_ref())?;
    if args.json {
        let doc = json!({
            "intact": report.is_intact(),
            "events": report.n_events,
            "head_seq": report.head.map(|h| h.seq),
            "head_hash": report.head.map(|h| h.hash.to_hex()),
            "blobs_checked": report.n_blobs_checked,
            "first_bad_seq": report.first_problem().and_then(|p| p.seq()),
            "problems": report.problems.iter().map(|p| json!({
                "seq": p.seq(),
                "problem": p.to_string(),
            })).collect::<Vec<_>>(),
            "truncated": report.truncated,
        });
        println!("{doc}");
    } else if report.is_intact() {
        let head = report
            .head
            .map_or("none".to_string(), |h| format!("seq {} {}", h.seq, h.hash));
        println!(
            "intact: {} events, {} blobs checked, head {head}",
            report.n_events, report.n_blobs_checked
        );
    } else {
        let first = report
            .first_problem()
            .map(|p| p.to_string())
            .unwrap_or_default();
        eprintln!("integrity failure: {first}");
        for p in report.problems.iter().skip(1) {
            eprintln!("  also: {p}");
        }
        if report.truncated {
            eprintln!("  (more problems not listed)");
        }
    }
    Ok(if report.is_intact() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(INTEGRITY_FAILURE)
    })
}
