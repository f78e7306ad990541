//! The real `mt5-gateway`, built once per test run for the checks that run it.

use std::path::Path;
use std::sync::OnceLock;

use crate::gateway::Gateway;

/// The gateway built from this workspace. Tests call `.isolated()` on it so that the
/// environment of whoever runs the tests does not change the outcome.
pub fn gateway() -> Gateway {
    static BUILT: OnceLock<Gateway> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
            Gateway::build(&root).unwrap()
        })
        .clone()
}
