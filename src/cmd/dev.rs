//! `trustfold dev ...`: hidden tools for tests and benchmarks. Not part of the contract.

use std::process::ExitCode;

use anyhow::Result;
use trustfold_events::{
    AppendBatch, CandidateAccepted, ConnectorResponded, ExpectedVersion, NewEvent, RedactedRequest,
};

use crate::datadir::{DataDir, Place};
use crate::exit::bad_input;

#[derive(Debug, clap::Subcommand)]
pub enum DevCommand {
    /// Append synthetic events in batches; each batch is its own stream
    /// `synthetic/<tag>/<batch>`, so a partial batch would show as a short stream.
    AppendSynthetic(AppendArgs),
}

#[derive(Debug, clap::Args)]
pub struct AppendArgs {
    /// Number of events to append.
    #[arg(long)]
    pub events: u64,
    /// Events per atomic append.
    #[arg(long, default_value_t = 1)]
    pub batch: u64,
    /// Distinguishes concurrent writers.
    #[arg(long, default_value = "w")]
    pub tag: String,
    /// Also store a raw payload blob per batch and name it from a ConnectorResponded event.
    #[arg(long)]
    pub with_blobs: bool,
}

pub fn run(data_dir: &Place, cmd: DevCommand) -> Result<ExitCode> {
    match cmd {
        DevCommand::AppendSynthetic(args) => append_synthetic(data_dir, args),
    }
}

fn append_synthetic(data_dir: &Place, args: AppendArgs) -> Result<ExitCode> {
    if args.batch == 0 || args.batch > trustfold_events::limits::BATCH_EVENTS_MAX as u64 {
        return Err(bad_input(format!(
            "--batch must be 1..={}",
            trustfold_events::limits::BATCH_EVENTS_MAX
        )));
    }
    let dir = DataDir::writable(data_dir)?;
    let store = dir.write_log()?;
    let blobs = if args.with_blobs {
        Some(dir.blobs()?)
    } else {
        None
    };
    let mut written = 0u64;
    let mut batch_idx = 0u64;
    while written < args.events {
        let n = args.batch.min(args.events - written);
        let stream = format!("synthetic/{}/{batch_idx}", args.tag);
        let mut events = Vec::with_capacity(n as usize);
        for i in 0..n {
            let candidate_id = format!("{}-{batch_idx}-{i}-of-{n}", args.tag);
            events.push(NewEvent::new(
                &stream,
                CandidateAccepted {
                    candidate_id,
                    checks: vec![format!("{i} of {n}")],
                },
            ));
        }
        if let Some(blobs) = &blobs {
            let body = format!("{{\"synthetic\":{batch_idx},\"tag\":{:?}}}", args.tag);
            // The blob is durable (put flushes) before the event that names it.
            let hash = blobs.put(body.as_bytes())?;
            events.pop();
            events.push(NewEvent::new(
                &stream,
                ConnectorResponded {
                    connector: "synthetic".into(),
                    request: RedactedRequest {
                        method: "GET".into(),
                        url: "http://127.0.0.1/synthetic".into(),
                        ..RedactedRequest::default()
                    },
                    http_status: 200,
                    latency_ms: 0,
                    cost_usd: 0.0,
                    attempt: 1,
                    payload_hash: hash,
                    payload_bytes: body.len() as u64,
                    content_type: Some("application/json".into()),
                    transport: "synthetic".into(),
                },
            ));
        }
        store.append(AppendBatch::for_stream(
            &stream,
            ExpectedVersion::NoStream,
            events,
        ))?;
        written += n;
        batch_idx += 1;
    }
    println!("appended {written} events in {batch_idx} batches");
    Ok(ExitCode::SUCCESS)
}
