//! The trust policy: which source's value wins each field of an entity.
//!
//! For one field, candidate values rank (highest first) by tier (admin > official >
//! crowdsourced), then whether the source prefers the field, then trust in [0, 1]; the fold
//! breaks the remaining ties by the most recent observation, then the candidate id. A source
//! that excludes a field never supplies it. [`TrustPolicy::rank`] gives the first three keys.
//!
//! The policy is a TOML file (`fixtures/trust.toml` is shipped and compiled in as
//! [`SHIPPED_POLICY`]). Every value is read through `toml::Spanned`, so each error names the
//! line that is wrong rather than the whole file. The policy's [`hash`](TrustPolicy::hash)
//! is taken over a canonical form, not the text: read models record which policy folded them,
//! and a comment or a reordered table must not make them look stale.
//!
//! ```
//! use trustfold_projections::policy::{TrustPolicy, SHIPPED_POLICY};
//! use trustfold_projections::Field;
//!
//! let sources = ["serper", "google_places", "openstreetmap", "sport_scotland",
//!                "edinburgh_council", "open_charge_map"];
//! let policy = TrustPolicy::parse(SHIPPED_POLICY, "trust.toml", &sources).unwrap();
//! assert!(policy.rank("openstreetmap", Field::Phone).is_none());
//! ```

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::Range;

use serde::{Deserialize, Serialize};
use toml::Spanned;

use trustfold_normalize::phone::Region;

use crate::fields::Field;

/// The largest policy text parsed. A real policy is a few kilobytes; a larger one is a wrong
/// path (a log file, a dump), and rejecting it up front bounds the parser's work. Callers
/// reading a file can stop reading at this size plus one.
pub const POLICY_BYTES_MAX: usize = 1 << 20;

/// The policy compiled into the binary, used when no policy file is given.
pub const SHIPPED_POLICY: &str = include_str!("../../fixtures/trust.toml");

/// The only policy format version this build reads.
pub const POLICY_VERSION: i64 = 1;

/// Trust for a source that neither `[sources]` nor `[default]` configures.
pub const TRUST_DEFAULT: f64 = 0.5;

/// The trust gap under which two disagreeing sources conflict, when the file sets none.
pub const CONFLICT_TRUST_GAP_MAX_DEFAULT: f64 = 0.15;

/// Names the canonical form hashed by [`TrustPolicy::hash`]; changing the form changes
/// this tag, so old and new hashes can never collide by accident.
const CANONICAL_FORM_TAG: &str = "trustfold-policy-canonical/1";

/// How far a source's values are vouched for. Ordered so that `Admin` is greatest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    /// Open edits or scraped web results.
    Crowdsourced,
    /// Curated by an organisation accountable for it.
    Official,
    /// An operator's `trustfold override`; never a source's tier.
    Admin,
}

impl Tier {
    /// The name used in policy files and provenance.
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Crowdsourced => "crowdsourced",
            Tier::Official => "official",
            Tier::Admin => "admin",
        }
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the policy says about one source.
#[derive(Clone, Debug, PartialEq)]
pub struct SourcePolicy {
    /// In [0, 1]; breaks ties between sources of one tier that equally prefer a field.
    pub trust: f64,
    pub tier: Tier,
    /// Fields this source is the specialist for: it outranks same-tier sources on them.
    pub prefer: BTreeSet<Field>,
    /// Fields this source never supplies. Disjoint from `prefer`.
    pub exclude: BTreeSet<Field>,
    /// The country whose national format the source writes phone numbers in (`region =
    /// "US"`), read when its records are extracted; `None`: the connector registry's, or
    /// for other sources `[default]`'s. Not a merge rule: it changes no ranking, and is not
    /// part of the policy's hash.
    pub region: Option<Region>,
}

impl SourcePolicy {
    fn unconfigured() -> SourcePolicy {
        SourcePolicy {
            trust: TRUST_DEFAULT,
            tier: Tier::Crowdsourced,
            prefer: BTreeSet::new(),
            exclude: BTreeSet::new(),
            region: None,
        }
    }
}

/// How a source ranks for one field; the greater rank wins.
///
/// Equality and order both follow [`Rank::cmp_rank`] (trust compared with `total_cmp`), so
/// `Rank` is a total order and can be used with `max`, `sort` and `BTreeMap`.
#[derive(Clone, Copy, Debug)]
pub struct Rank {
    pub tier: Tier,
    pub preferred: bool,
    pub trust: f64,
}

impl Rank {
    /// Tier first, then preferred, then trust.
    pub fn cmp_rank(&self, other: &Rank) -> Ordering {
        self.tier
            .cmp(&other.tier)
            .then(self.preferred.cmp(&other.preferred))
            .then(self.trust.total_cmp(&other.trust))
    }
}

impl PartialEq for Rank {
    fn eq(&self, other: &Rank) -> bool {
        self.cmp_rank(other) == Ordering::Equal
    }
}

impl Eq for Rank {}

impl PartialOrd for Rank {
    fn partial_cmp(&self, other: &Rank) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Rank {
    fn cmp(&self, other: &Rank) -> Ordering {
        self.cmp_rank(other)
    }
}

/// A policy file that cannot be used, with the place that is wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{origin}:{line}: {message}")]
pub struct PolicyError {
    /// The file, as the caller named it.
    pub origin: String,
    /// 1-based; 1 when the problem has no position (a missing key).
    pub line: usize,
    /// 1-based, in characters.
    pub column: usize,
    pub message: String,
}

/// A parsed, validated trust policy.
#[derive(Clone, Debug)]
pub struct TrustPolicy {
    text: String,
    origin: String,
    hash: String,
    conflict_trust_gap_max: f64,
    default: SourcePolicy,
    sources: BTreeMap<String, SourcePolicy>,
}

impl TrustPolicy {
    /// Parses and validates policy text. `origin` names the file in errors; `known_sources`
    /// are the source names the caller accepts under `[sources]`.
    pub fn parse(
        text: &str,
        origin: &str,
        known_sources: &[&str],
    ) -> Result<TrustPolicy, PolicyError> {
        let file = File { origin, text };
        if text.len() > POLICY_BYTES_MAX {
            return Err(file.error(
                POLICY_BYTES_MAX,
                format!(
                    "the policy is {} bytes, more than POLICY_BYTES_MAX ({POLICY_BYTES_MAX} \
                     bytes); a trust policy is a few kilobytes, so check the path",
                    text.len()
                ),
            ));
        }

        // The version is checked on its own first: a file written for another version may
        // use keys this build does not know, and "wrong version" is the useful message then.
        let header: RawHeader = toml::from_str(text).map_err(|e| file.toml_error(&e))?;
        file.check_version(header.version.as_ref())?;

        let raw: RawPolicy = toml::from_str(text).map_err(|e| file.toml_error(&e))?;
        let conflict_trust_gap_max = match &raw.conflict_trust_gap_max {
            Some(value) => file.unit_interval("conflict_trust_gap_max", value)?,
            None => CONFLICT_TRUST_GAP_MAX_DEFAULT,
        };

        let mut default = SourcePolicy::unconfigured();
        if let Some(raw_default) = &raw.default {
            if let Some(trust) = &raw_default.trust {
                default.trust = file.unit_interval("[default] trust", trust)?;
            }
            if let Some(tier) = &raw_default.tier {
                default.tier = file.tier("[default]", tier)?;
            }
            if let Some(region) = &raw_default.region {
                default.region = Some(file.region("[default]", region)?);
            }
        }

        let mut sources = BTreeMap::new();
        for (name, raw_source) in &raw.sources {
            let name_str = name.get_ref().as_str();
            if !known_sources.contains(&name_str) {
                let known = if known_sources.is_empty() {
                    "none".to_owned()
                } else {
                    known_sources.join(", ")
                };
                return Err(file.error(
                    name.span().start,
                    format!("unknown source {name_str:?} under [sources] (known: {known})"),
                ));
            }
            let table = format!("[sources.{name_str}]");
            let source = file.source(&table, raw_source, &default)?;
            sources.insert(name_str.to_owned(), source);
        }

        let hash =
            blake3::hash(canonical_form(conflict_trust_gap_max, &default, &sources).as_bytes())
                .to_hex()
                .to_string();
        Ok(TrustPolicy {
            text: text.to_owned(),
            origin: origin.to_owned(),
            hash,
            conflict_trust_gap_max,
            default,
            sources,
        })
    }

    /// The policy for `name`; a source the file does not list gets the `[default]` values.
    pub fn source(&self, name: &str) -> &SourcePolicy {
        self.sources.get(name).unwrap_or(&self.default)
    }

    /// How `source` ranks for `field`; `None` when the source excludes the field.
    pub fn rank(&self, source: &str, field: Field) -> Option<Rank> {
        let policy = self.source(source);
        if policy.exclude.contains(&field) {
            return None;
        }
        Some(Rank {
            tier: policy.tier,
            preferred: policy.prefer.contains(&field),
            trust: policy.trust,
        })
    }

    /// The region `[sources.<name>]` sets for a listed source, if it sets one.
    pub fn source_region(&self, name: &str) -> Option<Region> {
        self.sources.get(name).and_then(|s| s.region)
    }

    /// The region `[default]` sets for every source the file does not list, if any.
    pub fn default_region(&self) -> Option<Region> {
        self.default.region
    }

    /// Whether `source` is barred from supplying `field`.
    pub fn exclusion(&self, source: &str, field: Field) -> bool {
        self.source(source).exclude.contains(&field)
    }

    /// Two disagreeing sources whose trust differs by at most this make a conflict.
    pub fn conflict_trust_gap_max(&self) -> f64 {
        self.conflict_trust_gap_max
    }

    /// Hex blake3 of the canonical form: independent of comments, whitespace, key order and
    /// number spelling (`0.9` = `0.90`), but changed by any value.
    pub fn hash(&self) -> &str {
        &self.hash
    }

    /// The text as given, so it can be stored and parsed again later.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The name the policy was parsed under.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The explicitly configured sources, sorted by name.
    pub fn sources(&self) -> impl Iterator<Item = (&str, &SourcePolicy)> {
        self.sources
            .iter()
            .map(|(name, policy)| (name.as_str(), policy))
    }

    /// The rank of an operator's override: above every source for every field.
    pub fn admin_rank() -> Rank {
        Rank {
            tier: Tier::Admin,
            preferred: true,
            trust: 1.0,
        }
    }
}

/// The hashed form: one line per setting, sources sorted by name, fields in `Field` order,
/// numbers in Rust's shortest round-trip spelling.
fn canonical_form(
    conflict_trust_gap_max: f64,
    default: &SourcePolicy,
    sources: &BTreeMap<String, SourcePolicy>,
) -> String {
    fn source_line(table: &str, policy: &SourcePolicy) -> String {
        let join = |fields: &BTreeSet<Field>| {
            fields
                .iter()
                .map(|f| f.as_str())
                .collect::<Vec<_>>()
                .join(",")
        };
        // The region is not written: it is read when records are extracted and changes
        // nothing a projection holds (a phone kept as written says why from its text), so
        // setting it must not make the read models look stale.
        format!(
            "{table} trust={:?} tier={} prefer=[{}] exclude=[{}]\n",
            policy.trust,
            policy.tier,
            join(&policy.prefer),
            join(&policy.exclude)
        )
    }

    let mut form = format!(
        "{CANONICAL_FORM_TAG}\nversion={POLICY_VERSION}\n\
         conflict_trust_gap_max={conflict_trust_gap_max:?}\n"
    );
    form.push_str(&source_line("default", default));
    for (name, policy) in sources {
        form.push_str(&source_line(&format!("source {name:?}"), policy));
    }
    form
}

/// The first pass: only the version, every other key ignored.
#[derive(Deserialize)]
struct RawHeader {
    version: Option<Spanned<toml::Value>>,
}

// Leaf values are read as `toml::Value` so that a wrong type gets our message (naming the
// allowed values) instead of serde's, and all are `Spanned` so that every error has a line.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    #[allow(dead_code)] // checked by the first pass; listed so the key is not "unknown"
    version: Option<toml::Value>,
    conflict_trust_gap_max: Option<Spanned<toml::Value>>,
    default: Option<RawDefault>,
    #[serde(default)]
    sources: BTreeMap<Spanned<String>, RawSource>,
}

/// `[default]` takes no prefer/exclude: a field list only means something for one source.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDefault {
    trust: Option<Spanned<toml::Value>>,
    tier: Option<Spanned<toml::Value>>,
    region: Option<Spanned<toml::Value>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    trust: Option<Spanned<toml::Value>>,
    tier: Option<Spanned<toml::Value>>,
    prefer: Option<Vec<Spanned<toml::Value>>>,
    exclude: Option<Vec<Spanned<toml::Value>>>,
    region: Option<Spanned<toml::Value>>,
}

/// The file being parsed, for turning byte offsets into positioned errors.
struct File<'a> {
    origin: &'a str,
    text: &'a str,
}

impl File<'_> {
    fn error(&self, offset: usize, message: impl Into<String>) -> PolicyError {
        let (line, column) = line_column(self.text, offset);
        PolicyError {
            origin: self.origin.to_owned(),
            line,
            column,
            message: message.into(),
        }
    }

    fn toml_error(&self, error: &toml::de::Error) -> PolicyError {
        let offset = error.span().map_or(0, |span| span.start);
        // The parser's messages can span lines ("invalid string\nexpected ..."); an error
        // here is one line, `origin:line: message`.
        let message = error.message().trim_end().replace('\n', "; ");
        // serde calls a table key a "field"; here "field" means a merge field, so say "key".
        let message = match message.strip_prefix("unknown field") {
            Some(rest) => format!("unknown key{rest}"),
            None => message,
        };
        self.error(offset, message)
    }

    /// The text of a value as written, for messages (`1.50` stays `1.50`).
    fn written(&self, span: Range<usize>) -> &str {
        self.text.get(span).unwrap_or("?").trim()
    }

    fn check_version(&self, version: Option<&Spanned<toml::Value>>) -> Result<(), PolicyError> {
        let Some(version) = version else {
            return Err(self.error(
                0,
                format!(
                    "missing `version`; this build reads policy version {POLICY_VERSION}, \
                     so add `version = {POLICY_VERSION}`"
                ),
            ));
        };
        match version.get_ref() {
            toml::Value::Integer(v) if *v == POLICY_VERSION => Ok(()),
            _ => Err(self.error(
                version.span().start,
                format!(
                    "unsupported policy version {}; this build reads policy version \
                     {POLICY_VERSION}",
                    self.written(version.span())
                ),
            )),
        }
    }

    /// A number in [0, 1]. `what` names the setting in messages.
    fn unit_interval(&self, what: &str, value: &Spanned<toml::Value>) -> Result<f64, PolicyError> {
        let written = self.written(value.span());
        let number = match value.get_ref() {
            toml::Value::Float(f) => *f,
            // Integers are allowed so that `trust = 1` reads naturally; only 0 and 1 pass.
            toml::Value::Integer(i) => *i as f64,
            _ => {
                return Err(self.error(
                    value.span().start,
                    format!("{what} must be a number in [0, 1], not {written}"),
                ))
            }
        };
        if number.is_nan() {
            return Err(self.error(
                value.span().start,
                format!("{what} is {written} (not a number); it must be a number in [0, 1]"),
            ));
        }
        if !(0.0..=1.0).contains(&number) {
            return Err(self.error(
                value.span().start,
                format!("{what} {written} is outside [0, 1]"),
            ));
        }
        // Adding zero turns -0.0 into 0.0, so `total_cmp` and the hash see one zero.
        Ok(number + 0.0)
    }

    /// A region code ("GB", "US"): a country whose numbering plan libphonenumber knows.
    fn region(&self, table: &str, value: &Spanned<toml::Value>) -> Result<Region, PolicyError> {
        let code = value.get_ref().as_str().ok_or_else(|| {
            self.error(
                value.span().start,
                format!(
                    "{table} region must be a two-letter country code in quotes (\"GB\", \"US\"), not {}",
                    self.written(value.span())
                ),
            )
        })?;
        code.parse::<Region>()
            .map_err(|e| self.error(value.span().start, format!("{table} {e}")))
    }

    fn tier(&self, table: &str, value: &Spanned<toml::Value>) -> Result<Tier, PolicyError> {
        let allowed = "use \"official\" or \"crowdsourced\"";
        match value.get_ref().as_str() {
            Some("official") => Ok(Tier::Official),
            Some("crowdsourced") => Ok(Tier::Crowdsourced),
            Some("admin") => Err(self.error(
                value.span().start,
                format!(
                    "{table} tier \"admin\" is reserved for `trustfold override`; a source \
                     cannot have it, {allowed}"
                ),
            )),
            _ => Err(self.error(
                value.span().start,
                format!(
                    "{table} tier {} is not a source tier; {allowed}",
                    self.written(value.span())
                ),
            )),
        }
    }

    /// One `[sources.<name>]` table; trust and tier left out come from `[default]`.
    fn source(
        &self,
        table: &str,
        raw: &RawSource,
        default: &SourcePolicy,
    ) -> Result<SourcePolicy, PolicyError> {
        let trust = match &raw.trust {
            Some(trust) => self.unit_interval(&format!("{table} trust"), trust)?,
            None => default.trust,
        };
        let tier = match &raw.tier {
            Some(tier) => self.tier(table, tier)?,
            None => default.tier,
        };
        let prefer = self.field_list(table, "prefer", raw.prefer.as_deref())?;
        let exclude = self.field_list(table, "exclude", raw.exclude.as_deref())?;
        for (field, exclude_span) in &exclude {
            if let Some(prefer_span) = prefer.get(field) {
                // Reported where the second mention is, which is where a reader sees both.
                let later = exclude_span.start.max(prefer_span.start);
                return Err(self.error(
                    later,
                    format!(
                        "{table} lists {:?} in both prefer and exclude; a source either \
                         prefers a field or excludes it",
                        field.as_str()
                    ),
                ));
            }
        }
        let region = match &raw.region {
            Some(region) => Some(self.region(table, region)?),
            None => None,
        };
        Ok(SourcePolicy {
            trust,
            tier,
            prefer: prefer.into_keys().collect(),
            exclude: exclude.into_keys().collect(),
            region,
        })
    }

    /// A `prefer` or `exclude` list, each field with where it was written.
    fn field_list(
        &self,
        table: &str,
        key: &str,
        entries: Option<&[Spanned<toml::Value>]>,
    ) -> Result<BTreeMap<Field, Range<usize>>, PolicyError> {
        let mut fields = BTreeMap::new();
        for entry in entries.unwrap_or_default() {
            let Some(name) = entry.get_ref().as_str() else {
                return Err(self.error(
                    entry.span().start,
                    format!(
                        "{table} {key} lists {}, which is not a field name in quotes (known: {})",
                        self.written(entry.span()),
                        crate::fields::known_fields()
                    ),
                ));
            };
            let field: Field = name
                .parse()
                .map_err(|e| self.error(entry.span().start, format!("{table} {key}: {e}")))?;
            if let Some(first) = fields.insert(field, entry.span()) {
                let (first_line, _) = line_column(self.text, first.start);
                return Err(self.error(
                    entry.span().start,
                    format!(
                        "{table} {key} lists {name:?} twice (first on line {first_line}); \
                         list each field once"
                    ),
                ));
            }
        }
        Ok(fields)
    }
}

/// The 1-based line and character column of a byte offset (clamped to the text).
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text.as_bytes()[..offset.min(text.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |newline| newline + 1);
    let column = match text.get(line_start..before.len()) {
        Some(prefix) => prefix.chars().count(),
        // The offset splits a character (only the size limit can do that): count bytes.
        None => before.len() - line_start,
    };
    (line, column + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KNOWN: &[&str] = &[
        "serper",
        "google_places",
        "openstreetmap",
        "sport_scotland",
        "edinburgh_council",
        "open_charge_map",
    ];

    fn parse(text: &str) -> Result<TrustPolicy, PolicyError> {
        TrustPolicy::parse(text, "trust.toml", KNOWN)
    }

    fn shipped() -> TrustPolicy {
        parse(SHIPPED_POLICY).expect("the shipped policy parses")
    }

    /// A small valid policy, one entry per line, so tests can name lines by number.
    const BASE: &[&str] = &[
        "version = 1",                   // 1
        "conflict_trust_gap_max = 0.15", // 2
        "[default]",                     // 3
        "trust = 0.5",                   // 4
        "tier = \"crowdsourced\"",       // 5
        "[sources.google_places]",       // 6
        "trust = 0.95",                  // 7
        "tier = \"official\"",           // 8
        "prefer = [\"name\"]",           // 9
        "exclude = [\"categories\"]",    // 10
    ];

    /// `BASE` with 1-based line `line` replaced by `replacement` (which may span lines).
    fn base_with(line: usize, replacement: &str) -> String {
        let mut lines: Vec<&str> = BASE.to_vec();
        lines[line - 1] = replacement;
        lines.join("\n")
    }

    fn base_plus(extra: &str) -> String {
        format!("{}\n{extra}", BASE.join("\n"))
    }

    #[test]
    fn base_is_valid() {
        let policy = parse(&BASE.join("\n")).unwrap();
        assert_eq!(policy.source("google_places").trust, 0.95);
    }

    #[test]
    fn regions_are_read_per_source_and_for_the_default() {
        let policy = parse(&base_plus("region = \"US\"")).unwrap();
        assert_eq!(
            policy.source_region("google_places").map(|r| r.to_string()),
            Some("US".into())
        );
        assert_eq!(policy.default_region(), None);
        let policy = parse(&base_with(5, "tier = \"crowdsourced\"\nregion = \"fr\"")).unwrap();
        assert_eq!(
            policy.default_region().map(|r| r.to_string()),
            Some("FR".into())
        );
        assert_eq!(
            policy.source_region("google_places"),
            None,
            "a listed source does not inherit it"
        );

        // Regions are not merge rules: the hash is the one the policy had before regions
        // existed, with or without them.
        let plain = parse(&BASE.join("\n")).unwrap();
        assert_eq!(
            plain.hash(),
            blake3::hash(
                "trustfold-policy-canonical/1\nversion=1\nconflict_trust_gap_max=0.15\n\
                 default trust=0.5 tier=crowdsourced prefer=[] exclude=[]\n\
                 source \"google_places\" trust=0.95 tier=official prefer=[name] exclude=[categories]\n"
                    .as_bytes()
            )
            .to_hex()
            .as_str()
        );
        assert_eq!(
            parse(&base_plus("region = \"US\"")).unwrap().hash(),
            plain.hash()
        );

        let e = parse(&base_plus("region = \"XX\"")).unwrap_err();
        assert_eq!(e.line, 11);
        assert!(
            e.message
                .contains("[sources.google_places] unknown region 'XX'"),
            "{e}"
        );
        let e = parse(&base_plus("region = 44")).unwrap_err();
        assert_eq!(e.line, 11);
        assert!(e.message.contains("two-letter country code"), "{e}");
    }

    #[test]
    fn shipped_policy_configures_the_six_sources() {
        let policy = shipped();
        let mut names: Vec<&str> = policy.sources().map(|(name, _)| name).collect();
        let mut known = KNOWN.to_vec();
        known.sort_unstable();
        // `sources()` is sorted by name.
        assert_eq!(names, known);
        names.dedup();
        assert_eq!(names.len(), 6);
        assert_eq!(policy.conflict_trust_gap_max(), 0.15);
        assert_eq!(policy.origin(), "trust.toml");
        assert_eq!(policy.text(), SHIPPED_POLICY);
        assert_eq!(policy.source("google_places").tier, Tier::Official);
        assert_eq!(policy.source("serper").trust, 0.75);
    }

    #[test]
    fn shipped_policy_ranks_as_appendix_a_says() {
        let policy = shipped();
        let rank = |source, field| policy.rank(source, field);

        // Both official; google prefers name and trusts higher.
        assert!(rank("google_places", Field::Name) > rank("sport_scotland", Field::Name));
        // Both official; sportscotland prefers sports, which beats google's higher trust.
        assert!(rank("sport_scotland", Field::Sports) > rank("google_places", Field::Sports));
        // Official beats a crowdsourced source that prefers the field.
        assert!(
            rank("google_places", Field::Coordinates) > rank("openstreetmap", Field::Coordinates)
        );

        assert_eq!(rank("openstreetmap", Field::Phone), None);
        assert!(policy.exclusion("openstreetmap", Field::Phone));
        assert!(policy.exclusion("openstreetmap", Field::Website));
        assert_eq!(rank("google_places", Field::Categories), None);
        assert!(policy.exclusion("google_places", Field::Categories));
        assert!(!policy.exclusion("google_places", Field::Name));
    }

    #[test]
    fn unlisted_source_gets_the_default() {
        let policy = shipped();
        let default = policy.source("some_new_source");
        // The shipped [default] reads imported sources' numbers as British.
        assert_eq!(
            default,
            &SourcePolicy {
                region: Some(Region::GB),
                ..SourcePolicy::unconfigured()
            }
        );
        assert_eq!(
            policy.rank("some_new_source", Field::Name),
            Some(Rank {
                tier: Tier::Crowdsourced,
                preferred: false,
                trust: 0.5
            })
        );

        let custom = parse(&base_with(4, "trust = 0.3")).unwrap();
        assert_eq!(custom.source("serper").trust, 0.3);
        // A listed source that leaves out trust and tier inherits them from [default].
        let inherits = parse(&base_plus("[sources.serper]\nprefer = [\"description\"]")).unwrap();
        let serper = inherits.source("serper");
        assert_eq!((serper.trust, serper.tier), (0.5, Tier::Crowdsourced));
        assert!(serper.prefer.contains(&Field::Description));
    }

    #[test]
    fn missing_optional_tables_take_built_in_defaults() {
        let policy = parse("version = 1").unwrap();
        assert_eq!(
            policy.conflict_trust_gap_max(),
            CONFLICT_TRUST_GAP_MAX_DEFAULT
        );
        assert_eq!(policy.source("serper"), &SourcePolicy::unconfigured());
        assert_eq!(policy.sources().count(), 0);
    }

    #[test]
    fn rank_orders_tier_then_preferred_then_trust() {
        let rank = |tier, preferred, trust| Rank {
            tier,
            preferred,
            trust,
        };
        let cases = [
            // (higher, lower, why)
            (
                rank(Tier::Official, false, 0.1),
                rank(Tier::Crowdsourced, true, 1.0),
                "tier beats preferred and trust",
            ),
            (
                rank(Tier::Crowdsourced, true, 0.1),
                rank(Tier::Crowdsourced, false, 1.0),
                "preferred beats trust",
            ),
            (
                rank(Tier::Official, true, 0.9),
                rank(Tier::Official, true, 0.8),
                "trust breaks the tie",
            ),
            (
                TrustPolicy::admin_rank(),
                rank(Tier::Official, true, 1.0),
                "admin beats every source",
            ),
        ];
        for (higher, lower, why) in cases {
            assert_eq!(higher.cmp_rank(&lower), Ordering::Greater, "{why}");
            assert_eq!(lower.cmp_rank(&higher), Ordering::Less, "{why}");
            assert!(higher > lower, "{why}");
        }
        let same = rank(Tier::Official, false, 0.5);
        assert_eq!(same.cmp_rank(&same), Ordering::Equal);
        assert!(Tier::Admin > Tier::Official && Tier::Official > Tier::Crowdsourced);
        assert_eq!(Tier::Official.to_string(), "official");
    }

    #[test]
    fn hash_ignores_comments_whitespace_order_and_spelling() {
        let base = parse(&BASE.join("\n")).unwrap();
        let rewritten = parse(
            "version = 1\n\
             conflict_trust_gap_max = 1.5e-1\n\
             # a comment\n\
             [sources.google_places]\n\
             exclude = [ \"categories\" ]   # trailing\n\
             prefer=[\"name\",]\n\
             tier = 'official'\n\
             trust = 0.950\n\
             \n\
             [default]\n\
             tier = \"crowdsourced\"\n\
             trust = 5e-1\n",
        )
        .unwrap();
        assert_eq!(base.hash(), rewritten.hash());
        assert_eq!(base.hash().len(), 64);

        // Parsing the stored text again gives the same policy.
        let again = parse(base.text()).unwrap();
        assert_eq!(again.hash(), base.hash());

        // The shipped file without its comments hashes the same.
        let stripped: String = SHIPPED_POLICY
            .lines()
            .map(|line| line.split('#').next().unwrap().trim())
            .filter(|line| !line.is_empty())
            .collect::<Vec<_>>()
            .join("\n");
        assert_eq!(parse(&stripped).unwrap().hash(), shipped().hash());
    }

    #[test]
    fn hash_changes_with_any_value() {
        let base = parse(&BASE.join("\n")).unwrap();
        let changes = [
            (2, "conflict_trust_gap_max = 0.2"),
            (4, "trust = 0.51"),
            (5, "tier = \"official\""),
            (7, "trust = 0.94"),
            (8, "tier = \"crowdsourced\""),
            (9, "prefer = [\"name\", \"phone\"]"),
            (10, "exclude = []"),
        ];
        for (line, replacement) in changes {
            let changed = parse(&base_with(line, replacement)).unwrap();
            assert_ne!(changed.hash(), base.hash(), "line {line}: {replacement}");
        }
        let more = parse(&base_plus("[sources.serper]\ntrust = 0.5")).unwrap();
        assert_ne!(more.hash(), base.hash(), "an added source");

        // Every trust in the shipped file matters.
        let shipped = shipped();
        for (name, policy) in shipped.sources() {
            let old = format!("[sources.{name}]\ntrust = {:.2}", policy.trust);
            assert!(SHIPPED_POLICY.contains(&old), "{old}");
            let text = SHIPPED_POLICY.replace(&old, &format!("[sources.{name}]\ntrust = 0.33"));
            assert_ne!(parse(&text).unwrap().hash(), shipped.hash(), "{name}");
        }
    }

    #[test]
    fn errors_name_the_line_and_what_is_allowed() {
        let oversized = "#".repeat(1023) + "\n";
        let oversized = oversized.repeat(1025);
        let cases: Vec<(&str, String, usize, &[&str])> = vec![
            (
                "syntax",
                base_with(7, "trust = "),
                7,
                &["invalid string; expected"],
            ),
            (
                "duplicate key",
                base_plus("trust = 0.9"),
                11,
                &["duplicate key", "trust"],
            ),
            (
                "duplicate table",
                base_plus("[sources.google_places]"),
                11,
                &["google_places"],
            ),
            (
                "unknown source",
                base_with(6, "[sources.gogle_places]"),
                6,
                &[
                    "unknown source \"gogle_places\"",
                    "google_places",
                    "open_charge_map",
                ],
            ),
            (
                "unknown field in prefer",
                base_with(9, "prefer = [\"nme\"]"),
                9,
                &["prefer", "unknown field \"nme\"", "name", "opening_hours"],
            ),
            (
                "unknown field on its own line",
                base_with(9, "prefer = [\n  \"name\",\n  \"nme\",\n]"),
                11,
                &["unknown field \"nme\""],
            ),
            (
                "unknown field in exclude",
                base_with(10, "exclude = [\"phones\"]"),
                10,
                &["exclude", "\"phones\""],
            ),
            (
                "field name not a string",
                base_with(9, "prefer = [1]"),
                9,
                &["not a field name"],
            ),
            (
                "prefer not a list",
                base_with(9, "prefer = \"name\""),
                9,
                &["sequence"],
            ),
            (
                "unknown key in a source",
                base_with(7, "trsut = 0.9"),
                7,
                &["unknown key `trsut`", "trust", "tier", "prefer", "exclude"],
            ),
            (
                "unknown key at top level",
                base_with(2, "conflict_gap = 0.1"),
                2,
                &["unknown key `conflict_gap`", "conflict_trust_gap_max"],
            ),
            (
                "prefer in [default]",
                base_with(4, "prefer = [\"name\"]"),
                4,
                &["unknown key `prefer`", "trust", "tier"],
            ),
            (
                "prefer and exclude",
                base_with(10, "exclude = [\"name\"]"),
                10,
                &["\"name\"", "both prefer and exclude"],
            ),
            (
                "duplicate in a list",
                base_with(9, "prefer = [\"name\", \"phone\", \"name\"]"),
                9,
                &["prefer lists \"name\" twice", "line 9"],
            ),
            (
                "duplicate in a list on another line",
                base_with(9, "prefer = [\n  \"name\",\n  \"name\",\n]"),
                11,
                &["twice", "first on line 10"],
            ),
            (
                "trust above 1",
                base_with(7, "trust = 1.5"),
                7,
                &["[sources.google_places] trust 1.5", "[0, 1]"],
            ),
            (
                "trust below 0",
                base_with(7, "trust = -0.1"),
                7,
                &["-0.1", "[0, 1]"],
            ),
            (
                "trust NaN",
                base_with(7, "trust = nan"),
                7,
                &["nan", "[0, 1]"],
            ),
            (
                "trust not a number",
                base_with(7, "trust = \"high\""),
                7,
                &["\"high\"", "number in [0, 1]"],
            ),
            (
                "default trust",
                base_with(4, "trust = 2"),
                4,
                &["[default] trust 2", "[0, 1]"],
            ),
            (
                "conflict gap above 1",
                base_with(2, "conflict_trust_gap_max = 1.2"),
                2,
                &["conflict_trust_gap_max 1.2", "[0, 1]"],
            ),
            (
                "conflict gap not a number",
                base_with(2, "conflict_trust_gap_max = true"),
                2,
                &["conflict_trust_gap_max", "number in [0, 1]"],
            ),
            (
                "version missing",
                BASE[1..].join("\n"),
                1,
                &["missing `version`", "policy version 1"],
            ),
            (
                "version 2",
                base_with(1, "version = 2"),
                1,
                &["version 2", "this build reads policy version 1"],
            ),
            (
                "version 2 with keys this build does not know",
                format!("\n{}\nnew_key = 3", base_with(1, "version = 2")),
                2,
                &["version 2", "this build reads policy version 1"],
            ),
            (
                "version as a string",
                base_with(1, "version = \"1\""),
                1,
                &["\"1\"", "policy version 1"],
            ),
            (
                "unknown tier",
                base_with(8, "tier = \"gold\""),
                8,
                &["\"gold\"", "\"official\"", "\"crowdsourced\""],
            ),
            (
                "admin tier",
                base_with(8, "tier = \"admin\""),
                8,
                &[
                    "\"admin\"",
                    "trustfold override",
                    "\"official\"",
                    "\"crowdsourced\"",
                ],
            ),
            (
                "admin tier in [default]",
                base_with(5, "tier = \"admin\""),
                5,
                &["[default] tier \"admin\""],
            ),
            (
                "too large",
                oversized,
                // Each line is 1024 bytes, so byte POLICY_BYTES_MAX starts line 1025.
                1025,
                &["1049600 bytes", "POLICY_BYTES_MAX (1048576 bytes)"],
            ),
        ];
        for (name, text, line, parts) in cases {
            let error = match parse(&text) {
                Ok(_) => panic!("{name}: parsed, expected an error on line {line}"),
                Err(error) => error,
            };
            assert_eq!(error.line, line, "{name}: {error}");
            assert_eq!(error.origin, "trust.toml", "{name}");
            for part in parts {
                assert!(
                    error.message.contains(part),
                    "{name}: {error} lacks {part:?}"
                );
            }
            assert!(error
                .to_string()
                .starts_with(&format!("trust.toml:{line}: ")));
        }
    }

    #[test]
    fn error_columns_count_characters() {
        let error = parse(&base_with(7, "trust = 1.5")).unwrap_err();
        assert_eq!((error.line, error.column), (7, 9));
        assert_eq!(line_column("é = 1", 4), (1, 4));
        assert_eq!(line_column("a\nb", 99), (2, 2));
    }

    #[test]
    fn negative_zero_trust_is_zero() {
        let policy = parse(&base_with(7, "trust = -0.0")).unwrap();
        let zero = parse(&base_with(7, "trust = 0.0")).unwrap();
        assert_eq!(policy.hash(), zero.hash());
        assert_eq!(
            policy.source("google_places").trust.total_cmp(&0.0),
            Ordering::Equal
        );
    }
}
