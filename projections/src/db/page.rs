//! Entity listings a page at a time, with filters, and the counts an overview shows, in the
//! SQL both engines speak.
//!
//! A listing is ordered as `entities` lists: by the folded sort name, then slug (the
//! `entities_sort` index). Slugs are unique, so the order is total and a page can end at a
//! *cursor* (the last row's sort name and slug): the next page starts after it, even when
//! entities were added in between. The filters that have columns (source, class,
//! conflicted, completeness) are SQL conditions; a text search matches the same words as
//! `entities --search` and is checked row by row on the few columns it needs, so only the
//! rows of the page are decoded.

use serde::Serialize;

use super::read::{entity_from_row, ENTITY_COLUMNS};
use super::rows::search_words;
use super::sql::{all, one, Param};
use super::{ProjectionDb, Result};
use crate::merge::{MergedEntity, COMPLETENESS_FIELDS_TOTAL};

/// Which entities a listing shows (all of them by default; every filter narrows).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EntityFilter {
    /// Every word must be a word prefix of the name, slug, locality or postcode.
    pub search: Option<String>,
    /// Only entities with a record from this source.
    pub source: Option<String>,
    /// Only entities of this class (the merged `entity_class`).
    pub entity_class: Option<String>,
    /// Only entities with (true) or without (false) a conflicting field.
    pub conflicted: Option<bool>,
    /// Only entities with at least this many of the key fields present
    /// (of [`COMPLETENESS_FIELDS_TOTAL`]).
    pub completeness_min: Option<u32>,
}

/// Where a page of a listing ended: the last entity's sort key (its folded sort name and
/// slug). Opaque to users, who pass back the text of [`EntityCursor::encode`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntityCursor {
    pub name: String,
    pub slug: String,
}

impl EntityCursor {
    /// The cursor as text: the name and the slug, separated by a NUL and hex-encoded, so
    /// it survives a URL as it is.
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(2 * (self.name.len() + self.slug.len() + 1));
        for b in self
            .name
            .bytes()
            .chain(std::iter::once(0))
            .chain(self.slug.bytes())
        {
            out.push_str(&format!("{b:02x}"));
        }
        out
    }

    /// The cursor [`Self::encode`] wrote; `None` for anything else.
    pub fn decode(text: &str) -> Option<EntityCursor> {
        if !text.len().is_multiple_of(2) || text.len() > 4 * 1024 {
            return None;
        }
        let bytes: Option<Vec<u8>> = (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
            .collect();
        let bytes = bytes?;
        let split = bytes.iter().position(|b| *b == 0)?;
        Some(EntityCursor {
            name: String::from_utf8(bytes[..split].to_vec()).ok()?,
            slug: String::from_utf8(bytes[split + 1..].to_vec()).ok()?,
        })
    }
}

/// One page of a listing.
#[derive(Clone, Debug)]
pub struct EntityPage {
    pub entities: Vec<MergedEntity>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<EntityCursor>,
}

/// What an overview counts.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct EntityCounts {
    pub entities: u64,
    /// Entities with at least one conflicting field.
    pub conflicted_entities: u64,
    /// Conflicting fields over every entity.
    pub conflicting_fields: u64,
    pub open_reviews: u64,
    pub runs: u64,
    /// Per source: the records (candidates) attached to an entity and the entities they
    /// are in, by source name.
    pub sources: Vec<SourceCount>,
    /// Per merged entity class (`null` for none): how many entities.
    pub classes: Vec<(Option<String>, u64)>,
}

/// One source's share of the table.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct SourceCount {
    pub source: String,
    pub records: u64,
    pub entities: u64,
}

impl ProjectionDb {
    /// Up to `limit` entities matching `filter`, after `after` in the listing's order
    /// (sort name, then slug), and where the next page starts.
    pub fn entities_page(
        &self,
        filter: &EntityFilter,
        after: Option<&EntityCursor>,
        limit: usize,
    ) -> Result<EntityPage> {
        let mut conditions: Vec<String> = Vec::new();
        let mut texts: Vec<String> = Vec::new();
        let mut min_complete = None;
        // Parameters are numbered in the order they are pushed.
        let next = |texts: &mut Vec<String>, v: String| {
            texts.push(v);
            texts.len()
        };
        if let Some(c) = after {
            let a = next(&mut texts, c.name.clone());
            let b = next(&mut texts, c.slug.clone());
            conditions.push(format!(
                "(sort_name > ?{a} OR (sort_name = ?{a} AND slug > ?{b}))"
            ));
        }
        if let Some(source) = &filter.source {
            // `sources` is a JSON array of names; a quoted name matches only itself
            // (`_` escaped: it is LIKE's any-character).
            let like = format!(
                "%\"{}\"%",
                source
                    .replace('\\', "\\\\")
                    .replace('_', "\\_")
                    .replace('%', "\\%")
            );
            let n = next(&mut texts, like);
            conditions.push(format!("sources LIKE ?{n} ESCAPE '\\'"));
        }
        if let Some(class) = &filter.entity_class {
            let n = next(&mut texts, class.clone());
            conditions.push(format!("entity_class = ?{n}"));
        }
        match filter.conflicted {
            Some(true) => conditions.push("conflicts <> '[]'".into()),
            Some(false) => conditions.push("conflicts = '[]'".into()),
            None => {}
        }
        if let Some(min) = filter.completeness_min {
            min_complete = Some(i64::from(min.min(COMPLETENESS_FIELDS_TOTAL)));
            conditions.push(format!("completeness >= ?{}", texts.len() + 1));
        }
        let mut params: Vec<Param<'_>> = texts.iter().map(|t| Param::Text(t)).collect();
        if let Some(m) = min_complete {
            params.push(Param::Int(m));
        }
        let words: Vec<String> = filter
            .search
            .as_deref()
            .map(crate::values::fold_words)
            .unwrap_or_default();
        let where_clause = if conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conditions.join(" AND "))
        };
        // Without a text search SQL can stop at the page; with one, rows are read (a few
        // text columns each) until the page is full.
        let limit_clause = if words.is_empty() {
            format!("LIMIT {}", limit.saturating_add(1).min(i64::MAX as usize))
        } else {
            String::new()
        };
        let query = format!(
            "SELECT {ENTITY_COLUMNS}, name, locality, postcode, sort_name FROM entities
             {where_clause} ORDER BY sort_name, slug {limit_clause}"
        );
        let path = self.path.clone();
        let mut entities: Vec<(MergedEntity, String)> = Vec::new();
        let mut more = false;
        self.conn.each(&query, &params, &mut |row| {
            if more {
                return Ok(());
            }
            if !words.is_empty() {
                let name = row.text(8)?;
                let locality = row.text(9)?;
                let postcode = row.text(10)?;
                let hay = search_words(
                    name.as_deref(),
                    &row.req_text(1)?,
                    locality.as_deref(),
                    postcode.as_deref(),
                );
                if !words
                    .iter()
                    .all(|w| hay.iter().any(|h| h.starts_with(w.as_str())))
                {
                    return Ok(());
                }
            }
            if entities.len() == limit {
                more = true;
                return Ok(());
            }
            let sort_name = row.req_text(11)?;
            entities.push((entity_from_row(&path, row)?.0, sort_name));
            Ok(())
        })?;
        let next = match (more, entities.last()) {
            (true, Some((last, sort_name))) => Some(EntityCursor {
                name: sort_name.clone(),
                slug: last.slug.clone(),
            }),
            _ => None,
        };
        Ok(EntityPage {
            entities: entities.into_iter().map(|(m, _)| m).collect(),
            next,
        })
    }

    /// Per merged entity class (`None` for none): how many entities, the commonest first.
    pub fn entity_classes(&self) -> Result<Vec<(Option<String>, u64)>> {
        all(
            self.conn.as_ref(),
            "SELECT entity_class, count(*) FROM entities
             GROUP BY entity_class ORDER BY count(*) DESC, entity_class",
            &[],
            |r| Ok((r.text(0)?, r.req_int(1)? as u64)),
        )
    }

    /// The counts an overview shows, each one aggregate query.
    pub fn entity_counts(&self) -> Result<EntityCounts> {
        let conn = self.conn.as_ref();
        // `conflicts` is a JSON array of field names: its commas count its fields.
        let (entities, conflicted, fields) = one(
            conn,
            "SELECT count(*),
                    coalesce(sum(CASE WHEN conflicts <> '[]' THEN 1 ELSE 0 END), 0),
                    coalesce(sum(CASE WHEN conflicts <> '[]'
                        THEN length(conflicts) - length(replace(conflicts, ',', '')) + 1
                        ELSE 0 END), 0)
             FROM entities",
            &[],
            |r| Ok((r.req_int(0)?, r.req_int(1)?, r.req_int(2)?)),
        )?
        .unwrap_or((0, 0, 0));
        let open_reviews = one(
            conn,
            "SELECT count(*) FROM reviews WHERE status = 'open'",
            &[],
            |r| r.req_int(0),
        )?
        .unwrap_or(0);
        let runs = one(conn, "SELECT count(*) FROM runs", &[], |r| r.req_int(0))?.unwrap_or(0);
        let sources = all(
            conn,
            "SELECT source, count(*), count(DISTINCT entity_id) FROM candidates
             WHERE entity_id IS NOT NULL AND source IS NOT NULL
             GROUP BY source ORDER BY source",
            &[],
            |r| {
                Ok(SourceCount {
                    source: r.req_text(0)?,
                    records: r.req_int(1)? as u64,
                    entities: r.req_int(2)? as u64,
                })
            },
        )?;
        Ok(EntityCounts {
            entities: entities as u64,
            conflicted_entities: conflicted as u64,
            conflicting_fields: fields as u64,
            open_reviews: open_reviews as u64,
            runs: runs as u64,
            sources,
            classes: self.entity_classes()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_survives_its_text_form() {
        for (name, slug) in [
            ("Portobello Swim Centre", "portobello-swim-centre"),
            ("", "e-1"),
            ("Café \u{202e}evil\u{202c} \"quoted\" <b>", "cafe-evil"),
        ] {
            let c = EntityCursor {
                name: name.into(),
                slug: slug.into(),
            };
            let text = c.encode();
            assert!(text.bytes().all(|b| b.is_ascii_hexdigit()), "{text}");
            assert_eq!(EntityCursor::decode(&text), Some(c));
        }
    }

    #[test]
    fn a_cursor_that_was_not_written_by_encode_is_refused() {
        for bad in ["", "zz", "abc", "616263", "ff00ff", &"00".repeat(3000)] {
            assert_eq!(EntityCursor::decode(bad), None, "{bad:?}");
        }
    }
}
