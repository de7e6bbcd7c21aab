//! Printing helpers shared by the subcommands: exit statuses, aligned tables, JSON, and the
//! broken-pipe check that lets `crossgate … | head -1` exit quietly.

use std::io::{self, Read, Write};
use std::path::Path;

use anyhow::Context;
use std::process::ExitCode;

use serde::Serialize;

/// How a subcommand ended when it did not fail with an error (errors exit 2, see `main`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Status {
    /// Exit 0: all good.
    Ok,
    /// Exit 1: the thing checked failed (an invalid policy, a blocked request, a finding).
    Failed,
    /// Exit 2 with nothing more to say: part of the work could not be done, and the output
    /// already says which and why (`audit`: a target that could not be audited).
    Incomplete,
}

impl From<Status> for ExitCode {
    fn from(status: Status) -> ExitCode {
        match status {
            Status::Ok => ExitCode::SUCCESS,
            Status::Failed => ExitCode::from(1),
            Status::Incomplete => ExitCode::from(2),
        }
    }
}

/// Whether an error is stdout having been closed by its reader (`| head -1`): not worth a word.
pub(crate) fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|e| {
        e.downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}

/// Writes `value` as pretty JSON and a newline.
pub(crate) fn write_json(out: &mut dyn Write, value: &impl Serialize) -> anyhow::Result<()> {
    // Serialized to memory first so that a write error stays an `io::Error` in the chain
    // (serde_json's own error hides its cause from `is_broken_pipe`).
    let text = serde_json::to_string_pretty(value)?;
    writeln!(out, "{text}")?;
    Ok(())
}

/// `1 error`, `2 errors`.
pub(crate) fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("{n} {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// A user-supplied string as it should appear in a one-line message: as is, unless it is empty
/// or holds white space or control characters, where it is quoted so the line stays one line
/// and unambiguous.
pub(crate) fn shown(input: &str) -> String {
    if input.is_empty() || input.chars().any(|c| c.is_whitespace() || c.is_control()) {
        format!("{input:?}")
    } else {
        input.to_owned()
    }
}

/// A table printed with its columns aligned, two spaces apart, without trailing spaces.
#[derive(Debug, Default)]
pub(crate) struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table whose first row is `header` (pass `&[]` for none).
    pub(crate) fn new(header: &[&str]) -> Table {
        let mut table = Table::default();
        if !header.is_empty() {
            table
                .rows
                .push(header.iter().map(|&h| h.to_owned()).collect());
        }
        table
    }

    /// Adds a row.
    pub(crate) fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Writes the table, every line prefixed with `indent`.
    pub(crate) fn write(&self, out: &mut dyn Write, indent: &str) -> io::Result<()> {
        let columns = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let mut widths = vec![0; columns];
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let mut line = String::new();
        for row in &self.rows {
            line.clear();
            line.push_str(indent);
            for (i, cell) in row.iter().enumerate() {
                if i > 0 {
                    line.push_str("  ");
                }
                line.push_str(cell);
                let pad = widths[i] - cell.chars().count();
                line.extend(std::iter::repeat_n(' ', pad));
            }
            writeln!(out, "{}", line.trim_end())?;
        }
        Ok(())
    }
}

/// The most crossgate reads from one file or from standard input: 16 MiB. Every file the CLI
/// reads (a policy, a routes file, scenarios, a URL list, a CA certificate) is a few kilobytes to
/// a few megabytes; past this it is the wrong file (`/dev/zero`, a log, a FIFO that never ends),
/// and reading on would only exhaust memory. 16 MiB holds 482,000 origins like
/// `https://app123456.example.com`, which `crossgate validate` checks in 1.4 s.
pub(crate) const MAX_INPUT_BYTES: u64 = 16 << 20;

/// Reads everything `reader` gives, up to [`MAX_INPUT_BYTES`]: one byte more is an error, found
/// after reading at most that one byte more (`/dev/zero` and an endless FIFO are refused at
/// once). The error is an `io::Error`, so that the caller's context names the file.
fn read_capped(reader: impl Read) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    reader.take(MAX_INPUT_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_INPUT_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::FileTooLarge,
            format!(
                "larger than {} MiB ({MAX_INPUT_BYTES} bytes), the most crossgate reads from one \
                 file (a fixed limit): is it the right file?",
                MAX_INPUT_BYTES >> 20
            ),
        ));
    }
    Ok(bytes)
}

/// The bytes of a file, at most [`MAX_INPUT_BYTES`].
pub(crate) fn read_bytes(path: &Path) -> io::Result<Vec<u8>> {
    read_capped(std::fs::File::open(path)?)
}

/// The text of a file, at most [`MAX_INPUT_BYTES`]: `std::fs::read_to_string` with a bound.
pub(crate) fn read_file(path: &Path) -> io::Result<String> {
    text(read_bytes(path)?)
}

fn text(bytes: Vec<u8>) -> io::Result<String> {
    String::from_utf8(bytes).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "stream did not contain valid UTF-8",
        )
    })
}

/// Reads an input file, `-` for standard input, at most [`MAX_INPUT_BYTES`]. Returns the name
/// to show in messages (`<stdin>` for `-`) and the text; the error says which file could not be
/// read, and why.
pub(crate) fn read_input(path: &Path) -> anyhow::Result<(String, String)> {
    if path.as_os_str() == "-" {
        let text = read_capped(io::stdin().lock())
            .and_then(text)
            .context("cannot read <stdin>")?;
        return Ok(("<stdin>".to_owned(), text));
    }
    let name = path.display().to_string();
    let text = read_file(path).with_context(|| format!("cannot read {name}"))?;
    Ok((name, text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_and_trims() {
        let mut table = Table::new(&["A", "BB", "C"]);
        table.row(vec!["xxx".into(), "".into(), "z".into()]);
        table.row(vec!["ü".into(), "yyyy".into(), "".into()]);
        let mut out = Vec::new();
        table.write(&mut out, "> ").unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "> A    BB    C\n> xxx        z\n> ü    yyyy\n"
        );
    }

    #[test]
    fn shown_quotes_only_when_needed() {
        assert_eq!(shown("http://"), "http://");
        assert_eq!(shown("not a url"), "\"not a url\"");
        assert_eq!(shown(""), "\"\"");
        assert_eq!(shown("a\nb"), "\"a\\nb\"");
    }

    #[test]
    fn broken_pipe_is_found_in_the_chain() {
        let e = anyhow::Error::from(io::Error::from(io::ErrorKind::BrokenPipe)).context("writing");
        assert!(is_broken_pipe(&e));
        assert!(!is_broken_pipe(&anyhow::anyhow!("other")));
    }
}
