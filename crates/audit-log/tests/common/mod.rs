//! Shared fixtures for the audit-log tests: a temporary logs folder, a manual clock, and
//! helpers to read and rewrite a file's lines.

#![allow(dead_code, reason = "each test file uses a different subset")]
#![allow(clippy::unwrap_used, reason = "a test fails by panicking, with its location")]

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use audit_log::{AuditConfig, ChainKey, ManualClock, VerifyOptions, VerifyReport, verify_dir_with};
use tempfile::TempDir;
use time::OffsetDateTime;
use time::macros::datetime;

pub const START: OffsetDateTime = datetime!(2026-12-03 10:00:00 UTC);

pub struct Fixture {
    pub dir: TempDir,
    pub clock: ManualClock,
    pub config: AuditConfig,
}

impl Fixture {
    pub fn new() -> Self {
        Self::at(START)
    }

    pub fn at(start: OffsetDateTime) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(start);
        let mut config =
            AuditConfig::new(dir.path().join("logs"), dir.path().join("keys/chain.key"));
        config.clock = Arc::new(clock.clone());
        Self { dir, clock, config }
    }

    pub fn logs(&self) -> &Path {
        &self.config.logs_dir
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.logs().join(name)
    }

    pub fn archive(&self, name: &str) -> PathBuf {
        self.logs().join("archive").join(name)
    }

    pub fn key(&self) -> ChainKey {
        ChainKey::load(&self.config.key_file).unwrap()
    }

    pub fn verify(&self) -> VerifyReport {
        let options = VerifyOptions { today: self.clock_now().date(), ..VerifyOptions::new() };
        verify_dir_with(self.logs(), &self.key(), &options).unwrap()
    }

    pub fn clock_now(&self) -> OffsetDateTime {
        use audit_log::Clock;
        self.clock.now()
    }
}

pub fn read_lines(path: &Path) -> Vec<String> {
    fs::read_to_string(path).unwrap().lines().map(str::to_owned).collect()
}

pub fn write_lines(path: &Path, lines: &[String]) {
    let mut text = lines.join("\n");
    text.push('\n');
    fs::write(path, text).unwrap();
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(4).enable_all().build().unwrap()
}
