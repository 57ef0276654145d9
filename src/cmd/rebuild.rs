//! `trustfold rebuild-projections`: replay the whole log with the current trust policy
//! into a fresh database and swap it in.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;

use crate::datadir::DataDir;
use crate::exit::bad_input;
use crate::project::{self, short};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print the figures as one JSON document.
    #[arg(long)]
    pub json: bool,
    /// Re-fold the whole log, the identity index included (matching never depends on the
    /// trust policy, so it is rebuilt only when asked).
    #[arg(long)]
    pub full: bool,
}

pub fn run(data_dir: &Path, trust: Option<&Path>, args: Args) -> Result<ExitCode> {
    let policy = project::load_policy(trust, data_dir)?;
    DataDir::existing(data_dir)?;
    let dir = DataDir::writable(data_dir)?;
    if !dir.has_log() {
        return Err(bad_input(format!(
            "no event log in {}: nothing to rebuild; run `trustfold ingest \"<query>\"` first",
            data_dir.display()
        )));
    }
    let store = dir.write_log()?;
    let (report, identity) = if args.full {
        // The identity index is a fold of its own: it is rebuilt beside the projections,
        // on the other core, rather than after them.
        std::thread::scope(|scope| {
            let identity = scope.spawn(|| project::rebuild_identity(&dir, &store, false));
            let report = project::rebuild(&dir, &store, &policy, !args.json);
            let identity = identity
                .join()
                .unwrap_or_else(|_| Err(anyhow::anyhow!("rebuilding the identity index panicked")));
            (report, identity)
        })
    } else {
        (
            project::rebuild(&dir, &store, &policy, !args.json),
            Ok(Default::default()),
        )
    };
    let report = report?;
    let identity = if args.full { Some(identity?) } else { None };
    if args.json {
        let doc = serde_json::json!({
            "report": report,
            "identity": identity,
            "policy_origin": policy.origin(),
            "policy_hash": policy.hash(),
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        println!(
            "rebuilt the projections from {} events (seq {}..={}) in {} ms: {:.0} events/s; \
             {} entities; trust policy {} ({})",
            report.events,
            report.from_seq,
            report.to_seq,
            report.elapsed_ms,
            report.events_per_s,
            report.entities_written,
            policy.origin(),
            short(policy.hash())
        );
        if let Some(r) = identity {
            println!(
                "rebuilt the identity index from {} events in {} ms: {} attached candidates",
                r.events, r.elapsed_ms, r.attached
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
