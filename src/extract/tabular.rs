//! Tabular imports: a CSV or NDJSON dump (a council spreadsheet, an export of another
//! directory) read through a column map into canonical candidates.
//!
//! A dump has no fixed schema, so the user says which column is which field:
//! `--map id=external_id,name=name,addr=address,city=locality,phone=phone` ([`parse_map`]).
//! Every value goes through the same normalisers as the connectors' extractors.
//!
//! Two kinds of problem, treated differently:
//! - **Format errors** make the whole file unreadable and are a [`TabularError`] naming the
//!   line: not UTF-8, a line over [`TABULAR_LINE_BYTES_MAX`], a mapped column missing from
//!   the header, a ragged row, invalid JSON. The importer then appends nothing, so a file is
//!   imported whole or not at all.
//! - **Data problems** in one row (no name, an empty id, bad coordinates) skip that row with
//!   `"line N: <reason>"`; the rest of the file is imported.
//!
//! The external id is required in the map: it is the record's id at its source, which is
//! what makes importing the same file twice idempotent.

use std::fmt;

use serde_json::Value;
use trustfold_events::CandidateFields;

use super::common::{categories_from, entity_class_for, phone, quote, Records};
use super::Extraction;
use trustfold_normalize::address::{address_line, join_house_numbers, locality, looks_like_street};
use trustfold_normalize::geo::coordinates;
use trustfold_normalize::phone::Region;
use trustfold_normalize::postcode::postcode_in;
use trustfold_normalize::text::{free_text, required_name, TEXT_CHARS_MAX};
use trustfold_normalize::web::{email, website};

/// Longest physical line of a tabular file, in bytes. A real row of a venue dump is a few
/// hundred bytes; a multi-megabyte "line" is a binary file or a broken export, and reading
/// it as one row would hold it all in memory.
pub const TABULAR_LINE_BYTES_MAX: usize = 64 * 1024;

/// Most columns a CSV header may have (wider files are not venue dumps).
pub const TABULAR_COLUMNS_MAX: usize = 512;

/// The version recorded on candidates read by [`extract_csv`] and [`extract_ndjson`]
/// (as `Extractor::version` is for the native extractors): bumped whenever the output for
/// the same bytes and map changes.
///
/// Version 2: phone numbers read in the import's region (an invalid one kept as written);
/// postcodes by region; a line of house numbers joined to the street after it; the last of
/// several address lines taken as the locality when none is mapped and it reads as a town.
pub const TABULAR_EXTRACTOR_VERSION: u32 = 2;

/// A canonical field a column can be mapped to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Field {
    /// The record's id at its source (required).
    ExternalId,
    Name,
    /// One address line (the street part).
    Address,
    /// A second address line.
    Address2,
    Locality,
    Postcode,
    Lat,
    Lon,
    Phone,
    Email,
    Website,
    /// Labels separated by `;`, read by `categories_from` (categories and sports).
    Categories,
    /// Sport names separated by `;`, read by `categories_from` (its sports only).
    Sports,
    Description,
    OpeningHours,
    /// `venue`, `ev_charger`, ... (lowercase word); default from the categories.
    EntityClass,
}

impl Field {
    /// Every field, in the order the help text lists them.
    pub const ALL: [Field; 16] = [
        Field::ExternalId,
        Field::Name,
        Field::Address,
        Field::Address2,
        Field::Locality,
        Field::Postcode,
        Field::Lat,
        Field::Lon,
        Field::Phone,
        Field::Email,
        Field::Website,
        Field::Categories,
        Field::Sports,
        Field::Description,
        Field::OpeningHours,
        Field::EntityClass,
    ];

    /// The name used in `--map`.
    pub fn as_str(self) -> &'static str {
        match self {
            Field::ExternalId => "external_id",
            Field::Name => "name",
            Field::Address => "address",
            Field::Address2 => "address2",
            Field::Locality => "locality",
            Field::Postcode => "postcode",
            Field::Lat => "lat",
            Field::Lon => "lon",
            Field::Phone => "phone",
            Field::Email => "email",
            Field::Website => "website",
            Field::Categories => "categories",
            Field::Sports => "sports",
            Field::Description => "description",
            Field::OpeningHours => "opening_hours",
            Field::EntityClass => "entity_class",
        }
    }

    /// The field called `name` in `--map`.
    pub fn from_name(name: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|f| f.as_str() == name)
    }

    /// Whether several columns may feed this field (their labels are pooled).
    fn is_multi(self) -> bool {
        matches!(self, Field::Categories | Field::Sports)
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which column (CSV header name, or NDJSON key) feeds which field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ColumnMap {
    /// `(column, field)` in the order given.
    pub pairs: Vec<(String, Field)>,
}

impl ColumnMap {
    /// The columns mapped to `field`.
    fn columns(&self, field: Field) -> impl Iterator<Item = &str> {
        self.pairs
            .iter()
            .filter(move |(_, f)| *f == field)
            .map(|(c, _)| c.as_str())
    }
}

/// Parses `column=field,column=field,...`.
///
/// Errors: an entry without `=`, an empty column, an unknown field (the message lists the
/// valid ones), a field other than `categories`/`sports` mapped twice, and a map without
/// `external_id` — the record's id at its source, without which re-importing a file would
/// duplicate every record.
pub fn parse_map(s: &str) -> Result<ColumnMap, String> {
    let mut pairs: Vec<(String, Field)> = Vec::new();
    for entry in s.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (column, field) = entry
            .split_once('=')
            .ok_or_else(|| format!("map entry {entry:?} is not column=field"))?;
        let (column, field) = (column.trim(), field.trim());
        if column.is_empty() {
            return Err(format!("map entry {entry:?} has no column name"));
        }
        let field = Field::from_name(field).ok_or_else(|| {
            let valid: Vec<&str> = Field::ALL.iter().map(|f| f.as_str()).collect();
            format!(
                "unknown field {field:?} in map entry {entry:?}; the fields are: {}",
                valid.join(", ")
            )
        })?;
        if !field.is_multi() && pairs.iter().any(|(_, f)| *f == field) {
            return Err(format!("field {field} is mapped more than once"));
        }
        pairs.push((column.to_string(), field));
    }
    if !pairs.iter().any(|(_, f)| *f == Field::ExternalId) {
        return Err(
            "map a column to external_id: it is the record's id at its source, and it keeps \
             re-imports of the same file idempotent"
                .to_string(),
        );
    }
    Ok(ColumnMap { pairs })
}

/// A tabular file that cannot be imported at all. Lines count from 1, as editors do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TabularError {
    /// The bytes are not UTF-8 (re-save the file as UTF-8).
    NotUtf8 { line: usize, byte_offset: usize },
    /// A physical line is longer than [`TABULAR_LINE_BYTES_MAX`].
    LineTooLong { line: usize, bytes: usize },
    /// The file has no header line.
    NoHeader,
    /// The header has more than [`TABULAR_COLUMNS_MAX`] columns.
    TooManyColumns { columns: usize },
    /// A mapped column is not in the header (or, for NDJSON, on no line).
    MissingColumn { column: String, header: Vec<String> },
    /// A row has a different number of fields than the header.
    Ragged {
        line: usize,
        fields: usize,
        header_fields: usize,
    },
    /// The CSV reader failed (e.g. an unterminated quote).
    Csv { line: usize, message: String },
    /// A line of an NDJSON file is not valid JSON.
    Json { line: usize, message: String },
    /// A line of an NDJSON file is JSON but not an object.
    NotAnObject { line: usize },
}

impl fmt::Display for TabularError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TabularError::NotUtf8 { line, byte_offset } => write!(
                f,
                "line {line}: not UTF-8 (byte offset {byte_offset}); re-save the file as UTF-8"
            ),
            TabularError::LineTooLong { line, bytes } => write!(
                f,
                "line {line} is {bytes} bytes, over TABULAR_LINE_BYTES_MAX \
                 ({TABULAR_LINE_BYTES_MAX}); is this a tabular file?"
            ),
            TabularError::NoHeader => f.write_str("the file is empty: expected a header line"),
            TabularError::TooManyColumns { columns } => write!(
                f,
                "the header has {columns} columns, over TABULAR_COLUMNS_MAX ({TABULAR_COLUMNS_MAX})"
            ),
            TabularError::MissingColumn { column, header } => write!(
                f,
                "mapped column {column:?} is not in the file; its columns are: {}",
                header.join(", ")
            ),
            TabularError::Ragged {
                line,
                fields,
                header_fields,
            } => write!(
                f,
                "line {line} has {fields} fields, the header has {header_fields}"
            ),
            TabularError::Csv { line, message } => write!(f, "line {line}: {message}"),
            TabularError::Json { line, message } => {
                write!(f, "line {line}: invalid JSON: {message}")
            }
            TabularError::NotAnObject { line } => {
                write!(f, "line {line}: expected a JSON object")
            }
        }
    }
}

impl std::error::Error for TabularError {}

/// Checks the whole file before any row is read: UTF-8 (naming the first bad byte's line
/// and offset) and the line length limit. Returns the text without a byte-order mark.
fn check_text(bytes: &[u8]) -> Result<&str, TabularError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let byte_offset = e.valid_up_to();
        let line = bytes[..byte_offset].iter().filter(|b| **b == b'\n').count() + 1;
        TabularError::NotUtf8 { line, byte_offset }
    })?;
    for (i, line) in text.split('\n').enumerate() {
        if line.len() > TABULAR_LINE_BYTES_MAX {
            return Err(TabularError::LineTooLong {
                line: i + 1,
                bytes: line.len(),
            });
        }
    }
    Ok(text)
}

/// The line (from 1) on which the CSV record reported at byte `pos` starts. The csv
/// crate's own line count drifts on CRLF files, and its record position can point at the
/// end of the previous record's terminator (or blank lines before the record): the record
/// starts at the first byte from `pos` that is not a line break.
fn line_at(text: &str, pos: u64) -> usize {
    LineCounter::new(text).line_at(pos)
}

/// Line numbers for increasing byte positions, counting each byte once (rows of a large
/// file would otherwise cost a scan from the start each).
struct LineCounter<'t> {
    bytes: &'t [u8],
    /// A position already counted, and the line it is on.
    pos: usize,
    line: usize,
}

impl<'t> LineCounter<'t> {
    fn new(text: &'t str) -> Self {
        LineCounter {
            bytes: text.as_bytes(),
            pos: 0,
            line: 1,
        }
    }

    /// See [`line_at`].
    fn line_at(&mut self, pos: u64) -> usize {
        let bytes = self.bytes;
        let pos = usize::try_from(pos).unwrap_or(usize::MAX).min(bytes.len());
        let start = bytes[pos..]
            .iter()
            .position(|b| *b != b'\r' && *b != b'\n')
            .map_or(bytes.len(), |i| pos + i);
        if start < self.pos {
            (self.pos, self.line) = (0, 1);
        }
        self.line += bytes[self.pos..start]
            .iter()
            .filter(|b| **b == b'\n')
            .count();
        self.pos = start;
        self.line
    }
}

/// Builds one candidate from a row, given a lookup of a column's value. `Err` is the reason
/// the row is skipped.
fn row_fields<'a>(
    map: &ColumnMap,
    region: Option<Region>,
    cell: impl Fn(&str) -> Option<&'a str>,
) -> Result<(String, CandidateFields), String> {
    let first = |field: Field| -> Option<&'a str> {
        map.columns(field)
            .find_map(|c| cell(c).filter(|v| !v.trim().is_empty()))
    };
    let external_id = first(Field::ExternalId)
        .map(|v| v.trim().to_string())
        .ok_or("empty external_id")?;
    let name = required_name(first(Field::Name))
        .map_err(|why| format!("{}: {why}", quote(&external_id, 80)))?;

    let mut f = CandidateFields {
        name: Some(name),
        ..CandidateFields::default()
    };
    // OpenStreetMap keeps the house number apart ("32", "Earl Grey Street"): one line.
    f.address_lines = join_house_numbers(
        [Field::Address, Field::Address2]
            .into_iter()
            .filter_map(|field| first(field).and_then(address_line))
            .collect(),
    );
    f.locality = first(Field::Locality).and_then(locality);
    if f.locality.is_none() && f.address_lines.len() >= 2 {
        // A directory's last address line is often its town ("101 Newington Road",
        // "Edinburgh"): one that reads as a town, not a street, is the locality.
        let last = &f.address_lines[f.address_lines.len() - 1];
        if !looks_like_street(last) {
            if let Some(town) = locality(last) {
                f.address_lines.pop();
                f.locality = Some(town);
            }
        }
    }
    f.postcode = first(Field::Postcode).and_then(|v| postcode_in(v, region));
    // A tabular source says nothing of its country; a postcode in its region's format
    // does (a UK one when the region is not known: every shipped source is British).
    f.country = f
        .postcode
        .as_ref()
        .map(|_| region.map_or_else(|| "GB".to_string(), |r| r.code().to_string()));

    let lat = first(Field::Lat);
    let lon = first(Field::Lon);
    match (lat, lon) {
        (None, None) => {}
        (Some(lat), Some(lon)) => {
            let parse = |v: &str| v.trim().parse::<f64>().ok();
            let (lat, lon) = match (parse(lat), parse(lon)) {
                (Some(a), Some(b)) => coordinates(a, b)?,
                _ => return Err(format!("coordinates not numbers ({lat:?}, {lon:?})")),
            };
            f.lat = Some(lat);
            f.lon = Some(lon);
        }
        _ => return Err("only one of lat and lon".to_string()),
    }

    f.phone = first(Field::Phone).and_then(|v| phone(v, region));
    f.email = first(Field::Email).and_then(email);
    f.website = first(Field::Website).and_then(website);
    f.description = first(Field::Description).and_then(|v| free_text(v, TEXT_CHARS_MAX));
    f.opening_hours = first(Field::OpeningHours).and_then(|v| free_text(v, TEXT_CHARS_MAX));

    let labels: Vec<&str> = map.columns(Field::Categories).filter_map(&cell).collect();
    let (categories, mut sports) = categories_from(&labels);
    let sport_labels: Vec<&str> = map.columns(Field::Sports).filter_map(&cell).collect();
    sports.extend(categories_from(&sport_labels).1);
    f.categories = categories;
    f.sports = sports;

    let class = first(Field::EntityClass)
        .map(|v| v.trim().to_lowercase())
        .filter(|v| {
            !v.is_empty() && v.len() <= 32 && v.chars().all(|c| c.is_ascii_lowercase() || c == '_')
        });
    f.entity_class = Some(class.unwrap_or_else(|| entity_class_for(&f.categories).to_string()));
    Ok((external_id, f))
}

/// Reads a CSV file (with a header line) through `map`.
///
/// Whole-file errors ([`TabularError`]): not UTF-8, a line over
/// [`TABULAR_LINE_BYTES_MAX`], no header, a mapped column not in the header, a row with a
/// different number of fields than the header, a CSV syntax error. Rows without a name or
/// id, or with bad coordinates, are skipped with `"line N: <reason>"` (N is the line the
/// row starts on). Mapped column names match the header exactly, or else ignoring case and
/// surrounding spaces when that is unambiguous.
pub fn extract_csv(
    bytes: &[u8],
    map: &ColumnMap,
    region: Option<Region>,
) -> Result<Extraction, TabularError> {
    let text = check_text(bytes)?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut records = reader.records();
    let csv_error = |e: csv::Error| TabularError::Csv {
        line: e.position().map_or(0, |p| line_at(text, p.byte())),
        message: e.to_string(),
    };
    let header: Vec<String> = match records.next() {
        None => return Err(TabularError::NoHeader),
        Some(row) => row
            .map_err(csv_error)?
            .iter()
            .map(|h| h.to_string())
            .collect(),
    };
    if header.len() > TABULAR_COLUMNS_MAX {
        return Err(TabularError::TooManyColumns {
            columns: header.len(),
        });
    }
    // Resolve each mapped column to its index once.
    let mut index: Vec<(String, usize)> = Vec::new();
    for (column, _) in &map.pairs {
        let exact = header.iter().position(|h| h == column);
        let loose: Vec<usize> = header
            .iter()
            .enumerate()
            .filter(|(_, h)| h.trim().eq_ignore_ascii_case(column.trim()))
            .map(|(i, _)| i)
            .collect();
        let i = match (exact, loose.as_slice()) {
            (Some(i), _) => i,
            (None, [i]) => *i,
            _ => {
                return Err(TabularError::MissingColumn {
                    column: column.clone(),
                    header: header.clone(),
                })
            }
        };
        index.push((column.clone(), i));
    }

    let mut out = Records::new();
    let mut lines = LineCounter::new(text);
    for row in records {
        let row = row.map_err(csv_error)?;
        let line = row.position().map_or(0, |p| lines.line_at(p.byte()));
        if row.len() != header.len() {
            // A trailing blank line reads as one empty field: not a row.
            if row.len() == 1 && row.get(0).is_some_and(|v| v.trim().is_empty()) {
                continue;
            }
            return Err(TabularError::Ragged {
                line,
                fields: row.len(),
                header_fields: header.len(),
            });
        }
        let cell = |column: &str| -> Option<&str> {
            let i = index.iter().find(|(c, _)| c == column)?.1;
            row.get(i)
        };
        match row_fields(map, region, cell) {
            Ok((id, fields)) => out.push_at(Some(line), id, fields),
            Err(reason) => out.skip(format!("line {line}: {reason}")),
        }
    }
    Ok(out.finish())
}

/// A JSON value as a cell: strings as they are, numbers and booleans as JSON writes them,
/// arrays of those joined with `;` (for label columns); null, objects and nested arrays
/// are no value.
fn cell_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Array(items) => {
            let parts: Vec<String> = items
                .iter()
                .filter(|i| !i.is_array())
                .filter_map(cell_text)
                .collect();
            (!parts.is_empty()).then(|| parts.join(";"))
        }
        _ => None,
    }
}

/// The value of `key` in `obj`: the member of that exact name, else a dotted path into
/// nested objects (`AddressInfo.Town`).
fn lookup<'v>(obj: &'v Value, key: &str) -> Option<&'v Value> {
    if let Some(v) = obj.get(key) {
        return Some(v);
    }
    key.split('.').try_fold(obj, |v, part| v.get(part))
}

/// Reads an NDJSON file (one JSON object per line; blank lines ignored) through `map`,
/// whose columns are the objects' keys (or dotted paths into nested objects).
///
/// Whole-file errors ([`TabularError`]): not UTF-8, a line over
/// [`TABULAR_LINE_BYTES_MAX`], a line that is not valid JSON or not an object, a mapped
/// key present on no line at all (a typo in the map; the message lists the keys seen).
/// Rows without a name or id, or with bad coordinates, are skipped with `"line N: <reason>"`.
pub fn extract_ndjson(
    bytes: &[u8],
    map: &ColumnMap,
    region: Option<Region>,
) -> Result<Extraction, TabularError> {
    let text = check_text(bytes)?;
    let mut rows: Vec<(usize, Value)> = Vec::new();
    for (i, line) in text.split('\n').enumerate() {
        let line_no = i + 1;
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        let value: Value = serde_json::from_str(trimmed).map_err(|e| TabularError::Json {
            line: line_no,
            message: e.to_string(),
        })?;
        if !value.is_object() {
            return Err(TabularError::NotAnObject { line: line_no });
        }
        rows.push((line_no, value));
    }
    if !rows.is_empty() {
        for (column, _) in &map.pairs {
            if !rows.iter().any(|(_, v)| lookup(v, column).is_some()) {
                let mut keys: Vec<String> = rows
                    .iter()
                    .filter_map(|(_, v)| v.as_object())
                    .flat_map(|o| o.keys().cloned())
                    .collect();
                keys.sort();
                keys.dedup();
                keys.truncate(TABULAR_COLUMNS_MAX);
                return Err(TabularError::MissingColumn {
                    column: column.clone(),
                    header: keys,
                });
            }
        }
    }
    let mut out = Records::new();
    for (line, value) in &rows {
        let cells: Vec<(&str, Option<String>)> = map
            .pairs
            .iter()
            .map(|(c, _)| (c.as_str(), lookup(value, c).and_then(cell_text)))
            .collect();
        let cell = |column: &str| -> Option<&str> {
            cells
                .iter()
                .find(|(c, _)| *c == column)
                .and_then(|(_, v)| v.as_deref())
        };
        match row_fields(map, region, cell) {
            Ok((id, fields)) => out.push_at(Some(*line), id, fields),
            Err(reason) => out.skip(format!("line {line}: {reason}")),
        }
    }
    Ok(out.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Real rows of the sportscotland register (`scotland-sports-facility.csv`, OGL v3),
    /// as the register's own CSV writes them, plus one row with a broken lat.
    const REGISTER_CSV: &str = "\
id,slug,facility_type,facility_sub_type,date_updated,name,address,postcode,la_name,town_orig,town,eastings_x,northing_y,lng,lat,fid,surface,site_id,facid,management_type,ownership_category,facility_status,date_opened,flood_lights
pub_spfp.1029,pitches,Pitches,Pitch - Football (5-a-side),2024-07-24,Powerleague Portobello,10 Westbank Street,EH15 1DR,City of Edinburgh,Edinburgh,Edinburgh,330210,674292,-3.1193233798286606,55.95655889562928,1029,3G,NA,NA,NA,NA,NA,NA,NA
pub_spfat.33,athletics-tracks,Athletics Tracks,Athletics Track,2024-04-09,Meadowbank Sports Centre,London Road,EH7 6AE,City of Edinburgh,Edinburgh,Edinburgh,327751,674325,-3.1587063146424605,55.956491340302875,33,NA,NA,NA,NA,NA,NA,NA,NA
pub_spfp.731,pitches,Pitches,Pitch - Football (7-a-side),2024-07-24,Allison Park,Todshill Road,NA,City of Edinburgh,KIRKLISTON,Kirkliston,312100,674400,-3.4093171843433017,55.954553508355716,731,Grass,NA,NA,NA,NA,NA,NA,NA
pub_spfsp.89,swimming-pools,Swimming Pools,Swimming Pool - Main,2024-07-24,St Crispins School (ASN),19 Watertoun Road,NA,City of Edinburgh,Edinburgh,Edinburgh,326217,671043,-3.1823700360957647,55.9267761968941,89,NA,NA,NA,NA,NA,NA,NA,NA
pub_spfitc.18,tennis-courts-indoor,Tennis Courts (Indoor),Indoor Tennis Court,2024-07-25,Craiglockhart Sports and Tennis Centre,177 Colinton Road,EH14 1BZ,City of Edinburgh,EDINBURGH,Edinburgh,322845,670572,-3.2361856743644517,55.92201558402411,18,Open Textured Bitmac,3862,9049,Leisure Trust,Local Authority,Actual,NA,FALSE
pub_spffs.126,fitness-suites,Fitness Suites,Fitness Suite - Weights And CV,2024-07-24,Royal Commonwealth Pool,21 Dalkeith Road,EH16 5BB,City of Edinburgh,Edinburgh,Edinburgh,326800,672400,-3.1734106167774563,55.939055176629765,126,NA,NA,NA,NA,NA,NA,NA,NA
pub_spfbg.999,bowling-greens,Bowling Greens,Bowling Green,2024-07-24,NA,Nowhere Road,NA,City of Edinburgh,Edinburgh,Edinburgh,0,0,-3.1,55.9,999,NA,NA,NA,NA,NA,NA,NA,NA
pub_spfbg.998,bowling-greens,Bowling Greens,Bowling Green,2024-07-24,Broken Lat Bowling Club,1 Some Road,EH1 1AA,City of Edinburgh,Edinburgh,Edinburgh,0,0,-3.1,NaN,998,NA,NA,NA,NA,NA,NA,NA,NA
";

    fn register_map() -> ColumnMap {
        parse_map(
            "id=external_id,name=name,address=address,postcode=postcode,town=locality,\
             lat=lat,lng=lon,facility_sub_type=categories,facility_type=categories",
        )
        .unwrap()
    }

    #[test]
    fn maps_parse_and_name_what_is_wrong() {
        let m = parse_map("id=external_id, name = name ,addr=address,city=locality,phone=phone")
            .unwrap();
        assert_eq!(
            m.pairs,
            vec![
                ("id".to_string(), Field::ExternalId),
                ("name".to_string(), Field::Name),
                ("addr".to_string(), Field::Address),
                ("city".to_string(), Field::Locality),
                ("phone".to_string(), Field::Phone),
            ]
        );
        let err = parse_map("id=external_id,name=nmae").unwrap_err();
        assert!(err.contains("unknown field \"nmae\""), "{err}");
        assert!(err.contains("external_id, name, address"), "{err}");
        let err = parse_map("name=name").unwrap_err();
        assert!(err.starts_with("map a column to external_id"), "{err}");
        assert!(parse_map("id").unwrap_err().contains("not column=field"));
        assert!(parse_map("=name,id=external_id")
            .unwrap_err()
            .contains("no column"));
        assert!(parse_map("a=name,b=name,id=external_id")
            .unwrap_err()
            .contains("more than once"));
        assert!(parse_map("a=categories,b=categories,id=external_id").is_ok());
        assert!(parse_map("").is_err());
        for f in Field::ALL {
            assert_eq!(Field::from_name(f.as_str()), Some(f));
        }
    }

    #[test]
    fn register_rows_import() {
        let e = extract_csv(REGISTER_CSV.as_bytes(), &register_map(), Some(Region::GB)).unwrap();
        assert_eq!(e.records.len(), 6, "{:?}", e.skipped);
        assert_eq!(
            e.skipped,
            vec![
                "line 8: pub_spfbg.999: no name".to_string(),
                "line 9: coordinates not finite (NaN, -3.1)".to_string(),
            ]
        );
        let pl = &e.records[0];
        assert_eq!(pl.external_id, "pub_spfp.1029");
        let f = &pl.fields;
        assert_eq!(f.name.as_deref(), Some("Powerleague Portobello"));
        assert_eq!(f.address_lines, vec!["10 Westbank Street"]);
        assert_eq!(f.postcode.as_deref(), Some("EH15 1DR"));
        assert_eq!(f.locality.as_deref(), Some("Edinburgh"));
        assert_eq!(f.country.as_deref(), Some("GB"));
        assert_eq!((f.lat, f.lon), (Some(55.9565589), Some(-3.1193234)));
        assert_eq!(f.categories, vec!["five_a_side", "pitch"]);
        assert_eq!(f.sports, vec!["football"]);
        assert_eq!(f.entity_class.as_deref(), Some("venue"));
        let allison = &e.records[2].fields;
        assert_eq!(allison.postcode, None, "NA is no postcode");
        assert_eq!(allison.country, None);
        let pool = &e.records[3].fields;
        assert_eq!(pool.categories, vec!["swimming_pool"]);
        assert_eq!(pool.sports, vec!["swimming"]);
    }

    #[test]
    fn whole_file_errors_name_the_line() {
        let map = register_map();
        let mut bad = REGISTER_CSV.as_bytes().to_vec();
        let at = REGISTER_CSV.find("Allison").unwrap();
        bad[at] = 0xff;
        assert_eq!(
            extract_csv(&bad, &map, Some(Region::GB)),
            Err(TabularError::NotUtf8 {
                line: 4,
                byte_offset: at
            })
        );
        let ragged = REGISTER_CSV.replacen("Todshill Road,NA", "Todshill Road", 1);
        assert_eq!(
            extract_csv(ragged.as_bytes(), &map, Some(Region::GB)),
            Err(TabularError::Ragged {
                line: 4,
                fields: 23,
                header_fields: 24
            })
        );
        let renamed = REGISTER_CSV.replacen(",lng,", ",longitude,", 1);
        match extract_csv(renamed.as_bytes(), &map, Some(Region::GB)) {
            Err(TabularError::MissingColumn { column, header }) => {
                assert_eq!(column, "lng");
                assert!(header.contains(&"longitude".to_string()));
            }
            other => panic!("{other:?}"),
        }
        let long = format!("id,name\n1,{}\n", "x".repeat(TABULAR_LINE_BYTES_MAX));
        let map2 = parse_map("id=external_id,name=name").unwrap();
        assert_eq!(
            extract_csv(long.as_bytes(), &map2, Some(Region::GB)),
            Err(TabularError::LineTooLong {
                line: 2,
                bytes: TABULAR_LINE_BYTES_MAX + 2
            })
        );
        assert_eq!(
            extract_csv(b"", &map2, Some(Region::GB)),
            Err(TabularError::NoHeader)
        );
        let msg = extract_csv(b"id,name\n1,\"unterminated\n", &map2, Some(Region::GB));
        assert!(msg.is_ok() || matches!(msg, Err(TabularError::Csv { .. })));
    }

    #[test]
    fn csv_quirks_are_read() {
        let map =
            parse_map("ID=external_id,Name=name,Phone=phone,Tags=categories,Kind=entity_class")
                .unwrap();
        let csv = "\u{feff}id, name ,phone,tags,kind\r\n\
                   7,\"Bowling & Tennis, Ltd\",0131 496 0123,Tennis club;Bowling green,\r\n\
                   8,Charger,,charging station,\r\n\
                   9,  ,,,\r\n\
                   \r\n";
        let e = extract_csv(csv.as_bytes(), &map, Some(Region::GB)).unwrap();
        assert_eq!(e.records.len(), 2);
        assert_eq!(e.skipped, vec!["line 4: 9: no name"]);
        let f = &e.records[0].fields;
        assert_eq!(f.name.as_deref(), Some("Bowling & Tennis, Ltd"));
        assert_eq!(f.phone.as_deref(), Some("+441314960123"));
        assert_eq!(f.categories, vec!["bowling_green", "sports_club"]);
        assert_eq!(f.sports, vec!["bowling", "tennis"]);
        assert_eq!(
            e.records[1].fields.entity_class.as_deref(),
            Some("ev_charger")
        );
    }

    #[test]
    fn ndjson_rows_import() {
        let map = parse_map(
            "ID=external_id,AddressInfo.Title=name,AddressInfo.Postcode=postcode,\
             AddressInfo.Latitude=lat,AddressInfo.Longitude=lon,tags=categories",
        )
        .unwrap();
        let nd = r#"{"ID": 195263, "AddressInfo": {"Title": "St James Quarter-Level B1", "Postcode": "EH1 3AD", "Latitude": 55.95479, "Longitude": -3.1885916}, "tags": ["charging station"]}

{"ID": 2, "AddressInfo": {"Title": null, "Latitude": 1, "Longitude": 2}}
{"ID": 3, "AddressInfo": {"Title": "Bad", "Latitude": 91, "Longitude": 2}}
"#;
        let e = extract_ndjson(nd.as_bytes(), &map, Some(Region::GB)).unwrap();
        assert_eq!(e.records.len(), 1);
        assert_eq!(e.records[0].external_id, "195263");
        let f = &e.records[0].fields;
        assert_eq!(f.name.as_deref(), Some("St James Quarter-Level B1"));
        assert_eq!(f.postcode.as_deref(), Some("EH1 3AD"));
        assert_eq!(f.categories, vec!["ev_charging"]);
        assert_eq!(
            e.skipped,
            vec![
                "line 3: 2: no name".to_string(),
                "line 4: coordinates out of range (91, 2)".to_string()
            ]
        );
        let bad = "{\"ID\": 1}\n{\"ID\": 2,\n";
        assert!(matches!(
            extract_ndjson(bad.as_bytes(), &map, Some(Region::GB)),
            Err(TabularError::Json { line: 2, .. })
        ));
        assert_eq!(
            extract_ndjson(b"{\"ID\": 1}\n[1]\n", &map, Some(Region::GB)),
            Err(TabularError::NotAnObject { line: 2 })
        );
        match extract_ndjson(b"{\"id\": 1, \"name\": \"x\"}\n", &map, Some(Region::GB)) {
            Err(TabularError::MissingColumn { column, header }) => {
                assert_eq!(column, "ID");
                assert_eq!(header, vec!["id", "name"]);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            extract_ndjson(b"\n\n", &map, Some(Region::GB)),
            Ok(Extraction::default())
        );
    }

    #[test]
    fn errors_read_as_instructions() {
        let e = TabularError::Ragged {
            line: 4,
            fields: 23,
            header_fields: 24,
        };
        assert_eq!(e.to_string(), "line 4 has 23 fields, the header has 24");
        let e = TabularError::NotUtf8 {
            line: 2,
            byte_offset: 17,
        };
        assert!(e.to_string().contains("re-save the file as UTF-8"));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let map = parse_map("a=external_id,b=name,c=lat,d=lon,e=categories").unwrap();
            let _ = extract_csv(&bytes, &map, Some(Region::GB));
            let _ = extract_ndjson(&bytes, &map, Some(Region::GB));
        }

        #[test]
        fn arbitrary_csv_text_never_panics(
            rows in proptest::collection::vec(
                proptest::collection::vec("[a-z0-9 ,\"\\n.;-]{0,12}", 0..6), 0..8)
        ) {
            let map = parse_map("a=external_id,b=name,c=lat,d=lon").unwrap();
            let mut text = String::from("a,b,c,d\n");
            for r in rows {
                text.push_str(&r.join(","));
                text.push('\n');
            }
            let _ = extract_csv(text.as_bytes(), &map, Some(Region::GB));
        }
    }
}
