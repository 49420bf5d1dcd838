//! A one-sheet Excel workbook (`.xlsx`, Office Open XML SpreadsheetML) of text cells: the Assigner's
//! member-list download. Pure: rows in, the file's bytes out.
//!
//! The file is a zip of six parts (content types, package and workbook relationships, workbook, styles,
//! one worksheet); every cell is an inline string, the header row is bold and frozen, and columns have
//! widths that fit their text (at most 80 characters). Parts are deflated (`miniz_oxide`) and carry a
//! CRC-32; the zip entries' time is the time passed in (the member list's, so the same list gives the
//! same bytes).
//!
//! Why not `rust_xlsxwriter`: its `Workbook::new` reads the system clock for the document properties,
//! and `SystemTime::now()` traps in a `wasm32-unknown-unknown` guest (the crate's `wasm` feature needs
//! JavaScript). What a member list needs is the small subset written here.

use std::fmt::Write as _;

use crate::assigner::time;

/// The media type of the file.
pub const CONTENT_TYPE: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// The workbook's bytes: `header` as the first (bold, frozen) row, then `rows`, on a sheet named
/// `sheet` (trimmed to Excel's 31 characters, without `[]:*?/\`). `at` is the files' modification time
/// (seconds since the epoch).
pub fn workbook(sheet: &str, header: &[&str], rows: &[Vec<String>], at: i64) -> Vec<u8> {
    let mut zip = Zip::new(at);
    zip.add("[Content_Types].xml", CONTENT_TYPES.as_bytes());
    zip.add("_rels/.rels", ROOT_RELS.as_bytes());
    zip.add("xl/workbook.xml", workbook_xml(sheet).as_bytes());
    zip.add("xl/_rels/workbook.xml.rels", WORKBOOK_RELS.as_bytes());
    zip.add("xl/styles.xml", STYLES.as_bytes());
    zip.add("xl/worksheets/sheet1.xml", sheet_xml(header, rows).as_bytes());
    zip.finish()
}

const CONTENT_TYPES: &str = concat!(
    r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>"#,
    r#"<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">"#,
    r#"<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>"#,
    r#"<Default Extension="xml" ContentType="application/xml"/>"#,
    r#"<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>"#,
    r#"<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>"#,
    r#"<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>"#,
    r#"</Types>"#
);

const ROOT_RELS: &str = concat!(
    r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>"#,
    r#"<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">"#,
    r#"<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>"#,
    r#"</Relationships>"#
);

const WORKBOOK_RELS: &str = concat!(
    r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>"#,
    r#"<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">"#,
    r#"<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>"#,
    r#"<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/>"#,
    r#"</Relationships>"#
);

/// Two cell formats: 0 normal, 1 bold.
const STYLES: &str = concat!(
    r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>"#,
    r#"<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">"#,
    r#"<fonts count="2"><font><sz val="11"/><name val="Calibri"/><family val="2"/></font>"#,
    r#"<font><b/><sz val="11"/><name val="Calibri"/><family val="2"/></font></fonts>"#,
    r#"<fills count="2"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill></fills>"#,
    r#"<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>"#,
    r#"<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>"#,
    r#"<cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>"#,
    r#"<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/></cellXfs>"#,
    r#"<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>"#,
    r#"</styleSheet>"#
);

fn workbook_xml(sheet: &str) -> String {
    let name: String = sheet.chars().filter(|c| !"[]:*?/\\".contains(*c)).take(31).collect();
    let name = if name.trim().is_empty() { "Members".to_owned() } else { name };
    let mut out = String::from(concat!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>"#,
        r#"<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" "#,
        r#"xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>"#
    ));
    out.push_str(r#"<sheet name=""#);
    escape(&name, &mut out);
    out.push_str(r#"" sheetId="1" r:id="rId1"/></sheets></workbook>"#);
    out
}

/// `A`, `B`, …, `Z`, `AA`, … for a 0-based column.
fn column_name(mut c: usize) -> String {
    let mut out = Vec::new();
    loop {
        out.push(b'A' + (c % 26) as u8);
        if c < 26 {
            break;
        }
        c = c / 26 - 1;
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// XML text: `&<>"` escaped, characters XML 1.0 cannot carry (most controls) dropped.
fn escape(s: &str, out: &mut String) {
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\t' | '\n' | '\r' => out.push(ch),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => {}
            c => out.push(c),
        }
    }
}

fn sheet_xml(header: &[&str], rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).chain([header.len()]).max().unwrap_or(0);
    let mut widths = vec![8usize; columns];
    for (i, h) in header.iter().enumerate() {
        widths[i] = widths[i].max(h.chars().count() + 2);
    }
    for row in rows {
        for (i, v) in row.iter().enumerate() {
            widths[i] = widths[i].max((v.chars().count() + 2).min(80));
        }
    }
    let mut out = String::with_capacity(200 + rows.len() * 160);
    out.push_str(concat!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>"#,
        r#"<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">"#,
        r#"<sheetViews><sheetView workbookViewId="0"><pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>"#,
        r#"</sheetView></sheetViews><sheetFormatPr defaultRowHeight="15"/>"#
    ));
    if columns > 0 {
        out.push_str("<cols>");
        for (i, w) in widths.iter().enumerate() {
            let _ = write!(out, r#"<col min="{n}" max="{n}" width="{w}" customWidth="1"/>"#, n = i + 1);
        }
        out.push_str("</cols>");
    }
    out.push_str("<sheetData>");
    let names: Vec<String> = (0..columns).map(column_name).collect();
    let header: Vec<String> = header.iter().map(|h| (*h).to_owned()).collect();
    for (r, (row, bold)) in std::iter::once((&header, true)).chain(rows.iter().map(|r| (r, false))).enumerate() {
        let _ = write!(out, r#"<row r="{}">"#, r + 1);
        for (c, v) in row.iter().enumerate() {
            let _ = write!(
                out,
                r#"<c r="{}{}" t="inlineStr"{}><is><t"#,
                names[c],
                r + 1,
                if bold { r#" s="1""# } else { "" }
            );
            if v.starts_with(char::is_whitespace) || v.ends_with(char::is_whitespace) {
                out.push_str(r#" xml:space="preserve""#);
            }
            out.push('>');
            escape(v, &mut out);
            out.push_str("</t></is></c>");
        }
        out.push_str("</row>");
    }
    out.push_str("</sheetData></worksheet>");
    out
}

/// CRC-32 (IEEE, reflected; the zip format's).
fn crc32(data: &[u8]) -> u32 {
    static TABLE: std::sync::OnceLock<[u32; 256]> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut t = [0u32; 256];
        for (i, e) in t.iter_mut().enumerate() {
            let mut c = i as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
            }
            *e = c;
        }
        t
    });
    !data.iter().fold(!0u32, |c, &b| table[((c ^ u32::from(b)) & 0xFF) as usize] ^ (c >> 8))
}

/// A zip archive written in memory: deflated entries, no zip64 (a member list is far below 4 GiB).
struct Zip {
    out: Vec<u8>,
    central: Vec<u8>,
    entries: u16,
    dos_time: u16,
    dos_date: u16,
}

impl Zip {
    fn new(at: i64) -> Zip {
        let (y, m, d) = time::civil_from_days(time::day_of(at));
        let secs = at.rem_euclid(time::DAY);
        let (dos_date, dos_time) = if (1980..=2107).contains(&y) {
            let date = ((y - 1980) as u16) << 9 | (m as u16) << 5 | d as u16;
            let t = ((secs / 3600) as u16) << 11 | (((secs / 60) % 60) as u16) << 5 | ((secs % 60) / 2) as u16;
            (date, t)
        } else {
            (1 << 5 | 1, 0)
        };
        Zip { out: Vec::new(), central: Vec::new(), entries: 0, dos_time, dos_date }
    }

    fn add(&mut self, name: &str, data: &[u8]) {
        let packed = miniz_oxide::deflate::compress_to_vec(data, 6);
        let crc = crc32(data);
        let offset = self.out.len() as u32;
        let common = |v: &mut Vec<u8>| {
            v.extend_from_slice(&20u16.to_le_bytes()); // version needed: 2.0
            v.extend_from_slice(&0x0800u16.to_le_bytes()); // flags: UTF-8 names
            v.extend_from_slice(&8u16.to_le_bytes()); // deflate
            v.extend_from_slice(&self.dos_time.to_le_bytes());
            v.extend_from_slice(&self.dos_date.to_le_bytes());
            v.extend_from_slice(&crc.to_le_bytes());
            v.extend_from_slice(&(packed.len() as u32).to_le_bytes());
            v.extend_from_slice(&(data.len() as u32).to_le_bytes());
            v.extend_from_slice(&(name.len() as u16).to_le_bytes());
            v.extend_from_slice(&0u16.to_le_bytes()); // extra field length
        };
        self.out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        common(&mut self.out);
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(&packed);

        self.central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        self.central.extend_from_slice(&20u16.to_le_bytes()); // made by: 2.0, MS-DOS
        common(&mut self.central);
        self.central.extend_from_slice(&0u16.to_le_bytes()); // comment length
        self.central.extend_from_slice(&0u16.to_le_bytes()); // disk
        self.central.extend_from_slice(&0u16.to_le_bytes()); // internal attributes
        self.central.extend_from_slice(&0u32.to_le_bytes()); // external attributes
        self.central.extend_from_slice(&offset.to_le_bytes());
        self.central.extend_from_slice(name.as_bytes());
        self.entries += 1;
    }

    fn finish(mut self) -> Vec<u8> {
        let start = self.out.len() as u32;
        let size = self.central.len() as u32;
        self.out.append(&mut self.central);
        self.out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
        self.out.extend_from_slice(&[0; 4]); // this disk, the central directory's disk
        self.out.extend_from_slice(&self.entries.to_le_bytes());
        self.out.extend_from_slice(&self.entries.to_le_bytes());
        self.out.extend_from_slice(&size.to_le_bytes());
        self.out.extend_from_slice(&start.to_le_bytes());
        self.out.extend_from_slice(&0u16.to_le_bytes()); // comment length
        self.out
    }
}

/// Standard base64 with padding (the admin API carries the file in JSON).
pub fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_and_base64_match_their_references() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(column_name(0), "A");
        assert_eq!(column_name(25), "Z");
        assert_eq!(column_name(26), "AA");
        assert_eq!(column_name(701), "ZZ");
    }

    #[test]
    fn cells_are_escaped_and_the_archive_lists_every_part() {
        let rows = vec![vec!["1".to_owned(), "a&b <c>".to_owned(), " x\u{1}".to_owned()]];
        let xml = sheet_xml(&["id", "upn", "displayName"], &rows);
        assert!(xml.contains(r#"<c r="A1" t="inlineStr" s="1"><is><t>id</t>"#), "{xml}");
        assert!(xml.contains("<t>a&amp;b &lt;c&gt;</t>"), "{xml}");
        assert!(xml.contains(r#"<t xml:space="preserve"> x</t>"#), "{xml}");
        let file = workbook("Sales: EMEA", &["id"], &[vec!["1".into()]], 1_717_200_000);
        assert_eq!(&file[..4], b"PK\x03\x04");
        let end = &file[file.len() - 22..];
        assert_eq!(&end[..4], &0x0605_4b50u32.to_le_bytes());
        assert_eq!(u16::from_le_bytes([end[10], end[11]]), 6);
        // Deterministic for the same list and time.
        assert_eq!(file, workbook("Sales: EMEA", &["id"], &[vec!["1".into()]], 1_717_200_000));
        // Every entry inflates back to its part, with its CRC.
        let mut at = 0;
        let mut names = Vec::new();
        while file[at..at + 4] == 0x0403_4b50u32.to_le_bytes() {
            let u16_at = |i: usize| u16::from_le_bytes([file[at + i], file[at + i + 1]]) as usize;
            let u32_at = |i: usize| u32::from_le_bytes(file[at + i..at + i + 4].try_into().unwrap());
            let (packed, size, name_len) = (u32_at(18) as usize, u32_at(22) as usize, u16_at(26));
            let name = std::str::from_utf8(&file[at + 30..at + 30 + name_len]).unwrap().to_owned();
            let data = &file[at + 30 + name_len..at + 30 + name_len + packed];
            let part = miniz_oxide::inflate::decompress_to_vec(data).unwrap();
            assert_eq!((part.len(), crc32(&part)), (size, u32_at(14)), "{name}");
            if name.ends_with("sheet1.xml") {
                assert!(String::from_utf8(part).unwrap().contains("<t>1</t>"));
            }
            names.push(name);
            at += 30 + name_len + packed;
        }
        assert_eq!(names.len(), 6, "{names:?}");
        let xml = workbook_xml("Sales: EMEA [all]");
        assert!(xml.contains(r#"name="Sales EMEA all""#), "{xml}");
    }
}
