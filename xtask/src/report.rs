//! The outcome of each check and the report built from them: a table, Markdown and JSON.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use anyhow::Context as _;
use serde::Serialize;

/// Whether a check held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
}

impl Status {
    fn label(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Fail => "FAIL",
        }
    }
}

/// One named check: its verdict, what it saw, and what to do when it failed.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub check: &'static str,
    pub status: Status,
    /// What the check looked at and found, one fact per line. The first line is the summary
    /// shown in the table.
    pub evidence: Vec<String>,
    /// How to make a failed check pass; empty when it passed.
    pub remedy: String,
}

impl Outcome {
    pub fn pass(check: &'static str, evidence: Vec<String>) -> Self {
        Self { check, status: Status::Pass, evidence, remedy: String::new() }
    }

    pub fn fail(check: &'static str, evidence: Vec<String>, remedy: impl Into<String>) -> Self {
        Self { check, status: Status::Fail, evidence, remedy: remedy.into() }
    }

    pub fn passed(&self) -> bool {
        self.status == Status::Pass
    }

    fn summary(&self) -> &str {
        self.evidence.first().map_or("", String::as_str)
    }
}

/// Every check's outcome, in the order they ran.
#[derive(Debug, Serialize)]
pub struct Report {
    pub passed: bool,
    pub checks: Vec<Outcome>,
}

impl Report {
    pub fn new(checks: Vec<Outcome>) -> Self {
        Self { passed: checks.iter().all(Outcome::passed), checks }
    }

    /// A plain-text table for the terminal, then each check's evidence in full.
    pub fn table(&self) -> String {
        let width = self.checks.iter().map(|outcome| outcome.check.len()).max().unwrap_or(0);
        let mut text = String::new();
        let _ = writeln!(text, "{:width$}  status  evidence", "check");
        for outcome in &self.checks {
            let _ = writeln!(
                text,
                "{:width$}  {:6}  {}",
                outcome.check,
                outcome.status.label(),
                outcome.summary()
            );
        }
        for outcome in &self.checks {
            let _ = writeln!(text, "\n== {} ({})", outcome.check, outcome.status.label());
            for line in outcome.evidence.iter().skip(1) {
                let _ = writeln!(text, "   {}", line.replace('\n', "\n     "));
            }
            if !outcome.remedy.is_empty() {
                let _ = writeln!(text, "   remedy: {}", outcome.remedy);
            }
        }
        let verdict = self.verdict();
        let _ = writeln!(text, "\n{verdict}");
        text
    }

    /// The same content as Markdown: a summary table, then a section per check.
    pub fn markdown(&self) -> String {
        let mut text = String::from("# Security audit\n\n");
        let _ = writeln!(text, "{}\n", self.verdict());
        text.push_str("| check | status | evidence | remedy |\n| --- | --- | --- | --- |\n");
        for outcome in &self.checks {
            let _ = writeln!(
                text,
                "| {} | {} | {} | {} |",
                outcome.check,
                outcome.status.label(),
                table_cell(outcome.summary()),
                table_cell(&outcome.remedy),
            );
        }
        for outcome in &self.checks {
            let _ = writeln!(text, "\n## {} ({})\n", outcome.check, outcome.status.label());
            for line in &outcome.evidence {
                let _ = writeln!(text, "- {}", line.replace('`', "'").replace('\n', "\n  "));
            }
            if !outcome.remedy.is_empty() {
                let _ = writeln!(text, "\nRemedy: {}", outcome.remedy);
            }
        }
        text
    }

    fn verdict(&self) -> String {
        let failed = self.checks.iter().filter(|outcome| !outcome.passed()).count();
        if failed == 0 {
            format!("all {} checks passed", self.checks.len())
        } else {
            format!("{failed} of {} checks failed", self.checks.len())
        }
    }

    /// Writes `report.md` and `report.json` into `dir`, creating it.
    pub fn write(&self, dir: &Path) -> anyhow::Result<()> {
        fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let markdown = dir.join("report.md");
        fs::write(&markdown, self.markdown())
            .with_context(|| format!("cannot write {}", markdown.display()))?;
        let json = dir.join("report.json");
        let mut body = serde_json::to_string_pretty(self)?;
        body.push('\n');
        fs::write(&json, body).with_context(|| format!("cannot write {}", json.display()))?;
        Ok(())
    }
}

/// Keeps a Markdown table row intact whatever the text holds.
fn table_cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Report {
        Report::new(vec![
            Outcome::pass("first", vec!["all good".into(), "detail a\ncontinued".into()]),
            Outcome::fail("second", vec!["found 1 | problem".into()], "fix it"),
        ])
    }

    #[test]
    fn one_failed_check_fails_the_report() {
        let report = sample();
        assert!(!report.passed);
        assert!(Report::new(vec![Outcome::pass("only", vec![])]).passed);
    }

    #[test]
    fn table_and_markdown_carry_every_check() {
        let report = sample();
        let table = report.table();
        assert!(table.contains("first   pass    all good"), "{table}");
        assert!(table.contains("second  FAIL    found 1 | problem"), "{table}");
        assert!(table.contains("remedy: fix it"), "{table}");
        assert!(table.contains("1 of 2 checks failed"), "{table}");

        let markdown = report.markdown();
        assert!(
            markdown.contains("| second | FAIL | found 1 \\| problem | fix it |"),
            "{markdown}"
        );
        assert!(markdown.contains("- detail a\n  continued"), "{markdown}");
    }

    #[test]
    fn json_lists_check_status_evidence_and_remedy() {
        let dir = tempfile::tempdir().unwrap();
        sample().write(dir.path()).unwrap();
        let text = fs::read_to_string(dir.path().join("report.json")).unwrap();
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(json["passed"], false);
        assert_eq!(json["checks"][1]["check"], "second");
        assert_eq!(json["checks"][1]["status"], "fail");
        assert_eq!(json["checks"][1]["remedy"], "fix it");
        assert_eq!(json["checks"][0]["evidence"][1], "detail a\ncontinued");
        assert!(dir.path().join("report.md").is_file());
    }
}
