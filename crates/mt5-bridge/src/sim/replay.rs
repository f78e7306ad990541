//! Recorded ticks to replay instead of the random walk.
//!
//! The file format is documented on the `sim` module, where users of the crate see it.

use std::path::Path;
use std::str::FromStr;

use rust_decimal::Decimal;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::clock::to_ms;
use super::spec::{self, SPECS, Spec};
use crate::TerminalError;

/// One recorded quote, in points, timed from the file's first row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ReplayRow {
    pub(crate) offset_ms: i64,
    pub(crate) bid: i64,
    pub(crate) ask: i64,
}

/// A whole replay file, ready to play in a loop.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Tape {
    pub(crate) rows: Vec<ReplayRow>,
    /// Time from one play of the first row to the next.
    pub(crate) cycle_ms: i64,
}

/// Reads every `<SYMBOL>.csv` in `dir`; the result is indexed like [`SPECS`].
pub(crate) fn load_dir(dir: &Path, interval_ms: i64) -> Result<Vec<Option<Tape>>, TerminalError> {
    let unreadable = |error: std::io::Error| {
        TerminalError::Config(format!("cannot read replay folder {}: {error}", dir.display()))
    };
    let mut tapes: Vec<Option<Tape>> = SPECS.iter().map(|_| None).collect();
    for entry in std::fs::read_dir(dir).map_err(unreadable)? {
        let path = entry.map_err(unreadable)?.path();
        if path.extension().is_none_or(|ext| !ext.eq_ignore_ascii_case("csv")) {
            continue;
        }
        let stem = path.file_stem().and_then(|stem| stem.to_str()).unwrap_or_default();
        let Some(index) = spec::find(stem) else {
            tracing::warn!(file = %path.display(), "replay file names no simulated symbol; ignored");
            continue;
        };
        let text = std::fs::read_to_string(&path).map_err(|error| {
            TerminalError::Config(format!("cannot read replay file {}: {error}", path.display()))
        })?;
        let tape = parse(&text, &SPECS[index], interval_ms).map_err(|(line, reason)| {
            TerminalError::Config(format!("replay file {} line {line}: {reason}", path.display()))
        })?;
        tapes[index] = Some(tape);
    }
    Ok(tapes)
}

/// Parses one file; errors carry the 1-based line number and the reason.
pub(crate) fn parse(text: &str, spec: &Spec, interval_ms: i64) -> Result<Tape, (usize, String)> {
    let mut rows: Vec<ReplayRow> = Vec::new();
    let mut first_ms = None;
    let mut last_line = 0;
    for (index, raw) in text.lines().enumerate() {
        let line_number = index + 1;
        last_line = line_number;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if rows.is_empty() && first_ms.is_none() && line.eq_ignore_ascii_case("time,bid,ask") {
            continue;
        }
        let fail = |reason: String| (line_number, reason);

        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let [time, bid, ask] = fields[..] else {
            return Err(fail(format!("expected 3 fields time,bid,ask, found {}", fields.len())));
        };
        let time_ms = parse_time(time).ok_or_else(|| {
            fail(format!("time {time:?} is neither RFC 3339 nor epoch milliseconds"))
        })?;
        let bid = parse_price(bid, spec).map_err(|reason| fail(format!("bid {reason}")))?;
        let ask = parse_price(ask, spec).map_err(|reason| fail(format!("ask {reason}")))?;
        if ask < bid {
            return Err(fail(format!("ask {} below bid {}", spec.price(ask), spec.price(bid))));
        }

        let first = *first_ms.get_or_insert(time_ms);
        let offset_ms = time_ms - first;
        if rows.last().is_some_and(|previous| offset_ms < previous.offset_ms) {
            return Err(fail("time goes back from the previous row".to_owned()));
        }
        rows.push(ReplayRow { offset_ms, bid, ask });
    }
    let Some(last) = rows.last() else {
        return Err((last_line.max(1), "no ticks in the file".to_owned()));
    };
    let cycle_ms = last.offset_ms + interval_ms.max(1);
    Ok(Tape { rows, cycle_ms })
}

fn parse_time(text: &str) -> Option<i64> {
    if !text.is_empty() && text.bytes().all(|byte| byte.is_ascii_digit()) {
        // Epoch milliseconds; anything past the year 9999 is refused by the check below.
        let ms: i64 = text.parse().ok()?;
        let seconds = ms / 1_000;
        return OffsetDateTime::from_unix_timestamp(seconds).is_ok().then_some(ms);
    }
    OffsetDateTime::parse(text, &Rfc3339).ok().map(to_ms)
}

fn parse_price(text: &str, spec: &Spec) -> Result<i64, String> {
    let price = Decimal::from_str(text).map_err(|_| format!("{text:?} is not a number"))?;
    spec.points(price)
        .ok_or_else(|| format!("{text} is not a positive price in steps of {}", spec.point()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eurusd(text: &str) -> Result<Tape, (usize, String)> {
        parse(text, &SPECS[0], 1_000)
    }

    #[test]
    fn reads_both_time_forms_header_and_comments() {
        let tape = eurusd(
            "time,bid,ask\n# recorded on a quiet morning\n\n\
             2024-06-03T09:00:00Z,1.08502,1.08512\n1717405200500,1.085,1.0851\n",
        )
        .unwrap();
        assert_eq!(
            tape.rows,
            vec![
                ReplayRow { offset_ms: 0, bid: 108_502, ask: 108_512 },
                ReplayRow { offset_ms: 500, bid: 108_500, ask: 108_510 },
            ]
        );
        assert_eq!(tape.cycle_ms, 1_500);
    }

    #[test]
    fn malformed_rows_name_their_line() {
        let cases = [
            ("1,1.1\n", 1, "expected 3 fields"),
            ("time,bid,ask\nyesterday,1.1,1.1\n", 2, "neither RFC 3339"),
            ("1000,1.1,abc\n", 1, "ask \"abc\" is not a number"),
            ("1000,1.100001,1.2\n", 1, "bid 1.100001 is not a positive price"),
            ("1000,-1.1,1.2\n", 1, "not a positive price"),
            ("1000,1.2,1.1\n", 1, "ask 1.10000 below bid 1.20000"),
            ("2000,1.1,1.1\n1000,1.1,1.1\n", 2, "time goes back"),
            ("99999999999999999,1.1,1.1\n", 1, "neither RFC 3339"),
            ("# nothing\n", 1, "no ticks"),
        ];
        for (text, line, reason) in cases {
            let (got_line, got_reason) = eurusd(text).unwrap_err();
            assert_eq!(got_line, line, "{text:?}");
            assert!(got_reason.contains(reason), "{text:?}: {got_reason}");
        }
    }

    #[test]
    fn folder_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("EURUSD.csv"), "1000,1.1,1.1\n1001,x,1.1\n").unwrap();
        let error = load_dir(dir.path(), 1_000).unwrap_err().to_string();
        assert!(error.contains("EURUSD.csv line 2: bid \"x\" is not a number"), "{error}");
    }

    #[test]
    fn folder_maps_files_to_symbols_and_skips_others() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("USDJPY.csv"), "1000,150.001,150.013\n").unwrap();
        std::fs::write(dir.path().join("GBPJPY.csv"), "1000,190,190\n").unwrap();
        std::fs::write(dir.path().join("notes.txt"), "not a tape").unwrap();
        let tapes = load_dir(dir.path(), 1_000).unwrap();
        assert!(tapes[0].is_none());
        assert_eq!(tapes[2].as_ref().unwrap().rows[0].bid, 150_001);
    }
}
