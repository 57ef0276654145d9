//! A candidate's matching form in bytes: what the identity store keeps of each attached
//! candidate, so that a run loads the few it needs without reading the log or parsing
//! and normalising fields again (see ADR 0005 for the measured reason).
//!
//! It is not a copy of the record: only the derived [`Parts`] the matcher compares (name
//! tokens with their classes, hashes of phone, website, postcode, address words and
//! record ids, the point, the kind bits). About 100 bytes. A change to what `Parts` holds
//! or how it is derived from fields changes decisions, so it bumps `MATCHER_VERSION`,
//! which has every store rebuilt; a change to this encoding bumps [`FORM_VERSION`].
//!
//! Layout (little-endian): version u8, flags u8 (bit 0: has its own id at its source;
//! bit 1: coordinates; bit 2: website; bit 3: postcode; bit 4: phone; bit 5: entity
//! class), kinds u32, [class u32], [lat f64, lon f64], [phone u64], [website host u32,
//! full u32, flags u8], [postcode u64, outward_len u8, len u8], tokens: n u8 then
//! (class u8, len u8, bytes) each, address: n u8 then u32 each, ids: n u8 then (u64, u64)
//! each, compact name u32, street: n u8 then u32 each, locality: n u8 then u32 each,
//! source u32.
//!
//! Version 2 added the compact name, the street and the locality; version 3 the source.

use super::index::Parts;
use super::vocab::{Postcode, TokenClass, Website};

/// The encoding's version, its first byte.
pub(crate) const FORM_VERSION: u8 = 3;
/// Longest list of any kind a form holds (tokens, address words, ids): what `Parts` can
/// hold is far below it (16 tokens, `LIST_ITEMS_MAX` items).
const ITEMS_MAX: usize = u8::MAX as usize;

const OWN_ID: u8 = 1;
const COORD: u8 = 2;
const WEBSITE: u8 = 4;
const POSTCODE: u8 = 8;
const PHONE: u8 = 16;
const CLASS: u8 = 32;

fn class_code(c: TokenClass) -> u8 {
    match c {
        TokenClass::Distinctive => 0,
        TokenClass::Brand => 1,
        TokenClass::Kind => 2,
        TokenClass::Generic => 3,
    }
}

fn class_of(code: u8) -> Option<TokenClass> {
    Some(match code {
        0 => TokenClass::Distinctive,
        1 => TokenClass::Brand,
        2 => TokenClass::Kind,
        3 => TokenClass::Generic,
        _ => return None,
    })
}

/// The bytes of `parts` (and whether the candidate has an id at its source).
pub(crate) fn encode(parts: &Parts, own_id: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(96);
    let mut flags = 0;
    for (on, bit) in [
        (own_id, OWN_ID),
        (parts.coord.is_some(), COORD),
        (parts.website.is_some(), WEBSITE),
        (parts.postcode.is_some(), POSTCODE),
        (parts.phone.is_some(), PHONE),
        (parts.class.is_some(), CLASS),
    ] {
        if on {
            flags |= bit;
        }
    }
    out.push(FORM_VERSION);
    out.push(flags);
    out.extend_from_slice(&parts.kinds.to_le_bytes());
    if let Some(c) = parts.class {
        out.extend_from_slice(&c.to_le_bytes());
    }
    if let Some((lat, lon)) = parts.coord {
        out.extend_from_slice(&lat.to_le_bytes());
        out.extend_from_slice(&lon.to_le_bytes());
    }
    if let Some(p) = parts.phone {
        out.extend_from_slice(&p.to_le_bytes());
    }
    if let Some(w) = parts.website {
        out.extend_from_slice(&w.host.to_le_bytes());
        out.extend_from_slice(&w.full.to_le_bytes());
        out.push(u8::from(w.path_empty) | u8::from(w.shared_host) << 1);
    }
    if let Some(p) = parts.postcode {
        out.extend_from_slice(&p.full.to_le_bytes());
        out.push(p.outward_len);
        out.push(p.len);
    }
    let tokens = &parts.tokens[..parts.tokens.len().min(ITEMS_MAX)];
    out.push(tokens.len() as u8);
    for (text, class) in tokens {
        // Tokens are at most a few dozen bytes (normalize clips them); a longer one is cut
        // at a character boundary rather than mis-encoded.
        let mut end = text.len().min(u8::MAX as usize);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        out.push(class_code(*class));
        out.push(end as u8);
        out.extend_from_slice(&text.as_bytes()[..end]);
    }
    let address = &parts.address[..parts.address.len().min(ITEMS_MAX)];
    out.push(address.len() as u8);
    for a in address {
        out.extend_from_slice(&a.to_le_bytes());
    }
    let ids = &parts.ids[..parts.ids.len().min(ITEMS_MAX)];
    out.push(ids.len() as u8);
    for (a, b) in ids {
        out.extend_from_slice(&a.to_le_bytes());
        out.extend_from_slice(&b.to_le_bytes());
    }
    out.extend_from_slice(&parts.compact.to_le_bytes());
    for list in [&parts.street, &parts.locality] {
        let list = &list[..list.len().min(ITEMS_MAX)];
        out.push(list.len() as u8);
        for w in list {
            out.extend_from_slice(&w.to_le_bytes());
        }
    }
    out.extend_from_slice(&parts.source.to_le_bytes());
    out
}

/// Reads bytes written by [`encode`]; the error says what is wrong with them.
pub(crate) fn decode(bytes: &[u8]) -> Result<(Parts, bool), String> {
    let mut r = Reader { bytes, at: 0 };
    let version = r.u8()?;
    if version != FORM_VERSION {
        return Err(format!(
            "a matching form of version {version} (this build reads {FORM_VERSION})"
        ));
    }
    let flags = r.u8()?;
    let kinds = r.u32()?;
    let class = if flags & CLASS != 0 {
        Some(r.u32()?)
    } else {
        None
    };
    let coord = if flags & COORD != 0 {
        Some((r.f64()?, r.f64()?))
    } else {
        None
    };
    let phone = if flags & PHONE != 0 {
        Some(r.u64()?)
    } else {
        None
    };
    let website = if flags & WEBSITE != 0 {
        let (host, full, f) = (r.u32()?, r.u32()?, r.u8()?);
        Some(Website {
            host,
            full,
            path_empty: f & 1 != 0,
            shared_host: f & 2 != 0,
        })
    } else {
        None
    };
    let postcode = if flags & POSTCODE != 0 {
        Some(Postcode {
            full: r.u64()?,
            outward_len: r.u8()?,
            len: r.u8()?,
        })
    } else {
        None
    };
    let n = r.u8()?;
    let mut tokens = Vec::with_capacity(usize::from(n));
    for _ in 0..n {
        let class = class_of(r.u8()?).ok_or("a token of an unknown class")?;
        let len = usize::from(r.u8()?);
        let text = std::str::from_utf8(r.take(len)?).map_err(|e| format!("a token: {e}"))?;
        tokens.push((text.to_string(), class));
    }
    let n = r.u8()?;
    let address = (0..n).map(|_| r.u32()).collect::<Result<Vec<_>, _>>()?;
    let n = r.u8()?;
    let ids = (0..n)
        .map(|_| Ok((r.u64()?, r.u64()?)))
        .collect::<Result<Vec<_>, String>>()?;
    let compact = r.u32()?;
    let n = r.u8()?;
    let street = (0..n).map(|_| r.u32()).collect::<Result<Vec<_>, _>>()?;
    let n = r.u8()?;
    let locality = (0..n).map(|_| r.u32()).collect::<Result<Vec<_>, _>>()?;
    let source = r.u32()?;
    if r.at != bytes.len() {
        return Err(format!(
            "{} bytes past the end of a matching form",
            bytes.len() - r.at
        ));
    }
    if ids.is_empty() {
        return Err("a matching form without its own record key".into());
    }
    Ok((
        Parts {
            tokens,
            kinds,
            class,
            coord,
            phone,
            website,
            postcode,
            address,
            compact,
            street,
            locality,
            ids,
            source,
        },
        flags & OWN_ID != 0,
    ))
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        let Some(end) = end else {
            return Err(format!(
                "a matching form ends after {} bytes, in the middle of a value",
                self.bytes.len()
            ));
        };
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let mut a = [0; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.array::<1>()?[0])
    }

    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    fn f64(&mut self) -> Result<f64, String> {
        Ok(f64::from_le_bytes(self.array()?))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use trustfold_events::CandidateFields;

    use super::*;

    fn fields() -> impl Strategy<Value = CandidateFields> {
        (
            prop::option::of(".{0,60}"),
            prop::option::of((-90.0f64..90.0, -180.0f64..180.0)),
            prop::option::of("[0-9 +()]{0,16}|\\+[1-9][0-9]{6,14}"),
            prop::option::of("(https?://)?[a-z.]{1,20}(/[a-z]{0,8})?"),
            prop::option::of("[A-Z]{1,2}[0-9]{1,2} ?[0-9][A-Z]{2}"),
            prop::option::of("[a-z_]{0,12}"),
            prop::collection::vec(
                ".{0,20}|[0-9]{1,3}(-[0-9]{1,3})?[a-c]? [A-Z][a-z]{2,8} (St|Road|Ave)",
                0..4,
            ),
            prop::collection::btree_map("[a-z]{1,8}", prop::collection::vec(".{0,12}", 0..3), 0..3),
            prop::option::of("[A-Za-z ,]{0,24}"),
        )
            .prop_map(
                |(
                    name,
                    at,
                    phone,
                    website,
                    postcode,
                    class,
                    address_lines,
                    external_ids,
                    locality,
                )| {
                    CandidateFields {
                        name,
                        lat: at.map(|a| a.0),
                        lon: at.map(|a| a.1),
                        phone,
                        website,
                        postcode,
                        entity_class: class,
                        address_lines,
                        external_ids,
                        locality,
                        categories: vec!["Tennis Courts (Outdoor)".into()],
                        ..CandidateFields::default()
                    }
                },
            )
    }

    proptest! {
        /// What a working index loads is exactly what the full index derives from fields.
        #[test]
        fn a_form_decodes_to_the_parts_it_encodes(
            f in fields(),
            source in "[a-z_]{1,12}",
            external_id in ".{0,12}",
            own_id in any::<bool>(),
        ) {
            let parts = Parts::of(&f, &source, &external_id);
            let bytes = encode(&parts, own_id);
            let (back, own) = decode(&bytes).unwrap();
            prop_assert_eq!(back, parts);
            prop_assert_eq!(own, own_id);
            // Every shorter prefix is an error, never a panic.
            for n in 0..bytes.len() {
                prop_assert!(decode(&bytes[..n]).is_err());
            }
        }
    }

    #[test]
    fn damaged_forms_are_errors() {
        assert!(decode(&[]).is_err());
        assert!(decode(&[FORM_VERSION + 1, 0]).is_err());
        let parts = Parts::of(&CandidateFields::default(), "s", "1");
        let mut bytes = encode(&parts, true);
        bytes.push(0);
        assert!(decode(&bytes).unwrap_err().contains("past the end"));
    }
}
