//! `mt5-gateway audit verify`: walk every log's chain and report the first break.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use audit_log::{ChainKey, VerifyOptions};

use crate::settings::Settings;

/// Exit 0 when every current and archived file holds; 1 with file, line and reason otherwise.
#[allow(clippy::print_stdout, reason = "the command's own output")]
pub fn verify(settings: &Settings, dir: Option<&Path>) -> anyhow::Result<ExitCode> {
    let dir = dir.unwrap_or(&settings.logs.dir);
    let key_file = &settings.logs.chain_key_file;
    let key = ChainKey::load(key_file)
        .with_context(|| format!("cannot load the chain key {}", key_file.display()))?;
    let mut options = VerifyOptions::new();
    options.retention_days = settings.logs.retention_days;
    options.trade_retention_days = settings.logs.trade_retention_days;
    let report = audit_log::verify_dir_with(dir, &key, &options)
        .with_context(|| format!("cannot read the audit logs in {}", dir.display()))?;

    match report.first_break() {
        None => {
            println!("audit logs in {} verify: every chain holds", dir.display());
            Ok(ExitCode::SUCCESS)
        }
        Some(broken) => {
            println!("audit logs in {} are broken", dir.display());
            println!("{broken}");
            Ok(ExitCode::FAILURE)
        }
    }
}
