//! API keys: read from the environment, handed only to the HTTP transport, and scrubbed
//! from every string that could reach the log, the logs or an error message.

use std::fmt;

use crate::source::ConnectorId;

/// Environment variable of each connector's key (`None`: the API needs no key).
pub fn key_env(id: ConnectorId) -> Option<&'static str> {
    super::connector(id).auth().env_var()
}

/// Keys shorter than this are not scrubbed by substring (they would mangle ordinary text);
/// real keys are far longer.
const SECRET_CHARS_MIN: usize = 6;

/// The keys present in the environment.
#[derive(Clone, Default)]
pub struct Secrets {
    keys: Vec<(ConnectorId, String)>,
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print a key, even in debug output.
        let names: Vec<_> = self.keys.iter().map(|(id, _)| id.as_str()).collect();
        f.debug_struct("Secrets")
            .field("present_for", &names)
            .finish()
    }
}

impl Secrets {
    /// Reads every connector's key from the environment. Empty values count as absent.
    pub fn from_env() -> Secrets {
        let mut keys = Vec::new();
        for id in ConnectorId::ALL {
            if let Some(var) = key_env(id) {
                if let Ok(v) = std::env::var(var) {
                    let v = v.trim().to_string();
                    if !v.is_empty() {
                        keys.push((id, v));
                    }
                }
            }
        }
        Secrets { keys }
    }

    /// The key for a connector, if set.
    pub fn key(&self, id: ConnectorId) -> Option<&str> {
        self.keys
            .iter()
            .find(|(k, _)| *k == id)
            .map(|(_, v)| v.as_str())
    }

    /// Replaces every key (and its URL-encoded form) in `text` with `[redacted]`.
    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.to_string();
        for (_, key) in &self.keys {
            if key.chars().count() < SECRET_CHARS_MIN {
                continue;
            }
            out = out.replace(key.as_str(), "[redacted]");
            let encoded: String =
                form_urlencoded::byte_serialize(key.as_bytes()).collect::<String>();
            if encoded != *key {
                out = out.replace(&encoded, "[redacted]");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrub_removes_plain_and_url_encoded_keys() {
        let s = Secrets {
            keys: vec![(ConnectorId::SportScotland, "k3y/with+chars".into())],
        };
        let url = "https://x/ows?authkey=k3y%2Fwith%2Bchars&x=1";
        assert_eq!(s.scrub(url), "https://x/ows?authkey=[redacted]&x=1");
        assert_eq!(s.scrub("error for k3y/with+chars"), "error for [redacted]");
        assert!(!format!("{s:?}").contains("k3y"));
    }
}
