//! Postcodes: the UK's, checked against its grammar, and other countries' by their region.

use crate::phone::Region;

/// Letters allowed in the two places of the inward code (the last three characters).
const INWARD_LETTERS: &[u8] = b"ABDEFGHJLNPQRSTUWXYZ";

fn is_inward(s: &[u8]) -> bool {
    matches!(s, [d, a, b] if d.is_ascii_digit() && INWARD_LETTERS.contains(a) && INWARD_LETTERS.contains(b))
}

/// Whether `s` (uppercase, no spaces) is an outward code: A9, A99, AA9, AA99, A9A or AA9A,
/// with the Royal Mail's letter restrictions (first letter not Q, V, X; second not I, J, Z;
/// the letter in A9A from ABCDEFGHJKPSTUW; in AA9A from ABEHMNPRVWXY).
pub fn is_outward(s: &[u8]) -> bool {
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
/// A postal code as written in `region`: the UK's grammar for GB (and when the region is
/// unknown: every shipped source is British), US ZIP codes ("02134", "02134-1234"), and for
/// other regions any code of 3 to 10 letters, digits, spaces and hyphens with a digit in it
/// (uppercased, spaces collapsed): countries' formats vary too much to check each here,
/// and a code is compared whole.
pub fn postcode_in(raw: &str, region: Option<Region>) -> Option<String> {
    match region.as_ref().map(Region::code) {
        None | Some("GB" | "GG" | "JE" | "IM") => postcode(raw),
        Some("US") => {
            let s = raw.trim();
            let (five, plus4) = match s.split_once('-') {
                Some((a, b)) => (a.trim(), Some(b.trim())),
                None => (s, None),
            };
            let digits = |t: &str, n: usize| t.len() == n && t.bytes().all(|b| b.is_ascii_digit());
            match plus4 {
                None if digits(five, 5) => Some(five.to_string()),
                Some(p) if digits(five, 5) && digits(p, 4) => Some(format!("{five}-{p}")),
                _ => None,
            }
        }
        Some(_) => {
            let s: Vec<&str> = raw.split_whitespace().collect();
            let s = s.join(" ").to_ascii_uppercase();
            let ok = (3..=10).contains(&s.len())
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b' ' || b == b'-')
                && s.bytes().any(|b| b.is_ascii_digit());
            ok.then_some(s)
        }
    }
}

/// A postcode packed for comparison: uppercase letters and digits only (at most 8), so
/// "eh15 1lw" and "EH151LW" agree, with where a UK postcode's outward code ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PostcodeKey {
    /// The characters, 8 bits each, first character highest.
    pub full: u64,
    /// Length of the outward code, 0 when the postcode is not UK-shaped.
    pub outward_len: u8,
    /// Number of characters.
    pub len: u8,
}

impl PostcodeKey {
    /// The key of a postcode as a candidate holds it; `None` for fewer than 4 or more than
    /// 8 letters and digits.
    pub fn of(postcode: &str) -> Option<PostcodeKey> {
        let chars: Vec<u8> = postcode
            .bytes()
            .take(64)
            .filter(u8::is_ascii_alphanumeric)
            .map(|b| b.to_ascii_uppercase())
            .take(9)
            .collect();
        if chars.len() < 4 || chars.len() > 8 {
            return None;
        }
        let mut packed = 0u64;
        for &b in &chars {
            packed = (packed << 8) | u64::from(b);
        }
        // A UK postcode ends in its inward code, digit letter letter ("1LW"); everything
        // before it is the outward code ("EH15"), and the outward code plus the inward
        // digit is the sector ("EH15 1"). Other postcodes only compare whole.
        let n = chars.len();
        let uk = n >= 5
            && chars[n - 3].is_ascii_digit()
            && chars[n - 2].is_ascii_alphabetic()
            && chars[n - 1].is_ascii_alphabetic()
            && chars[0].is_ascii_alphabetic();
        Some(PostcodeKey {
            full: packed,
            outward_len: if uk { (n - 3) as u8 } else { 0 },
            len: n as u8,
        })
    }

    /// The first `k` characters, packed.
    fn prefix(self, k: u8) -> u64 {
        self.full >> (8 * u32::from(self.len - k))
    }

    /// How close two postcodes are: 1 the same, 0.6 the same sector ("EH15 1"), 0.45 the
    /// same outward code ("EH15"), 0 different (or not comparable beyond equality).
    pub fn similarity(self, other: PostcodeKey) -> f64 {
        if self == other {
            return 1.0;
        }
        if self.outward_len == 0 || self.outward_len != other.outward_len {
            return 0.0;
        }
        let out = self.outward_len;
        if self.prefix(out + 1) == other.prefix(out + 1) {
            0.6
        } else if self.prefix(out) == other.prefix(out) {
            0.45
        } else {
            0.0
        }
    }
}

/// "eh15", "1lw", "eh151lw": a word of an address line that is (part of) a UK postcode,
/// which addresses compare apart from their street.
pub fn is_postcode_part(token: &str) -> bool {
    let b = token.as_bytes();
    let letters = b.iter().take_while(|c| c.is_ascii_alphabetic()).count();
    let outward = (1..=2).contains(&letters)
        && b.len() > letters
        && b.len() <= letters + 2
        && b[letters..].iter().all(u8::is_ascii_digit);
    let inward =
        b.len() == 3 && b[0].is_ascii_digit() && b[1..].iter().all(u8::is_ascii_alphabetic);
    let whole =
        b.len() >= 5 && b.len() <= 7 && PostcodeKey::of(token).is_some_and(|p| p.outward_len > 0);
    (outward && letters == 2) || inward || (whole && letters == 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ten thousand bytes of text, for the "huge input" rows.
    fn huge(unit: &str) -> String {
        unit.repeat(10_240 / unit.len().max(1))
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
    fn postcodes_of_other_countries_are_read_in_their_region() {
        let region = |c: &str| Some(c.parse::<Region>().unwrap());
        let rows: &[(&str, Option<Region>, Option<&str>)] = &[
            ("eh15 1dr", None, Some("EH15 1DR")),
            ("eh15 1dr", region("GB"), Some("EH15 1DR")),
            ("02134", region("US"), Some("02134")),
            (" 02134-1234 ", region("US"), Some("02134-1234")),
            ("2134", region("US"), None),
            ("EH15 1DR", region("US"), None),
            ("75001", region("FR"), Some("75001")),
            ("k1a 0b1", region("CA"), Some("K1A 0B1")),
            ("D02  X285", region("IE"), Some("D02 X285")),
            ("abc", region("FR"), None),
            ("'; DROP", region("FR"), None),
        ];
        for (raw, region, want) in rows {
            assert_eq!(
                postcode_in(raw, *region).as_deref(),
                *want,
                "{raw:?} {region:?}"
            );
        }
    }

    #[test]
    fn postcode_keys_compare_by_unit_sector_and_district() {
        let a = PostcodeKey::of("EH15 1LW").unwrap();
        assert_eq!(PostcodeKey::of("eh151lw"), Some(a));
        assert_eq!(a.similarity(PostcodeKey::of("EH15 1XX").unwrap()), 0.6);
        assert_eq!(a.similarity(PostcodeKey::of("EH15 2AB").unwrap()), 0.45);
        assert_eq!(a.similarity(PostcodeKey::of("EH1 1LW").unwrap()), 0.0);
        assert_eq!(PostcodeKey::of("02134").map(|k| k.outward_len), Some(0));
        assert_eq!(PostcodeKey::of("x"), None);
        assert_eq!(PostcodeKey::of(&huge("A1")), None);
        for part in ["eh15", "1lw", "eh151lw", "EH3"] {
            assert!(is_postcode_part(part), "{part}");
        }
        for word in ["road", "12", "12a", "a1"] {
            assert!(!is_postcode_part(word), "{word}");
        }
    }
}
