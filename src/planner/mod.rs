//! The query planner: which connectors a query is worth calling, within a budget, and why.
//!
//! `plan` reads the query's features ([`features`]), asks of each connector in the
//! [`registry`] whether it can add something to this query, then admits the candidates in
//! order of value (`trust / (cost + 0.01)`, so free high-trust sources first) while the
//! cumulative cost stays within the budget. Every connector ends up exactly once in
//! [`Plan::selected`] or [`Plan::skipped`], with a reason: the plan is recorded in the run's
//! first event, and "why was sport_scotland not called?" must have an answer there.
//!
//! The planner calls nothing and reads nothing; it is a pure function of the request, so
//! `trustfold plan` shows exactly what `trustfold ingest` would do.
//!
//! # Rules (seed 000 FR-3, FR-4 and Issue 5)
//!
//! Discover-many (the default):
//!
//! * serper (discovery, paid) for every query;
//! * openstreetmap (discovery, free) for brand, category, area, sports and EV queries;
//! * google_places (enrichment, paid) for every query: every trustfold query is a search
//!   for places;
//! * sport_scotland (enrichment, free) for sports queries;
//! * edinburgh_council (enrichment, free) for queries naming Edinburgh or a district of it,
//!   except brand searches for private operators (see below);
//! * open_charge_map (enrichment, free) for EV/charging queries;
//! * at least [`MIN_CONNECTORS_DISCOVER_MANY`] connectors: when fewer are relevant,
//!   general-purpose free sources are added ("minimum coverage"). Only openstreetmap is
//!   general-purpose: a domain source asked outside its domain (charge points for a pizza
//!   query) returns nothing, so adding it would only make the count look better. When the
//!   *budget* removes paid connectors the plan may end with fewer: that is the "unless the
//!   budget forbids" of FR-3.
//!
//! Resolve-one (one specific venue): google_places plus the single free source that best
//! matches (open_charge_map for EV, else sport_scotland for sport, else the council for
//! Edinburgh, else openstreetmap). serper is kept as a fallback for when google_places is
//! over budget.
//!
//! `--connectors a,b` ([`PlanRequest::only`]) is the user's explicit choice: the named
//! connectors are called (within budget) whatever the features say, and the others are
//! skipped as "not requested". The minimum-coverage rule does not override it.
//!
//! # Edinburgh council versus seed 000's "powerleague portobello"
//!
//! FR-3 says Edinburgh queries trigger edinburgh_council, yet its Issue 3 table lists
//! exactly serper, openstreetmap, google_places and sport_scotland for "powerleague
//! portobello", in Edinburgh. Appendix A settles it: council data is for "public facility
//! info, council services" and to be avoided for "private businesses". So the council is
//! selected for Edinburgh queries about public facilities and categories ("edinburgh leisure
//! centres", "tennis courts edinburgh", "ev charging leith") and for bare "`<category>
//! edinburgh`" queries, and skipped, with that reason, when the query names a private
//! operator (powerleague, goals, nuffield health, david lloyd, puregym, ...). Edinburgh
//! Leisure, the council's own leisure trust, is a public brand and keeps the council.
//!
//! # Example
//!
//! ```text
//! plan(&PlanRequest::new("powerleague portobello"))
//!   selected: openstreetmap, serper (discovery); sport_scotland, google_places (enrichment)
//!   skipped:  edinburgh_council (private operator), open_charge_map (not EV)
//!   estimated cost $0.027 of $0.100
//! ```
#![forbid(unsafe_code)]

pub mod areas;
pub mod asks;
pub mod features;
pub mod registry;
pub mod vocab;

pub use areas::{Area, AreaKind, Nation};
pub use features::{extract_features, QueryFeatures, QueryIntent, Reading};
pub use registry::{spec, ConnectorId, ConnectorSpec, Phase, REGISTRY};
pub use vocab::Wanted;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Spending cap per query when the user gives none (seed 000 Issue 5: "Default budget cap
/// (e.g., $0.10 per query)"), so that no run can rack up unexpected API costs.
pub const DEFAULT_BUDGET_USD: f64 = 0.10;

/// Fewest connectors a discover-many plan aims for (seed 000 FR-3), unless the budget or
/// `--connectors` forbids.
pub const MIN_CONNECTORS_DISCOVER_MANY: usize = 3;

/// Longest query accepted, in characters. Real place searches are a few words; anything
/// longer is a pasted document or an accident, and the query is copied into every event of
/// the run.
pub const QUERY_CHARS_MAX: usize = 300;

/// Tolerance when comparing spend with the budget: $0.010 + $0.017 is not exactly $0.027 in
/// binary floating point, and a budget of exactly $0.027 must admit both.
pub const BUDGET_EPSILON_USD: f64 = 1e-9;

/// How widely to search.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Find as many matching places as are worth finding (the default).
    #[default]
    DiscoverMany,
    /// Resolve one specific venue with as few calls as will do.
    ResolveOne,
}

impl Mode {
    /// The mode's command-line and serde spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Mode::DiscoverMany => "discover-many",
            Mode::ResolveOne => "resolve-one",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A mode name that is neither `discover-many` nor `resolve-one`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownMode {
    /// The name as given.
    pub name: String,
}

impl fmt::Display for UnknownMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown mode '{}': valid modes are discover-many, resolve-one",
            self.name
        )
    }
}

impl std::error::Error for UnknownMode {}

impl FromStr for Mode {
    type Err = UnknownMode;

    /// Accepts the kebab-case names and, because the seed and the old database spell them
    /// so, snake_case (`discover_many`); case-insensitive.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_lowercase().replace('_', "-").as_str() {
            "discover-many" => Ok(Mode::DiscoverMany),
            "resolve-one" => Ok(Mode::ResolveOne),
            _ => Err(UnknownMode {
                name: s.to_string(),
            }),
        }
    }
}

/// What to plan for.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PlanRequest<'a> {
    /// The user's free-text query.
    pub query: &'a str,
    /// How widely to search.
    pub mode: Mode,
    /// Spending cap in US dollars; `None` means [`DEFAULT_BUDGET_USD`].
    pub budget_usd: Option<f64>,
    /// `--connectors a,b`: call only these (within budget); the others are skipped as "not
    /// requested". `None` lets the planner choose. An empty slice requests nothing.
    pub only: Option<&'a [ConnectorId]>,
}

impl<'a> PlanRequest<'a> {
    /// A discover-many request with the default budget and no connector restriction.
    pub fn new(query: &'a str) -> Self {
        PlanRequest {
            query,
            mode: Mode::DiscoverMany,
            budget_usd: None,
            only: None,
        }
    }
}

/// The planner's decision. Every connector appears exactly once, in `selected` or in
/// `skipped`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Plan {
    /// The query, trimmed.
    pub query: String,
    /// The mode planned for.
    pub mode: Mode,
    /// The budget applied (the default when none was given).
    pub budget_usd: f64,
    /// Sum of the selected connectors' costs; never more than `budget_usd`.
    pub estimated_cost_usd: f64,
    /// What the planner read from the query.
    pub features: QueryFeatures,
    /// Connectors to call: discovery first, then by value, highest first.
    pub selected: Vec<Selected>,
    /// Connectors not to call, in registry order, each with its reason.
    pub skipped: Vec<Skipped>,
    /// What the answer cannot hold, said before anything is called: an area outside the
    /// offline fixture world, a query that asks for something other than a place.
    #[serde(default)]
    pub notes: Vec<String>,
}

/// A connector the plan calls.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Selected {
    /// Which connector.
    pub connector: ConnectorId,
    /// Its role in the run.
    pub phase: Phase,
    /// Why it is worth calling for this query.
    pub reason: String,
    /// Price of the call.
    pub cost_usd: f64,
    /// Planning trust (seed 000 Appendix A).
    pub trust: f64,
    /// `trust / (cost + 0.01)`.
    pub value: f64,
    /// Typical latency of the call (Appendix B).
    pub latency_ms: u32,
}

/// A connector the plan does not call.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Skipped {
    /// Which connector.
    pub connector: ConnectorId,
    /// Why not: not relevant, avoided, not requested, resolve-one economy, or budget.
    pub reason: String,
}

/// Why a request cannot be planned. Each is bad input (exit code 2 in the CLI).
#[derive(Clone, Debug, PartialEq)]
pub enum PlanError {
    /// The query has no words (empty, blank or punctuation only): ask for something.
    EmptyQuery,
    /// The query is longer than [`QUERY_CHARS_MAX`]: shorten it.
    QueryTooLong {
        /// Its length in characters.
        chars: usize,
        /// The limit.
        max: usize,
    },
    /// The budget is negative, NaN or infinite (the offending value, as given): pass a
    /// non-negative amount of dollars.
    InvalidBudget(String),
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlanError::EmptyQuery => write!(
                f,
                "the query is empty: give some words to search for, e.g. \"powerleague portobello\""
            ),
            PlanError::QueryTooLong { chars, max } => write!(
                f,
                "the query is {chars} characters long, more than the limit of {max}: shorten it"
            ),
            PlanError::InvalidBudget(value) => write!(
                f,
                "invalid budget {value}: it must be a finite, non-negative amount of US dollars, \
                 e.g. --budget 0.10"
            ),
        }
    }
}

impl std::error::Error for PlanError {}

/// Plans a query: reads its features, decides for every connector whether to call it, and
/// keeps the spend within the budget. Pure: calls nothing, reads no files.
pub fn plan(req: &PlanRequest) -> Result<Plan, PlanError> {
    let query = req.query.trim();
    let chars = query.chars().count();
    if chars > QUERY_CHARS_MAX {
        return Err(PlanError::QueryTooLong {
            chars,
            max: QUERY_CHARS_MAX,
        });
    }
    let budget_usd = validate_budget(req.budget_usd)?;
    let features = extract_features(query);
    if features.tokens.is_empty() {
        return Err(PlanError::EmptyQuery);
    }

    let verdicts: Vec<(ConnectorId, Verdict)> = ConnectorId::ALL
        .into_iter()
        .map(|id| (id, verdict(id, &features, req)))
        .collect();
    let verdicts = match (req.mode, req.only) {
        (Mode::DiscoverMany, None) => with_minimum_coverage(verdicts, &features),
        _ => verdicts,
    };
    let (selected, skipped) = admit_within_budget(verdicts, budget_usd);

    let estimated_cost_usd = round_usd(selected.iter().map(|s| s.cost_usd).sum());
    debug_assert!(estimated_cost_usd <= budget_usd + BUDGET_EPSILON_USD);
    debug_assert!(ConnectorId::ALL.into_iter().all(|id| {
        let n_selected = selected.iter().filter(|s| s.connector == id).count();
        let n_skipped = skipped.iter().filter(|s| s.connector == id).count();
        n_selected + n_skipped == 1
    }));

    let notes = notes(&features);
    Ok(Plan {
        query: query.to_string(),
        mode: req.mode,
        budget_usd,
        estimated_cost_usd,
        features,
        selected,
        skipped,
        notes,
    })
}

impl Plan {
    /// The selected connectors, in plan order.
    pub fn selected_ids(&self) -> Vec<ConnectorId> {
        self.selected.iter().map(|s| s.connector).collect()
    }

    /// Why `id` was skipped, or `None` when it was selected.
    pub fn skip_reason(&self, id: ConnectorId) -> Option<&str> {
        self.skipped
            .iter()
            .find(|s| s.connector == id)
            .map(|s| s.reason.as_str())
    }

    /// A human-readable report: the features, the selected connectors (phase, cost, value,
    /// reason), the skipped ones with their reasons, and the estimated cost against the
    /// budget.
    pub fn render_text(&self) -> String {
        let f = &self.features;
        let list = |items: &[String]| {
            if items.is_empty() {
                "-".to_string()
            } else {
                items.join(", ")
            }
        };
        let yes_no = |b: bool| if b { "yes" } else { "no" };

        let mut out = String::new();
        out.push_str(&format!("query:  {}\n", self.query));
        out.push_str(&format!("mode:   {}\n", self.mode));
        out.push_str(&format!("budget: ${:.3}\n", self.budget_usd));
        out.push_str("\nfeatures:\n");
        out.push_str(&format!("  intent       {}\n", f.intent));
        out.push_str(&format!("  wants        {}\n", f.wanted));
        out.push_str(&format!("  tokens       {}\n", f.tokens.join(" ")));
        out.push_str(&format!("  sports       {}\n", list(&f.sports)));
        out.push_str(&format!("  brands       {}\n", list(&f.brands)));
        out.push_str(&format!("  venue words  {}\n", list(&f.venue_words)));
        out.push_str(&format!("  venues       {}\n", list(&f.venues)));
        out.push_str(&format!("  categories   {}\n", list(&f.categories)));
        out.push_str(&format!("  areas        {}\n", list(&f.areas)));
        out.push_str(&format!("  names        {}\n", list(&f.name_words)));
        out.push_str(&format!("  area         {}\n", f.area_or_home().describe()));
        out.push_str(&format!(
            "  sports venue query {}, edinburgh {}, ev {}\n",
            yes_no(f.is_sports),
            yes_no(f.edinburgh),
            yes_no(f.ev)
        ));
        if !f.readings.is_empty() {
            out.push_str("\nread as:\n");
            for r in &f.readings {
                out.push_str(&format!("  {:<22} {}\n", r.words, r.meaning));
            }
        }

        out.push_str(&format!("\nselected ({}):\n", self.selected.len()));
        if !self.selected.is_empty() {
            out.push_str(&format!(
                "  {:<18} {:<10} {:>7} {:>6}  {}\n",
                "CONNECTOR", "PHASE", "COST", "VALUE", "REASON"
            ));
        }
        for s in &self.selected {
            out.push_str(&format!(
                "  {:<18} {:<10} {:>7} {:>6.1}  {}\n",
                s.connector.as_str(),
                s.phase.as_str(),
                format!("${:.3}", s.cost_usd),
                s.value,
                s.reason
            ));
        }

        out.push_str(&format!("\nskipped ({}):\n", self.skipped.len()));
        for s in &self.skipped {
            out.push_str(&format!("  {:<18} {}\n", s.connector.as_str(), s.reason));
        }

        out.push_str(&format!(
            "\nestimated cost: ${:.3} of ${:.3} budget\n",
            self.estimated_cost_usd, self.budget_usd
        ));
        for note in &self.notes {
            out.push_str(&format!("\nnote: {note}\n"));
        }
        out
    }
}

/// The plan's notes: what the answer cannot hold, in words a user acts on.
pub fn notes(f: &QueryFeatures) -> Vec<String> {
    let mut out = Vec::new();
    let area = f.area_or_home();
    if let Some(note) = offline_coverage_note(&area) {
        out.push(note);
    }
    if f.wanted != Wanted::Place {
        out.push(format!(
            "not a place query: it asks for a {} (\"{}\"); trustfold is a directory of \
             places, so only places that offer it (a shop, a service) can answer",
            f.wanted,
            f.wanted_words.join(", ")
        ));
    }
    out
}

/// When an area lies outside the offline fixture world, the sentence that says so (shown
/// by `plan`, recorded in the plan and repeated by the report of a run that used it).
pub fn offline_coverage_note(area: &Area) -> Option<String> {
    (!area.offline_world_covers()).then(|| {
        format!(
            "no offline coverage: the fixture world holds the City of Edinburgh only, and {} \
             is in {}; connectors answered offline return nothing for it (set API keys, or \
             TRUSTFOLD_LIVE=1, to ask the live services)",
            area.name,
            area.council_area
                .clone()
                .unwrap_or_else(|| area.nation.as_str().to_string())
        )
    })
}

/// What the planner thinks of one connector before the budget is applied.
#[derive(Clone, Debug, PartialEq)]
enum Verdict {
    /// Worth calling, for this reason.
    Want(String),
    /// Resolve-one's serper: called only if google_places does not fit the budget.
    Fallback {
        /// Reason when it is called.
        reason: String,
        /// Reason when google_places was selected and it is not needed.
        skip: String,
    },
    /// Not worth calling, for this reason.
    Skip(String),
}

fn validate_budget(budget_usd: Option<f64>) -> Result<f64, PlanError> {
    let budget = budget_usd.unwrap_or(DEFAULT_BUDGET_USD);
    if !budget.is_finite() || budget < 0.0 {
        return Err(PlanError::InvalidBudget(budget.to_string()));
    }
    // -0.0 passes the check above; print it as $0.000, not $-0.000.
    Ok(if budget == 0.0 { 0.0 } else { budget })
}

fn verdict(id: ConnectorId, f: &QueryFeatures, req: &PlanRequest) -> Verdict {
    if let Some(only) = req.only {
        return if only.contains(&id) {
            Verdict::Want(match relevance(id, f) {
                Ok(reason) => format!("requested with --connectors; {reason}"),
                Err(skip) => {
                    format!("requested with --connectors (the planner alone would skip it: {skip})")
                }
            })
        } else {
            Verdict::Skip("not requested (--connectors)".to_string())
        };
    }
    match req.mode {
        Mode::DiscoverMany => match relevance(id, f) {
            Ok(reason) => Verdict::Want(reason),
            Err(skip) => Verdict::Skip(skip),
        },
        Mode::ResolveOne => resolve_one_verdict(id, f),
    }
}

/// Whether a connector can add something to this query, in discover-many terms: `Ok(why)`
/// or `Err(why not)`. A source is asked only inside the area it covers, and only for what
/// its scheme holds ([`asks`]); it is never asked for everything.
fn relevance(id: ConnectorId, f: &QueryFeatures) -> Result<String, String> {
    let area = f.area_or_home();
    match id {
        ConnectorId::Serper => Ok(format!(
            "web search discovers candidates for any query (asked around {})",
            area.name
        )),
        ConnectorId::GooglePlaces => Ok(format!(
            "authoritative place details (name, address, coords, phone, website, hours) \
             around {}",
            area.name
        )),
        ConnectorId::OpenStreetMap => {
            let ask = asks::osm(f);
            let triggers = osm_triggers(f);
            if ask.is_empty() {
                Err("nothing to ask: no OpenStreetMap tag or name in the query".to_string())
            } else if triggers.is_empty() {
                Err(format!(
                    "not relevant: no brand, category, area, sport or EV for a POI search \
                     (it could only ask {})",
                    ask.describe()
                ))
            } else {
                Ok(format!(
                    "free POI data (coords, address) for {}: {} inside {}",
                    triggers.join("; "),
                    ask.describe(),
                    area.name
                ))
            }
        }
        ConnectorId::SportScotland => {
            if !f.is_sports {
                return Err(not_a_venue_query(f));
            }
            if area.nation != Nation::Scotland {
                return Err(format!(
                    "no coverage: the register covers Scotland only and {} is in {}",
                    area.name,
                    area.nation.as_str()
                ));
            }
            let layers = asks::register_layers(f);
            if layers.is_empty() {
                return Err(format!(
                    "nothing to ask: the register has no facility type for {} \
                     (it holds pitches, sports halls, pools, tennis and squash courts, \
                     fitness suites, golf courses, ice rinks, bowling greens and athletics \
                     tracks)",
                    subject_words(f)
                ));
            }
            Ok(format!(
                "sports venue query ({}): register layers {} in {}",
                sports_evidence(f),
                layers.join(", "),
                area.name
            ))
        }
        ConnectorId::EdinburghCouncil => council_relevance(f),
        ConnectorId::OpenChargeMap => {
            if f.ev {
                Ok(format!(
                    "EV/charging query: charge points within {:.0} km of {}",
                    area.radius_km, area.name
                ))
            } else {
                Err("not relevant: not an EV/charging query".to_string())
            }
        }
    }
}

/// Why a query is not a sports venue query, for the register's skip reason.
fn not_a_venue_query(f: &QueryFeatures) -> String {
    let sporty = !f.sports.is_empty() || !f.brands.is_empty() || !f.venue_words.is_empty();
    if f.wanted != Wanted::Place && !f.wanted_words.is_empty() {
        format!(
            "not a venue query: \"{}\" asks for a {}, not a place{}",
            f.wanted_words.join(", "),
            f.wanted,
            if sporty {
                " (the sport names what it is about)"
            } else {
                ""
            }
        )
    } else if f.wanted != Wanted::Place {
        format!("not a venue query: it asks for a {}", f.wanted)
    } else {
        "not relevant: no sport, sports brand or sports venue in the query".to_string()
    }
}

/// The subject's words, for reasons ("climbing", "padel court").
fn subject_words(f: &QueryFeatures) -> String {
    let mut parts: Vec<String> = f.sports.clone();
    parts.extend(f.venue_words.iter().cloned());
    parts.extend(f.brands.iter().cloned());
    if parts.is_empty() {
        "this query".to_string()
    } else {
        parts.join(", ")
    }
}

/// What about the query makes openstreetmap worth asking (seed 000 FR-3: brand, category,
/// location, EV; and sports, whose venues OSM maps well).
fn osm_triggers(f: &QueryFeatures) -> Vec<String> {
    let mut triggers = Vec::new();
    if !f.brands.is_empty() {
        triggers.push(format!("brand {}", f.brands.join(", ")));
    }
    if f.intent == QueryIntent::Category {
        triggers.push("category search".to_string());
    }
    if f.names_area() {
        triggers.push(format!("area {}", f.areas.join(", ")));
    }
    if f.is_sports {
        triggers.push("sports venues".to_string());
    }
    if f.ev {
        triggers.push("charge points".to_string());
    }
    triggers
}

/// The first piece of evidence that the query is about sport, for the reason text.
fn sports_evidence(f: &QueryFeatures) -> String {
    if let Some(brand) = f.brands.first() {
        format!("brand {brand}")
    } else if let Some(venue) = f.venues.first() {
        format!("venue {venue}")
    } else if let Some(sport) = f.sports.first() {
        format!("sport {sport}")
    } else if let Some(word) = f.venue_words.first() {
        format!("venue type {word}")
    } else {
        "sports features".to_string()
    }
}

/// The council rule; see the module docs for why private brands are excluded.
fn council_relevance(f: &QueryFeatures) -> Result<String, String> {
    let area = f.area_or_home();
    // Edinburgh Leisure, the council's leisure trust, is an Edinburgh query by its name.
    let public_brand = f
        .brands
        .iter()
        .any(|b| vocab::brand_named(b).is_some_and(|b| b.public));
    if !f.names_area() && !public_brand {
        return Err("not relevant: no Edinburgh place or district in the query \
                    (council data covers the City of Edinburgh only)"
            .to_string());
    }
    if !area.in_edinburgh() {
        return Err(format!(
            "no coverage: council data covers the City of Edinburgh only and {} is in {}",
            area.name,
            area.council_area
                .clone()
                .unwrap_or_else(|| area.nation.as_str().to_string())
        ));
    }
    let private = f.private_brands();
    if !private.is_empty() {
        return Err(format!(
            "avoided: {} is a private operator and council data is for public facilities \
             (seed 000 Appendix A: avoid for private businesses)",
            private.join(", ")
        ));
    }
    let services = asks::council(f);
    if services.is_empty() {
        return Err(format!(
            "nothing to ask: the council's open data holds sports facilities, park pitches \
             and community centres, not {}",
            if f.ev {
                "charge points".to_string()
            } else if !f.categories.is_empty() {
                f.categories.join(", ")
            } else if !f.wanted_words.is_empty() {
                f.wanted_words.join(", ")
            } else {
                subject_words(f)
            }
        ));
    }
    let asked: Vec<String> = services
        .iter()
        .map(|s| {
            if s.types.is_empty() {
                s.service.to_string()
            } else {
                format!("{} ({})", s.service, s.types.join(", "))
            }
        })
        .collect();
    let public = f.public_facilities();
    let what = if public.is_empty() {
        String::new()
    } else {
        format!("public facility ({}); ", public.join(", "))
    };
    Ok(format!(
        "Edinburgh {what}council {} in {}",
        asked.join(", "),
        area.name
    ))
}

/// The one free source resolve-one calls: the domain source that matches, most specific
/// domain first, else openstreetmap as the general cross-check.
fn resolve_one_free_pick(f: &QueryFeatures) -> ConnectorId {
    if f.ev {
        ConnectorId::OpenChargeMap
    } else if f.is_sports && relevance(ConnectorId::SportScotland, f).is_ok() {
        ConnectorId::SportScotland
    } else if council_relevance(f).is_ok() {
        ConnectorId::EdinburghCouncil
    } else {
        ConnectorId::OpenStreetMap
    }
}

fn resolve_one_verdict(id: ConnectorId, f: &QueryFeatures) -> Verdict {
    let pick = resolve_one_free_pick(f);
    match id {
        ConnectorId::GooglePlaces => Verdict::Want(
            "resolve-one: authoritative details (name, address, coords, phone, hours) \
             for a single venue"
                .to_string(),
        ),
        ConnectorId::Serper => Verdict::Fallback {
            reason: "resolve-one fallback: google_places is over budget and web search still fits"
                .to_string(),
            skip: "resolve-one: google_places looks the venue up directly, \
                   web discovery is not needed"
                .to_string(),
        },
        _ if id == pick => Verdict::Want(match relevance(id, f) {
            Ok(reason) => format!("{reason}; resolve-one: the free source that best matches"),
            Err(_) => "resolve-one: free POI data to cross-check the venue's coords and address"
                .to_string(),
        }),
        _ => match relevance(id, f) {
            Err(skip) => Verdict::Skip(skip),
            Ok(_) => Verdict::Skip(format!(
                "resolve-one: one free source is enough ({pick} matches the query better)"
            )),
        },
    }
}

/// Discover-many's minimum: while fewer than [`MIN_CONNECTORS_DISCOVER_MANY`] are wanted,
/// add general-purpose free sources, highest value first. See the module docs for why only
/// openstreetmap qualifies.
fn with_minimum_coverage(
    mut verdicts: Vec<(ConnectorId, Verdict)>,
    f: &QueryFeatures,
) -> Vec<(ConnectorId, Verdict)> {
    let wanted = |v: &[(ConnectorId, Verdict)]| {
        v.iter()
            .filter(|(_, v)| matches!(v, Verdict::Want(_)))
            .count()
    };
    let mut padding: Vec<ConnectorId> = ConnectorId::ALL
        .into_iter()
        .filter(|id| spec(*id).is_free() && covers_any_query(*id, f))
        .collect();
    padding.sort_by(|a, b| by_value_desc(*a, *b));
    for id in padding {
        if wanted(&verdicts) >= MIN_CONNECTORS_DISCOVER_MANY {
            break;
        }
        if let Some((_, v)) = verdicts.iter_mut().find(|(c, _)| *c == id) {
            if matches!(v, Verdict::Skip(_)) {
                *v = Verdict::Want(format!(
                    "minimum coverage: discover-many calls at least {MIN_CONNECTORS_DISCOVER_MANY} \
                     connectors and this free source maps any kind of place ({})",
                    asks::osm(f).describe()
                ));
            }
        }
    }
    verdicts
}

/// Whether a free source has data for a query of any kind (general-purpose), rather than
/// only within its domain.
fn covers_any_query(id: ConnectorId, f: &QueryFeatures) -> bool {
    match id {
        // General-purpose, but only with something to ask: never "everything".
        ConnectorId::OpenStreetMap => !asks::osm(f).is_empty(),
        _ => relevance(id, f).is_ok(),
    }
}

/// Orders by value, highest first; ties by registry order so plans are deterministic.
fn by_value_desc(a: ConnectorId, b: ConnectorId) -> std::cmp::Ordering {
    spec(b)
        .value()
        .total_cmp(&spec(a).value())
        .then(a.index().cmp(&b.index()))
}

/// Admits wanted connectors in order of value while the cumulative cost stays within the
/// budget. Free sources always fit; a paid one that does not is skipped with the spend it
/// would have reached.
fn admit_within_budget(
    verdicts: Vec<(ConnectorId, Verdict)>,
    budget_usd: f64,
) -> (Vec<Selected>, Vec<Skipped>) {
    let mut wants = Vec::new();
    let mut fallbacks = Vec::new();
    let mut skipped = Vec::new();
    for (id, v) in verdicts {
        match v {
            Verdict::Want(reason) => wants.push((id, reason)),
            Verdict::Fallback { reason, skip } => fallbacks.push((id, reason, skip)),
            Verdict::Skip(reason) => skipped.push(Skipped {
                connector: id,
                reason,
            }),
        }
    }
    wants.sort_by(|(a, _), (b, _)| by_value_desc(*a, *b));

    let mut spent_usd = 0.0;
    let mut selected = Vec::new();
    let mut admit = |id: ConnectorId, reason: String, selected: &mut Vec<Selected>| {
        let s = spec(id);
        let would_spend_usd = spent_usd + s.cost_usd;
        if s.is_free() || would_spend_usd <= budget_usd + BUDGET_EPSILON_USD {
            spent_usd = would_spend_usd;
            selected.push(Selected {
                connector: id,
                phase: s.phase,
                reason,
                cost_usd: s.cost_usd,
                trust: s.trust,
                value: s.value(),
                latency_ms: s.latency_ms,
            });
            None
        } else {
            Some(Skipped {
                connector: id,
                reason: format!(
                    "budget: would spend ${:.3} of ${:.3}",
                    round_usd(would_spend_usd),
                    budget_usd
                ),
            })
        }
    };
    for (id, reason) in wants {
        skipped.extend(admit(id, reason, &mut selected));
    }
    // A fallback stands in for google_places only when google_places did not fit.
    let places_selected = selected
        .iter()
        .any(|s| s.connector == ConnectorId::GooglePlaces);
    for (id, reason, skip) in fallbacks {
        if places_selected {
            skipped.push(Skipped {
                connector: id,
                reason: skip,
            });
        } else {
            skipped.extend(admit(id, reason, &mut selected));
        }
    }

    selected.sort_by(|a, b| {
        a.phase
            .cmp(&b.phase)
            .then(by_value_desc(a.connector, b.connector))
    });
    skipped.sort_by_key(|s| s.connector.index());
    (selected, skipped)
}

/// Rounds to a millionth of a dollar, so sums such as 0.01 + 0.017 print and serialise as
/// 0.027 rather than 0.027000000000000003.
fn round_usd(usd: f64) -> f64 {
    (usd * 1e6).round() / 1e6
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan_default(query: &str) -> Plan {
        plan(&PlanRequest::new(query)).expect("a valid request")
    }

    fn plan_with(query: &str, mode: Mode, budget_usd: Option<f64>) -> Plan {
        plan(&PlanRequest {
            query,
            mode,
            budget_usd,
            only: None,
        })
        .expect("a valid request")
    }

    fn sorted(mut ids: Vec<ConnectorId>) -> Vec<ConnectorId> {
        ids.sort();
        ids
    }

    fn is_selected(p: &Plan, id: ConnectorId) -> bool {
        p.selected_ids().contains(&id)
    }

    use ConnectorId::{
        EdinburghCouncil, GooglePlaces, OpenChargeMap, OpenStreetMap, Serper, SportScotland,
    };

    // ---- seed 000 FR-3 / FR-4 -------------------------------------------------------

    #[test]
    fn given_powerleague_portobello_when_planned_then_exactly_serper_osm_places_and_sport_scotland()
    {
        // Given the seed's brand query, default mode and budget
        // When it is planned
        let p = plan_default("powerleague portobello");
        // Then the Issue 3 table's four connectors, and no others
        assert_eq!(
            sorted(p.selected_ids()),
            sorted(vec![Serper, OpenStreetMap, GooglePlaces, SportScotland])
        );
        // And the council is skipped because Powerleague is a private operator
        let council = p.skip_reason(EdinburghCouncil).expect("council skipped");
        assert!(council.contains("private operator"), "{council}");
        assert!(council.contains("powerleague"), "{council}");
        // And open charge map because it is not about charging
        let ocm = p.skip_reason(OpenChargeMap).expect("ocm skipped");
        assert!(ocm.contains("EV"), "{ocm}");
        // And the features say why
        assert_eq!(p.features.brands, vec!["powerleague"]);
        assert_eq!(p.features.areas, vec!["portobello"]);
        assert!(p.features.is_sports && p.features.edinburgh);
        assert_eq!(p.features.intent, QueryIntent::Brand);
        assert!((p.estimated_cost_usd - 0.027).abs() < 1e-12);
    }

    #[test]
    fn given_nuffield_health_edinburgh_when_planned_then_sport_scotland_is_selected() {
        let p = plan_default("nuffield health edinburgh");
        assert!(is_selected(&p, SportScotland));
        assert_eq!(p.features.brands, vec!["nuffield_health"]);
        // A private gym chain: council avoided even though Edinburgh is named.
        assert!(p
            .skip_reason(EdinburghCouncil)
            .is_some_and(|r| r.contains("private operator")));
    }

    #[test]
    fn given_goals_soccer_centre_when_planned_then_sport_scotland_is_selected() {
        let p = plan_default("goals soccer centre");
        assert!(is_selected(&p, SportScotland));
        assert_eq!(p.features.brands, vec!["goals"]);
    }

    #[test]
    fn given_royal_commonwealth_pool_when_planned_then_sport_scotland_is_selected() {
        let p = plan_default("royal commonwealth pool");
        assert!(is_selected(&p, SportScotland));
        assert_eq!(p.features.intent, QueryIntent::SpecificVenue);
        // FR-3's specific-venue row: serper and google_places are there too.
        assert!(is_selected(&p, Serper) && is_selected(&p, GooglePlaces));
    }

    #[test]
    fn given_david_lloyd_tennis_when_planned_then_sport_scotland_is_selected() {
        let p = plan_default("david lloyd tennis");
        assert!(is_selected(&p, SportScotland));
        assert_eq!(p.features.brands, vec!["david_lloyd"]);
        assert_eq!(p.features.sports, vec!["tennis"]);
    }

    #[test]
    fn given_pizza_restaurant_edinburgh_when_planned_then_sport_scotland_is_skipped_with_a_reason()
    {
        let p = plan_default("pizza restaurant edinburgh");
        assert!(!p.features.is_sports);
        let reason = p
            .skip_reason(SportScotland)
            .expect("sport_scotland skipped");
        assert!(reason.starts_with("not relevant"), "{reason}");
        // The council's open data holds no restaurants: it is not asked for everything.
        let council = p.skip_reason(EdinburghCouncil).expect("council skipped");
        assert!(council.starts_with("nothing to ask"), "{council}");
        assert!(council.contains("restaurant"), "{council}");
        assert_eq!(p.features.intent, QueryIntent::Category);
    }

    #[test]
    fn given_ev_charging_queries_when_planned_then_open_charge_map_is_selected() {
        for query in [
            "ev charging portobello",
            "electric car charger leith",
            "rapid chargepoints edinburgh",
        ] {
            let p = plan_default(query);
            assert!(p.features.ev, "{query}");
            assert!(is_selected(&p, OpenChargeMap), "{query}");
            // The council's services hold no charge points: nothing to ask it.
            assert!(
                p.skip_reason(EdinburghCouncil)
                    .is_some_and(|r| r.contains("charge points")),
                "{query}: {:?}",
                p.skip_reason(EdinburghCouncil)
            );
            assert!(!p.features.is_sports, "{query}");
        }
    }

    #[test]
    fn given_edinburgh_public_facility_queries_when_planned_then_edinburgh_council_is_selected() {
        for query in [
            "edinburgh leisure centres",
            "tennis courts edinburgh",
            "community centres leith",
            "swimming pools morningside",
            "football pitches in gorgie",
            "edinburgh leisure",
        ] {
            let p = plan_default(query);
            assert!(p.features.edinburgh, "{query}");
            assert!(
                is_selected(&p, EdinburghCouncil),
                "{query}: {:?}",
                p.skip_reason(EdinburghCouncil)
            );
        }
    }

    #[test]
    fn given_a_query_outside_edinburgh_when_planned_then_the_council_is_skipped() {
        for query in ["david lloyd tennis", "padel"] {
            let p = plan_default(query);
            let reason = p.skip_reason(EdinburghCouncil).expect("council skipped");
            assert!(reason.contains("no Edinburgh place"), "{query}: {reason}");
        }
        for query in ["musselburgh leisure centre", "tennis courts glasgow"] {
            let p = plan_default(query);
            let reason = p.skip_reason(EdinburghCouncil).expect("council skipped");
            assert!(reason.starts_with("no coverage"), "{query}: {reason}");
        }
    }

    #[test]
    fn given_food_court_and_car_pool_when_planned_then_no_sports_source_is_called() {
        for query in [
            "food court st james quarter",
            "car pool leith",
            "pool table hire",
        ] {
            let p = plan_default(query);
            assert!(!p.features.is_sports, "{query}");
            assert!(!is_selected(&p, SportScotland), "{query}");
        }
    }

    // ---- budget --------------------------------------------------------------------

    #[test]
    fn given_a_zero_budget_when_planned_then_only_free_connectors_are_selected() {
        let p = plan_with("powerleague portobello", Mode::DiscoverMany, Some(0.0));
        assert!(p.selected.iter().all(|s| s.cost_usd == 0.0));
        assert_eq!(
            sorted(p.selected_ids()),
            sorted(vec![OpenStreetMap, SportScotland])
        );
        assert_eq!(
            p.skip_reason(Serper),
            Some("budget: would spend $0.010 of $0.000")
        );
        assert_eq!(
            p.skip_reason(GooglePlaces),
            Some("budget: would spend $0.017 of $0.000")
        );
        assert_eq!(p.estimated_cost_usd, 0.0);
    }

    #[test]
    fn given_a_budget_of_0_015_when_planned_then_serper_fits_but_google_places_does_not() {
        // serper (value 37.5) outranks google_places (35.2), so it is admitted first.
        let p = plan_with("powerleague portobello", Mode::DiscoverMany, Some(0.015));
        assert!(is_selected(&p, Serper));
        assert_eq!(
            p.skip_reason(GooglePlaces),
            Some("budget: would spend $0.027 of $0.015")
        );
        assert!((p.estimated_cost_usd - 0.010).abs() < 1e-12);
    }

    #[test]
    fn given_a_budget_of_0_020_when_planned_then_the_skip_reason_names_the_spend() {
        let p = plan_with("tennis courts edinburgh", Mode::DiscoverMany, Some(0.02));
        assert_eq!(
            p.skip_reason(GooglePlaces),
            Some("budget: would spend $0.027 of $0.020")
        );
    }

    #[test]
    fn given_a_budget_of_exactly_both_paid_calls_when_planned_then_both_fit() {
        let p = plan_with("powerleague portobello", Mode::DiscoverMany, Some(0.027));
        assert!(is_selected(&p, Serper) && is_selected(&p, GooglePlaces));
    }

    #[test]
    fn given_no_budget_when_planned_then_the_default_cap_applies() {
        let p = plan_default("powerleague portobello");
        assert_eq!(p.budget_usd, DEFAULT_BUDGET_USD);
    }

    #[test]
    fn given_any_budget_when_planned_then_the_estimate_never_exceeds_it() {
        for budget in [0.0, 0.005, 0.01, 0.015, 0.017, 0.02, 0.027, 0.1, 5.0] {
            for mode in [Mode::DiscoverMany, Mode::ResolveOne] {
                let p = plan_with("ev charging leith", mode, Some(budget));
                assert!(p.estimated_cost_usd <= budget + BUDGET_EPSILON_USD);
                let sum: f64 = p.selected.iter().map(|s| s.cost_usd).sum();
                assert!((sum - p.estimated_cost_usd).abs() < 1e-9);
            }
        }
    }

    // ---- coverage and completeness ---------------------------------------------------

    const QUERIES: &[&str] = &[
        "powerleague portobello",
        "nuffield health edinburgh",
        "goals soccer centre",
        "royal commonwealth pool",
        "david lloyd tennis",
        "pizza restaurant edinburgh",
        "ev charging portobello",
        "electric car charger leith",
        "rapid chargepoints edinburgh",
        "edinburgh leisure centres",
        "tennis courts edinburgh",
        "food court st james quarter",
        "car pool leith",
        "craigmillar castle",
        "asdf qwerty",
        "padel",
    ];

    #[test]
    fn given_discover_many_within_the_default_budget_then_at_least_three_connectors() {
        for query in QUERIES {
            let p = plan_default(query);
            assert!(
                p.selected.len() >= MIN_CONNECTORS_DISCOVER_MANY,
                "{query}: {:?}",
                p.selected_ids()
            );
        }
    }

    #[test]
    fn given_discover_many_with_a_tight_budget_then_fewer_than_three_only_because_of_budget() {
        for query in QUERIES {
            for budget in [0.0, 0.005, 0.015] {
                let p = plan_with(query, Mode::DiscoverMany, Some(budget));
                if p.selected.len() < MIN_CONNECTORS_DISCOVER_MANY {
                    assert!(
                        p.skipped.iter().any(|s| s.reason.starts_with("budget:")),
                        "{query} at ${budget}: {:?}",
                        p.skipped
                    );
                }
            }
        }
    }

    #[test]
    fn given_a_query_with_no_features_when_planned_then_osm_is_added_for_minimum_coverage() {
        let p = plan_default("asdf qwerty");
        assert_eq!(p.features.intent, QueryIntent::General);
        let osm = p
            .selected
            .iter()
            .find(|s| s.connector == OpenStreetMap)
            .expect("osm selected");
        assert!(osm.reason.starts_with("minimum coverage"), "{}", osm.reason);
        assert_eq!(p.selected.len(), MIN_CONNECTORS_DISCOVER_MANY);
    }

    #[test]
    fn given_any_request_when_planned_then_every_connector_appears_exactly_once_with_a_reason() {
        let only_sets: [Option<&[ConnectorId]>; 3] =
            [None, Some(&[Serper, OpenChargeMap]), Some(&[])];
        for query in QUERIES {
            for mode in [Mode::DiscoverMany, Mode::ResolveOne] {
                for budget in [None, Some(0.0), Some(0.015), Some(1.0)] {
                    for only in only_sets {
                        let p = plan(&PlanRequest {
                            query,
                            mode,
                            budget_usd: budget,
                            only,
                        })
                        .expect("valid");
                        for id in ConnectorId::ALL {
                            let n = p.selected.iter().filter(|s| s.connector == id).count()
                                + p.skipped.iter().filter(|s| s.connector == id).count();
                            assert_eq!(n, 1, "{query} {mode} {budget:?} {only:?}: {id}");
                        }
                        assert!(p.selected.iter().all(|s| !s.reason.is_empty()));
                        assert!(p.skipped.iter().all(|s| !s.reason.is_empty()));
                    }
                }
            }
        }
    }

    #[test]
    fn given_a_plan_then_discovery_comes_first_and_value_is_trust_over_cost_plus_a_cent() {
        let p = plan_default("tennis courts edinburgh");
        let phases: Vec<Phase> = p.selected.iter().map(|s| s.phase).collect();
        let mut sorted_phases = phases.clone();
        sorted_phases.sort();
        assert_eq!(phases, sorted_phases);
        for s in &p.selected {
            assert!((s.value - s.trust / (s.cost_usd + 0.01)).abs() < 1e-9);
        }
    }

    // ---- modes and --connectors --------------------------------------------------------

    #[test]
    fn given_resolve_one_for_a_specific_venue_then_google_places_and_one_free_source() {
        let p = plan_with("royal commonwealth pool", Mode::ResolveOne, None);
        assert_eq!(
            sorted(p.selected_ids()),
            sorted(vec![GooglePlaces, SportScotland])
        );
        assert!(p
            .skip_reason(Serper)
            .is_some_and(|r| r.starts_with("resolve-one")));
        assert!(p
            .skip_reason(OpenStreetMap)
            .is_some_and(|r| r.contains("sport_scotland matches the query better")));
    }

    #[test]
    fn given_resolve_one_for_a_charger_then_open_charge_map_is_the_free_source() {
        let p = plan_with("ev charging leith", Mode::ResolveOne, None);
        assert_eq!(
            sorted(p.selected_ids()),
            sorted(vec![GooglePlaces, OpenChargeMap])
        );
    }

    #[test]
    fn given_resolve_one_when_google_places_is_over_budget_then_serper_stands_in() {
        let p = plan_with("royal commonwealth pool", Mode::ResolveOne, Some(0.015));
        assert_eq!(
            sorted(p.selected_ids()),
            sorted(vec![Serper, SportScotland])
        );
        assert!(p
            .skip_reason(GooglePlaces)
            .is_some_and(|r| r.starts_with("budget:")));

        let free = plan_with("royal commonwealth pool", Mode::ResolveOne, Some(0.0));
        assert_eq!(free.selected_ids(), vec![SportScotland]);
    }

    #[test]
    fn given_connectors_restriction_then_only_those_are_called_and_others_not_requested() {
        let only = [Serper, OpenStreetMap];
        let p = plan(&PlanRequest {
            only: Some(&only),
            ..PlanRequest::new("powerleague portobello")
        })
        .expect("valid");
        assert_eq!(sorted(p.selected_ids()), sorted(only.to_vec()));
        for id in [GooglePlaces, SportScotland, EdinburghCouncil, OpenChargeMap] {
            assert_eq!(p.skip_reason(id), Some("not requested (--connectors)"));
        }
    }

    #[test]
    fn given_an_explicitly_requested_but_irrelevant_connector_then_it_is_called_and_says_so() {
        let only = [OpenChargeMap];
        let p = plan(&PlanRequest {
            only: Some(&only),
            ..PlanRequest::new("powerleague portobello")
        })
        .expect("valid");
        assert_eq!(p.selected_ids(), vec![OpenChargeMap]);
        assert!(p.selected[0].reason.contains("planner alone would skip it"));
    }

    #[test]
    fn given_requested_paid_connectors_then_the_budget_still_applies() {
        let only = [Serper, GooglePlaces];
        let p = plan(&PlanRequest {
            only: Some(&only),
            budget_usd: Some(0.0),
            ..PlanRequest::new("powerleague portobello")
        })
        .expect("valid");
        assert!(p.selected.is_empty());
    }

    // ---- errors ----------------------------------------------------------------------

    #[test]
    fn given_an_empty_or_wordless_query_then_empty_query_error() {
        for query in ["", "   ", "?!-", "\t\n"] {
            let err = plan(&PlanRequest::new(query)).expect_err("no words");
            assert_eq!(err, PlanError::EmptyQuery, "{query:?}");
        }
        assert!(PlanError::EmptyQuery
            .to_string()
            .contains("give some words"));
    }

    #[test]
    fn given_a_query_over_the_limit_then_query_too_long_error() {
        let at_limit = "a".repeat(QUERY_CHARS_MAX);
        assert!(plan(&PlanRequest::new(&at_limit)).is_ok());
        // Characters, not bytes: 301 two-byte characters are 301 characters.
        let over = "é".repeat(QUERY_CHARS_MAX + 1);
        let err = plan(&PlanRequest::new(&over)).expect_err("too long");
        assert_eq!(
            err,
            PlanError::QueryTooLong {
                chars: QUERY_CHARS_MAX + 1,
                max: QUERY_CHARS_MAX
            }
        );
        assert!(err.to_string().contains("shorten"));
    }

    #[test]
    fn given_a_negative_nan_or_infinite_budget_then_invalid_budget_error() {
        for budget in [-0.01, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let err = plan(&PlanRequest {
                budget_usd: Some(budget),
                ..PlanRequest::new("padel")
            })
            .expect_err("invalid budget");
            assert!(matches!(err, PlanError::InvalidBudget(_)), "{budget}");
            assert!(err.to_string().contains("--budget"), "{err}");
        }
        let p = plan_with("padel", Mode::DiscoverMany, Some(-0.0));
        assert_eq!(p.budget_usd.to_string(), "0");
    }

    #[test]
    fn given_plan_errors_then_they_are_std_errors() {
        let err: Box<dyn std::error::Error> = Box::new(PlanError::EmptyQuery);
        assert!(!err.to_string().is_empty());
    }

    // ---- names and shapes ------------------------------------------------------------

    #[test]
    fn given_modes_when_displayed_and_parsed_then_they_round_trip() {
        for mode in [Mode::DiscoverMany, Mode::ResolveOne] {
            assert_eq!(mode.to_string().parse::<Mode>(), Ok(mode));
            let json = serde_json::to_string(&mode).expect("serialise");
            assert_eq!(json, format!("\"{mode}\""));
            assert_eq!(serde_json::from_str::<Mode>(&json).expect("parse"), mode);
        }
        assert_eq!("discover_many".parse::<Mode>(), Ok(Mode::DiscoverMany));
        assert_eq!("Resolve_One".parse::<Mode>(), Ok(Mode::ResolveOne));
        let err = "everything".parse::<Mode>().expect_err("unknown");
        assert!(err.to_string().contains("discover-many, resolve-one"));
        assert_eq!(Mode::default(), Mode::DiscoverMany);
    }

    #[test]
    fn given_a_plan_when_serialised_then_the_json_has_the_documented_shape() {
        let p = plan_default("powerleague portobello");
        let json = serde_json::to_value(&p).expect("serialise");
        assert_eq!(json["query"], "powerleague portobello");
        assert_eq!(json["mode"], "discover-many");
        assert_eq!(json["features"]["intent"], "brand");
        assert_eq!(json["features"]["brands"][0], "powerleague");
        assert_eq!(json["estimated_cost_usd"], 0.027);
        let selected = json["selected"].as_array().expect("selected array");
        let names: Vec<&str> = selected
            .iter()
            .map(|s| s["connector"].as_str().expect("connector name"))
            .collect();
        assert!(names.contains(&"openstreetmap") && names.contains(&"sport_scotland"));
        for s in selected {
            for key in [
                "connector",
                "phase",
                "reason",
                "cost_usd",
                "trust",
                "value",
                "latency_ms",
            ] {
                assert!(s.get(key).is_some(), "selected[].{key}");
            }
        }
        let skipped = json["skipped"].as_array().expect("skipped array");
        assert_eq!(skipped.len(), 2);
        assert!(skipped.iter().all(|s| s["reason"].is_string()));
        assert!(skipped
            .iter()
            .any(|s| s["connector"] == "edinburgh_council"));

        let back: Plan = serde_json::from_value(json).expect("deserialise");
        assert_eq!(back, p);
    }

    #[test]
    fn given_a_plan_when_rendered_then_features_selected_skipped_and_cost_are_shown() {
        let p = plan_with("powerleague portobello", Mode::DiscoverMany, Some(0.015));
        let text = p.render_text();
        for needle in [
            "query:  powerleague portobello",
            "features:",
            "brands       powerleague",
            "selected (3):",
            "skipped (3):",
            "budget: would spend $0.027 of $0.015",
            "estimated cost: $0.010 of $0.015 budget",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in\n{text}");
        }
        for id in ConnectorId::ALL {
            assert!(text.contains(id.as_str()), "{id} missing in\n{text}");
        }
        // Discovery rows come before enrichment rows.
        let osm = text.find("openstreetmap     ").expect("osm row");
        let ss = text.find("sport_scotland    ").expect("ss row");
        assert!(osm < ss);
    }
}
