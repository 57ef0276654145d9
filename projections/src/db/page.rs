//! Entity listings a page at a time, with filters, and the counts an overview shows.
//!
//! A listing is ordered by name (case-folded), then slug; slugs are unique, so the order
//! is total and a page can end at a *cursor* (the last row's name and slug): the next
//! page starts after it, even when entities were added in between. The filters that have
//! columns (source, class, conflicted, completeness) are SQL conditions; a text search
//! matches the same words as `entities --search` and is checked row by row on the few
//! columns it needs, so only the rows of the page are decoded.

use rusqlite::types::Value as SqlValue;
use serde::Serialize;

use super::read::{entity_from_row, ENTITY_COLUMNS};
use super::rows::search_words;
use super::{sql, ProjectionDb, Result};
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

/// Where a page of a listing ended: the last entity's sort key. Opaque to users, who
/// pass back the text of [`EntityCursor::encode`].
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
    /// (name case-folded, then slug), and where the next page starts.
    pub fn entities_page(
        &self,
        filter: &EntityFilter,
        after: Option<&EntityCursor>,
        limit: usize,
    ) -> Result<EntityPage> {
        let mut conditions: Vec<&str> = Vec::new();
        let mut params: Vec<SqlValue> = Vec::new();
        if let Some(c) = after {
            conditions.push("(coalesce(name, '') COLLATE NOCASE, slug) > (?, ?)");
            params.push(SqlValue::Text(c.name.clone()));
            params.push(SqlValue::Text(c.slug.clone()));
        }
        if let Some(source) = &filter.source {
            // `sources` is a JSON array of names; a quoted name matches only itself.
            conditions.push("instr(sources, ?) > 0");
            params.push(SqlValue::Text(format!("\"{source}\"")));
        }
        if let Some(class) = &filter.entity_class {
            conditions.push("entity_class = ?");
            params.push(SqlValue::Text(class.clone()));
        }
        match filter.conflicted {
            Some(true) => conditions.push("conflicts != '[]'"),
            Some(false) => conditions.push("conflicts = '[]'"),
            None => {}
        }
        if let Some(min) = filter.completeness_min {
            conditions.push("completeness >= ?");
            params.push(SqlValue::Integer(i64::from(
                min.min(COMPLETENESS_FIELDS_TOTAL),
            )));
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
            "SELECT {ENTITY_COLUMNS}, name, locality, postcode FROM entities {where_clause}
             ORDER BY coalesce(name, '') COLLATE NOCASE, slug {limit_clause}"
        );
        let path = self.path.clone();
        let mut stmt = sql(&path, self.conn.prepare(&query))?;
        let mut rows = sql(&path, stmt.query(rusqlite::params_from_iter(params)))?;
        let mut entities = Vec::new();
        let mut more = false;
        while let Some(row) = sql(&path, rows.next())? {
            let slug: String = sql(&path, row.get(1))?;
            let name: Option<String> = sql(&path, row.get(8))?;
            if !words.is_empty() {
                let locality: Option<String> = sql(&path, row.get(9))?;
                let postcode: Option<String> = sql(&path, row.get(10))?;
                let hay = search_words(
                    name.as_deref(),
                    &slug,
                    locality.as_deref(),
                    postcode.as_deref(),
                );
                if !words
                    .iter()
                    .all(|w| hay.iter().any(|h| h.starts_with(w.as_str())))
                {
                    continue;
                }
            }
            if entities.len() == limit {
                more = true;
                break;
            }
            let (m, _) = sql(&path, entity_from_row(&path, row))??;
            entities.push(m);
        }
        let next = match (more, entities.last()) {
            (true, Some(last)) => Some(EntityCursor {
                name: last.name().unwrap_or("").to_string(),
                slug: last.slug.clone(),
            }),
            _ => None,
        };
        Ok(EntityPage { entities, next })
    }

    /// Per merged entity class (`None` for none): how many entities, the commonest first.
    pub fn entity_classes(&self) -> Result<Vec<(Option<String>, u64)>> {
        let mut stmt = sql(
            &self.path,
            self.conn.prepare_cached(
                "SELECT entity_class, count(*) FROM entities
                 GROUP BY entity_class ORDER BY count(*) DESC, entity_class",
            ),
        )?;
        sql(
            &self.path,
            stmt.query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))
                .and_then(|it| it.collect::<rusqlite::Result<Vec<_>>>()),
        )
    }

    /// The counts an overview shows, each one aggregate query.
    pub fn entity_counts(&self) -> Result<EntityCounts> {
        let path = self.path.clone();
        let (entities, conflicted, fields): (i64, i64, i64) = sql(
            &path,
            self.conn.query_row(
                "SELECT count(*), coalesce(sum(conflicts != '[]'), 0),
                        coalesce(sum(json_array_length(conflicts)), 0)
                 FROM entities",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            ),
        )?;
        let open_reviews: i64 = sql(
            &path,
            self.conn.query_row(
                "SELECT count(*) FROM reviews WHERE status = 'open'",
                [],
                |r| r.get(0),
            ),
        )?;
        let runs: i64 = sql(
            &path,
            self.conn
                .query_row("SELECT count(*) FROM runs", [], |r| r.get(0)),
        )?;
        let mut stmt = sql(
            &path,
            self.conn.prepare(
                "SELECT source, count(*), count(DISTINCT entity_id) FROM candidates
                 WHERE entity_id IS NOT NULL AND source IS NOT NULL
                 GROUP BY source ORDER BY source",
            ),
        )?;
        let sources = sql(
            &path,
            stmt.query_map([], |r| {
                Ok(SourceCount {
                    source: r.get(0)?,
                    records: r.get::<_, i64>(1)? as u64,
                    entities: r.get::<_, i64>(2)? as u64,
                })
            })
            .and_then(|it| it.collect::<rusqlite::Result<Vec<_>>>()),
        )?;
        let classes = self.entity_classes()?;
        Ok(EntityCounts {
            entities: entities as u64,
            conflicted_entities: conflicted as u64,
            conflicting_fields: fields as u64,
            open_reviews: open_reviews as u64,
            runs: runs as u64,
            sources,
            classes,
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
