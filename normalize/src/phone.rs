//! Phone numbers, read with libphonenumber's metadata (the `phonenumber` crate): every
//! country's numbering plan, rather than rules written by hand for one country.
//!
//! A number is read in a *region*: the country whose national format a record without a
//! country code is written in ("0131 496 0123" is British in GB, "(212) 555-0100" American
//! in US). A valid number comes out in E.164 (`+441314960123`); anything else is kept as
//! the source wrote it, with the reason it is not a valid number ([`Phone::Invalid`]), so
//! that nothing a source said is silently dropped.
//!
//! The matcher compares numbers by [`key`], which reads E.164 text alone and never the
//! metadata: which records are one place must not change when the metadata is updated.

use std::fmt;
use std::str::FromStr;

use phonenumber::country::Id;

use crate::text::{clean_text, is_placeholder};

/// Longest raw phone text read, in bytes: the longest real formatting of an E.164 number
/// with a label and an extension is far below this. Longer text is not a phone number
/// (kept, as written, up to this length, with that reason).
pub const PHONE_BYTES_MAX: usize = 100;

/// Longest label allowed before a number ("Tel: ", "Phone - "), in characters.
const PHONE_LABEL_CHARS_MAX: usize = 20;

/// Fewest and most digits of an E.164 number (country code included). The shortest real
/// numbers (Niue, St Helena) have 7; E.164 allows 15.
const E164_DIGITS: std::ops::RangeInclusive<usize> = 7..=15;

/// The country a source writes its national numbers for: an ISO 3166-1 alpha-2 code that
/// libphonenumber knows ("GB", "US", "FR"; "UK" is read as GB).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Region(Id);

impl Region {
    /// Great Britain (the United Kingdom's numbering plan): the region of the six shipped
    /// connectors.
    pub const GB: Region = Region(Id::GB);

    /// The two-letter code ("GB").
    pub fn code(&self) -> &str {
        self.0.as_ref()
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A region code that is not a country libphonenumber knows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownRegion(pub String);

impl fmt::Display for UnknownRegion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown region '{}': give a two-letter country code (ISO 3166-1 alpha-2) such as GB, US, FR or DE",
            self.0
        )
    }
}

impl std::error::Error for UnknownRegion {}

impl FromStr for Region {
    type Err = UnknownRegion;

    /// Case-insensitive; "UK" (the common misspelling) is GB.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let code = s.trim().to_ascii_uppercase();
        let code = if code == "UK" { "GB".to_string() } else { code };
        if code.len() != 2 || !code.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(UnknownRegion(s.to_string()));
        }
        code.parse::<Id>()
            .map(Region)
            .map_err(|_| UnknownRegion(s.to_string()))
    }
}

/// Why a text is not a valid phone number. `Display` is the reason provenance shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PhoneProblem {
    /// Longer than [`PHONE_BYTES_MAX`].
    TooLong { bytes: usize },
    /// More than a short label before the first digit: a sentence, not a number.
    TextBeforeNumber,
    /// A national number (no `+` or international prefix) and no region to read it in.
    NoRegion,
    /// libphonenumber could not read it (its message).
    Unreadable(String),
    /// Read, but no country's plan has such a number (wrong length, unassigned range).
    NotValid { region: Option<Region> },
}

impl fmt::Display for PhoneProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PhoneProblem::TooLong { bytes } => write!(
                f,
                "{bytes} bytes is longer than any phone number (PHONE_BYTES_MAX = {PHONE_BYTES_MAX})"
            ),
            PhoneProblem::TextBeforeNumber => write!(
                f,
                "more than a label of {PHONE_LABEL_CHARS_MAX} characters before the first digit: not a phone number"
            ),
            PhoneProblem::NoRegion => f.write_str(
                "a national number without a country code, and the source has no region to read it in (set `region` for the source in the trust policy, or import with --region)",
            ),
            PhoneProblem::Unreadable(why) => write!(f, "not a phone number: {why}"),
            PhoneProblem::NotValid { region: Some(r) } => write!(
                f,
                "not a valid number (read as written in {r}: no such number in that country's plan, or in the plan of the country code it gives)"
            ),
            PhoneProblem::NotValid { region: None } => f.write_str(
                "not a valid number (no such number in the plan of the country code it gives)",
            ),
        }
    }
}

impl std::error::Error for PhoneProblem {}

/// What a source's phone text is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Phone {
    /// A valid number, in E.164.
    E164(String),
    /// Not a valid number: the text as the source wrote it (cleaned), and why.
    Invalid { raw: String, problem: PhoneProblem },
}

impl Phone {
    /// What a candidate keeps: the E.164 form, or the raw text.
    pub fn text(&self) -> &str {
        match self {
            Phone::E164(s) => s,
            Phone::Invalid { raw, .. } => raw,
        }
    }

    /// Consumes it into [`Phone::text`].
    pub fn into_text(self) -> String {
        match self {
            Phone::E164(s) => s,
            Phone::Invalid { raw, .. } => raw,
        }
    }
}

/// Reads a source's phone text in `region`: `None` when there is no number at all (empty,
/// a placeholder such as "N/A", no digit); else [`Phone::E164`] or [`Phone::Invalid`].
pub fn read(raw: &str, region: Option<Region>) -> Option<Phone> {
    let cut = crate::text::clip(raw, PHONE_BYTES_MAX * 4);
    let cleaned = clean_text(cut);
    if is_placeholder(&cleaned) || !cleaned.bytes().any(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(match parse(raw, region) {
        Ok(e164) => Phone::E164(e164),
        Err(problem) => Phone::Invalid {
            raw: crate::text::clip(&cleaned, PHONE_BYTES_MAX).to_string(),
            problem,
        },
    })
}

/// A phone number in E.164 (`+441314960123`), or why it is not one.
///
/// 1. A short label without digits may come first ("Tel: 0131 ..."); the number is the run
///    of digits, spaces, `-`, `.`, `(`, `)`, a `/` between two digits ("212/555-0100") and
///    a leading `+` that follows. It ends at the first other character, so an extension
///    ("ext 12", "x12", "#12"), a remark or a second number (", 0131 ...", " / 07700 ...")
///    is left out, and letters are never read as digits.
/// 2. With `+` or `00` before it, the number carries its country code; otherwise it is a
///    national number of `region` (none: [`PhoneProblem::NoRegion`]). libphonenumber reads
///    it ("+44 (0)131 ..." drops the trunk 0; "44 131 ..." in GB is read with its code).
/// 3. The number must be valid in its country's plan (length and assigned ranges).
pub fn parse(raw: &str, region: Option<Region>) -> Result<String, PhoneProblem> {
    if raw.len() > PHONE_BYTES_MAX {
        return Err(PhoneProblem::TooLong { bytes: raw.len() });
    }
    let Some(start) = raw.find(|c: char| c.is_ascii_digit() || c == '+') else {
        return Err(PhoneProblem::Unreadable("no digits".into()));
    };
    if raw[..start].chars().count() > PHONE_LABEL_CHARS_MAX {
        return Err(PhoneProblem::TextBeforeNumber);
    }
    let number = number_run(&raw[start..]);
    let digits: String = number.chars().filter(char::is_ascii_digit).collect();
    if digits.is_empty() {
        return Err(PhoneProblem::Unreadable("no digits".into()));
    }
    let international = number.starts_with('+') || digits.starts_with("00");
    let text = if number.starts_with('+') {
        format!("+{digits}")
    } else if let Some(rest) = digits.strip_prefix("00").filter(|_| region.is_none()) {
        // "00" is the international prefix of most of the world; with a region,
        // libphonenumber knows that region's own (011 in North America).
        format!("+{rest}")
    } else {
        number.to_string()
    };
    if !international && region.is_none() {
        return Err(PhoneProblem::NoRegion);
    }
    // A number written with its country code is read without a region: the `phonenumber`
    // crate misreads some ("+33 1 45 48 55 26" read in US is not valid).
    let read_in = if text.starts_with('+') { None } else { region };
    let parsed = phonenumber::parse(read_in.map(|r| r.0), &text)
        .map_err(|e| PhoneProblem::Unreadable(e.to_string()))?;
    if !phonenumber::is_valid(&parsed) {
        return Err(PhoneProblem::NotValid { region });
    }
    let e164 = parsed.format().mode(phonenumber::Mode::E164).to_string();
    if !is_e164(&e164) {
        return Err(PhoneProblem::NotValid { region });
    }
    Ok(e164)
}

/// The leading run of `s` that is one phone number (see [`parse`], rule 1).
fn number_run(s: &str) -> &str {
    let bytes = s.as_bytes();
    let mut end = 0;
    for (i, c) in s.char_indices() {
        let ok = match c {
            '+' => i == 0,
            '0'..='9' | '-' | '.' | '(' | ')' => true,
            '/' => {
                i > 0
                    && bytes[i - 1].is_ascii_digit()
                    && bytes.get(i + 1).is_some_and(u8::is_ascii_digit)
            }
            c if c.is_whitespace() => true,
            _ => false,
        };
        if !ok {
            break;
        }
        end = i + c.len_utf8();
    }
    s[..end].trim_end()
}

/// Why a phone value that a candidate holds is not E.164, for provenance. Extraction keeps
/// a number as written only when it did not read as a valid number in the source's region,
/// which the value alone does not record: a number written with its country code is read
/// again to say exactly what is wrong; a national one is described as such.
pub fn why_kept(raw: &str) -> String {
    let international = raw.trim_start().starts_with('+') || {
        let digits: String = raw.chars().filter(char::is_ascii_digit).take(2).collect();
        digits == "00" && raw.trim_start().starts_with('0')
    };
    let detail = if international {
        match parse(raw, None) {
            Err(problem) => problem.to_string(),
            Ok(_) => "read as a valid number now, but not by the extractor that recorded it".into(),
        }
    } else {
        "a national number that is not valid in the region its source's numbers were read in \
         (the connector's, `region` in the trust policy, or the import's --region)"
            .into()
    };
    format!("kept as the source wrote it: {detail}")
}

/// Whether `s` is E.164 text: `+`, then 7 to 15 digits, the first not 0. Syntax only.
pub fn is_e164(s: &str) -> bool {
    match s.strip_prefix('+') {
        Some(d) => {
            E164_DIGITS.contains(&d.len())
                && d.bytes().all(|b| b.is_ascii_digit())
                && !d.starts_with('0')
        }
        None => false,
    }
}

/// The number an E.164 text names, as an integer (country code and national number, at
/// most 15 digits, so it fits): what the matcher compares and blocks on. `None` for
/// anything that is not E.164 text, such as an invalid number kept as written. Reads the
/// text alone, never libphonenumber's metadata (see the module docs).
pub fn key(s: &str) -> Option<u64> {
    if !is_e164(s) {
        return None;
    }
    s[1..].parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gb() -> Option<Region> {
        Some(Region::GB)
    }

    fn region(code: &str) -> Option<Region> {
        Some(code.parse().unwrap())
    }

    #[test]
    fn numbers_of_any_country_become_e164_in_their_region() {
        let rows: &[(&str, Option<Region>, Option<&str>)] = &[
            // Great Britain, every common spelling.
            ("0131 496 0123", gb(), Some("+441314960123")),
            ("+44 131 496 0123", gb(), Some("+441314960123")),
            ("(0131) 4960123", gb(), Some("+441314960123")),
            ("0044 131 496 0123", gb(), Some("+441314960123")),
            ("+44 (0)131 496 0123", gb(), Some("+441314960123")),
            ("+44 (0) 131-496-0123", gb(), Some("+441314960123")),
            ("441314960123", gb(), Some("+441314960123")),
            ("Tel: 0131 496 0123", gb(), Some("+441314960123")),
            ("0131 496 0123 ext 12", gb(), Some("+441314960123")),
            ("0131 496 0123x12", gb(), Some("+441314960123")),
            ("0131 496 0123 / 0131 496 0124", gb(), Some("+441314960123")),
            ("0131 496 0123, 0131 496 0124", gb(), Some("+441314960123")),
            ("0131.496.0123", gb(), Some("+441314960123")),
            ("0131\u{a0}496\u{a0}0123", gb(), Some("+441314960123")),
            ("07400 123456", gb(), Some("+447400123456")),
            ("0800 123456", gb(), Some("+44800123456")),
            ("020 7946 0958", gb(), Some("+442079460958")),
            ("📞 0131 496 0123", gb(), Some("+441314960123")),
            // The United States: the spellings, in their region.
            ("212/555-0100", region("US"), Some("+12125550100")),
            ("(212) 555-0100", region("US"), Some("+12125550100")),
            ("212.555.0100", region("US"), Some("+12125550100")),
            ("+1 212 555 0100", region("US"), Some("+12125550100")),
            ("1 (212) 555-0100", region("us"), Some("+12125550100")),
            // France, Germany, Ireland, Japan, Australia.
            ("01 42 68 53 00", region("FR"), Some("+33142685300")),
            ("+33 1 42 68 53 00", gb(), Some("+33142685300")),
            ("0033 1 42 68 53 00", gb(), Some("+33142685300")),
            ("030 901820", region("DE"), Some("+4930901820")),
            ("(01) 234 5678", region("IE"), Some("+35312345678")),
            ("03-3224-9999", region("JP"), Some("+81332249999")),
            ("(02) 9374 4000", region("AU"), Some("+61293744000")),
            // With a country code, the region does not matter.
            ("+353 1 234 5678", None, Some("+35312345678")),
            ("+1 212 555 0100", gb(), Some("+12125550100")),
            ("+33 1 45 48 55 26", region("US"), Some("+33145485526")),
            ("0044 131 496 0123", None, Some("+441314960123")),
        ];
        for (raw, region, want) in rows {
            assert_eq!(
                parse(raw, *region).ok().as_deref(),
                *want,
                "{raw:?} in {region:?}"
            );
        }
    }

    #[test]
    fn what_is_not_a_valid_number_says_why() {
        let rows: &[(&str, Option<Region>, &str)] = &[
            ("0131", gb(), "not a valid number"),
            ("496 0123", gb(), "not a valid number"),
            ("+44 131 496 012", gb(), "not a valid number"),
            ("0131 496 01234", gb(), "not a valid number"),
            // A letter ends the number: "O" is never read as a digit.
            ("0131 496 O123", gb(), "not a valid number"),
            ("+1 23", None, "not a valid number"),
            ("212 555 0100", gb(), "read as written in GB"),
            ("0131 496 0123", None, "no region to read it in"),
            ("(212) 555-0100", None, "no region to read it in"),
            ("+0 123 456 789", None, "not a phone number"),
            ("Closed until 2025", gb(), "not a valid number"),
            (
                "a very long label before the number 0131 496 0123",
                gb(),
                "before the first digit",
            ),
        ];
        for (raw, region, why) in rows {
            let problem = parse(raw, *region).expect_err(raw);
            assert!(
                problem.to_string().contains(why),
                "{raw:?}: {problem} does not say {why:?}"
            );
        }
        let huge = "0131 496 0123 ".repeat(700);
        assert!(matches!(
            parse(&huge, gb()),
            Err(PhoneProblem::TooLong { .. })
        ));
    }

    #[test]
    fn read_keeps_invalid_numbers_as_written_and_drops_only_non_numbers() {
        assert_eq!(
            read(" 0131  496 0123 ", gb()),
            Some(Phone::E164("+441314960123".into()))
        );
        let Some(Phone::Invalid { raw, problem }) = read("0131 496 012", gb()) else {
            panic!("an invalid number is kept");
        };
        assert_eq!(raw, "0131 496 012");
        assert_eq!(problem, PhoneProblem::NotValid { region: gb() });
        for nothing in ["", "  ", "N/A", "none", "call us", "\u{FFFD}\u{FFFD}"] {
            assert_eq!(read(nothing, gb()), None, "{nothing:?}");
        }
        let long = "9".repeat(10_000);
        let Some(Phone::Invalid { raw, .. }) = read(&long, gb()) else {
            panic!("kept");
        };
        assert!(raw.len() <= PHONE_BYTES_MAX);
    }

    #[test]
    fn a_kept_number_says_why_from_its_text() {
        assert!(why_kept("0131 496 012").contains("national number that is not valid"));
        assert!(why_kept("+44 131 496 012").contains("not a valid number"));
        assert!(why_kept("+44 131 496 012").starts_with("kept as the source wrote it"));
    }

    #[test]
    fn regions_are_country_codes() {
        assert_eq!("gb".parse::<Region>(), Ok(Region::GB));
        assert_eq!("UK".parse::<Region>(), Ok(Region::GB));
        assert_eq!(
            "US".parse::<Region>().map(|r| r.to_string()),
            Ok("US".into())
        );
        for bad in ["", "XX", "USA", "G", "1A", "ÉÉ"] {
            let e = bad.parse::<Region>().expect_err(bad);
            assert!(e.to_string().contains("two-letter country code"), "{e}");
        }
    }

    #[test]
    fn keys_read_e164_text_alone() {
        assert_eq!(key("+441314960123"), Some(441_314_960_123));
        assert_eq!(key("+12125550100"), Some(12_125_550_100));
        for not in [
            "0131 496 0123",
            "+44 131 496 0123",
            "+0123456789",
            "+123456",
            "",
            "+",
        ] {
            assert_eq!(key(not), None, "{not:?}");
        }
        assert!(key("+999999999999999").is_some(), "15 digits fit");
        assert_eq!(key("+9999999999999999"), None, "16 digits are not E.164");
    }
}
