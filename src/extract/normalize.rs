//! Normalisers: pure functions that turn one source's spelling of a value into the one
//! canonical spelling every extractor emits, so that the matcher and the projection compare
//! like with like ("0131 496 0123" and "+44 (0)131 4960123" are one phone number).
//!
//! Every function is total and conservative: it never panics, and it returns `None` for
//! anything it cannot vouch for rather than guessing. A value that comes out is canonical;
//! a value that does not is simply absent from the candidate (the record itself is kept —
//! only extractors decide what makes a record unusable).
//!
//! The module also holds the small amount of plumbing the six JSON extractors share
//! (reading JSON values leniently, collecting records and skip reasons under the named
//! limits), so that each extractor file is only about its source's format.

use serde_json::Value;
use trustfold_events::{CandidateFields, EvDetails};

use super::{ExtractError, Extracted, Extraction, RECORDS_PER_PAYLOAD_MAX};

// ---------------------------------------------------------------------------------------
// Limits
// ---------------------------------------------------------------------------------------

/// Longest display name, in characters. Real venue names are under 100; anything past
/// this is a description or garbage pasted into the name field, not a name.
pub const NAME_CHARS_MAX: usize = 200;

/// Longest free-text value (description, opening hours) kept, in characters; longer text
/// is cut and ends with "…". Candidates are stored in events, which are capped at 1 MiB.
pub const TEXT_CHARS_MAX: usize = 2_000;

/// Longest address line or locality, in characters.
pub const ADDRESS_CHARS_MAX: usize = 200;

/// Longest website URL accepted, in bytes (browsers and CDNs reject much past 2 KB).
pub const URL_BYTES_MAX: usize = 2_000;

/// Longest raw phone string looked at, in bytes: the longest real formatting of an E.164
/// number with a label and an extension is far below this.
pub const PHONE_BYTES_MAX: usize = 100;

/// Longest external id, in bytes. Ids become parts of event ids and stream names.
pub const EXTERNAL_ID_BYTES_MAX: usize = 2_048;

/// Most skip reasons kept per payload; the rest are counted in one closing line, so a
/// payload of a million broken records cannot make a million-line event.
pub const SKIPPED_REASONS_MAX: usize = 1_000;

/// Longest skip reason, in characters (reasons quote ids from the payload).
pub const SKIP_REASON_CHARS_MAX: usize = 300;

// ---------------------------------------------------------------------------------------
// Text
// ---------------------------------------------------------------------------------------

/// Values that sources write where they mean "no value" (compared case-insensitively).
const PLACEHOLDERS: &[&str] = &[
    "",
    "n/a",
    "na",
    "n.a.",
    "-",
    "--",
    "—",
    "–",
    "unknown",
    "null",
    "none",
    "nil",
    "undefined",
    "nan",
    "?",
];

/// Characters that carry no text: zero-width spaces and joiners, the byte-order mark, and
/// U+FFFD (the mark a decoder leaves where bytes were not valid UTF-8).
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{200B}' | '\u{200C}' | '\u{200D}' | '\u{2060}' | '\u{FEFF}' | '\u{FFFD}'
    )
}

/// Trims, turns every run of Unicode whitespace (including no-break and thin spaces) into
/// one space, and drops control and invisible characters.
fn clean_text(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut pending_space = false;
    for c in raw.chars() {
        if c.is_whitespace() {
            pending_space = !out.is_empty();
        } else if c.is_control() || is_invisible(c) {
            continue;
        } else {
            if pending_space {
                out.push(' ');
                pending_space = false;
            }
            out.push(c);
        }
    }
    out
}

fn is_placeholder(s: &str) -> bool {
    let lower = s.to_lowercase();
    PLACEHOLDERS.contains(&lower.as_str())
}

/// A place's name as it should be shown: trimmed, whitespace collapsed, control and
/// invisible characters dropped. `None` for placeholders ("N/A", "-", "unknown", "null",
/// ...), for text without a single letter or digit, and for text longer than
/// [`NAME_CHARS_MAX`] characters. Case is kept as the source wrote it.
pub fn display_name(raw: &str) -> Option<String> {
    let s = clean_text(raw);
    if is_placeholder(&s)
        || !s.chars().any(char::is_alphanumeric)
        || s.chars().count() > NAME_CHARS_MAX
    {
        return None;
    }
    Some(s)
}

/// A record's name, or why it has none that can be used: `"no name"` (absent, a
/// placeholder, no letter or digit) or `"name too long: N characters, limit …"`, so a skip
/// reason says what is wrong rather than calling a long name missing.
pub fn required_name(raw: Option<&str>) -> Result<String, String> {
    let Some(raw) = raw else {
        return Err("no name".into());
    };
    if let Some(name) = display_name(raw) {
        return Ok(name);
    }
    let n_chars = clean_text(raw).chars().count();
    if n_chars > NAME_CHARS_MAX {
        return Err(format!(
            "name too long: {n_chars} characters, limit {NAME_CHARS_MAX} (NAME_CHARS_MAX)"
        ));
    }
    Err("no name".into())
}

/// Free text (a description, opening hours, an address line): cleaned like
/// [`display_name`], placeholders dropped, cut to `chars_max` characters (the cut text ends
/// with "…").
pub fn free_text(raw: &str, chars_max: usize) -> Option<String> {
    let s = clean_text(raw);
    if is_placeholder(&s) || !s.chars().any(char::is_alphanumeric) {
        return None;
    }
    if s.chars().count() <= chars_max {
        return Some(s);
    }
    let mut cut: String = s.chars().take(chars_max.saturating_sub(1)).collect();
    cut.truncate(cut.trim_end().len());
    cut.push('…');
    Some(cut)
}

/// Words that say what kind of company a name belongs to, not which place it is.
const NAME_STOP_WORDS: &[&str] = &["ltd", "limited", "the", "plc", "llp"];

/// Accent folding for Latin-1 Supplement and Latin Extended-A (U+00C0–U+017F): each
/// inclusive range of code points folds to the given lowercase ASCII. This is the part of
/// Unicode NFKD + mark stripping that European place names need; no normalisation crate is
/// used. Characters outside the table are lowercased as they are.
const FOLDS: &[(char, char, &str)] = &[
    ('À', 'Å', "a"),
    ('Æ', 'Æ', "ae"),
    ('Ç', 'Ç', "c"),
    ('È', 'Ë', "e"),
    ('Ì', 'Ï', "i"),
    ('Ð', 'Ð', "d"),
    ('Ñ', 'Ñ', "n"),
    ('Ò', 'Ö', "o"),
    ('Ø', 'Ø', "o"),
    ('Ù', 'Ü', "u"),
    ('Ý', 'Ý', "y"),
    ('Þ', 'Þ', "th"),
    ('ß', 'ß', "ss"),
    ('à', 'å', "a"),
    ('æ', 'æ', "ae"),
    ('ç', 'ç', "c"),
    ('è', 'ë', "e"),
    ('ì', 'ï', "i"),
    ('ð', 'ð', "d"),
    ('ñ', 'ñ', "n"),
    ('ò', 'ö', "o"),
    ('ø', 'ø', "o"),
    ('ù', 'ü', "u"),
    ('ý', 'ý', "y"),
    ('þ', 'þ', "th"),
    ('ÿ', 'ÿ', "y"),
    ('\u{0100}', '\u{0105}', "a"),
    ('\u{0106}', '\u{010D}', "c"),
    ('\u{010E}', '\u{0111}', "d"),
    ('\u{0112}', '\u{011B}', "e"),
    ('\u{011C}', '\u{0123}', "g"),
    ('\u{0124}', '\u{0127}', "h"),
    ('\u{0128}', '\u{0131}', "i"),
    ('\u{0132}', '\u{0133}', "ij"),
    ('\u{0134}', '\u{0135}', "j"),
    ('\u{0136}', '\u{0138}', "k"),
    ('\u{0139}', '\u{0142}', "l"),
    ('\u{0143}', '\u{014B}', "n"),
    ('\u{014C}', '\u{0151}', "o"),
    ('\u{0152}', '\u{0153}', "oe"),
    ('\u{0154}', '\u{0159}', "r"),
    ('\u{015A}', '\u{0161}', "s"),
    ('\u{0162}', '\u{0167}', "t"),
    ('\u{0168}', '\u{0173}', "u"),
    ('\u{0174}', '\u{0175}', "w"),
    ('\u{0176}', '\u{0178}', "y"),
    ('\u{0179}', '\u{017E}', "z"),
    ('\u{017F}', '\u{017F}', "s"),
];

/// The unaccented lowercase form of a Latin-1 or Latin Extended-A letter (see `FOLDS`).
/// Shared with the matcher, so names fold the same way everywhere.
pub(crate) fn fold_char(c: char) -> Option<&'static str> {
    if !('\u{00C0}'..='\u{017F}').contains(&c) || c == '×' || c == '÷' {
        return None;
    }
    FOLDS
        .iter()
        .find(|(lo, hi, _)| (*lo..=*hi).contains(&c))
        .map(|(_, _, to)| *to)
}

/// The key two names are compared by: accents folded (see `FOLDS`), lowercase, `&` read
/// as "and", apostrophes and full stops dropped ("King's" = "kings", "F.C." = "fc"), every
/// other non-alphanumeric character a word break, the company words "ltd", "limited",
/// "the", "plc" and "llp" dropped, single spaces between words.
///
/// `name_key("The Royal Burgess Golfing Society Ltd.") == "royal burgess golfing society"`.
pub fn name_key(raw: &str) -> String {
    let mut folded = String::with_capacity(raw.len());
    for c in raw.chars() {
        if matches!(c, '\'' | '’' | '‘' | '`' | 'ʼ' | '´' | '.') {
            continue;
        }
        if c == '&' || c == '＆' {
            folded.push_str(" and ");
        } else if let Some(to) = fold_char(c) {
            folded.push_str(to);
        } else if c.is_alphanumeric() {
            // Lowercase, then fold what lowercasing brought into the table ("Å", the
            // angstrom sign, becomes "å"), and drop the combining marks a few lowercase
            // forms add ("İ" → "i̇"): the key of a key is the key.
            for l in c.to_lowercase() {
                match fold_char(l) {
                    Some(to) => folded.push_str(to),
                    None if l.is_alphanumeric() => folded.push(l),
                    None => {}
                }
            }
        } else {
            folded.push(' ');
        }
    }
    folded
        .split_whitespace()
        .filter(|w| !NAME_STOP_WORDS.contains(w))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The words of [`name_key`], in order.
pub fn name_tokens(raw: &str) -> Vec<String> {
    name_key(raw)
        .split(' ')
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

// ---------------------------------------------------------------------------------------
// Phone numbers
// ---------------------------------------------------------------------------------------

/// Longest label allowed before a number ("Tel: ", "Phone - "), in characters.
const PHONE_LABEL_CHARS_MAX: usize = 20;

/// A phone number in E.164 (`+441314960123`), or `None`.
///
/// The rules, in order:
/// 1. A short label without digits may come first ("Tel: 0131 ..."); the number is the run
///    of digits, spaces, `-`, `.`, `(`, `)` and a leading `+` that follows. It ends at the
///    first other character, so an extension ("ext 12", "x12", "#12"), a trailing remark
///    or a second number (", 0131 ...", "/ 07700 ...") is left out.
/// 2. UK numbers: `+44`, `0044` or a bare `44` (12–13 digits) followed by the national
///    number, with an optional trunk `0` ("+44 (0)131 ..."), or a national number with its
///    trunk `0` ("0131 496 0123", "(0131) 4960123", "07700 900123"). The national
///    significant number must have 10 digits and start with 1, 2, 3, 5, 7, 8 or 9 — or 9
///    digits for the two real 9-digit ranges, 016977 and 0800.
/// 3. Other countries: `+` or `00` then 8 to 15 digits not starting with 0 (E.164's
///    length bounds); kept as they are.
/// 4. Anything else is `None`: too short or long, a local number without its area code,
///    letters in the number, no digits at all.
pub fn phone_e164(raw: &str) -> Option<String> {
    if raw.len() > PHONE_BYTES_MAX {
        return None;
    }
    let start = raw.find(|c: char| c.is_ascii_digit() || c == '+')?;
    if raw[..start].chars().count() > PHONE_LABEL_CHARS_MAX {
        return None;
    }
    let mut digits = String::new();
    let mut plus = false;
    for c in raw[start..].chars() {
        match c {
            '+' if digits.is_empty() && !plus => plus = true,
            '0'..='9' => digits.push(c),
            '-' | '.' | '(' | ')' => {}
            c if c.is_whitespace() => {}
            _ => break,
        }
    }
    let international = |d: &str| -> Option<String> {
        ((8..=15).contains(&d.len()) && !d.starts_with('0')).then(|| format!("+{d}"))
    };
    if plus {
        match digits.strip_prefix("44") {
            Some(national) => uk_number(national),
            None => international(&digits),
        }
    } else if let Some(rest) = digits.strip_prefix("00") {
        match rest.strip_prefix("44") {
            Some(national) => uk_number(national),
            None => international(rest),
        }
    } else if let Some(national) = digits.strip_prefix('0') {
        uk_number(national)
    } else if (12..=13).contains(&digits.len()) {
        uk_number(digits.strip_prefix("44")?)
    } else {
        None
    }
}

/// `+44` and the national significant number, if it is a plausible UK one. A leading `0`
/// (the trunk prefix written after the country code, as in "+44 (0)131") is dropped.
fn uk_number(national: &str) -> Option<String> {
    let nsn = national.strip_prefix('0').unwrap_or(national);
    let first_ok = matches!(
        nsn.as_bytes().first(),
        Some(b'1' | b'2' | b'3' | b'5' | b'7' | b'8' | b'9')
    );
    let len_ok =
        nsn.len() == 10 || (nsn.len() == 9 && (nsn.starts_with("16977") || nsn.starts_with("800")));
    (first_ok && len_ok).then(|| format!("+44{nsn}"))
}

// ---------------------------------------------------------------------------------------
// Postcodes
// ---------------------------------------------------------------------------------------

/// Letters allowed in the two places of the inward code (the last three characters).
const INWARD_LETTERS: &[u8] = b"ABDEFGHJLNPQRSTUWXYZ";

fn is_inward(s: &[u8]) -> bool {
    matches!(s, [d, a, b] if d.is_ascii_digit() && INWARD_LETTERS.contains(a) && INWARD_LETTERS.contains(b))
}

/// Whether `s` (uppercase, no spaces) is an outward code: A9, A99, AA9, AA99, A9A or AA9A,
/// with the Royal Mail's letter restrictions (first letter not Q, V, X; second not I, J, Z;
/// the letter in A9A from ABCDEFGHJKPSTUW; in AA9A from ABEHMNPRVWXY).
fn is_outward(s: &[u8]) -> bool {
    let first = |c: &u8| c.is_ascii_uppercase() && !b"QVX".contains(c);
    let second = |c: &u8| c.is_ascii_uppercase() && !b"IJZ".contains(c);
    let d = |c: &u8| c.is_ascii_digit();
    match s {
        [a, x] => first(a) && d(x),
        [a, x, y] if d(x) && d(y) => first(a),
        [a, b, x] if b.is_ascii_uppercase() => first(a) && second(b) && d(x),
        [a, x, l] => first(a) && d(x) && b"ABCDEFGHJKPSTUW".contains(l),
        [a, b, x, y] if d(y) => first(a) && second(b) && d(x),
        [a, b, x, l] => first(a) && second(b) && d(x) && b"ABEHMNPRVWXY".contains(l),
        _ => false,
    }
}

/// A UK postcode in canonical form: uppercase, outward code, one space, inward code
/// ("eh15 1dr", "EH151DR", " EH15  1DR " → "EH15 1DR"). Whitespace anywhere is ignored.
/// Checks the grammar (outward A9, A99, AA9, AA99, A9A or AA9A; inward a digit and two
/// letters from ABDEFGHJLNPQRSTUWXYZ; the special GIR 0AA), not whether Royal Mail has
/// issued the code. An outward code alone ("EH15") is not a postcode: `None`.
pub fn postcode(raw: &str) -> Option<String> {
    if raw.len() > 32 {
        return None;
    }
    let compact: String = raw
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_uppercase();
    if !compact.is_ascii() || !(5..=7).contains(&compact.len()) {
        return None;
    }
    let (outward, inward) = compact.split_at(compact.len() - 3);
    let valid = (outward == "GIR" && inward == "0AA")
        || (is_outward(outward.as_bytes()) && is_inward(inward.as_bytes()));
    valid.then(|| format!("{outward} {inward}"))
}

/// The postcode sector (outward code, space, the inward code's digit): "EH15 1DR" →
/// "EH15 1". `None` if `pc` is not a postcode.
pub fn postcode_sector(pc: &str) -> Option<String> {
    let pc = postcode(pc)?;
    Some(pc[..pc.len() - 2].to_string())
}

// ---------------------------------------------------------------------------------------
// Websites and e-mail
// ---------------------------------------------------------------------------------------

/// Query parameters that only track the visitor; they never change the page.
fn is_tracking_param(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    key.starts_with("utm_")
        || matches!(
            key.as_str(),
            "gclid" | "fbclid" | "mc_cid" | "mc_eid" | "ref" | "ref_src" | "msclkid" | "igshid"
        )
}

/// Whether `s` starts with a URL scheme other than a host with a port: "mailto:",
/// "javascript:", "tel:"... (but not "example.com:8080").
fn has_non_web_scheme(s: &str) -> bool {
    let Some(colon) = s.find(':') else {
        return false;
    };
    let (scheme, rest) = (&s[..colon], &s[colon + 1..]);
    let scheme_like = scheme
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    let port = rest.split(['/', '?', '#']).next().unwrap_or("");
    let is_port = !port.is_empty() && port.chars().all(|c| c.is_ascii_digit());
    scheme_like && !is_port
}

/// A valid host name: at least two non-empty labels of letters, digits and hyphens (not
/// at a label's ends), the last one not all digits unless the whole host is an IPv4
/// address.
fn valid_host(host: &str) -> bool {
    let labels: Vec<&str> = host.split('.').collect();
    if labels.len() < 2 || host.len() > 253 {
        return false;
    }
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_alphanumeric() || c == '-')
    };
    if !labels.iter().all(label_ok) {
        return false;
    }
    let numeric = |l: &&str| l.chars().all(|c| c.is_ascii_digit());
    let last = labels[labels.len() - 1];
    !numeric(&last) || (labels.len() == 4 && labels.iter().all(numeric))
}

/// A website URL in canonical form, or `None`.
///
/// - No scheme: `https://` is added (`powerleague.com` → `https://powerleague.com/`).
///   Schemes other than http and https (mailto:, javascript:, ftp:) are rejected.
/// - Scheme and host are lowercased; the host is otherwise kept as given (`www.` stays: a
///   site may serve different things with and without it). A trailing dot on the host,
///   default ports (80, 443) and the fragment are dropped.
/// - Tracking parameters (`utm_*`, gclid, fbclid, mc_cid, mc_eid, ref, ref_src, msclkid,
///   igshid) are removed; other parameters stay in order.
/// - Trailing slashes of a non-root path are removed; the root path is "/".
/// - Rejected: hosts without a dot, user info (`user@host`), whitespace, bad ports, URLs
///   longer than [`URL_BYTES_MAX`].
pub fn website(raw: &str) -> Option<String> {
    let s = raw.trim();
    if s.is_empty()
        || s.len() > URL_BYTES_MAX
        || s.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return None;
    }
    let (scheme, rest) = match s.find("://") {
        Some(i) => (s[..i].to_ascii_lowercase(), &s[i + 3..]),
        None if s.starts_with("//") => ("https".to_string(), &s[2..]),
        None if has_non_web_scheme(s) => return None,
        None => ("https".to_string(), s),
    };
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    if authority.contains('@') {
        return None;
    }
    let (host, port) = match authority.rfind(':') {
        Some(i) => (&authority[..i], Some(&authority[i + 1..])),
        None => (authority, None),
    };
    let host = host.strip_suffix('.').unwrap_or(host).to_lowercase();
    if !valid_host(&host) {
        return None;
    }
    let port = match port {
        None | Some("") => String::new(),
        Some(p) => {
            let n: u16 = p.parse().ok()?;
            let default = (scheme == "http" && n == 80) || (scheme == "https" && n == 443);
            if default {
                String::new()
            } else {
                format!(":{n}")
            }
        }
    };
    let tail = tail.split('#').next().unwrap_or("");
    let (path, query) = match tail.find('?') {
        Some(i) => (&tail[..i], &tail[i + 1..]),
        None => (tail, ""),
    };
    let path = path.trim_end_matches('/');
    let path = if path.is_empty() { "/" } else { path };
    let kept: Vec<&str> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .filter(|p| !is_tracking_param(p.split('=').next().unwrap_or("")))
        .collect();
    let query = if kept.is_empty() {
        String::new()
    } else {
        format!("?{}", kept.join("&"))
    };
    Some(format!("{scheme}://{host}{port}{path}{query}"))
}

/// The host of a website, canonical and without a leading `www.`, for matching two
/// sources' websites (`https://www.powerleague.com/club/x` → `powerleague.com`).
pub fn website_host(url: &str) -> Option<String> {
    let url = website(url)?;
    let after = &url[url.find("://")? + 3..];
    let host = after.split(['/', ':', '?']).next()?;
    Some(host.strip_prefix("www.").unwrap_or(host).to_string())
}

/// An e-mail address: trimmed, `mailto:` removed, domain lowercased (the local part keeps
/// its case: it is the mail server's to interpret). `None` unless it is one `local@domain`
/// with a valid domain and no whitespace.
pub fn email(raw: &str) -> Option<String> {
    let s = raw.trim();
    let s = s.strip_prefix("mailto:").unwrap_or(s);
    if s.len() > 254 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return None;
    }
    let (local, domain) = s.split_once('@')?;
    let domain = domain.to_lowercase();
    if local.is_empty() || local.len() > 64 || domain.contains('@') || !valid_host(&domain) {
        return None;
    }
    Some(format!("{local}@{domain}"))
}

// ---------------------------------------------------------------------------------------
// Coordinates and numbers
// ---------------------------------------------------------------------------------------

/// Decimal places kept for coordinates: 1e-7 degrees is about 1 cm, finer than any
/// source's precision, so rounding only removes float noise and makes output stable.
pub const COORDINATE_DECIMALS: i32 = 7;

/// Valid WGS84 `(lat, lon)`, rounded to [`COORDINATE_DECIMALS`] places. Rejected, with
/// the reason: non-finite values, |lat| > 90, |lon| > 180, and (0, 0) — "null island",
/// where a missing coordinate pair written as zeros lands.
pub fn coordinates(lat: f64, lon: f64) -> Result<(f64, f64), String> {
    if !lat.is_finite() || !lon.is_finite() {
        return Err(format!("coordinates not finite ({lat}, {lon})"));
    }
    if lat.abs() > 90.0 || lon.abs() > 180.0 {
        return Err(format!("coordinates out of range ({lat}, {lon})"));
    }
    let scale = 10f64.powi(COORDINATE_DECIMALS);
    let round = |v: f64| {
        let r = (v * scale).round() / scale;
        // -0.0 and 0.0 compare equal but print differently; keep the output stable.
        if r == 0.0 {
            0.0
        } else {
            r
        }
    };
    let (lat, lon) = (round(lat), round(lon));
    if lat == 0.0 && lon == 0.0 {
        return Err("coordinates (0, 0): null island, a missing location".to_string());
    }
    Ok((lat, lon))
}

/// A star rating if it is a finite number from 0 to 5.
pub fn rating(v: f64) -> Option<f64> {
    (v.is_finite() && (0.0..=5.0).contains(&v)).then_some(v)
}

// ---------------------------------------------------------------------------------------
// Addresses
// ---------------------------------------------------------------------------------------

/// Parts of an address that name a country, a nation or a region, never a locality.
const REGIONS: &[&str] = &[
    "uk",
    "u.k.",
    "united kingdom",
    "gb",
    "great britain",
    "britain",
    "scotland",
    "england",
    "wales",
    "northern ireland",
    "lothian",
    "midlothian",
    "east lothian",
    "west lothian",
    "fife",
    "scottish borders",
];

/// Whether `s` is a country, nation or region name (see `REGIONS`).
pub fn is_region(s: &str) -> bool {
    let lower = clean_text(s).to_lowercase();
    REGIONS.contains(&lower.as_str())
}

/// Words (and their abbreviations) that make an address part a street, not a town.
const STREET_WORDS: &[&str] = &[
    "street",
    "st",
    "road",
    "rd",
    "avenue",
    "ave",
    "lane",
    "ln",
    "drive",
    "dr",
    "place",
    "pl",
    "crescent",
    "cres",
    "terrace",
    "ter",
    "terr",
    "gardens",
    "gdns",
    "grove",
    "square",
    "sq",
    "court",
    "ct",
    "close",
    "way",
    "wynd",
    "row",
    "loan",
    "brae",
    "walk",
    "gate",
    "mews",
    "parade",
    "circus",
    "quay",
    "wharf",
    "approach",
    "vennel",
    "yards",
    "highway",
    "hwy",
    "boulevard",
    "blvd",
];

/// Whether an address part reads like a street: it has a digit (a house number) or a
/// street word ("Westbank St", "Robertson Close", "Lochend Rd South").
pub fn looks_like_street(s: &str) -> bool {
    s.chars().any(|c| c.is_ascii_digit())
        || s.split(|c: char| !c.is_alphanumeric())
            .any(|w| STREET_WORDS.contains(&w.to_lowercase().as_str()))
}

/// A locality (post town) in canonical form: cleaned, "nr"/"near" dropped, "City of X"
/// read as "X", ALL-CAPS text in title case ("KIRKLISTON" → "Kirkliston"). `None` for
/// placeholders and for text with digits (a postcode or a house number is not a town).
pub fn locality(raw: &str) -> Option<String> {
    let s = free_text(raw, ADDRESS_CHARS_MAX)?;
    // A town name is letters with a few joining marks; digits mean a postcode or a house
    // number, other punctuation means it is not a name at all.
    let town_char = |c: char| {
        c.is_alphabetic() || c == ' ' || matches!(c, '-' | '\'' | '’' | '.' | '(' | ')' | '&')
    };
    if !s.chars().all(town_char) {
        return None;
    }
    let mut s = s.as_str();
    for prefix in ["nr ", "nr. ", "near ", "city of "] {
        // `get`, not indexing: the prefix's length may fall inside a character of `s`.
        let head = s.get(..prefix.len());
        if s.len() > prefix.len() && head.is_some_and(|h| h.eq_ignore_ascii_case(prefix)) {
            s = &s[prefix.len()..];
        }
    }
    if is_region(s) || !s.chars().any(char::is_alphabetic) {
        return None;
    }
    if s.chars().any(char::is_lowercase) {
        return Some(s.to_string());
    }
    // Title case for text the source wrote in capitals. Only one-to-one case mappings are
    // applied (a few letters expand, "ᾈ" → "ἈΙ"), so the result is stable when re-read.
    let mut out = String::with_capacity(s.len());
    let mut word_start = true;
    for c in s.chars() {
        if word_start {
            out.push(c);
        } else {
            let mut lower = c.to_lowercase();
            match (lower.next(), lower.next()) {
                (Some(l), None) => out.push(l),
                _ => out.push(c),
            }
        }
        word_start = c == ' ' || c == '-';
    }
    Some(out)
}

/// One address line: cleaned free text of at most [`ADDRESS_CHARS_MAX`] characters.
pub fn address_line(raw: &str) -> Option<String> {
    free_text(raw, ADDRESS_CHARS_MAX)
}

/// Most comma-separated parts of one address looked at.
const ADDRESS_PARTS_MAX: usize = 16;

/// If the last words of `part` are a postcode ("Edinburgh EH15 1DR", "Edinburgh
/// EH112PX"), the words before it and the postcode.
fn trailing_postcode(part: &str) -> Option<(String, String)> {
    let words: Vec<&str> = part.split_whitespace().collect();
    for take in [2, 1] {
        if words.len() >= take {
            let split = words.len() - take;
            if let Some(pc) = postcode(&words[split..].join(" ")) {
                return Some((words[..split].join(" "), pc));
            }
        }
    }
    None
}

/// If `part` is a town followed by an outward code only ("Edinburgh EH3", "Kirkliston
/// EH29"), the town.
fn town_before_outward_code(part: &str) -> Option<String> {
    let (town, code) = part.rsplit_once(' ')?;
    let code = code.to_ascii_uppercase();
    (is_outward(code.as_bytes()) && !town.chars().any(|c| c.is_ascii_digit()))
        .then(|| town.to_string())
}

/// A house number on its own: digits, an optional letter, an optional "/flat" ("1", "12a",
/// "135/7").
fn is_house_number(s: &str) -> bool {
    let (number, flat) = s.split_once('/').unwrap_or((s, ""));
    let digits = number.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    number.len() - digits.len() <= 1
        && !digits.is_empty()
        && digits.chars().all(|c| c.is_ascii_digit())
        && flat.chars().all(|c| c.is_ascii_digit())
}

/// Splits a one-line UK address ("10 Westbank St, Edinburgh EH15 1DR, UK") into its street
/// lines, locality and postcode: `(["10 Westbank St"], Some("Edinburgh"), Some("EH15 1DR"))`.
///
/// Parts are separated by commas. Trailing country and region parts ("UK", "Scotland",
/// "Midlothian") are dropped. The postcode is the last part, or the end of the last part;
/// the words before it in the same part are the locality. An outward code alone ("Edinburgh
/// EH3") is dropped: it is not a postcode. Without a postcode-borne locality, the last part
/// is the locality when it does not read like a street (no digits, no street word). A part
/// that is only a house number is joined to the next ("1, New Park Square" → "1 New Park
/// Square"). The remaining parts are the lines, in order.
pub fn split_uk_address(s: &str) -> (Vec<String>, Option<String>, Option<String>) {
    let mut parts: Vec<String> = s
        .split([',', '\n'])
        .take(ADDRESS_PARTS_MAX)
        .filter_map(address_line)
        .collect();
    // Google writes some house numbers as a part of their own ("1, New Park Square").
    let mut i = 0;
    while i + 1 < parts.len() {
        if is_house_number(&parts[i]) {
            let next = parts.remove(i + 1);
            parts[i] = format!("{} {next}", parts[i]);
        }
        i += 1;
    }
    let drop_regions = |parts: &mut Vec<String>| {
        while parts.last().is_some_and(|p| is_region(p)) {
            parts.pop();
        }
    };
    drop_regions(&mut parts);
    let mut town = None;
    let mut pc = None;
    if let Some(last) = parts.last().cloned() {
        if let Some(p) = postcode(&last) {
            pc = Some(p);
            parts.pop();
        } else if let Some((before, p)) = trailing_postcode(&last) {
            pc = Some(p);
            parts.pop();
            town = locality(&before);
        } else if let Some(before) = town_before_outward_code(&last) {
            parts.pop();
            town = locality(&before);
        }
    }
    drop_regions(&mut parts);
    if town.is_none() {
        if let Some(last) = parts.last() {
            if !looks_like_street(last) {
                town = locality(last);
                if town.is_some() {
                    parts.pop();
                }
            }
        }
    }
    (parts, town, pc)
}

// ---------------------------------------------------------------------------------------
// Categories and sports
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
        let _ = ex.extract(bytes);
        let raw = serde_json::to_vec(v).unwrap();
        assert_eq!(ex.extract(&raw), ex.extract(&raw), "deterministic");
        let _ = ex.extract(&serde_json::to_vec(&wrap(v.clone())).unwrap());
        for m in mutations(template, v) {
            let raw = serde_json::to_vec(&wrap(m)).unwrap();
            let first = ex.extract(&raw);
            assert_eq!(first, ex.extract(&raw), "deterministic");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ten thousand bytes of text, for the "huge input" rows.
    fn huge(unit: &str) -> String {
        unit.repeat(10_240 / unit.len().max(1))
    }

    #[test]
    fn phone_numbers_become_e164() {
        let rows: &[(&str, Option<&str>)] = &[
            ("0131 496 0123", Some("+441314960123")),
            ("+44 131 496 0123", Some("+441314960123")),
            ("(0131) 4960123", Some("+441314960123")),
            ("0044 131 496 0123", Some("+441314960123")),
            ("+44 (0)131 496 0123", Some("+441314960123")),
            ("+44 (0) 131-496-0123", Some("+441314960123")),
            ("07700 900123", Some("+447700900123")),
            ("+44 7700 900123", Some("+447700900123")),
            ("441314960123", Some("+441314960123")),
            ("Tel: 0131 496 0123", Some("+441314960123")),
            ("0131 496 0123 ext 12", Some("+441314960123")),
            ("0131 496 0123x12", Some("+441314960123")),
            ("0131 496 0123 / 07700 900123", Some("+441314960123")),
            ("0131 496 0123, 0131 496 0124", Some("+441314960123")),
            ("0131.496.0123", Some("+441314960123")),
            ("0131\u{a0}496\u{a0}0123", Some("+441314960123")),
            ("0800 123456", Some("+44800123456")),
            ("0800 123 4567", Some("+448001234567")),
            ("+1 212 555 0100", Some("+12125550100")),
            ("+353 1 234 5678", Some("+35312345678")),
            ("0033 1 23 45 67 89", Some("+33123456789")),
            ("📞 0131 496 0123", Some("+441314960123")),
            ("0131", None),
            ("496 0123", None),
            ("131 496 0123", None),
            ("+44 131 496 012", None),
            ("0131 496 01234", None),
            ("0131 496 O123", None),
            ("0000 000 0000", None),
            ("+0 123 456 789", None),
            ("+1 23", None),
            ("", None),
            ("n/a", None),
            ("'; DROP TABLE places; --", None),
            ("Closed until 2025", None),
            ("a very long label before the number 0131 496 0123", None),
            ("\u{FFFD}\u{FFFD}", None),
        ];
        for (raw, want) in rows {
            assert_eq!(phone_e164(raw).as_deref(), *want, "{raw:?}");
        }
        assert_eq!(phone_e164(&huge("0")), None);
        assert_eq!(phone_e164(&huge("0131 496 0123 ")), None);
    }

    #[test]
    fn postcodes_are_validated_and_canonical() {
        let rows: &[(&str, Option<&str>)] = &[
            ("eh15 1dr", Some("EH15 1DR")),
            ("EH151DR", Some("EH15 1DR")),
            (" EH15  1DR ", Some("EH15 1DR")),
            ("EH76BB", Some("EH7 6BB")),
            ("eh15 2nd", Some("EH15 2ND")),
            ("EH1 3AD", Some("EH1 3AD")),
            ("W1A 1AA", Some("W1A 1AA")),
            ("EC1A 1BB", Some("EC1A 1BB")),
            ("M1 1AE", Some("M1 1AE")),
            ("B33 8TH", Some("B33 8TH")),
            ("CR2 6XH", Some("CR2 6XH")),
            ("DN55 1PT", Some("DN55 1PT")),
            ("gir 0aa", Some("GIR 0AA")),
            ("EH15", None),
            ("EH15 1", None),
            ("EH15 1CI", None),
            ("QH15 1DR", None),
            ("EI15 1DR", None),
            ("EH15 DR1", None),
            ("W1I 1AA", None),
            ("12345", None),
            ("NA", None),
            ("", None),
            ("EH15 1DR'; DROP TABLE x", None),
            ("ЕН15 1DR", None),
            ("EH15 1DR 🎾", None),
        ];
        for (raw, want) in rows {
            assert_eq!(postcode(raw).as_deref(), *want, "{raw:?}");
        }
        assert_eq!(postcode(&huge("EH15 1DR ")), None);
    }

    #[test]
    fn postcode_sectors() {
        let rows: &[(&str, Option<&str>)] = &[
            ("EH15 1DR", Some("EH15 1")),
            ("eh151dr", Some("EH15 1")),
            ("EH7 6BB", Some("EH7 6")),
            ("W1A 1AA", Some("W1A 1")),
            ("GIR 0AA", Some("GIR 0")),
            ("EH15", None),
            ("", None),
            ("not a postcode", None),
        ];
        for (raw, want) in rows {
            assert_eq!(postcode_sector(raw).as_deref(), *want, "{raw:?}");
        }
    }

    #[test]
    fn websites_are_canonical() {
        let rows: &[(&str, Option<&str>)] = &[
            ("powerleague.com", Some("https://powerleague.com/")),
            (
                "www.powerleague.com/club/edinburgh-portobello/",
                Some("https://www.powerleague.com/club/edinburgh-portobello"),
            ),
            (
                "HTTPS://WWW.Powerleague.COM/Club/X",
                Some("https://www.powerleague.com/Club/X"),
            ),
            ("http://example.com:80/a", Some("http://example.com/a")),
            ("https://example.com:443", Some("https://example.com/")),
            (
                "https://example.com:8443/a",
                Some("https://example.com:8443/a"),
            ),
            (
                "https://example.com/a?utm_source=x&id=3&gclid=1#top",
                Some("https://example.com/a?id=3"),
            ),
            (
                "https://example.com/?fbclid=abc&ref=home",
                Some("https://example.com/"),
            ),
            (
                "https://www.instagram.com/thistlepadel/?hl=en",
                Some("https://www.instagram.com/thistlepadel?hl=en"),
            ),
            ("//cdn.example.com/x", Some("https://cdn.example.com/x")),
            ("https://example.com./", Some("https://example.com/")),
            ("https://example.co.uk//", Some("https://example.co.uk/")),
            ("https://münchen.de/", Some("https://münchen.de/")),
            ("mailto:info@example.com", None),
            ("javascript:alert(1)", None),
            ("ftp://example.com/file", None),
            ("https://localhost/", None),
            ("https://user:pw@example.com/", None),
            ("https://example.com:99999/", None),
            ("https://exa mple.com/", None),
            ("https://-bad-.com/", None),
            ("https://example.123/", None),
            ("http://192.168.1.10/", Some("http://192.168.1.10/")),
            ("'; DROP TABLE places; --", None),
            ("🎾.com", None),
            ("", None),
            ("n/a", None),
        ];
        for (raw, want) in rows {
            assert_eq!(website(raw).as_deref(), *want, "{raw:?}");
        }
        assert_eq!(website(&format!("https://example.com/{}", huge("a"))), None);
    }

    #[test]
    fn website_hosts_drop_www() {
        let rows: &[(&str, Option<&str>)] = &[
            (
                "https://www.powerleague.com/club/x",
                Some("powerleague.com"),
            ),
            ("powerleague.com", Some("powerleague.com")),
            ("http://WWW.Example.co.uk:8080/a", Some("example.co.uk")),
            ("https://www2.example.com", Some("www2.example.com")),
            (
                "https://edinburghleisure.co.uk/venues?x=1",
                Some("edinburghleisure.co.uk"),
            ),
            ("mailto:a@b.com", None),
            ("", None),
            ("not a url", None),
        ];
        for (raw, want) in rows {
            assert_eq!(website_host(raw).as_deref(), *want, "{raw:?}");
        }
    }

    #[test]
    fn emails() {
        let rows: &[(&str, Option<&str>)] = &[
            ("info@mortonhallgc.co.uk", Some("info@mortonhallgc.co.uk")),
            (" Info@MortonhallGC.co.uk ", Some("Info@mortonhallgc.co.uk")),
            ("mailto:a@b.com", Some("a@b.com")),
            ("a@b", None),
            ("@b.com", None),
            ("a@@b.com", None),
            ("a b@c.com", None),
            ("'; DROP TABLE x; --@evil.com", None),
            ("", None),
        ];
        for (raw, want) in rows {
            assert_eq!(email(raw).as_deref(), *want, "{raw:?}");
        }
    }

    #[test]
    fn display_names_are_cleaned() {
        let long = "x".repeat(NAME_CHARS_MAX + 1);
        let rows: &[(&str, Option<&str>)] = &[
            (
                "  Powerleague   Portobello ",
                Some("Powerleague Portobello"),
            ),
            ("Powerleague\tPortobello\n", Some("Powerleague Portobello")),
            ("Power\u{0}league\u{7}", Some("Powerleague")),
            ("Caf\u{FFFD} Royal", Some("Caf Royal")),
            ("Zero\u{200B}width", Some("Zerowidth")),
            ("ALLISON PARK", Some("ALLISON PARK")),
            ("Café Ñandú", Some("Café Ñandú")),
            (
                "Bob's '; DROP TABLE places; --",
                Some("Bob's '; DROP TABLE places; --"),
            ),
            ("🎾 Tennis Club 🎾", Some("🎾 Tennis Club 🎾")),
            ("", None),
            ("   ", None),
            ("N/A", None),
            ("n/a", None),
            ("-", None),
            ("—", None),
            ("Unknown", None),
            ("null", None),
            ("🎾🎾", None),
            ("\u{FFFD}", None),
            (long.as_str(), None),
        ];
        for (raw, want) in rows {
            assert_eq!(display_name(raw).as_deref(), *want, "{raw:?}");
        }
        assert_eq!(display_name(&huge("ab ")), None);
    }

    #[test]
    fn free_text_is_cut_at_its_limit() {
        assert_eq!(free_text("  a  b ", 10).as_deref(), Some("a b"));
        assert_eq!(free_text("abcdefghij", 5).as_deref(), Some("abcd…"));
        assert_eq!(free_text("ab cdefghij", 4).as_deref(), Some("ab…"));
        assert_eq!(free_text("N/A", 10), None);
        let cut = free_text(&huge("é"), TEXT_CHARS_MAX).unwrap();
        assert_eq!(cut.chars().count(), TEXT_CHARS_MAX);
        assert!(cut.ends_with('…'));
    }

    #[test]
    fn name_keys_fold_case_accents_and_company_words() {
        let rows: &[(&str, &str)] = &[
            ("Powerleague Portobello", "powerleague portobello"),
            (
                "The Royal Burgess Golfing Society Ltd.",
                "royal burgess golfing society",
            ),
            ("Bowling & Tennis Club", "bowling and tennis club"),
            ("King's Acre Golf Club", "kings acre golf club"),
            ("King’s Acre", "kings acre"),
            ("Heriot-Watt University F.C.", "heriot watt university fc"),
            ("St. Serfs Lawn Tennis Club", "st serfs lawn tennis club"),
            (
                "Café Ñandú Łódź Œuvre Straße",
                "cafe nandu lodz oeuvre strasse",
            ),
            ("ÆRØSKØBING Þór", "aeroskobing thor"),
            (
                "ALLISON PARK - FOOTBALL (7-A-SIDE)",
                "allison park football 7 a side",
            ),
            (
                "Edinburgh Sports Club Limited PLC LLP",
                "edinburgh sports club",
            ),
            ("'; DROP TABLE places; --", "drop table places"),
            ("🎾 Tennis 🎾", "tennis"),
            ("Caf\u{FFFD} Royal", "caf royal"),
            ("  \t ", ""),
            ("The", ""),
            ("東京 Dome", "東京 dome"),
        ];
        for (raw, want) in rows {
            assert_eq!(name_key(raw), *want, "{raw:?}");
        }
        assert_eq!(
            name_tokens("The Powerleague (Portobello)"),
            vec!["powerleague", "portobello"]
        );
        assert!(name_tokens("").is_empty());
        assert_eq!(name_key(&huge("ab ")), "ab ".repeat(10_240 / 3).trim_end());
    }

    #[test]
    fn coordinates_are_checked_and_rounded() {
        let ok = |lat: f64, lon: f64| coordinates(lat, lon).ok();
        assert_eq!(
            ok(55.95655889562928, -3.1193233798286606),
            Some((55.9565589, -3.1193234))
        );
        assert_eq!(ok(90.0, 180.0), Some((90.0, 180.0)));
        assert_eq!(ok(-90.0, -180.0), Some((-90.0, -180.0)));
        assert_eq!(ok(0.0, 1.0), Some((0.0, 1.0)));
        assert_eq!(ok(-0.00000001, 1.0), Some((0.0, 1.0)));
        assert_eq!(ok(0.0, 0.0), None);
        assert_eq!(ok(90.0001, 0.0), None);
        assert_eq!(ok(0.0, -180.5), None);
        assert_eq!(ok(f64::NAN, 1.0), None);
        assert_eq!(ok(1.0, f64::INFINITY), None);
        assert_eq!(ok(330210.0, 674292.0), None);
        assert!(coordinates(0.0, 0.0).unwrap_err().contains("null island"));
    }

    #[test]
    fn localities() {
        let rows: &[(&str, Option<&str>)] = &[
            ("Edinburgh", Some("Edinburgh")),
            ("EDINBURGH", Some("Edinburgh")),
            ("NR EDINBURGH", Some("Edinburgh")),
            ("SOUTH QUEENSFERRY", Some("South Queensferry")),
            ("City of Edinburgh", Some("Edinburgh")),
            ("  Kirkliston ", Some("Kirkliston")),
            ("Scotland", None),
            ("EH15", None),
            ("75 James Dewar Road", None),
            ("n/a", None),
        ];
        for (raw, want) in rows {
            assert_eq!(locality(raw).as_deref(), *want, "{raw:?}");
        }
    }

    #[test]
    fn uk_addresses_split_into_lines_locality_and_postcode() {
        type Row<'a> = (&'a str, &'a [&'a str], Option<&'a str>, Option<&'a str>);
        let rows: &[Row] = &[
            (
                "10 Westbank St, Edinburgh EH15 1DR, UK",
                &["10 Westbank St"],
                Some("Edinburgh"),
                Some("EH15 1DR"),
            ),
            (
                "Abercorn Cres, Edinburgh EH8 7HZ",
                &["Abercorn Cres"],
                Some("Edinburgh"),
                Some("EH8 7HZ"),
            ),
            (
                "9 Wheatfield Rd, Edinburgh EH112PX, UK",
                &["9 Wheatfield Rd"],
                Some("Edinburgh"),
                Some("EH11 2PX"),
            ),
            (
                "Edinburgh EH27 8EB, UK",
                &[],
                Some("Edinburgh"),
                Some("EH27 8EB"),
            ),
            (
                "19 Watertoun Rd, Edinburgh EH9, UK",
                &["19 Watertoun Rd"],
                Some("Edinburgh"),
                None,
            ),
            (
                "Todshill Rd, Kirkliston EH29",
                &["Todshill Rd"],
                Some("Kirkliston"),
                None,
            ),
            (
                "Roddinglaw Rd, Newbridge EH28 8NN, UK",
                &["Roddinglaw Rd"],
                Some("Newbridge"),
                Some("EH28 8NN"),
            ),
            (
                "BIRCHLEA, 33 OLD CRAIGHALL, MUSSELBURGH, MIDLOTHIAN, EH21 8SE",
                &["BIRCHLEA", "33 OLD CRAIGHALL"],
                Some("Musselburgh"),
                Some("EH21 8SE"),
            ),
            (
                "St James Square, Edinburgh, EH1 3AD",
                &["St James Square"],
                Some("Edinburgh"),
                Some("EH1 3AD"),
            ),
            ("10 Westbank Street", &["10 Westbank Street"], None, None),
            ("Edinburgh, UK", &[], Some("Edinburgh"), None),
            (
                "1, New Park Square, Edinburgh Park, Edinburgh EH12 9GR, UK",
                &["1 New Park Square", "Edinburgh Park"],
                Some("Edinburgh"),
                Some("EH12 9GR"),
            ),
            (
                "135/7, Duddingston Rd West, Edinburgh EH15 3QD",
                &["135/7 Duddingston Rd West"],
                Some("Edinburgh"),
                Some("EH15 3QD"),
            ),
            (
                "12a, Lee Crescent, Edinburgh",
                &["12a Lee Crescent"],
                Some("Edinburgh"),
                None,
            ),
            ("", &[], None, None),
            (
                "'; DROP TABLE places; --",
                &["'; DROP TABLE places; --"],
                None,
                None,
            ),
        ];
        for (raw, lines, town, pc) in rows {
            let (l, t, p) = split_uk_address(raw);
            assert_eq!(l, lines.to_vec(), "{raw:?}");
            assert_eq!(t.as_deref(), *town, "{raw:?}");
            assert_eq!(p.as_deref(), *pc, "{raw:?}");
        }
        let (l, _, _) = split_uk_address(&huge("a, "));
        assert!(l.len() <= ADDRESS_PARTS_MAX);
    }

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
        let long = huge("football pitch ");
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

        /// Every normaliser is total, and its output is a fixed point: normalising a
        /// canonical value changes nothing.
        #[test]
        fn normalisers_are_total_and_idempotent(s in "\\PC{0,40}|[0-9 +()EHeh]{0,20}|https?://[a-z.]{0,12}/[a-z/?=&_]{0,12}") {
            if let Some(p) = phone_e164(&s) {
                proptest::prop_assert_eq!(phone_e164(&p), Some(p.clone()));
            }
            if let Some(p) = postcode(&s) {
                proptest::prop_assert_eq!(postcode(&p), Some(p.clone()));
                proptest::prop_assert!(postcode_sector(&p).is_some());
            }
            if let Some(w) = website(&s) {
                proptest::prop_assert_eq!(website(&w), Some(w.clone()));
                proptest::prop_assert!(website_host(&w).is_some());
            }
            if let Some(n) = display_name(&s) {
                proptest::prop_assert_eq!(display_name(&n), Some(n.clone()));
            }
            let key = name_key(&s);
            proptest::prop_assert_eq!(name_key(&key), key.clone());
            proptest::prop_assert_eq!(name_tokens(&s).join(" "), key);
            if let Some(l) = locality(&s) {
                proptest::prop_assert_eq!(locality(&l), Some(l.clone()));
            }
            let _ = (email(&s), free_text(&s, 5), split_uk_address(&s), looks_like_street(&s));
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
