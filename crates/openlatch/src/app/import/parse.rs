//! Member CSV in, typed rows or every row error out. Pure: no database, no
//! clock (the caller passes `now`).
//!
//! Rows are read as strings by the `csv` crate (quotes, embedded commas and
//! newlines, CRLF, a UTF-8 BOM, `;` as used by spreadsheets in locales with
//! a decimal comma), then each field goes through the same parsers as the
//! member and key API, so the import says what the API would say.

use crate::domain::key::{parse_label, KeyType, Uid};
use crate::domain::member::{DisplayName, Email, Role, Username};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::HashMap;

/// The columns, in the order export writes them.
pub const COLUMNS: [&str; 8] = [
    "username",
    "email",
    "display_name",
    "role",
    "uid",
    "key_label",
    "key_type",
    "expires_at",
];

/// More rows than this is refused before anything is checked.
pub const MAX_ROWS: usize = 200_000;

/// One problem, named by the line the record starts on (1 = the header)
/// and the column.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RowError {
    pub row: u64,
    pub field: String,
    pub message: String,
}

impl RowError {
    fn new(row: u64, field: &str, message: impl Into<String>) -> Self {
        RowError {
            row,
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

/// A key on a row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowKey {
    pub uid: Uid,
    pub label: String,
    pub key_type: Option<KeyType>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// A valid row. Empty optional cells are `None`: for an existing member
/// they leave the stored value as it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    pub row: u64,
    pub username: Username,
    pub email: Option<Email>,
    pub display_name: Option<DisplayName>,
    pub role: Option<Role>,
    pub key: Option<RowKey>,
}

/// Parses the whole file; any error anywhere gives every error found.
pub fn parse(bytes: &[u8], now: DateTime<Utc>) -> Result<Vec<Row>, Vec<RowError>> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .delimiter(delimiter(bytes))
        .from_reader(bytes);
    let mut errors = Vec::new();

    let headers = match reader.byte_headers() {
        Ok(h) => h.clone(),
        Err(e) => return Err(vec![RowError::new(1, "", csv_message(&e))]),
    };
    if headers.is_empty() || headers.iter().all(|h| h.is_empty()) {
        return Err(vec![RowError::new(
            1,
            "",
            format!(
                "the file is empty; the first row names the columns: {}",
                COLUMNS.join(",")
            ),
        )]);
    }
    // Column name -> index.
    let mut index: HashMap<&'static str, usize> = HashMap::new();
    for (i, raw) in headers.iter().enumerate() {
        let name = String::from_utf8_lossy(raw).trim().to_ascii_lowercase();
        match COLUMNS.iter().find(|c| **c == name) {
            Some(c) if index.contains_key(c) => {
                errors.push(RowError::new(1, c, "column appears twice"));
            }
            Some(c) => {
                index.insert(c, i);
            }
            None => errors.push(RowError::new(
                1,
                &name,
                format!("unknown column; the columns are {}", COLUMNS.join(",")),
            )),
        }
    }
    for required in ["username", "email"] {
        if !index.contains_key(required) {
            errors.push(RowError::new(1, required, "column is missing"));
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }

    let mut rows = Vec::new();
    // First row of each username and of each UID, for duplicates.
    let mut members: HashMap<String, usize> = HashMap::new();
    let mut uids: HashMap<Uid, u64> = HashMap::new();
    let mut record = csv::ByteRecord::new();
    loop {
        let line = reader.position().line();
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let at = e.position().map_or(line, |p| p.line());
                errors.push(RowError::new(at, "", csv_message(&e)));
                // An I/O-level error (not UTF-8, not a field count) ends the file.
                if !matches!(e.kind(), csv::ErrorKind::Utf8 { .. }) {
                    break;
                }
                continue;
            }
        }
        let row = record.position().map_or(line, |p| line_at(bytes, p.byte()));
        if rows.len() + errors.len() >= MAX_ROWS {
            return Err(vec![RowError::new(
                row,
                "",
                format!("more than {MAX_ROWS} rows; split the file"),
            )]);
        }
        if record.iter().all(|f| f.iter().all(u8::is_ascii_whitespace)) {
            continue; // a blank row, as spreadsheets leave at the end
        }
        if record.len() > headers.len() {
            errors.push(RowError::new(
                row,
                "",
                format!(
                    "has {} cells but the header names {} columns",
                    record.len(),
                    headers.len()
                ),
            ));
            continue;
        }
        let mut cells: HashMap<&'static str, String> = HashMap::new();
        let mut bad_utf8 = false;
        for (name, &i) in &index {
            match std::str::from_utf8(record.get(i).unwrap_or_default()) {
                Ok(s) => {
                    cells.insert(name, s.trim().to_owned());
                }
                Err(_) => {
                    errors.push(RowError::new(row, name, "is not valid UTF-8"));
                    bad_utf8 = true;
                }
            }
        }
        if bad_utf8 {
            continue;
        }
        match parse_row(row, &cells, now) {
            Ok(r) => {
                check_duplicates(&r, &rows, &mut members, &mut uids, &mut errors);
                rows.push(r);
            }
            Err(mut e) => errors.append(&mut e),
        }
    }
    if errors.is_empty() {
        Ok(rows)
    } else {
        Err(errors)
    }
}

/// The 1-based line on which the record at byte `offset` starts (blank
/// lines before it skipped).
fn line_at(bytes: &[u8], offset: u64) -> u64 {
    let offset = usize::try_from(offset)
        .unwrap_or(usize::MAX)
        .min(bytes.len());
    let mut line = 1 + bytes[..offset].iter().filter(|&&b| b == b'\n').count() as u64;
    for &b in &bytes[offset..] {
        match b {
            b'\n' => line += 1,
            b'\r' => {}
            _ => break,
        }
    }
    line
}

/// A line break inside a spreadsheet cell of free text becomes a space.
fn one_line(s: &str) -> String {
    s.split(['\r', '\n'])
        .filter(|p| !p.trim().is_empty())
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ")
}

/// `;` when the header row has semicolons and no commas, else `,`.
fn delimiter(bytes: &[u8]) -> u8 {
    let first = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
    if first.contains(&b';') && !first.contains(&b',') {
        b';'
    } else {
        b','
    }
}

fn csv_message(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::Utf8 { .. } => "is not valid UTF-8".into(),
        _ => format!("cannot be read as CSV: {e}"),
    }
}

fn parse_row(
    row: u64,
    cells: &HashMap<&'static str, String>,
    now: DateTime<Utc>,
) -> Result<Row, Vec<RowError>> {
    let mut errors = Vec::new();
    let cell = |name: &str| {
        cells
            .get(name)
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    };
    let mut check = |field: &str, r: Result<(), String>| {
        if let Err(m) = r {
            errors.push(RowError::new(row, field, m));
        }
    };

    let mut username = None;
    match cell("username") {
        None => check("username", Err("is required".into())),
        Some(u) => match Username::parse(&u.to_lowercase()) {
            Ok(u) => username = Some(u),
            Err(m) => check("username", Err(m.into())),
        },
    }
    let mut email = None;
    if let Some(e) = cell("email") {
        match Email::parse(e) {
            Ok(e) => email = Some(e),
            Err(m) => check("email", Err(m.into())),
        }
    }
    let mut display_name = None;
    if let Some(d) = cell("display_name") {
        match DisplayName::parse(&one_line(d)) {
            Ok(d) => display_name = Some(d),
            Err(m) => check("display_name", Err(m)),
        }
    }
    let mut role = None;
    if let Some(r) = cell("role") {
        match r.to_ascii_lowercase().parse::<Role>() {
            Ok(r) => role = Some(r),
            Err(m) => check("role", Err(m.into())),
        }
    }

    let mut key = None;
    match cell("uid") {
        None => {
            for field in ["key_label", "key_type", "expires_at"] {
                if cell(field).is_some() {
                    check(field, Err("is given on a row without a uid".into()));
                }
            }
        }
        Some(raw) => {
            let uid = Uid::parse(raw).map_err(|m| m.to_owned());
            let label =
                parse_label(&one_line(cell("key_label").unwrap_or(""))).map_err(|m| m.to_owned());
            let key_type = cell("key_type")
                .map(|t| KeyType::parse(&t.to_ascii_lowercase()).map_err(|m| m.to_owned()))
                .transpose();
            let expires_at = cell("expires_at")
                .map(|t| {
                    DateTime::parse_from_rfc3339(t)
                        .map(|t| t.with_timezone(&Utc))
                        .map_err(|_| "must be an RFC 3339 time like 2026-12-31T23:59:59Z".into())
                        .and_then(|t| {
                            if t <= now {
                                Err("must be in the future".to_owned())
                            } else {
                                Ok(t)
                            }
                        })
                })
                .transpose();
            match (uid, label, key_type, expires_at) {
                (Ok(uid), Ok(label), Ok(key_type), Ok(expires_at)) => {
                    key = Some(RowKey {
                        uid,
                        label,
                        key_type,
                        expires_at,
                    })
                }
                (uid, label, key_type, expires_at) => {
                    check("uid", uid.map(|_| ()));
                    check("key_label", label.map(|_| ()));
                    check("key_type", key_type.map(|_| ()));
                    check("expires_at", expires_at.map(|_| ()));
                }
            }
        }
    }
    match username {
        Some(username) if errors.is_empty() => Ok(Row {
            row,
            username,
            email,
            display_name,
            role,
            key,
        }),
        _ => Err(errors),
    }
}

/// A member on several rows must be described the same way on each; a UID
/// may appear once.
fn check_duplicates(
    r: &Row,
    rows: &[Row],
    members: &mut HashMap<String, usize>,
    uids: &mut HashMap<Uid, u64>,
    errors: &mut Vec<RowError>,
) {
    if let Some(k) = &r.key {
        if let Some(first) = uids.get(&k.uid) {
            errors.push(RowError::new(
                r.row,
                "uid",
                format!("{} is already on row {first}", k.uid),
            ));
        } else {
            uids.insert(k.uid.clone(), r.row);
        }
    }
    match members.get(r.username.as_str()) {
        None => {
            members.insert(r.username.as_str().to_owned(), rows.len());
        }
        Some(&i) => {
            let first = &rows[i];
            let differs = |field: &str, a: Option<&str>, b: Option<&str>| {
                (a.is_some() && b.is_some() && a != b).then(|| {
                    RowError::new(
                        r.row,
                        field,
                        format!(
                            "differs from row {} for the same username ({})",
                            first.row,
                            b.unwrap_or_default()
                        ),
                    )
                })
            };
            errors.extend(differs(
                "email",
                r.email.as_ref().map(Email::as_str),
                first.email.as_ref().map(Email::as_str),
            ));
            errors.extend(differs(
                "display_name",
                r.display_name.as_ref().map(DisplayName::as_str),
                first.display_name.as_ref().map(DisplayName::as_str),
            ));
            errors.extend(differs(
                "role",
                r.role.map(Role::as_str),
                first.role.map(Role::as_str),
            ));
        }
    }
}

#[cfg(test)]
#[path = "parse_tests.rs"]
mod tests;
