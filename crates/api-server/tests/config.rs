//! Configuration through the real binary: environment overrides, bad values, `--config`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests")]

mod common;

use common::{Launch, get, run_command};

#[test]
fn a_malformed_value_is_refused_naming_key_and_value() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, stderr) =
        run_command(dir.path(), &["config", "check"], &[("MT5GW__SERVER__PORT", "fivethousand")]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("server.port"), "{stderr}");
    assert!(stderr.contains("fivethousand"), "{stderr}");
}

#[test]
fn config_check_flags_a_public_bind() {
    let dir = tempfile::tempdir().unwrap();
    let (code, stdout, _) = run_command(dir.path(), &["config", "check"], &[]);
    assert_eq!(code, 0, "{stdout}");
    let (code, stdout, _) =
        run_command(dir.path(), &["config", "check"], &[("MT5GW__SERVER__BIND", "0.0.0.0")]);
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("FAIL") && stdout.contains("0.0.0.0"), "{stdout}");
}

#[tokio::test]
async fn environment_overrides_reach_the_running_server() {
    let gateway = Launch::new().env("MT5GW__TERMINAL__SIM__INITIAL_BALANCE", "2500").start();
    let (status, _, account) = get(&gateway, "/api/account").await;
    assert_eq!(status, 200);
    assert!((account["balance"].as_f64().unwrap() - 2500.0).abs() < 1e-9, "{account}");
}

#[tokio::test]
async fn config_file_paths_resolve_against_its_folder() {
    let launch = Launch::new();
    let folder = launch.dir.join("site");
    std::fs::create_dir(&folder).unwrap();
    let defaults = include_str!("../../../config/default.toml");
    let text = defaults.replace("data_dir = \"data/sim\"", "data_dir = \"paper\"");
    assert_ne!(text, defaults, "default.toml changed shape");
    std::fs::write(folder.join("gateway.toml"), text).unwrap();

    let gateway = launch.arg("--config").arg("site/gateway.toml").arg("serve").start();
    let (status, _, _) = get(&gateway, "/api/account").await;
    assert_eq!(status, 200);
    assert!(gateway.dir.join("site/paper").is_dir(), "paper account not under the config's folder");
    assert!(!gateway.dir.join("data").exists());
}

#[tokio::test]
async fn a_dot_env_file_in_the_working_directory_is_read() {
    let launch = Launch::new();
    std::fs::write(launch.dir.join(".env"), "MT5GW__TERMINAL__SIM__LEVERAGE=30\n").unwrap();
    let gateway = launch.start();
    let (status, _, account) = get(&gateway, "/api/account").await;
    assert_eq!(status, 200);
    assert_eq!(account["leverage"], 30, "{account}");
}
