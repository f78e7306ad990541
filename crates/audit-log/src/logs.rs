//! The four sinks opened together, with repairs and deletions written where they belong.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use crate::config::AuditConfig;
use crate::error::AuditError;
use crate::health::HealthSnapshot;
use crate::key::ChainKey;
use crate::notice::{Notice, NoticeHandler, OpenReport};
use crate::schema::{DealEntry, ErrorEntry, OrderEntry, SecurityEvent, SecurityEventKind};
use crate::sink::{AuditSink, WeakSink};

/// The gateway's four audit files.
///
/// Repairs are written to `errors.csv` (code `LOG_REPAIRED`), retention deletions to
/// `security.csv` (event `log_deleted`) and dropped rows to `errors.csv`
/// (`AUDIT_ROWS_DROPPED`), both for what opening found and for what the writers do later. The
/// [`OpenReport`] returned by [`AuditLogs::open`] is for display; its contents are already
/// recorded.
#[derive(Debug)]
pub struct AuditLogs {
    /// `security.csv`.
    pub security: AuditSink<SecurityEvent>,
    /// `errors.csv`.
    pub errors: AuditSink<ErrorEntry>,
    /// `orders.csv`.
    pub orders: AuditSink<OrderEntry>,
    /// `deals.csv`.
    pub deals: AuditSink<DealEntry>,
    logs_dir: PathBuf,
}

/// The health of all four sinks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditHealth {
    /// `security.csv`.
    pub security: HealthSnapshot,
    /// `errors.csv`.
    pub errors: HealthSnapshot,
    /// `orders.csv`.
    pub orders: HealthSnapshot,
    /// `deals.csv`.
    pub deals: HealthSnapshot,
}

impl AuditHealth {
    /// True when every sink is writing.
    #[must_use]
    pub fn is_ok(&self) -> bool {
        [&self.security, &self.errors, &self.orders, &self.deals].iter().all(|h| h.is_ok())
    }
}

/// Where writers send their notices once all sinks are open.
#[derive(Debug, Default)]
struct Router {
    security: OnceLock<WeakSink<SecurityEvent>>,
    errors: OnceLock<WeakSink<ErrorEntry>>,
}

impl Router {
    fn route(&self, notice: Notice) {
        let security = self.security.get().and_then(WeakSink::upgrade);
        let errors = self.errors.get().and_then(WeakSink::upgrade);
        record_notice(security.as_ref(), errors.as_ref(), notice);
    }
}

fn record_notice(
    security: Option<&AuditSink<SecurityEvent>>,
    errors: Option<&AuditSink<ErrorEntry>>,
    notice: Notice,
) {
    match notice {
        Notice::Repaired(repair) => {
            let message = format!(
                "cut torn line {} of {} ({} bytes, {}) after a crash",
                repair.line,
                repair.file.display(),
                repair.bytes_cut,
                repair.reason
            );
            if let Some(errors) = errors {
                errors.record(ErrorEntry {
                    request_id: None,
                    status: None,
                    code: "LOG_REPAIRED".into(),
                    message,
                });
            }
        }
        Notice::ArchiveDeleted(deleted) => {
            if let Some(security) = security {
                let detail = format!(
                    "deleted {} of {} past retention",
                    deleted.file.display(),
                    deleted.date
                );
                security.record(SecurityEvent::new(SecurityEventKind::LogDeleted).detail(detail));
            }
        }
        Notice::RowsDropped { sink, total } => {
            if let Some(errors) = errors {
                errors.record(ErrorEntry {
                    request_id: None,
                    status: None,
                    code: "AUDIT_ROWS_DROPPED".into(),
                    message: format!(
                        "{sink} dropped rows because its queue was full; {total} since start"
                    ),
                });
            }
        }
    }
}

impl AuditLogs {
    /// Loads or creates the chain key, opens the four sinks (repairing torn lines and applying
    /// retention), records what that found, and starts the writer threads.
    pub fn open(config: &AuditConfig) -> Result<(Self, OpenReport), AuditError> {
        config.validate()?;
        fs::create_dir_all(&config.logs_dir)
            .map_err(|e| AuditError::io("create folder", &config.logs_dir, e))?;
        ensure_key_outside_logs(&config.key_file, &config.logs_dir)?;
        let key = Arc::new(ChainKey::load_or_create(&config.key_file)?);

        let router = Arc::new(Router::default());
        let handler: NoticeHandler = {
            let router = Arc::clone(&router);
            Arc::new(move |notice| router.route(notice))
        };

        let mut report = OpenReport::default();
        let (security, found) =
            AuditSink::<SecurityEvent>::open(config, Arc::clone(&key), Some(handler.clone()))?;
        report.extend(found);
        let (errors, found) =
            AuditSink::<ErrorEntry>::open(config, Arc::clone(&key), Some(handler.clone()))?;
        report.extend(found);
        let (orders, found) =
            AuditSink::<OrderEntry>::open(config, Arc::clone(&key), Some(handler.clone()))?;
        report.extend(found);
        let (deals, found) = AuditSink::<DealEntry>::open(config, key, Some(handler))?;
        report.extend(found);

        // Both cells are empty: this router was created above and is set only here.
        let _ = router.security.set(security.downgrade());
        let _ = router.errors.set(errors.downgrade());

        for repair in &report.repairs {
            record_notice(Some(&security), Some(&errors), Notice::Repaired(repair.clone()));
        }
        for deleted in &report.deleted {
            record_notice(Some(&security), Some(&errors), Notice::ArchiveDeleted(deleted.clone()));
        }

        let logs = Self { security, errors, orders, deals, logs_dir: config.logs_dir.clone() };
        Ok((logs, report))
    }

    /// The logs folder.
    #[must_use]
    pub fn logs_dir(&self) -> &Path {
        &self.logs_dir
    }

    /// The health of every sink, read without locks.
    #[must_use]
    pub fn health(&self) -> AuditHealth {
        AuditHealth {
            security: self.security.health(),
            errors: self.errors.health(),
            orders: self.orders.health(),
            deals: self.deals.health(),
        }
    }

    /// Writes every queued row and stops the writers; security last, so that notices from
    /// the others still land. Blocks (see [`AuditSink::close`]).
    pub fn close(&self) {
        self.orders.close();
        self.deals.close();
        self.errors.close();
        self.security.close();
    }
}

/// Refuses a key file inside the logs folder, comparing resolved paths so that `./logs/../logs`
/// or a symlink cannot slip through.
fn ensure_key_outside_logs(key_file: &Path, logs_dir: &Path) -> Result<(), AuditError> {
    let logs = fs::canonicalize(logs_dir).map_err(|e| AuditError::io("resolve", logs_dir, e))?;
    let key = match key_file.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(parent) => match fs::canonicalize(parent) {
            Ok(parent) => parent.join(key_file.file_name().unwrap_or_default()),
            Err(_) => {
                std::path::absolute(key_file).map_err(|e| AuditError::io("resolve", key_file, e))?
            }
        },
        None => {
            std::path::absolute(key_file).map_err(|e| AuditError::io("resolve", key_file, e))?
        }
    };
    if key.starts_with(&logs) {
        return Err(AuditError::KeyInsideLogs {
            key_file: key_file.into(),
            logs_dir: logs_dir.into(),
        });
    }
    Ok(())
}
