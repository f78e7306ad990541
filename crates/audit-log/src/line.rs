//! One CSV line: encoding a row's cells so it can never span two lines or start a formula,
//! and parsing a line back into its cells.

use crate::cell::Cell;

/// Characters that make a spreadsheet treat a cell as a formula when they come first.
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// Renders a record's cells, then applies the two line-safety rules once more regardless of
/// what the sanitizer did: no control character (so no line break) survives, and a text cell
/// never starts with a formula character. These hold by construction for numbers and times.
pub(crate) fn render_cells(cells: &[Cell]) -> Vec<String> {
    cells
        .iter()
        .map(|cell| {
            let rendered = cell.render();
            match cell {
                Cell::Text(_) => guard_text(rendered),
                Cell::Number(_) | Cell::Time(_) | Cell::Empty => rendered,
            }
        })
        .collect()
}

fn guard_text(mut text: String) -> String {
    if text.chars().any(char::is_control) {
        text.retain(|c| !c.is_control());
    }
    if text.starts_with(FORMULA_STARTS) {
        text.insert(0, '\'');
    }
    text
}

/// Counts line ends in some bytes.
#[allow(
    clippy::naive_bytecount,
    reason = "files are read once per open; a dependency for this is not worth it"
)]
pub(crate) fn count_newlines(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| b == b'\n').count()
}

/// Encodes fields as one CSV line ending in `\n`, quoting only where needed.
pub(crate) fn encode<S: AsRef<str>>(fields: &[S]) -> Vec<u8> {
    let mut line = Vec::with_capacity(fields.iter().map(|f| f.as_ref().len() + 1).sum());
    for (index, field) in fields.iter().enumerate() {
        if index > 0 {
            line.push(b',');
        }
        let field = field.as_ref();
        if field.contains([',', '"', '\n', '\r']) || field.starts_with(' ') || field.ends_with(' ')
        {
            line.push(b'"');
            for byte in field.bytes() {
                if byte == b'"' {
                    line.push(b'"');
                }
                line.push(byte);
            }
            line.push(b'"');
        } else {
            line.extend_from_slice(field.as_bytes());
        }
    }
    line.push(b'\n');
    line
}

/// Parses one line (without or with its `\n`) into its fields; `None` if it is not valid
/// UTF-8 CSV holding exactly one record.
pub(crate) fn parse(line: &[u8]) -> Option<Vec<String>> {
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(line);
    let mut record = csv::StringRecord::new();
    match reader.read_record(&mut record) {
        Ok(true) => {}
        Ok(false) | Err(_) => return None,
    }
    let mut rest = csv::StringRecord::new();
    if !matches!(reader.read_record(&mut rest), Ok(false)) {
        return None;
    }
    Some(record.iter().map(str::to_owned).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_round_trips() {
        let fields = ["plain", "a,b", "say \"hi\"", " padded ", ""];
        let line = encode(&fields);
        assert_eq!(count_newlines(&line), 1);
        assert_eq!(parse(&line), Some(fields.iter().map(|f| (*f).to_owned()).collect()));
    }

    #[test]
    fn text_guard_strips_breaks_and_neutralizes() {
        assert_eq!(guard_text("=1+2".into()), "'=1+2");
        assert_eq!(guard_text("a\r\nb".into()), "ab");
        assert_eq!(guard_text("\n=x".into()), "'=x");
        assert_eq!(guard_text("'=x".into()), "'=x");
    }

    #[test]
    fn two_records_are_not_one_line() {
        assert_eq!(parse(b"a,b\nc,d\n"), None);
    }

    proptest::proptest! {
        /// Whatever text a caller sends, its row stays one line, keeps its column count, and
        /// no cell opens with a formula character.
        #[test]
        fn any_text_stays_one_safe_line(texts in proptest::collection::vec(".*", 1..6)) {
            let cells: Vec<Cell> = texts.into_iter().map(Cell::Text).collect();
            let rendered = render_cells(&cells);
            // Rows always open with the writer's timestamp, never with caller text.
            let mut fields = vec!["2026-12-03T14:05:09.123456Z".to_owned()];
            fields.extend(rendered.iter().cloned());
            let line = encode(&fields);
            proptest::prop_assert_eq!(count_newlines(&line), 1);
            let parsed = parse(&line);
            proptest::prop_assert_eq!(parsed.as_ref(), Some(&fields));
            for cell in &rendered {
                proptest::prop_assert!(!cell.starts_with(FORMULA_STARTS));
                proptest::prop_assert!(cell.chars().count() <= 500);
            }
        }
    }
}
