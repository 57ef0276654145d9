//! # trustfold-normalize
//!
//! The one home of trustfold's normalisation: how a source's spelling of a value becomes
//! the spelling every part of the system compares and shows. Extraction writes canonical
//! values with it, matching compares with it, and the projections decide with it when two
//! values agree, so the three cannot drift apart.
//!
//! - [`text`]: cleaning, placeholders, display names, and the folds (accents and every
//!   script transliterated, case, `&`, apostrophes) that names and words are compared by;
//! - [`phone`]: phone numbers read with libphonenumber's metadata in a region, out in
//!   E.164, an invalid number kept as written with its reason;
//! - [`postcode`]: UK postcodes by their grammar, other countries' by region, and how
//!   close two are;
//! - [`web`]: websites and e-mail addresses;
//! - [`address`]: address lines, localities, one-line UK addresses, and the street and
//!   house numbers matching compares, whichever country's conventions wrote them;
//! - [`geo`]: coordinates, great-circle distance, bounding boxes, British National Grid.
//!
//! Every function is total: it never panics, and input is cut at a named limit before any
//! work is done on it. A function that cannot vouch for a value returns `None` (or, for a
//! phone number, says why) rather than guessing.
//!
//! One design decision: this crate knows nothing of candidates, events or merging. It
//! turns strings into strings and numbers, so the crates above it (`trustfold-projections`,
//! the `trustfold` binary) can each use it without a dependency on each other.
//!
//! ```
//! use trustfold_normalize::{address, phone};
//! let us: phone::Region = "US".parse().unwrap();
//! assert_eq!(phone::parse("(212) 555-0100", Some(us)).unwrap(), "+12125550100");
//! let a = address::street_address(["350 5th Ave., Suite 200"]).unwrap();
//! let b = address::street_address(["350 Fifth Avenue"]).unwrap();
//! assert_eq!(a, b);
//! ```

#![forbid(unsafe_code)]

pub mod address;
pub mod geo;
pub mod phone;
pub mod postcode;
pub mod text;
pub mod web;

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

        /// Every normaliser is total, and its output is a fixed point: normalising a
        /// canonical value changes nothing.
        #[test]
        fn normalisers_are_total_and_idempotent(s in "\\PC{0,40}|[0-9 +()/.EHeh-]{0,20}|https?://[a-z.]{0,12}/[a-z/?=&_]{0,12}|[0-9;, -]{0,12}[A-Za-z. #]{0,20}") {
            let gb = Some(phone::Region::GB);
            if let Ok(p) = phone::parse(&s, gb) {
                proptest::prop_assert_eq!(phone::parse(&p, None), Ok(p.clone()));
                proptest::prop_assert!(phone::key(&p).is_some());
            }
            let _ = (phone::read(&s, gb), phone::read(&s, None), phone::why_kept(&s));
            if let Some(p) = postcode::postcode(&s) {
                proptest::prop_assert_eq!(postcode::postcode(&p), Some(p.clone()));
                proptest::prop_assert!(postcode::postcode_sector(&p).is_some());
            }
            let _ = (postcode::postcode_in(&s, "US".parse().ok()), postcode::PostcodeKey::of(&s));
            if let Some(w) = web::website(&s) {
                proptest::prop_assert_eq!(web::website(&w), Some(w.clone()));
                proptest::prop_assert!(web::website_host(&w).is_some());
            }
            if let Some(n) = text::display_name(&s) {
                proptest::prop_assert_eq!(text::display_name(&n), Some(n.clone()));
            }
            let key = text::name_key(&s);
            proptest::prop_assert_eq!(text::name_key(&key), key.clone());
            proptest::prop_assert_eq!(text::name_tokens(&s).join(" "), key);
            let folded = text::fold(&s);
            proptest::prop_assert_eq!(text::fold(&folded), folded.clone());
            proptest::prop_assert!(text::fold_words(&s).iter().all(|w| w.bytes().all(|b| b.is_ascii_alphanumeric())));
            if let Some(l) = address::locality(&s) {
                proptest::prop_assert_eq!(address::locality(&l), Some(l.clone()));
            }
            if let Some(a) = address::street_address([s.as_str()]) {
                proptest::prop_assert!(a.numbers.len() <= address::HOUSE_NUMBERS_MAX);
                proptest::prop_assert!(a.house_numbers().len() <= address::HOUSE_NUMBERS_MAX);
                let n = a.numbers.clone();
                proptest::prop_assert_eq!(address::compare_numbers(&n, &n), if n.is_empty() { address::NumbersMatch::Unknown } else { address::NumbersMatch::Same });
            }
            let _ = (
                web::email(&s),
                web::host_and_path(&s),
                text::free_text(&s, 5),
                text::article_first(&s),
                address::split_uk_address(&s),
                address::looks_like_street(&s),
                address::locality_key(&s),
                address::join_house_numbers(vec![s.clone(), s.clone()]),
            );
        }
    }
}
