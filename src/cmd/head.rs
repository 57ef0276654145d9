//! `trustfold head [--json]`: the log's last event as an anchor (`SEQ:HASH`) to keep
//! elsewhere. The log's chain and recorded head live in the log's own file, so removing
//! its last events and rewriting the head leaves a log that agrees with itself; an anchor
//! kept outside it, checked with `trustfold verify --expect SEQ:HASH`, does not.

use std::process::ExitCode;

use anyhow::Result;
use serde_json::json;
use trustfold_events::format_time;

use crate::datadir::{DataDir, Place};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// One JSON document instead of the bare `SEQ:HASH` line.
    #[arg(long)]
    pub json: bool,
}

pub fn run(data_dir: &Place, args: Args) -> Result<ExitCode> {
    let dir = DataDir::existing(data_dir)?;
    let head = match dir.read_log()? {
        // The tail is checked first: an anchor of a tampered log would vouch for it.
        Some(store) => store
            .check_tail()?
            .map(|h| (h, store.read_at(h.seq)))
            .map(|(h, ev)| ev.map(|ev| (h, ev)))
            .transpose()?,
        None => None,
    };
    let Some((head, ev)) = head else {
        if args.json {
            println!("{}", json!({"seq": null, "hash": null, "anchor": null}));
        } else {
            eprintln!(
                "the log at {} is empty: there is no head to anchor yet",
                dir.describe()
            );
        }
        return Ok(ExitCode::SUCCESS);
    };
    let anchor = format!("{}:{}", head.seq, head.hash);
    let recorded_at = ev.as_ref().map(|e| format_time(&e.recorded_at));
    if args.json {
        println!(
            "{}",
            json!({
                "seq": head.seq,
                "hash": head.hash.to_hex(),
                "anchor": anchor,
                "recorded_at": recorded_at,
            })
        );
    } else {
        println!("{anchor}");
        eprintln!(
            "the head of {} (recorded {}): keep this line somewhere else; \
             `trustfold verify --expect {anchor}` checks the log still holds it",
            match dir.postgres() {
                Some(url) => url.redacted().to_string(),
                None => dir.log_path().display().to_string(),
            },
            recorded_at.unwrap_or_default()
        );
    }
    Ok(ExitCode::SUCCESS)
}
