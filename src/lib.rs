//! # trustfold
//!
//! The binary's library: command-line interface, data directory handling and (in later
//! stages) the planner, connectors, extraction and matching. `main.rs` only parses
//! arguments and calls [`cli::run`].

#![forbid(unsafe_code)]

pub mod cli;
pub mod cmd;
pub mod connectors;
pub mod datadir;
pub mod exit;
pub mod extract;
pub mod ingest;
pub mod planner;
pub mod project;
pub mod relevance;
pub mod resolve;
pub mod source;
pub mod web;
