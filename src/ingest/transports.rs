//! Which transport each connector uses in this run.
//!
//! In order: a base URL override (`TRUSTFOLD_<CONNECTOR>_BASE_URL`, e.g.
//! `TRUSTFOLD_SERPER_BASE_URL`) sends real HTTP there; `--offline` uses the fixtures; a
//! connector whose key is set (or that needs none, with `TRUSTFOLD_LIVE=1`) goes live;
//! everything else answers from the recorded fixture world. On a machine without keys
//! and without network that means: everything offline, out of the box.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use anyhow::Result;

use crate::connectors::fixture::World;
use crate::connectors::secrets::Secrets;
use crate::connectors::transport::Transport;
use crate::connectors::{connector, Auth};
use crate::source::ConnectorId;

/// A transport setting in the environment that cannot be used (a base URL that is not an
/// http(s) URL, a fixtures dir that cannot be read). The command line reports it as bad
/// input (exit 2): the user set it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadTransportSetting(pub String);

fn bad_setting(msg: String) -> anyhow::Error {
    BadTransportSetting(msg).into()
}

/// The environment variable that overrides a connector's base URL.
pub fn base_url_env(id: ConnectorId) -> String {
    format!("TRUSTFOLD_{}_BASE_URL", id.as_str().to_uppercase())
}

/// The fixture world: the one compiled in, or `TRUSTFOLD_FIXTURES_DIR`.
pub fn world() -> Result<&'static World> {
    static FROM_DIR: OnceLock<World> = OnceLock::new();
    match std::env::var_os("TRUSTFOLD_FIXTURES_DIR") {
        None => Ok(World::embedded()),
        Some(dir) => {
            if let Some(w) = FROM_DIR.get() {
                return Ok(w);
            }
            let w = World::from_dir(std::path::Path::new(&dir))
                .map_err(|e| bad_setting(format!("TRUSTFOLD_FIXTURES_DIR: {e}")))?;
            Ok(FROM_DIR.get_or_init(|| w))
        }
    }
}

fn http_client() -> Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .user_agent(concat!("trustfold/", env!("CARGO_PKG_VERSION")))
        // Redirects could carry a request (and its key) elsewhere: follow a few, same API.
        .redirect(reqwest::redirect::Policy::limited(3))
        .build()?)
}

/// Chooses a transport for each connector.
pub fn choose(
    ids: &[ConnectorId],
    secrets: &Secrets,
    offline: bool,
) -> Result<BTreeMap<ConnectorId, Transport>> {
    let live_keyless = std::env::var("TRUSTFOLD_LIVE").is_ok_and(|v| v == "1");
    let mut client = None;
    let mut out = BTreeMap::new();
    for &id in ids {
        let var = base_url_env(id);
        let override_url = std::env::var(&var).ok().filter(|v| !v.trim().is_empty());
        let live_base = if let Some(url) = override_url {
            let parsed = url::Url::parse(url.trim())
                .map_err(|e| bad_setting(format!("{var}={url:?} is not a URL: {e}")))?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(bad_setting(format!(
                    "{var}={url:?}: only http and https URLs are supported"
                )));
            }
            Some(url.trim().trim_end_matches('/').to_string())
        } else if offline {
            None
        } else {
            let c = connector(id);
            let has_key = secrets.key(id).is_some();
            match c.auth() {
                Auth::None if live_keyless => Some(c.default_base_url().to_string()),
                Auth::Header { .. } | Auth::Query { .. } if has_key => {
                    Some(c.default_base_url().to_string())
                }
                _ => None,
            }
        };
        let transport = match live_base {
            Some(base_url) => {
                if client.is_none() {
                    client = Some(http_client()?);
                }
                // Clones share one connection pool.
                Transport::Http {
                    client: client.clone().expect("set above"),
                    base_url,
                }
            }
            None => Transport::Fixture { world: world()? },
        };
        out.insert(id, transport);
    }
    Ok(out)
}
