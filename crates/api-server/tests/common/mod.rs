//! Test harness: the real `mt5-gateway` binary, started on an ephemeral port in a temporary
//! directory, spoken to over real HTTP.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test harness"
)]

use std::future::Future;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A running gateway process; stopped (SIGTERM, then SIGKILL) when dropped.
pub struct Gateway {
    child: Option<Child>,
    pub base_url: String,
    pub dir: PathBuf,
    /// What the gateway printed on stdout before it listened.
    pub startup_output: Vec<String>,
    stdout_lines: mpsc::Receiver<String>,
    _temp: Option<tempfile::TempDir>,
}

/// How to start a gateway.
pub struct Launch {
    pub dir: PathBuf,
    pub temp: Option<tempfile::TempDir>,
    pub env: Vec<(String, String)>,
    pub args: Vec<String>,
}

impl Launch {
    /// A fresh temporary directory with no configuration file: the compiled-in defaults
    /// apply, with port 0 and an always-open paper market so tests pass at the weekend.
    pub fn new() -> Launch {
        let temp = tempfile::tempdir().unwrap();
        Launch {
            dir: temp.path().to_path_buf(),
            temp: Some(temp),
            env: vec![
                ("MT5GW__SERVER__PORT".into(), "0".into()),
                ("MT5GW__SERVER__WORKERS".into(), "2".into()),
                ("MT5GW__TERMINAL__SIM__MARKET_HOURS".into(), "always".into()),
                ("MT5GW__TERMINAL__SIM__TICK_INTERVAL_MS".into(), "50".into()),
                ("MT5GW__AUTH__RELOAD_INTERVAL_SECS".into(), "1".into()),
                // Tests poll with keys the server has not loaded yet; only the lockout test
                // wants those refusals to ban.
                ("MT5GW__AUTH__LOCKOUT__MAX_FAILURES".into(), "1000".into()),
                // Tests poll; only the rate-limit tests want the contract's limits.
                ("MT5GW__RATE_LIMITS__READ__PER_MINUTE".into(), "6000".into()),
                ("MT5GW__RATE_LIMITS__READ__BURST".into(), "1000".into()),
                ("MT5GW__RATE_LIMITS__TRADING__PER_MINUTE".into(), "6000".into()),
                ("MT5GW__RATE_LIMITS__TRADING__BURST".into(), "1000".into()),
                ("MT5GW__RATE_LIMITS__ADMIN__PER_MINUTE".into(), "6000".into()),
                ("MT5GW__RATE_LIMITS__ADMIN__BURST".into(), "1000".into()),
            ],
            args: Vec::new(),
        }
    }

    pub fn env(mut self, key: &str, value: &str) -> Launch {
        self.env.push((key.into(), value.into()));
        self
    }

    pub fn arg(mut self, arg: &str) -> Launch {
        self.args.push(arg.into());
        self
    }

    pub fn start(self) -> Gateway {
        let stderr = std::fs::File::create(self.dir.join("stderr.log")).unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_mt5-gateway"));
        command
            .current_dir(&self.dir)
            .args(&self.args)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr));
        for (key, value) in &self.env {
            command.env(key, value);
        }
        let mut child = command.spawn().unwrap();

        let (tx, rx) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });

        let mut gateway = Gateway {
            child: Some(child),
            base_url: String::new(),
            dir: self.dir,
            startup_output: Vec::new(),
            stdout_lines: rx,
            _temp: self.temp,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while gateway.base_url.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            match gateway.stdout_lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(url) = line.strip_prefix("mt5-gateway listening on ") {
                        gateway.base_url = url.trim().to_string();
                    }
                    gateway.startup_output.push(line);
                }
                Err(err) => panic!("gateway did not start ({err}); stderr:\n{}", gateway.stderr()),
            }
        }
        gateway
    }
}

impl Gateway {
    pub fn start() -> Gateway {
        Launch::new().start()
    }

    /// The admin key printed at first start.
    pub fn admin_key(&self) -> String {
        self.startup_output
            .iter()
            .find(|line| line.starts_with("mt5gw_"))
            .cloned()
            .unwrap_or_else(|| panic!("no key printed: {:?}", self.startup_output))
    }

    /// Runs `mt5-gateway ARGS` against this gateway's folder (and so its keys file).
    pub fn command(&self, args: &[&str]) -> (i32, String, String) {
        run_command(&self.dir, args, &[])
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.join("stderr.log")).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// Kills the process at once (SIGKILL), as a crash or power cut would; the folder stays.
    pub fn kill(&mut self) {
        let mut child = self.child.take().unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
    }

    /// Sends SIGTERM and waits for the process to exit.
    pub fn terminate(&mut self) -> ExitStatus {
        let mut child = self.child.take().unwrap();
        signal(child.id(), "TERM");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "gateway ignored SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn signal(pid: u32, name: &str) {
    let status =
        Command::new("kill").arg(format!("-{name}")).arg(pid.to_string()).status().unwrap();
    assert!(status.success());
}

/// Runs `mt5-gateway ARGS` to completion in `dir`.
pub fn run_command(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mt5-gateway"));
    command.current_dir(dir).args(args).stdin(Stdio::null());
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command.output().unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap()
}

pub type Reply = (reqwest::StatusCode, reqwest::header::HeaderMap, serde_json::Value);

/// GETs `path` with the first admin key and returns status, headers and the JSON body.
pub async fn get(gateway: &Gateway, path: &str) -> Reply {
    let key = gateway.admin_key();
    call(gateway, reqwest::Method::GET, path, Some(&key), None).await
}

/// Sends one request with an optional `X-API-Key` and JSON body.
pub async fn call(
    gateway: &Gateway,
    method: reqwest::Method,
    path: &str,
    key: Option<&str>,
    body: Option<serde_json::Value>,
) -> Reply {
    let mut request = client().request(method, gateway.url(path));
    if let Some(key) = key {
        request = request.header("X-API-Key", key);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    read_reply(request.send().await.unwrap()).await
}

pub async fn read_reply(response: reqwest::Response) -> Reply {
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    let is_text = headers
        .get("content-type")
        .is_some_and(|value| value.to_str().unwrap_or_default().starts_with("text/plain"));
    let body = if text.is_empty() {
        serde_json::Value::Null
    } else if is_text && status.is_success() {
        // `/metrics` answers in the Prometheus text format.
        serde_json::Value::String(text)
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"))
    };
    (status, headers, body)
}

/// Polls `probe` until it returns true or `secs` pass; for changes that take effect on the
/// server's next reload.
pub async fn eventually<F, Fut>(secs: u64, mut probe: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if probe().await {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Asserts `body` is the error envelope with `code`, and that its request id matches the
/// response header.
pub fn assert_envelope(headers: &reqwest::header::HeaderMap, body: &serde_json::Value, code: &str) {
    let error = &body["error"];
    assert_eq!(error["code"], code, "{body}");
    assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    let header_id = headers["x-request-id"].to_str().unwrap();
    assert_eq!(error["request_id"], header_id, "{body}");
}
