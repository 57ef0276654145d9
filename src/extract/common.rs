//! What the extractors share beyond normalisation (which is `trustfold-normalize`'s): the
//! controlled vocabularies of categories and sports every source's labels map onto, the
//! default region a source's phone numbers are read in, and the small amount of plumbing the
//! six JSON extractors share (reading JSON values leniently, collecting records and skip
//! reasons under the named limits), so that each extractor file is only about its source's
//! format.

use serde_json::Value;
use trustfold_events::{CandidateFields, EvDetails};
use trustfold_normalize::phone::{self, Region};

use super::{ExtractError, Extracted, Extraction, RECORDS_PER_PAYLOAD_MAX};

// ---------------------------------------------------------------------------------------
// Limits
// ---------------------------------------------------------------------------------------

/// Longest external id, in bytes. Ids become parts of event ids and stream names.
pub const EXTERNAL_ID_BYTES_MAX: usize = 2_048;

/// Most skip reasons kept per payload; the rest are counted in one closing line, so a
/// payload of a million broken records cannot make a million-line event.
pub const SKIPPED_REASONS_MAX: usize = 1_000;

/// Longest skip reason, in characters (reasons quote ids from the payload).
pub const SKIP_REASON_CHARS_MAX: usize = 300;

// ---------------------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------------------

/// A record's phone number as a candidate keeps it: E.164 when it is a valid number read in
/// `region` (the source's), else the text as the source wrote it (the projections show why
/// it is not valid); `None` only when there is no number at all (empty, a placeholder, no
/// digit). See `trustfold_normalize::phone`.
pub fn phone(raw: &str, region: Option<Region>) -> Option<String> {
    phone::read(raw, region).map(phone::Phone::into_text)
}

/// A star rating if it is a finite number from 0 to 5.
pub fn rating(v: f64) -> Option<f64> {
    (v.is_finite() && (0.0..=5.0).contains(&v)).then_some(v)
}

// ---------------------------------------------------------------------------------------

/// The controlled vocabulary of place categories. Every extractor maps its source's own
/// labels onto these through [`categories_from`]; nothing else appears in `categories`.
pub const CATEGORIES: &[&str] = &[
    "athletics_track",
    "bowling_green",
    "climbing_centre",
    "community_centre",
    "ev_charging",
    "five_a_side",
    "golf_course",
    "gym",
    "ice_rink",
    "leisure_centre",
    "padel_court",
    "park",
    "pitch",
    "school",
    "sports_centre",
    "sports_club",
    "sports_hall",
    "squash_court",
    "stadium",
    "swimming_pool",
    "tennis_court",
];

/// The controlled vocabulary of sports: exactly the planner's canonical sport names
/// (`SPORTS` in `src/planner/vocab.rs`, without its generic "sport", "league" and
/// "tournament"), so a query's sports and a candidate's sports compare directly. As in the
/// planner, lawn bowls and ten-pin are both "bowling" and soccer is "football".
pub const SPORTS: &[&str] = &[
    "american_football",
    "archery",
    "athletics",
    "badminton",
    "baseball",
    "basketball",
    "bowling",
    "boxing",
    "canoeing",
    "climbing",
    "cricket",
    "curling",
    "cycling",
    "diving",
    "dodgeball",
    "equestrian",
    "fencing",
    "fitness",
    "football",
    "golf",
    "gymnastics",
    "handball",
    "hockey",
    "ice_hockey",
    "lacrosse",
    "martial_arts",
    "netball",
    "orienteering",
    "paddleboarding",
    "padel",
    "pickleball",
    "rowing",
    "rugby",
    "sailing",
    "shinty",
    "skating",
    "skiing",
    "softball",
    "squash",
    "swimming",
    "table_tennis",
    "tennis",
    "trampolining",
    "triathlon",
    "volleyball",
    "water_polo",
    "wrestling",
];

/// One label rule: a phrase (lowercase words, plurals already singular) and what it says.
struct LabelRule {
    phrase: &'static [&'static str],
    categories: &'static [&'static str],
    sports: &'static [&'static str],
}

const fn rule(
    phrase: &'static [&'static str],
    categories: &'static [&'static str],
    sports: &'static [&'static str],
) -> LabelRule {
    LabelRule {
        phrase,
        categories,
        sports,
    }
}

/// A phrase that means nothing here and hides its words from shorter rules ("car pool"
/// is not a pool, "car park" not a park, "tennis elbow" not tennis).
const fn not(phrase: &'static [&'static str]) -> LabelRule {
    rule(phrase, &[], &[])
}

/// What the free labels of every source mean. Matching is by whole words, leftmost and
/// longest phrase first, so "table tennis" is table tennis and not tennis, "swimming pool"
/// beats "pool", and "car pool" (a negative rule) hides "pool". Labels come from Google
/// types ("sports_complex"), Serper categories ("Football field"), OSM tag values
/// ("sports_centre", "soccer"), the sportscotland register ("Pitch - Football
/// (5-a-side)") and the council ("Park Pitches", "FOOTBALL (5-A-SIDE)").
const LABEL_RULES: &[LabelRule] = &[
    // Negative contexts.
    not(&["car", "pool"]),
    not(&["pool", "table"]),
    not(&["pool", "hall"]),
    not(&["pool", "cue"]),
    not(&["football", "pool"]),
    not(&["gene", "pool"]),
    not(&["car", "park"]),
    not(&["business", "park"]),
    not(&["retail", "park"]),
    not(&["industrial", "park"]),
    not(&["science", "park"]),
    not(&["caravan", "park"]),
    not(&["holiday", "park"]),
    not(&["water", "park"]),
    not(&["sales", "pitch"]),
    not(&["tennis", "elbow"]),
    not(&["boxing", "day"]),
    not(&["curling", "iron"]),
    not(&["curling", "tong"]),
    not(&["driving", "school"]),
    not(&["jungle", "gym"]),
    not(&["point", "of", "interest"]),
    // Centres and complexes.
    rule(&["sports", "centre"], &["sports_centre"], &[]),
    rule(&["sport", "centre"], &["sports_centre"], &[]),
    rule(&["sports", "complex"], &["sports_centre"], &[]),
    rule(&["leisure", "centre"], &["leisure_centre"], &[]),
    rule(&["leisure", "complex"], &["leisure_centre"], &[]),
    rule(&["recreation", "centre"], &["leisure_centre"], &[]),
    rule(&["community", "centre"], &["community_centre"], &[]),
    rule(&["community", "hall"], &["community_centre"], &[]),
    rule(&["sports", "hall"], &["sports_hall"], &[]),
    rule(&["gymnasium"], &["sports_hall"], &[]),
    rule(&["games", "hall"], &["sports_hall"], &[]),
    rule(&["sports", "club"], &["sports_club"], &[]),
    rule(&["stadium"], &["stadium"], &[]),
    rule(&["arena"], &["stadium"], &[]),
    rule(&["park"], &["park"], &[]),
    rule(&["school"], &["school"], &[]),
    // Water.
    rule(&["swimming", "pool"], &["swimming_pool"], &["swimming"]),
    rule(&["swimming", "bath"], &["swimming_pool"], &["swimming"]),
    rule(&["swimming", "centre"], &["swimming_pool"], &["swimming"]),
    rule(&["swim", "centre"], &["swimming_pool"], &["swimming"]),
    rule(&["leisure", "pool"], &["swimming_pool"], &["swimming"]),
    rule(&["pool"], &["swimming_pool"], &["swimming"]),
    rule(&["lido"], &["swimming_pool"], &["swimming"]),
    rule(&["swimming"], &[], &["swimming"]),
    rule(&["swim"], &[], &["swimming"]),
    rule(&["aquatics"], &[], &["swimming"]),
    rule(&["diving"], &[], &["diving"]),
    rule(&["water", "polo"], &[], &["water_polo"]),
    // Pitches and football.
    rule(&["pitch", "and", "putt"], &["golf_course"], &["golf"]),
    rule(&["pitch"], &["pitch"], &[]),
    rule(&["athletic", "field"], &["pitch"], &[]),
    rule(&["playing", "field"], &["pitch"], &[]),
    rule(&["sports", "ground"], &["pitch"], &[]),
    rule(&["astroturf"], &["pitch"], &[]),
    rule(&["football", "field"], &["pitch"], &["football"]),
    rule(&["soccer", "field"], &["pitch"], &["football"]),
    rule(&["5", "a", "side"], &["five_a_side"], &["football"]),
    rule(&["five", "a", "side"], &["five_a_side"], &["football"]),
    rule(&["5", "aside"], &["five_a_side"], &["football"]),
    rule(&["7", "a", "side"], &[], &["football"]),
    rule(&["seven", "a", "side"], &[], &["football"]),
    rule(&["11", "a", "side"], &[], &["football"]),
    rule(&["american", "football"], &[], &["american_football"]),
    rule(&["football"], &[], &["football"]),
    rule(&["soccer"], &[], &["football"]),
    rule(&["futsal"], &[], &["football"]),
    rule(&["cricket", "square"], &["pitch"], &["cricket"]),
    rule(&["cricket"], &[], &["cricket"]),
    rule(&["rugby"], &[], &["rugby"]),
    rule(&["ice", "hockey"], &[], &["ice_hockey"]),
    rule(&["hockey"], &[], &["hockey"]),
    rule(&["shinty"], &[], &["shinty"]),
    rule(&["lacrosse"], &[], &["lacrosse"]),
    // Courts.
    rule(&["tennis", "court"], &["tennis_court"], &["tennis"]),
    rule(
        &["tennis", "centre"],
        &["sports_centre", "tennis_court"],
        &["tennis"],
    ),
    rule(&["table", "tennis"], &[], &["table_tennis"]),
    rule(&["ping", "pong"], &[], &["table_tennis"]),
    rule(&["tennis"], &[], &["tennis"]),
    rule(&["padel", "court"], &["padel_court"], &["padel"]),
    rule(&["padel"], &[], &["padel"]),
    rule(&["squash", "court"], &["squash_court"], &["squash"]),
    rule(&["squash"], &[], &["squash"]),
    rule(&["badminton"], &[], &["badminton"]),
    rule(&["pickleball"], &[], &["pickleball"]),
    rule(&["basketball"], &[], &["basketball"]),
    rule(&["netball"], &[], &["netball"]),
    rule(&["volleyball"], &[], &["volleyball"]),
    rule(&["beachvolleyball"], &[], &["volleyball"]),
    rule(&["handball"], &[], &["handball"]),
    rule(&["dodgeball"], &[], &["dodgeball"]),
    rule(&["baseball"], &[], &["baseball"]),
    rule(&["softball"], &[], &["softball"]),
    // Golf.
    rule(&["golf", "course"], &["golf_course"], &["golf"]),
    rule(
        &["golf", "club"],
        &["golf_course", "sports_club"],
        &["golf"],
    ),
    rule(&["golf", "range"], &["golf_course"], &["golf"]),
    rule(&["driving", "range"], &["golf_course"], &["golf"]),
    rule(&["golf"], &[], &["golf"]),
    // Fitness.
    rule(&["gym"], &["gym"], &["fitness"]),
    rule(&["fitness", "centre"], &["gym"], &["fitness"]),
    rule(&["fitness", "suite"], &["gym"], &["fitness"]),
    rule(&["fitness", "studio"], &["gym"], &["fitness"]),
    rule(&["fitness", "club"], &["gym"], &["fitness"]),
    rule(&["health", "club"], &["gym"], &["fitness"]),
    rule(&["fitness"], &[], &["fitness"]),
    rule(&["crossfit"], &[], &["fitness"]),
    rule(&["pilates"], &[], &["fitness"]),
    rule(&["yoga"], &[], &["fitness"]),
    rule(&["zumba"], &[], &["fitness"]),
    rule(&["aerobics"], &[], &["fitness"]),
    // Athletics and the track.
    rule(
        &["athletics", "track"],
        &["athletics_track"],
        &["athletics"],
    ),
    rule(
        &["athletics", "arena"],
        &["athletics_track"],
        &["athletics"],
    ),
    rule(&["running", "track"], &["athletics_track"], &["athletics"]),
    rule(&["athletics"], &[], &["athletics"]),
    rule(&["running"], &[], &["athletics"]),
    // Ice and bowls.
    rule(&["ice", "rink"], &["ice_rink"], &[]),
    rule(&["ice", "skating", "rink"], &["ice_rink"], &["skating"]),
    rule(&["skating", "rink"], &["ice_rink"], &["skating"]),
    rule(&["curling", "rink"], &["ice_rink"], &["curling"]),
    rule(&["ice", "skating"], &[], &["skating"]),
    rule(&["skating"], &[], &["skating"]),
    rule(&["skateboarding"], &[], &["skating"]),
    rule(&["skateboard"], &[], &["skating"]),
    rule(&["skatepark"], &[], &["skating"]),
    rule(&["skate", "park"], &[], &["skating"]),
    rule(&["curling"], &[], &["curling"]),
    rule(&["bowling", "green"], &["bowling_green"], &["bowling"]),
    rule(
        &["bowling", "club"],
        &["bowling_green", "sports_club"],
        &["bowling"],
    ),
    rule(
        &["bowls", "club"],
        &["bowling_green", "sports_club"],
        &["bowling"],
    ),
    rule(&["lawn", "bowls"], &["bowling_green"], &["bowling"]),
    rule(&["bowls"], &[], &["bowling"]),
    rule(&["bowling"], &[], &["bowling"]),
    rule(&["ten", "pin"], &[], &["bowling"]),
    rule(&["tenpin"], &[], &["bowling"]),
    rule(&["10pin"], &[], &["bowling"]),
    rule(&["9pin"], &[], &["bowling"]),
    // Climbing.
    rule(&["climbing", "centre"], &["climbing_centre"], &["climbing"]),
    rule(&["climbing", "wall"], &["climbing_centre"], &["climbing"]),
    rule(&["climbing", "gym"], &["climbing_centre"], &["climbing"]),
    rule(
        &["bouldering", "centre"],
        &["climbing_centre"],
        &["climbing"],
    ),
    rule(&["bouldering", "wall"], &["climbing_centre"], &["climbing"]),
    rule(&["climbing"], &[], &["climbing"]),
    rule(&["bouldering"], &[], &["climbing"]),
    // Other sports.
    rule(&["cycling"], &[], &["cycling"]),
    rule(&["bmx"], &[], &["cycling"]),
    rule(&["mountain", "biking"], &[], &["cycling"]),
    rule(&["rowing"], &[], &["rowing"]),
    rule(&["sailing"], &[], &["sailing"]),
    rule(&["canoe"], &[], &["canoeing"]),
    rule(&["canoeing"], &[], &["canoeing"]),
    rule(&["kayak"], &[], &["canoeing"]),
    rule(&["kayaking"], &[], &["canoeing"]),
    rule(&["paddleboarding"], &[], &["paddleboarding"]),
    rule(&["paddle", "boarding"], &[], &["paddleboarding"]),
    rule(&["gymnastics"], &[], &["gymnastics"]),
    rule(&["trampolining"], &[], &["trampolining"]),
    rule(&["trampoline"], &[], &["trampolining"]),
    rule(&["trampoline", "park"], &[], &["trampolining"]),
    rule(&["boxing"], &[], &["boxing"]),
    rule(&["kickboxing"], &[], &["boxing"]),
    rule(&["martial", "art"], &[], &["martial_arts"]),
    rule(&["martial", "arts"], &[], &["martial_arts"]),
    rule(&["judo"], &[], &["martial_arts"]),
    rule(&["karate"], &[], &["martial_arts"]),
    rule(&["taekwondo"], &[], &["martial_arts"]),
    rule(&["jiu", "jitsu"], &[], &["martial_arts"]),
    rule(&["jiujitsu"], &[], &["martial_arts"]),
    rule(&["mma"], &[], &["martial_arts"]),
    rule(&["wrestling"], &[], &["wrestling"]),
    rule(&["ski"], &[], &["skiing"]),
    rule(&["skiing"], &[], &["skiing"]),
    rule(&["snowsports"], &[], &["skiing"]),
    rule(&["snowboarding"], &[], &["skiing"]),
    rule(&["archery"], &[], &["archery"]),
    rule(&["fencing"], &[], &["fencing"]),
    rule(&["equestrian"], &[], &["equestrian"]),
    rule(&["horse", "riding"], &[], &["equestrian"]),
    rule(&["riding", "school"], &[], &["equestrian"]),
    rule(&["orienteering"], &[], &["orienteering"]),
    rule(&["triathlon"], &[], &["triathlon"]),
    // Electric-vehicle charging.
    rule(&["charging", "station"], &["ev_charging"], &[]),
    rule(&["charging", "point"], &["ev_charging"], &[]),
    rule(&["charge", "point"], &["ev_charging"], &[]),
    rule(&["chargepoint"], &["ev_charging"], &[]),
    rule(&["ev", "charger"], &["ev_charging"], &[]),
    rule(&["ev", "charging"], &["ev_charging"], &[]),
];

/// Words after a sport that make the label a club ("Tennis club", "Rugby Football Club").
const CLUB_WORDS: &[&str] = &["club"];

/// The words of a label, lowercase, split at every non-alphanumeric character (so
/// "sports_complex", "5-a-side" and "Swimming Pool - Main" all split), with the plurals
/// and American spellings the rules do not list made singular and British.
fn label_words(label: &str) -> Vec<String> {
    label
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            let w = w.to_lowercase();
            let singular = match w.as_str() {
                "center" | "centers" | "centres" => "centre",
                "pitches" => "pitch",
                "courts" => "court",
                "pools" => "pool",
                "greens" => "green",
                "fields" => "field",
                "clubs" => "club",
                "halls" => "hall",
                "rinks" => "rink",
                "grounds" => "ground",
                "parks" => "park",
                "schools" => "school",
                "gyms" => "gym",
                "stadiums" | "stadia" => "stadium",
                "arenas" => "arena",
                "tracks" => "track",
                "baths" => "bath",
                "walls" => "wall",
                "stations" => "station",
                "points" => "point",
                "chargers" => "charger",
                _ => return w,
            };
            singular.to_string()
        })
        .collect()
}

/// Maps the free labels of any source (Google types, Serper categories, OSM tag values,
/// register facility types, council types) to `(categories, sports)` in the controlled
/// vocabularies [`CATEGORIES`] and [`SPORTS`], both sorted and deduplicated.
///
/// Each label is split at `;`, `,` and `|` (OSM writes "tennis;padel"), then read word by
/// word against `LABEL_RULES`, leftmost-longest phrase first; a sport followed by "club"
/// also makes the place a `sports_club`. Unknown words mean nothing: it is phrase based,
/// never a substring search, so "car pool" is not a pool and "Carpool" is nothing.
pub fn categories_from(source_labels: &[&str]) -> (Vec<String>, Vec<String>) {
    let mut categories: Vec<String> = Vec::new();
    let mut sports: Vec<String> = Vec::new();
    for label in source_labels {
        for part in label.split([';', ',', '|']) {
            let words = label_words(part);
            let mut i = 0;
            while i < words.len() {
                let best = LABEL_RULES
                    .iter()
                    .filter(|r| {
                        words.len() - i >= r.phrase.len()
                            && r.phrase.iter().zip(&words[i..]).all(|(p, w)| *p == w)
                    })
                    .max_by_key(|r| r.phrase.len());
                let Some(r) = best else {
                    i += 1;
                    continue;
                };
                categories.extend(r.categories.iter().map(|c| c.to_string()));
                sports.extend(r.sports.iter().map(|s| s.to_string()));
                i += r.phrase.len();
                let club_follows = words
                    .get(i)
                    .is_some_and(|w| CLUB_WORDS.contains(&w.as_str()));
                if !r.sports.is_empty() && club_follows {
                    categories.push("sports_club".to_string());
                    i += 1;
                }
            }
        }
    }
    categories.sort();
    categories.dedup();
    sports.sort();
    sports.dedup();
    (categories, sports)
}

/// The entity class of a place with these categories: `ev_charger` for a place that is
/// only a charging station, else `venue`.
pub fn entity_class_for(categories: &[String]) -> &'static str {
    if categories.len() == 1 && categories[0] == "ev_charging" {
        "ev_charger"
    } else {
        "venue"
    }
}

// ---------------------------------------------------------------------------------------
// Shared extractor plumbing
// ---------------------------------------------------------------------------------------

/// Parses a payload as JSON. A UTF-8 byte-order mark is allowed; an empty body, invalid
/// UTF-8 or invalid JSON is an [`ExtractError`] naming the source and what is wrong.
pub(crate) fn parse_payload(body: &[u8], source: &str) -> Result<Value, ExtractError> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ExtractError(format!("{source}: the payload is empty")));
    }
    serde_json::from_slice(body)
        .map_err(|e| ExtractError(format!("{source}: the payload is not valid JSON: {e}")))
}

/// The member `key` of an object, unless it is absent or null.
pub(crate) fn member<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.get(key).filter(|m| !m.is_null())
}

/// A scalar as text: a string as it is, a number as JSON writes it. Sources disagree on
/// whether ids and codes are strings or numbers.
pub(crate) fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A finite number, from a JSON number or a numeric string ("55.95"). "NaN", "inf" and
/// other non-finite spellings are `None`.
pub(crate) fn number(v: Option<&Value>) -> Option<f64> {
    let x = match v? {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) if s.len() <= 64 => s.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    x.is_finite().then_some(x)
}

/// A non-negative whole number, from a JSON number (integral floats included) or a
/// string of digits.
pub(crate) fn count(v: Option<&Value>) -> Option<u64> {
    match v? {
        Value::Number(n) => n.as_u64().or_else(|| {
            let f = n.as_f64()?;
            // 2^53: above it a float no longer holds every integer exactly.
            (f.fract() == 0.0 && (0.0..=9_007_199_254_740_992.0).contains(&f)).then_some(f as u64)
        }),
        Value::String(s) if s.len() <= 20 => s.trim().parse().ok(),
        _ => None,
    }
}

/// The elements of an array member, or an empty slice if it is absent or not an array.
pub(crate) fn array<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// Cuts `s` to at most `chars_max` characters for quoting in a message.
pub(crate) fn quote(s: &str, chars_max: usize) -> String {
    if s.chars().count() <= chars_max {
        s.to_string()
    } else {
        let mut cut: String = s.chars().take(chars_max).collect();
        cut.push('…');
        cut
    }
}

/// Sorts and deduplicates the multi-valued fields (as the catalogue asks of extractors),
/// except `address_lines`, whose order is meaningful: only repeated lines are removed.
pub(crate) fn tidy(mut f: CandidateFields) -> CandidateFields {
    f.categories.sort();
    f.categories.dedup();
    f.sports.sort();
    f.sports.dedup();
    let mut seen: Vec<String> = Vec::new();
    f.address_lines.retain(|l| {
        let fresh = !seen.contains(l);
        seen.push(l.clone());
        fresh
    });
    for ids in f.external_ids.values_mut() {
        ids.sort();
        ids.dedup();
    }
    f.external_ids.retain(|_, ids| !ids.is_empty());
    if let Some(ev) = f.ev.as_mut() {
        ev.connector_types.sort();
        ev.connector_types.dedup();
    }
    if f.ev == Some(EvDetails::default()) {
        f.ev = None;
    }
    f
}

/// Collects one payload's records and skip reasons under the limits: at most
/// [`RECORDS_PER_PAYLOAD_MAX`] records (later ones are counted as skipped), at most
/// [`SKIPPED_REASONS_MAX`] reasons (later ones are counted in a closing line), ids of at
/// most [`EXTERNAL_ID_BYTES_MAX`] bytes.
#[derive(Default)]
pub(crate) struct Records {
    extraction: Extraction,
    over_cap_n: usize,
    unlisted_skips_n: usize,
}

impl Records {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Adds a record (its multi-valued fields tidied), unless the payload has already
    /// yielded [`RECORDS_PER_PAYLOAD_MAX`] or the id is too long.
    pub(crate) fn push(&mut self, external_id: String, fields: CandidateFields) {
        self.push_at(None, external_id, fields);
    }

    /// [`Records::push`] for a record that starts on `line` of a line-based file.
    pub(crate) fn push_at(
        &mut self,
        line: Option<usize>,
        external_id: String,
        fields: CandidateFields,
    ) {
        if external_id.len() > EXTERNAL_ID_BYTES_MAX {
            self.skip(format!(
                "{}: external id of {} bytes, over EXTERNAL_ID_BYTES_MAX ({EXTERNAL_ID_BYTES_MAX})",
                quote(&external_id, 60),
                external_id.len()
            ));
        } else if self.extraction.records.len() >= RECORDS_PER_PAYLOAD_MAX {
            self.over_cap_n += 1;
        } else {
            self.extraction.records.push(Extracted {
                external_id,
                fields: tidy(fields),
                line,
            });
        }
    }

    /// Records why one record was left out.
    pub(crate) fn skip(&mut self, reason: String) {
        if self.extraction.skipped.len() < SKIPPED_REASONS_MAX {
            self.extraction
                .skipped
                .push(quote(&reason, SKIP_REASON_CHARS_MAX));
        } else {
            self.unlisted_skips_n += 1;
        }
    }

    /// The extraction, with closing lines for what the limits left out.
    pub(crate) fn finish(mut self) -> Extraction {
        if self.over_cap_n > 0 {
            let line = format!(
                "{} records over RECORDS_PER_PAYLOAD_MAX ({RECORDS_PER_PAYLOAD_MAX}) not taken",
                self.over_cap_n
            );
            self.skip(line);
        }
        if self.unlisted_skips_n > 0 {
            self.extraction.skipped.push(format!(
                "{} more records skipped, reasons not listed (SKIPPED_REASONS_MAX = {SKIPPED_REASONS_MAX})",
                self.unlisted_skips_n
            ));
        }
        self.extraction
    }
}

/// The position of a record in its payload for skip reasons: `"<noun> <index>"` with the
/// record's id when known, e.g. `"feature 3 (pub_spfp.12)"`. The index counts from 0, as
/// the payload's array does (`jq '.features[3]'`).
pub(crate) fn at(noun: &str, index: usize, id: Option<&str>) -> String {
    match id {
        Some(id) => format!("{noun} {index} ({})", quote(id, 80)),
        None => format!("{noun} {index}"),
    }
}

/// Shared by the extractors' tests: arbitrary JSON, and the never-panic check.
#[cfg(test)]
pub(crate) mod test_support {
    use proptest::prelude::*;
    use serde_json::Value;

    use crate::extract::Extractor;
    use trustfold_normalize::phone::Region;

    /// Keys the generated objects use: the formats' own member names (so generated values
    /// reach the extractors' record code) and random ones.
    const KEYS: &[&str] = &[
        "places",
        "organic",
        "elements",
        "features",
        "title",
        "name",
        "id",
        "cid",
        "type",
        "lat",
        "lon",
        "center",
        "nodes",
        "tags",
        "location",
        "latitude",
        "longitude",
        "geometry",
        "coordinates",
        "properties",
        "displayName",
        "text",
        "AddressInfo",
        "Latitude",
        "Longitude",
        "Title",
        "Connections",
        "ID",
        "NAME",
        "OBJECTID",
        "site_name",
    ];

    /// Any JSON value, nested up to 4 deep: nulls, booleans, extreme numbers, nasty
    /// strings ("NaN", "inf", placeholders, emoji, SQL), arrays and objects.
    pub(crate) fn arbitrary_json() -> impl Strategy<Value = Value> {
        let nasty = proptest::sample::select(vec![
            "NaN",
            "inf",
            "-inf",
            "1e400",
            "",
            "N/A",
            "null",
            "EH15 1DR",
            "55.95",
            "-3.11",
            "0131 496 0123",
            "https://x.com/",
            "node",
            "way",
            "relation",
            "Point",
            "\u{FFFD}",
            "🎾",
            "'; DROP TABLE places; --",
            "pub_spfp.1029",
        ])
        .prop_map(|s| Value::String(s.to_string()));
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            prop_oneof![
                Just(1e308),
                Just(-1e308),
                Just(f64::MIN_POSITIVE),
                Just(0.0)
            ]
            .prop_map(Value::from),
            nasty,
            ".{0,16}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            let key = prop_oneof![
                proptest::sample::select(KEYS).prop_map(str::to_string),
                "[a-zA-Z_:]{0,8}",
            ];
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::vec((key, inner), 0..6)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    /// Copies of `template` (a real record) with one member replaced by `v`: each member,
    /// each member of a nested object, and each member of the first object in a nested
    /// array (e.g. `Connections[0].PowerKW`).
    fn mutations(template: &Value, v: &Value) -> Vec<Value> {
        let mut out = Vec::new();
        let Some(obj) = template.as_object() else {
            return out;
        };
        for (k, member) in obj {
            let mut t = template.clone();
            t[k] = v.clone();
            out.push(t);
            let nested = match member {
                Value::Object(_) => Some((member.clone(), None)),
                Value::Array(items) => items.first().map(|f| (f.clone(), Some(0))),
                _ => None,
            };
            if let Some((Value::Object(inner), index)) = nested {
                for ik in inner.keys() {
                    let mut t = template.clone();
                    match index {
                        None => t[k][ik] = v.clone(),
                        Some(i) => t[k][i][ik] = v.clone(),
                    }
                    out.push(t);
                }
            }
        }
        out
    }

    /// Runs `ex` over `bytes`, over `v`, over `v` wrapped as a record of the format (by
    /// `wrap`), and over `template` with each member replaced by `v` — it must never panic
    /// and must give the same answer for the same bytes.
    pub(crate) fn assert_never_panics(
        ex: &dyn Extractor,
        v: &Value,
        bytes: &[u8],
        wrap: &dyn Fn(Value) -> Value,
        template: &Value,
    ) {
        let _ = ex.extract(bytes, Some(Region::GB));
        let raw = serde_json::to_vec(v).unwrap();
        assert_eq!(
            ex.extract(&raw, Some(Region::GB)),
            ex.extract(&raw, Some(Region::GB)),
            "deterministic"
        );
        let _ = ex.extract(
            &serde_json::to_vec(&wrap(v.clone())).unwrap(),
            Some(Region::GB),
        );
        for m in mutations(template, v) {
            let raw = serde_json::to_vec(&wrap(m)).unwrap();
            let first = ex.extract(&raw, Some(Region::GB));
            assert_eq!(first, ex.extract(&raw, Some(Region::GB)), "deterministic");
        }
    }
}

#[cfg(test)]
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_of_every_source_map_to_the_vocabularies() {
        type Row<'a> = (&'a [&'a str], &'a [&'a str], &'a [&'a str]);
        let rows: &[Row] = &[
            // Google types.
            (
                &[
                    "sports_complex",
                    "athletic_field",
                    "sports_activity_location",
                    "point_of_interest",
                    "establishment",
                ],
                &["pitch", "sports_centre"],
                &[],
            ),
            (&["gym", "fitness_center"], &["gym"], &["fitness"]),
            (&["swimming_pool"], &["swimming_pool"], &["swimming"]),
            (&["golf_course"], &["golf_course"], &["golf"]),
            (
                &["electric_vehicle_charging_station"],
                &["ev_charging"],
                &[],
            ),
            (&["secondary_school", "school"], &["school"], &[]),
            (&["ice_skating_rink"], &["ice_rink"], &["skating"]),
            (&["community_center"], &["community_centre"], &[]),
            // Serper categories.
            (&["Sports complex"], &["sports_centre"], &[]),
            (&["Football field"], &["pitch"], &["football"]),
            (&["Tennis club"], &["sports_club"], &["tennis"]),
            (
                &["Bowling club"],
                &["bowling_green", "sports_club"],
                &["bowling"],
            ),
            (&["Golf club"], &["golf_course", "sports_club"], &["golf"]),
            (&["Leisure centre"], &["leisure_centre"], &[]),
            // OSM values.
            (
                &["sports_centre", "tennis;padel"],
                &["sports_centre"],
                &["padel", "tennis"],
            ),
            (&["pitch", "soccer"], &["pitch"], &["football"]),
            (&["fitness_centre"], &["gym"], &["fitness"]),
            (&["table_tennis"], &[], &["table_tennis"]),
            (&["rugby_union", "field_hockey"], &[], &["hockey", "rugby"]),
            (&["charging_station"], &["ev_charging"], &[]),
            // The register.
            (
                &["Pitch - Football (5-a-side)"],
                &["five_a_side", "pitch"],
                &["football"],
            ),
            (&["Fitness Suite - Weights And CV"], &["gym"], &["fitness"]),
            (&["Sports Hall < 3 Court"], &["sports_hall"], &[]),
            (&["Swimming Pool - Main"], &["swimming_pool"], &["swimming"]),
            (
                &["Swimming Pool - Diving"],
                &["swimming_pool"],
                &["diving", "swimming"],
            ),
            (&["Pitch And Putt Course"], &["golf_course"], &["golf"]),
            (&["Ice Rink - Curling Rink"], &["ice_rink"], &["curling"]),
            (
                &["Indoor Athletics Arena"],
                &["athletics_track"],
                &["athletics"],
            ),
            (&["Gymnasium"], &["sports_hall"], &[]),
            // The council.
            (&["Leisure Centre"], &["leisure_centre"], &[]),
            (&["Park Pitches"], &["park", "pitch"], &[]),
            (
                &["Tennis Centre"],
                &["sports_centre", "tennis_court"],
                &["tennis"],
            ),
            (&["FOOTBALL (5-A-SIDE)"], &["five_a_side"], &["football"]),
            (
                &["Community High School (Sports Facilities)"],
                &["school"],
                &[],
            ),
            (&["Climbing Centre"], &["climbing_centre"], &["climbing"]),
            // Negative contexts and nonsense.
            (&["car pool"], &[], &[]),
            (&["Carpool"], &[], &[]),
            (&["car park", "pool table"], &[], &[]),
            (&["tennis elbow clinic"], &[], &[]),
            (&["'; DROP TABLE places; --"], &[], &[]),
            (&["🎾 tennis 🎾"], &[], &["tennis"]),
            (&["\u{FFFD}pool\u{FFFD}"], &["swimming_pool"], &["swimming"]),
            (&[], &[], &[]),
        ];
        for (labels, cats, sports) in rows {
            let (c, s) = categories_from(labels);
            let mut want_cats: Vec<&str> = cats.to_vec();
            want_cats.sort();
            assert_eq!(c, want_cats, "{labels:?}");
            assert_eq!(s, sports.to_vec(), "{labels:?}");
        }
        let long = "football pitch ".repeat(700);
        let (c, s) = categories_from(&[long.as_str()]);
        assert_eq!(
            (c, s),
            (vec!["pitch".to_string()], vec!["football".to_string()])
        );
    }

    #[test]
    fn every_rule_speaks_the_controlled_vocabularies() {
        for r in LABEL_RULES {
            for c in r.categories {
                assert!(CATEGORIES.contains(c), "{:?}: {c}", r.phrase);
            }
            for s in r.sports {
                assert!(SPORTS.contains(s), "{:?}: {s}", r.phrase);
            }
            for w in r.phrase {
                assert_eq!(
                    label_words(w),
                    vec![w.to_string()],
                    "{:?} is not a label word",
                    w
                );
            }
        }
        for vocab in [CATEGORIES, SPORTS] {
            let mut sorted = vocab.to_vec();
            sorted.sort();
            sorted.dedup();
            assert_eq!(sorted, vocab.to_vec(), "vocabularies are sorted and unique");
        }
    }

    /// The canonical sport names of the planner's `SPORTS` (`src/planner/vocab.rs`) that
    /// extraction must know: all but the few the register, OSM and Google never label a
    /// facility with (extraction may not depend on the planner; its tests may).
    fn planner_sports() -> Vec<String> {
        let query_only = [
            "gaelic_games",
            "surfing",
            "parkour",
            "shooting",
            "cue_sports",
            "darts",
            "karting",
        ];
        let mut names: Vec<String> = crate::planner::vocab::SPORTS
            .iter()
            .map(|s| s.canonical.to_string())
            .filter(|n| !query_only.contains(&n.as_str()))
            .collect();
        names.sort();
        names.dedup();
        names
    }

    #[test]
    fn sports_are_exactly_the_planners_canonical_sports() {
        let planner = planner_sports();
        assert!(planner.len() > 30, "parsed only {planner:?}");
        assert_eq!(planner, SPORTS.to_vec());
    }

    #[test]
    fn entity_classes() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(entity_class_for(&s(&["ev_charging"])), "ev_charger");
        assert_eq!(entity_class_for(&s(&["ev_charging", "gym"])), "venue");
        assert_eq!(entity_class_for(&[]), "venue");
    }

    #[test]
    fn json_values_are_read_leniently() {
        let v: Value = serde_json::json!({
            "s": "55.95", "n": 3, "f": 2.0, "neg": -1, "nan": "NaN", "inf": "inf",
            "big": 1e300, "null": null, "arr": [1], "obj": {}
        });
        assert_eq!(number(member(&v, "s")), Some(55.95));
        assert_eq!(number(member(&v, "nan")), None);
        assert_eq!(number(member(&v, "inf")), None);
        assert_eq!(number(member(&v, "big")), Some(1e300));
        assert_eq!(number(member(&v, "arr")), None);
        assert_eq!(count(member(&v, "n")), Some(3));
        assert_eq!(count(member(&v, "f")), Some(2));
        assert_eq!(count(member(&v, "neg")), None);
        assert_eq!(count(member(&v, "big")), None);
        assert_eq!(text(member(&v, "n")).as_deref(), Some("3"));
        assert_eq!(text(member(&v, "obj")), None);
        assert_eq!(member(&v, "null"), None);
        assert!(array(&v, "s").is_empty());
        assert_eq!(array(&v, "arr").len(), 1);
    }

    #[test]
    fn records_keep_to_their_limits() {
        let mut r = Records::new();
        for i in 0..SKIPPED_REASONS_MAX + 5 {
            r.skip(format!("record {i}: no name"));
        }
        r.push(
            "x".repeat(EXTERNAL_ID_BYTES_MAX + 1),
            CandidateFields::default(),
        );
        let e = r.finish();
        assert!(e.records.is_empty());
        assert_eq!(e.skipped.len(), SKIPPED_REASONS_MAX + 1);
        assert!(e
            .skipped
            .last()
            .unwrap()
            .starts_with("6 more records skipped"));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

        /// Any label maps into the controlled vocabularies (normalisers are
        /// `trustfold-normalize`'s, and tested there).
        #[test]
        fn labels_always_map_into_the_vocabularies(s in "\\PC{0,40}") {
            let (categories, sports) = categories_from(&[s.as_str()]);
            proptest::prop_assert!(categories.iter().all(|c| CATEGORIES.contains(&c.as_str())));
            proptest::prop_assert!(sports.iter().all(|c| SPORTS.contains(&c.as_str())));
        }
    }

    #[test]
    fn records_past_the_cap_are_counted_not_kept() {
        let mut r = Records::new();
        for i in 0..RECORDS_PER_PAYLOAD_MAX + 3 {
            r.push(format!("node/{i}"), CandidateFields::default());
        }
        let e = r.finish();
        assert_eq!(e.records.len(), RECORDS_PER_PAYLOAD_MAX);
        assert_eq!(
            e.records.last().unwrap().external_id,
            format!("node/{}", RECORDS_PER_PAYLOAD_MAX - 1)
        );
        assert_eq!(
            e.skipped,
            vec![format!(
                "3 records over RECORDS_PER_PAYLOAD_MAX ({RECORDS_PER_PAYLOAD_MAX}) not taken"
            )]
        );
    }

    #[test]
    fn payloads_that_are_not_json_are_errors() {
        assert!(parse_payload(b"", "x").unwrap_err().0.contains("empty"));
        assert!(parse_payload(b"<html>", "x")
            .unwrap_err()
            .0
            .contains("not valid JSON"));
        assert!(parse_payload(b"\xEF\xBB\xBF{}", "x").is_ok());
        assert!(parse_payload(&[0xff, 0xfe], "x").is_err());
    }
}
