use super::*;

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-01-14T12:00:00Z")
        .expect("time")
        .with_timezone(&Utc)
}

const HEADER: &str = "username,email,display_name,role,uid,key_label,key_type,expires_at";

fn ok(text: &str) -> Vec<Row> {
    parse(text.as_bytes(), now()).expect("parses")
}

fn errs(text: &str) -> Vec<RowError> {
    parse(text.as_bytes(), now()).expect_err("refused")
}

#[test]
fn reads_quotes_commas_newlines_bom_and_crlf() {
    let text = format!(
        "\u{feff}{HEADER}\r\nalice,alice@example.org,\"Smith, Alice\",keyholder,04:a2:b3:c4,\"Blue\ntag\",,\r\n"
    );
    let rows = ok(&text);
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    assert_eq!(r.row, 2);
    assert_eq!(r.username.as_str(), "alice");
    assert_eq!(
        r.display_name.as_ref().map(|d| d.as_str()),
        Some("Smith, Alice")
    );
    assert_eq!(r.role, Some(Role::Keyholder));
    let k = r.key.as_ref().expect("key");
    assert_eq!(k.uid.as_str(), "04A2B3C4");
    // A line break inside a cell of free text becomes a space.
    assert_eq!(k.label, "Blue tag");
}

#[test]
fn semicolons_any_column_order_and_blank_rows() {
    let text = "uid;Email;USERNAME\n\n04 a2 b3 c4 d5 e6 f7;bob@example.org;Bob\n\n;;\n";
    let rows = ok(text);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].row, 3);
    assert_eq!(rows[0].username.as_str(), "bob");
    assert_eq!(
        rows[0].key.as_ref().map(|k| k.uid.as_str()),
        Some("04A2B3C4D5E6F7")
    );
}

#[test]
fn a_member_without_a_card_has_no_key() {
    let rows = ok(&format!("{HEADER}\ncarol,carol@example.org,,,,,,\n"));
    assert!(rows[0].key.is_none());
    assert!(rows[0].role.is_none());
}

#[test]
fn every_error_names_its_row_and_field() {
    let text = format!(
        "{HEADER}\n\
         okay,okay@example.org,,,04A2B3C4,,,\n\
         X!,not-an-email,,boss,xyz,,,\n\
         dave,dave@example.org,,,04A2B3C5,,,2020-01-01T00:00:00Z\n\
         erin,erin@example.org,,,,label,,\n"
    );
    let e = errs(&text);
    let got: Vec<(u64, &str)> = e.iter().map(|e| (e.row, e.field.as_str())).collect();
    assert_eq!(
        got,
        vec![
            (3, "username"),
            (3, "email"),
            (3, "role"),
            (3, "uid"),
            (4, "expires_at"),
            (5, "key_label"),
        ]
    );
    assert!(e[4].message.contains("future"));
}

#[test]
fn duplicates_in_the_file_are_refused() {
    let text = format!(
        "{HEADER}\n\
         alice,alice@example.org,,,04A2B3C4,,,\n\
         alice,alice@example.org,,,04A2B3C5,,,\n\
         bob,bob@example.org,,,04:A2:B3:C4,,,\n\
         alice,other@example.org,,,,,,\n"
    );
    let e = errs(&text);
    assert_eq!(e.len(), 2, "{e:?}");
    assert_eq!((e[0].row, e[0].field.as_str()), (4, "uid"));
    assert!(e[0].message.contains("row 2"));
    assert_eq!((e[1].row, e[1].field.as_str()), (5, "email"));
}

#[test]
fn header_problems_are_row_one() {
    let e = errs("username,colour\nalice,red\n");
    let got: Vec<(u64, &str)> = e.iter().map(|e| (e.row, e.field.as_str())).collect();
    assert_eq!(got, vec![(1, "colour"), (1, "email")]);
    assert_eq!(errs("")[0].row, 1);
}

#[test]
fn invalid_utf8_is_an_error_not_a_panic() {
    let mut bytes = format!("{HEADER}\n").into_bytes();
    bytes.extend_from_slice(b"al\xffce,a@example.org,,,,,,\n");
    let e = parse(&bytes, now()).expect_err("refused");
    assert_eq!(e[0].row, 2);
    assert!(e[0].message.contains("UTF-8"));
}

#[test]
fn too_many_cells_is_an_error() {
    let e = errs("username,email\nalice,a@example.org,extra\n");
    assert_eq!((e[0].row, e[0].field.as_str()), (2, ""));
}
