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
