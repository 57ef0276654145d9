//! Relevance at acceptance: does a record answer the query?
//!
//! Connectors answer more than was asked (a web search returns whatever matches some of
//! the words, a register layer holds every pitch of a town), so between extraction and
//! identity each candidate is judged against the query's subject and area ([`judge`]):
//!
//! * **area**: when the query names a place, the record must lie within the place's radius
//!   plus a margin ([`AREA_MARGIN_FRACTION`], at least [`AREA_MARGIN_MIN_KM`]); a record
//!   without coordinates is judged by its locality, or not at all;
//! * **subject**: a brand's records carry its name or its website (any branch in the council
//!   area of the place named; other venues of the brand's kind in the place itself are
//!   alternatives, as seed 000's Appendix C report lists them); a named venue's record
//!   carries most of its name; a sport's record carries the sport, a facility type where
//!   it is played, or the sport in its name; a kind of place (a leisure centre, a pool)
//!   must be that kind; a charge point must be a charge point; a product, service or shop
//!   must carry the words asked for; words no table knows must appear in the name.
//!
//! Each verdict carries its evidence, in words, and is recorded in the log: an off-topic
//! candidate is rejected with `CandidateRejected { reason: off_topic, detail: evidence }`
//! and founds no entity; an on-topic one carries the evidence among its acceptance
//! checks. With `--keep-off-topic` ([`Screening::Keep`]) off-topic candidates are accepted
//! like any other, their checks saying they are off topic. A record that says nothing
//! either way (no sport, no category, no name word to compare) is kept: relevance removes
//! what is known to be wrong, it does not demand proof.
//!
//! Pure: no I/O here; `stages.rs` records the verdicts.

use std::collections::HashSet;

use trustfold_events::CandidateFields;

use crate::planner::features::tokenize;
use crate::planner::vocab::{self, Wanted};
use crate::planner::QueryFeatures;
use trustfold_normalize::geo::haversine_km;

/// How much beyond an area's radius a record may lie, as a fraction of the radius (areas
/// are circles around approximate centres; towns are not round).
pub const AREA_MARGIN_FRACTION: f64 = 0.5;

/// The least margin beyond an area's radius, km.
pub const AREA_MARGIN_MIN_KM: f64 = 1.0;

/// Shortest query word that also matches as the start of a longer name word ("climb" in
/// "climbing").
pub const NAME_PREFIX_MIN_CHARS: usize = 4;

/// What a run does with off-topic candidates.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Screening {
    /// Reject them as `off_topic` (the default for a query).
    #[default]
    Reject,
    /// Accept them, their checks saying they are off topic (`--keep-off-topic`).
    Keep,
    /// Judge nothing (an import: a dump is source data, wanted whole).
    Off,
}

/// A judgement and its evidence.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    /// Whether the record answers the query.
    pub on_topic: bool,
    /// Why, in words: what of the record was compared with what of the query.
    pub evidence: String,
}

impl Verdict {
    fn on(evidence: impl Into<String>) -> Verdict {
        Verdict {
            on_topic: true,
            evidence: evidence.into(),
        }
    }

    fn off(evidence: impl Into<String>) -> Verdict {
        Verdict {
            on_topic: false,
            evidence: evidence.into(),
        }
    }
}

/// Record categories that are a place of each kind (`venue_words` of the planner), from
/// extraction's vocabulary (`CATEGORIES` in `src/extract/normalize.rs`).
fn categories_for_place(place: &str) -> &'static [&'static str] {
    match place {
        "leisure centre" | "sports centre" => &["leisure_centre", "sports_centre"],
        "sports hall" => &["sports_hall", "leisure_centre", "sports_centre"],
        "swim centre" | "pool" | "lido" => &["swimming_pool"],
        "pitch" | "soccer centre" => &["pitch", "five_a_side", "stadium"],
        "court" => &["tennis_court", "padel_court", "squash_court", "sports_hall"],
        "table" => &["sports_hall"],
        "tennis centre" => &["tennis_court"],
        "gym" => &["gym"],
        "stadium" => &["stadium"],
        "track" | "velodrome" => &["athletics_track"],
        "golf course" => &["golf_course"],
        "ice rink" => &["ice_rink"],
        "bowling green" => &["bowling_green"],
        "climbing wall" => &["climbing_centre"],
        _ => &[],
    }
}

/// Record categories where a sport is done.
fn categories_for_sport(sport: &str) -> &'static [&'static str] {
    match sport {
        "tennis" => &["tennis_court"],
        "padel" => &["padel_court"],
        "squash" => &["squash_court"],
        "swimming" | "diving" | "water_polo" => &["swimming_pool"],
        "golf" => &["golf_course"],
        "athletics" => &["athletics_track"],
        "climbing" => &["climbing_centre"],
        "football" => &["five_a_side"],
        "bowling" => &["bowling_green"],
        "skating" | "ice_hockey" | "curling" => &["ice_rink"],
        "fitness" => &["gym"],
        _ => &[],
    }
}

/// Categories that say a record is a place to do sport.
const SPORTS_CATEGORIES: &[&str] = &[
    "athletics_track",
    "bowling_green",
    "climbing_centre",
    "five_a_side",
    "golf_course",
    "gym",
    "ice_rink",
    "leisure_centre",
    "padel_court",
    "pitch",
    "sports_centre",
    "sports_club",
    "sports_hall",
    "squash_court",
    "stadium",
    "swimming_pool",
    "tennis_court",
];

/// The words of a record's name (and, for evidence of what it offers, its description).
fn record_words(c: &CandidateFields) -> (Vec<String>, Vec<String>) {
    let name = c.name.as_deref().map(tokenize).unwrap_or_default();
    let mut other = c.description.as_deref().map(tokenize).unwrap_or_default();
    if let Some(site) = &c.website {
        other.extend(tokenize(site));
    }
    (name, other)
}

/// Whether a query word is among the words: equal, a plural, or (for longer words) the
/// start of one ("climb" in "climbing").
fn has_word(words: &[String], w: &str) -> bool {
    let singular = w.strip_suffix('s').filter(|s| s.len() >= 3).unwrap_or(w);
    words.iter().any(|x| {
        x == w
            || x == singular
            || x.strip_suffix('s') == Some(singular)
            || (singular.chars().count() >= NAME_PREFIX_MIN_CHARS && x.starts_with(singular))
    })
}

/// Whether every word of a phrase is among the words.
fn has_phrase(words: &[String], phrase: &str) -> bool {
    phrase.split([' ', '_']).all(|w| has_word(words, w))
}

fn list(v: &[String]) -> String {
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

/// Record categories of the venues a brand runs, from the register layers it is found in.
fn categories_of_layers(layers: &[&str]) -> Vec<&'static str> {
    let mut out = Vec::new();
    for l in layers {
        let cats: &[&'static str] = match *l {
            vocab::layer::PITCHES => &["pitch", "five_a_side"],
            vocab::layer::FITNESS => &["gym"],
            vocab::layer::POOLS => &["swimming_pool"],
            vocab::layer::TENNIS_INDOOR | vocab::layer::TENNIS_OUTDOOR => &["tennis_court"],
            vocab::layer::HALLS => &["sports_hall", "sports_centre", "leisure_centre"],
            _ => &[],
        };
        out.extend(cats.iter().copied());
    }
    out
}

/// A brand search ("powerleague portobello") looks for every branch and validates them
/// (seed 000 FR-3): the brand's records anywhere in the council area of the place named
/// are on topic, and so are venues of the brand's kind (its register layers: 5-a-side
/// pitches for Powerleague) in the place itself. Anything else is off topic.
fn judge_brand(f: &QueryFeatures, c: &CandidateFields) -> Verdict {
    let (name, _) = record_words(c);
    let shown = c.name.as_deref().unwrap_or("(no name)");
    let area = f.area_or_home();
    let council_reach_km = if area.in_edinburgh() {
        crate::planner::areas::HOME_RADIUS_KM * (1.0 + AREA_MARGIN_FRACTION)
    } else {
        area.radius_km * (1.0 + AREA_MARGIN_FRACTION) + AREA_MARGIN_MIN_KM
    };
    let council_centre = if area.in_edinburgh() {
        crate::planner::areas::EDINBURGH_CENTRE
    } else {
        area.centre()
    };
    let at = c.lat.zip(c.lon);
    for key in &f.brands {
        let brand = vocab::brand_named(key);
        let words: Vec<String> = match brand {
            Some(b) => b.words.iter().map(|w| w.join(" ")).collect(),
            None => vec![key.replace('_', " ")],
        };
        let by_name = words
            .iter()
            .find(|w| has_phrase(&name, w))
            .map(|w| format!("\"{w}\" in the name"));
        let host = c.website.as_deref().unwrap_or("").to_lowercase();
        let by_site = brand
            .and_then(|b| b.domains.iter().find(|d| host.contains(*d)))
            .map(|d| format!("website on {d}"));
        let Some(how) = by_name.or(by_site) else {
            continue;
        };
        if f.names_area() {
            if let Some(at) = at {
                let d = haversine_km(council_centre, at);
                if d > council_reach_km {
                    return Verdict::off(format!(
                        "off topic: a {key} branch {d:.1} km away, outside {}",
                        area.council_area.as_deref().unwrap_or(&area.name)
                    ));
                }
            }
        }
        return Verdict::on(format!("on topic: brand {key} ({how})"));
    }
    // Not the brand's: the brand's kind of venue in the place named is an alternative.
    let layers: Vec<&str> = f
        .brands
        .iter()
        .filter_map(|b| vocab::brand_named(b))
        .flat_map(|b| b.register.iter().copied())
        .chain(
            f.brands
                .iter()
                .filter(|b| *b == vocab::GOALS_BRAND)
                .map(|_| vocab::layer::PITCHES),
        )
        .collect();
    let kinds = categories_of_layers(&layers);
    let same_kind = c.categories.iter().find(|k| kinds.contains(&k.as_str()));
    if let (true, Some(k)) = (f.names_area(), same_kind) {
        if let Some(area_verdict) = judge_area(f, c).filter(|v| v.on_topic) {
            return Verdict::on(format!(
                "on topic: a {k} in {}, the kind of venue {} runs; {}",
                area.name,
                f.brands.join(", "),
                area_verdict.evidence
            ));
        }
    }
    Verdict::off(format!(
        "off topic: the query names {}; \"{shown}\" is not theirs by name or website{}",
        f.brands.join(", "),
        if f.names_area() {
            format!(", nor a venue of their kind in {}", area.name)
        } else {
            String::new()
        }
    ))
}

/// Judges one record against the query. See the module docs.
pub fn judge(f: &QueryFeatures, c: &CandidateFields) -> Verdict {
    if !f.brands.is_empty() && f.wanted == Wanted::Place && !f.ev {
        return judge_brand(f, c);
    }
    let area = judge_area(f, c);
    if let Some(v) = area.as_ref().filter(|v| !v.on_topic) {
        return v.clone();
    }
    let subject = judge_subject(f, c);
    let evidence = match area {
        Some(a) => format!("{}; {}", subject.evidence, a.evidence),
        None => subject.evidence,
    };
    Verdict {
        on_topic: subject.on_topic,
        evidence,
    }
}

/// `None` when the query names no place (the home area is where connectors were asked,
/// not a condition the asker set).
fn judge_area(f: &QueryFeatures, c: &CandidateFields) -> Option<Verdict> {
    if !f.names_area() {
        return None;
    }
    let area = f.area_or_home();
    let reach_km = area.radius_km + (area.radius_km * AREA_MARGIN_FRACTION).max(AREA_MARGIN_MIN_KM);
    if let (Some(lat), Some(lon)) = (c.lat, c.lon) {
        let d = haversine_km(area.centre(), (lat, lon));
        return Some(if d <= reach_km {
            Verdict::on(format!(
                "{d:.1} km from {} (within {reach_km:.1} km)",
                area.name
            ))
        } else {
            Verdict::off(format!(
                "off topic: {d:.1} km from {}, outside its {reach_km:.1} km",
                area.name
            ))
        });
    }
    let locality = c.locality.as_deref().map(|l| tokenize(l).join(" "));
    Some(match locality {
        Some(l)
            if l == area.name
                || area
                    .council_area
                    .as_deref()
                    .is_some_and(|la| tokenize(la).join(" ") == l) =>
        {
            Verdict::on(format!("locality {l} is {}", area.name))
        }
        Some(l) if area.in_edinburgh() && l == "edinburgh" => Verdict::on(format!(
            "locality {l}, no coordinates to place it in {}",
            area.name
        )),
        Some(l) => Verdict::off(format!("off topic: locality {l}, not in {}", area.name)),
        None => Verdict::on("no coordinates or locality: area not checked"),
    })
}

fn judge_subject(f: &QueryFeatures, c: &CandidateFields) -> Verdict {
    let (name, other) = record_words(c);
    let all: Vec<String> = name.iter().chain(other.iter()).cloned().collect();
    let shown = c.name.as_deref().unwrap_or("(no name)");
    let record_sporty = !c.sports.is_empty()
        || c.categories
            .iter()
            .any(|k| SPORTS_CATEGORIES.contains(&k.as_str()));

    // Not a place: the record must offer what is asked.
    if f.wanted != Wanted::Place {
        return match f.wanted_words.iter().find(|w| has_phrase(&all, w)) {
            Some(w) => Verdict::on(format!("on topic: \"{shown}\" offers {w}")),
            None => Verdict::off(format!(
                "off topic: the query wants a {} ({}); \"{shown}\" (categories {}) does not offer it",
                f.wanted,
                f.wanted_words.join(", "),
                list(&c.categories)
            )),
        };
    }

    if f.ev {
        let charger = c.ev.is_some() || c.categories.iter().any(|k| k == "ev_charging");
        return if charger {
            Verdict::on("on topic: a charge point")
        } else {
            Verdict::off(format!(
                "off topic: the query wants a charge point; \"{shown}\" (categories {}) is not one",
                list(&c.categories)
            ))
        };
    }

    if !f.venues.is_empty() {
        for v in &f.venues {
            let words: Vec<&str> = v.split('_').collect();
            let found = words.iter().filter(|w| has_word(&name, w)).count();
            if found * 2 >= words.len() && found > 0 {
                return Verdict::on(format!(
                    "on topic: named venue {v} ({found} of {} words in the name)",
                    words.len()
                ));
            }
        }
        return Verdict::off(format!(
            "off topic: the query names {}; \"{shown}\" is not it",
            f.venues.join(", ")
        ));
    }

    // Words no table knows are part of a name: a record must carry one.
    let names: Vec<&String> = f
        .name_words
        .iter()
        .filter(|w| w.chars().count() >= 3)
        .collect();
    if !names.is_empty() {
        let found: Vec<&&String> = names.iter().filter(|w| has_word(&name, w)).collect();
        if found.is_empty() {
            return Verdict::off(format!(
                "off topic: the query names \"{}\"; \"{shown}\" does not",
                names
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(" ")
            ));
        }
    }

    let specific: Vec<&String> = f
        .sports
        .iter()
        .filter(|s| vocab::sport_named(s).is_some())
        .collect();
    if !specific.is_empty() {
        let record_sports: HashSet<&str> = c.sports.iter().map(String::as_str).collect();
        if let Some(s) = specific.iter().find(|s| record_sports.contains(s.as_str())) {
            return Verdict::on(format!(
                "on topic: sport {s} (record sports {})",
                list(&c.sports)
            ));
        }
        for s in &specific {
            if let Some(k) = categories_for_sport(s)
                .iter()
                .find(|k| c.categories.iter().any(|x| x == *k))
            {
                return Verdict::on(format!("on topic: sport {s} (record is a {k})"));
            }
            let words: Vec<String> = vocab::sport_entries(s)
                .flat_map(|e| e.words.iter().map(|w| w.join(" ")))
                .collect();
            if let Some(w) = words.iter().find(|w| has_phrase(&all, w)) {
                return Verdict::on(format!("on topic: sport {s} (\"{w}\" in the record)"));
            }
        }
        // A pitch or a hall that does not say which sport: the sport may be played there.
        let unstated = c.sports.is_empty()
            && specific.iter().any(|s| {
                f.venue_words
                    .iter()
                    .chain(c.categories.iter())
                    .filter_map(|w| vocab::place_type(&w.replace('_', " ")))
                    .any(|p| vocab::suits(p, s) && !p.grounds.is_empty())
            });
        if unstated {
            return Verdict::on(format!(
                "on topic: a {} that does not say its sport ({} may be played there)",
                list(&c.categories),
                specific
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        return if record_sporty || !c.categories.is_empty() {
            Verdict::off(format!(
                "off topic: the query wants {}; \"{shown}\" has sports {} and categories {}",
                specific
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                list(&c.sports),
                list(&c.categories)
            ))
        } else {
            Verdict::on(format!(
                "no sport or category on \"{shown}\" to compare with {}: kept",
                specific
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        };
    }

    if !f.venue_words.is_empty() {
        for w in &f.venue_words {
            if let Some(k) = categories_for_place(w)
                .iter()
                .find(|k| c.categories.iter().any(|x| x == *k))
            {
                return Verdict::on(format!("on topic: a {w} (record is a {k})"));
            }
            if has_phrase(&name, w) {
                return Verdict::on(format!("on topic: a {w} (in the name)"));
            }
        }
        return if c.categories.is_empty() && c.sports.is_empty() {
            Verdict::on(format!("no category on \"{shown}\" to compare: kept"))
        } else {
            Verdict::off(format!(
                "off topic: the query wants a {}; \"{shown}\" is a {}",
                f.venue_words.join(" or "),
                list(&c.categories)
            ))
        };
    }

    if !f.sports.is_empty() {
        // Sport in general ("sports facilities"): any sports record.
        return if record_sporty {
            Verdict::on(format!(
                "on topic: a place to do sport (categories {})",
                list(&c.categories)
            ))
        } else {
            Verdict::off(format!(
                "off topic: the query wants a place to do sport; \"{shown}\" has no sport or sports category"
            ))
        };
    }

    if !f.categories.is_empty() {
        if let Some(w) = f.categories.iter().find(|k| has_phrase(&all, k)) {
            return Verdict::on(format!("on topic: a {w} (in the record)"));
        }
        return if record_sporty {
            Verdict::off(format!(
                "off topic: the query wants a {}; \"{shown}\" is a sports place ({})",
                f.categories.join(" or "),
                list(&c.categories)
            ))
        } else {
            Verdict::on(format!(
                "nothing on \"{shown}\" to compare with {}: kept",
                f.categories.join(", ")
            ))
        };
    }

    if names.is_empty() {
        Verdict::on("the query names no subject: any place in the area")
    } else {
        Verdict::on(format!(
            "on topic: \"{}\" in the name",
            names
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(" ")
        ))
    }
}

#[cfg(test)]
mod tests;
