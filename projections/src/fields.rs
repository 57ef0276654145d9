//! The merge fields: the vocabulary of the Entity table, of the trust policy and of
//! provenance. Each field is merged on its own; `coordinates` is one field (a source
//! supplies latitude and longitude together), the multi-valued fields are unions.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

macro_rules! fields {
    ($( $variant:ident => $name:literal ),+ $(,)?) => {
        /// One field of an entity, as merged.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum Field { $( $variant ),+ }

        impl Field {
            /// Every field, in display order.
            pub const ALL: &'static [Field] = &[ $( Field::$variant ),+ ];

            /// The name used in policies, provenance and the CLI.
            pub fn as_str(self) -> &'static str {
                match self { $( Field::$variant => $name ),+ }
            }
        }

        impl FromStr for Field {
            type Err = UnknownField;
            fn from_str(s: &str) -> Result<Field, UnknownField> {
                match s {
                    $( $name => Ok(Field::$variant), )+
                    _ => Err(UnknownField(s.chars().take(64).collect())),
                }
            }
        }
    };
}

fields! {
    Name => "name",
    EntityClass => "entity_class",
    Categories => "categories",
    Sports => "sports",
    Address => "address",
    Locality => "locality",
    Postcode => "postcode",
    Country => "country",
    Coordinates => "coordinates",
    Phone => "phone",
    Email => "email",
    Website => "website",
    Socials => "socials",
    OpeningHours => "opening_hours",
    Ev => "ev",
    Rating => "rating",
    RatingCount => "rating_count",
    ExternalIds => "external_ids",
    Description => "description",
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A field name that is not in [`Field::ALL`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown field {0:?} (known: {known})", known = known_fields())]
pub struct UnknownField(pub String);

/// The known field names, comma-separated, for error messages.
pub fn known_fields() -> String {
    Field::ALL
        .iter()
        .map(|f| f.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

impl Field {
    /// Whether the field is a union of elements rather than one winning value.
    pub fn is_multi_valued(self) -> bool {
        matches!(self, Field::Categories | Field::Sports | Field::ExternalIds)
    }
}
