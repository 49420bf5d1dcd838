//! CSV output of the generator: RFC 4180 quoting where a field needs it, `\n` line ends, row counts for
//! the summary; JSON-array cells as Learn writes them.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

pub(super) struct Csv {
    name: String,
    out: BufWriter<File>,
    rows: u64,
}

impl Csv {
    pub(super) fn create(dir: &Path, name: String, header: &str, capacity: usize) -> io::Result<Csv> {
        let mut out = BufWriter::with_capacity(capacity, File::create(dir.join(&name))?);
        out.write_all(header.as_bytes())?;
        out.write_all(b"\n")?;
        Ok(Csv { name, out, rows: 0 })
    }

    /// A row of text fields, quoted where needed.
    pub(super) fn record(&mut self, fields: &[&str]) -> io::Result<()> {
        let mut line = Vec::with_capacity(256);
        for (i, f) in fields.iter().enumerate() {
            if i > 0 {
                line.push(b',');
            }
            push_field(&mut line, f);
        }
        line.push(b'\n');
        self.rows += 1;
        self.out.write_all(&line)
    }

    pub(super) fn finish(mut self) -> io::Result<(String, u64)> {
        self.out.flush()?;
        Ok((self.name, self.rows))
    }
}

fn push_field(line: &mut Vec<u8>, f: &str) {
    let quote = f.bytes().any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r')) || f.starts_with(' ') || f.ends_with(' ');
    if !quote {
        line.extend_from_slice(f.as_bytes());
        return;
    }
    line.push(b'"');
    for b in f.bytes() {
        if b == b'"' {
            line.push(b'"');
        }
        line.push(b);
    }
    line.push(b'"');
}

pub(super) fn json_array(items: &[&str]) -> String {
    serde_json::to_string(items).unwrap_or_else(|_| "[]".to_owned())
}
