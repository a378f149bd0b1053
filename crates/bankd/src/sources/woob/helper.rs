//! The woob helper: `woob/bankd_woob.py` run as a child process of `BANKD_WOOB_PYTHON`, speaking
//! JSON lines (one request per line on its stdin, one answer per line on its stdout).
//!
//! A sync keeps one helper for its whole run (log in once, list the accounts, read every history,
//! hand the module's storage back once). Every helper runs with woob's home inside bankd's data dir
//! ([`WoobRuntime::home`]), whose `sources.list` bankd writes itself, so woob never fetches modules
//! unless `bankd woob update` asks it to. A call that outlives the timeout kills the helper: a hung
//! module cannot hold a sync, nor a slot, for ever.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The helper, run with `python -c`: no file to install beside the binary.
const HELPER: &str = include_str!("../../../woob/bankd_woob.py");

/// woob's repository list as bankd leaves it: no repository, so nothing is ever downloaded behind
/// the operator's back (`bankd woob update` writes [`UPDATES_SOURCES_LIST`] when asked).
const QUIET_SOURCES_LIST: &str = "# Written by bankd: no repository, so woob never fetches modules by itself.\n\
                                  # `bankd woob update` writes woob's official repository here when asked.\n";
/// woob's own repository of modules, for `bankd woob update` (`%(version)s` is woob's major version).
pub const UPDATES_SOURCES_LIST: &str =
    "# Written by `bankd woob update`.\nhttps://updates.woob.tech/%(version)s/main/\n";

/// What every helper of this process shares: how to start one, how long a call may take, and how
/// many may be alive at once.
#[derive(Clone)]
pub struct WoobRuntime {
    pub python: String,
    /// woob's work and data dirs (`config/`, `data/`): `<data dir>/woob`.
    pub home: PathBuf,
    pub timeout: Duration,
    slots: Arc<Semaphore>,
}

impl WoobRuntime {
    pub fn new(python: &str, home: &Path, timeout: Duration, helpers: usize) -> WoobRuntime {
        WoobRuntime {
            python: python.to_owned(),
            home: home.to_owned(),
            timeout,
            slots: Arc::new(Semaphore::new(helpers.max(1))),
        }
    }

    /// Creates woob's home and, when there is none, its quiet `sources.list` (woob writes a default
    /// one and runs an update when the file is missing).
    pub fn prepare_home(&self) -> std::io::Result<()> {
        std::fs::create_dir_all(self.home.join("config"))?;
        std::fs::create_dir_all(self.home.join("data"))?;
        let sources = self.sources_list();
        if !sources.exists() {
            std::fs::write(sources, QUIET_SOURCES_LIST)?;
        }
        Ok(())
    }

    pub fn sources_list(&self) -> PathBuf {
        self.home.join("config").join("sources.list")
    }

    /// The folder `bankd woob update` installs modules into, if it did (woob puts them under
    /// `modules/<woob version>/woob_modules`; the newest version wins).
    pub fn installed_modules(&self) -> Option<PathBuf> {
        let versions = std::fs::read_dir(self.home.join("data").join("modules")).ok()?;
        let mut found: Vec<PathBuf> =
            versions.flatten().map(|v| v.path().join("woob_modules")).filter(|p| p.is_dir()).collect();
        found.sort();
        found.pop()
    }

    /// Runs the helper's `check` once: whether `python` can import woob.
    pub async fn check(&self) -> Result<(), String> {
        let failed =
            |why: String| format!("the woob driver needs a Python that can import woob ({}): {why}", self.python);
        let mut helper = Helper::start(self, "check").await.map_err(|e| failed(e.to_string()))?;
        helper.call("check", Value::Null).await.map(drop).map_err(|e| failed(e.to_string()))
    }
}

/// Why a helper call failed.
#[derive(Debug, thiserror::Error)]
pub enum HelperError {
    /// The module raised: woob's exception, as the helper names it.
    #[error("{kind}: {message}")]
    Raised { kind: String, message: String, fields: Vec<QuestionField> },
    /// The call outlived the timeout: the helper was killed.
    #[error("the bank module took over {0:?}")]
    Timeout(Duration),
    /// The helper could not be started, died, or said something unreadable.
    #[error("woob helper: {0}")]
    Broken(String),
}

/// A field a module's question asks for (an OTP), with the module's own label and check.
#[derive(Debug, Clone, Deserialize)]
pub struct QuestionField {
    pub name: String,
    pub label: String,
    #[serde(default, rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub regexp: Option<String>,
}

#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    result: Value,
    error: Option<Raised>,
}

#[derive(Deserialize)]
struct Raised {
    kind: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    fields: Vec<QuestionField>,
}

/// One running helper. Dropping it kills the process.
/// What a helper inherits of bankd's environment: enough to run Python and reach banks through a
/// proxy, nothing of bankd's own (`BANKD_MASTER_KEY`, a database URL with its password): a bank
/// module is third-party code.
const HELPER_ENV: [&str; 16] = [
    "PATH",
    "HOME",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TZ",
    "TMPDIR",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "REQUESTS_CA_BUNDLE",
];

pub struct Helper {
    child: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
    next_id: u64,
    timeout: Duration,
    /// False once a call timed out or the process went away: nothing more can be asked of it.
    alive: bool,
    _slot: OwnedSemaphorePermit,
}

impl Helper {
    /// Starts a helper once a slot is free; `module` labels the count of helpers started.
    pub async fn start(runtime: &WoobRuntime, module: &str) -> Result<Helper, HelperError> {
        let slot = runtime.slots.clone().acquire_owned().await.map_err(|e| HelperError::Broken(e.to_string()))?;
        let mut child = Command::new(&runtime.python)
            .args(["-c", HELPER])
            .env_clear()
            .envs(HELPER_ENV.iter().filter_map(|name| Some((name, std::env::var_os(name)?))))
            .env("WOOB_WORKDIR", runtime.home.join("config"))
            .env("WOOB_DATADIR", runtime.home.join("data"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            // A module's traceback is for the operator's logs, not the connection's.
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| HelperError::Broken(format!("starting {}: {e}", runtime.python)))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(HelperError::Broken("no pipes".into()));
        };
        metrics::counter!("bankd_woob_helpers_started_total", "module" => module.to_owned()).increment(1);
        Ok(Helper {
            child,
            stdin,
            stdout: BufReader::new(stdout).lines(),
            next_id: 1,
            timeout: runtime.timeout,
            alive: true,
            _slot: slot,
        })
    }

    pub fn is_alive(&self) -> bool {
        self.alive
    }

    /// Sends one request and reads its answer, within the timeout.
    pub async fn call(&mut self, method: &str, params: Value) -> Result<Value, HelperError> {
        if !self.alive {
            return Err(HelperError::Broken(format!("{method}: the helper is gone")));
        }
        let id = self.next_id;
        self.next_id += 1;
        let mut line = json!({"id": id, "method": method, "params": params}).to_string();
        line.push('\n');
        let answer = match tokio::time::timeout(self.timeout, self.exchange(line.as_bytes())).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(why)) => {
                self.alive = false;
                let status = self.exit_status().await;
                return Err(HelperError::Broken(format!("{method}: the helper died ({why}{status})")));
            }
            Err(_) => {
                self.alive = false;
                // Killed now rather than on drop: its slot and its memory go at once.
                _ = self.child.start_kill();
                return Err(HelperError::Timeout(self.timeout));
            }
        };
        let answer: Answer = serde_json::from_str(&answer)
            .map_err(|e| HelperError::Broken(format!("{method}: unreadable answer: {e}")))?;
        match answer.error {
            Some(Raised { kind, message, fields }) => Err(HelperError::Raised { kind, message, fields }),
            None => Ok(answer.result),
        }
    }

    async fn exchange(&mut self, line: &[u8]) -> Result<String, String> {
        self.stdin.write_all(line).await.map_err(|e| e.to_string())?;
        self.stdin.flush().await.map_err(|e| e.to_string())?;
        self.stdout.next_line().await.map_err(|e| e.to_string())?.ok_or_else(|| "it exited".to_owned())
    }

    /// How a helper whose pipe closed ended (`, exit status: 3`, `, signal: 9 (SIGKILL)`), when it
    /// says so promptly; the operator's log then tells a crash from a kill.
    async fn exit_status(&mut self) -> String {
        match tokio::time::timeout(Duration::from_secs(2), self.child.wait()).await {
            Ok(Ok(status)) => format!(", {status}"),
            _ => String::new(),
        }
    }

    /// Lets the helper end on its own (its stdin closes), as a finished sync does.
    pub async fn close(mut self) {
        drop(self.stdin);
        if tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await.is_err() {
            _ = self.child.start_kill();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A helper's environment holds what `HELPER_ENV` lets through and woob's dirs, nothing else
    /// of the process that starts it (under `cargo test`, its `CARGO_*` variables, say).
    #[cfg(unix)]
    #[tokio::test]
    async fn a_helper_sees_none_of_bankds_environment() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let dump = dir.path().join("env.txt");
        let python = dir.path().join("python");
        std::fs::write(&python, format!("#!/bin/sh\nenv > {}.part && mv {0}.part {0}\n", dump.display())).unwrap();
        std::fs::set_permissions(&python, std::fs::Permissions::from_mode(0o755)).unwrap();
        let runtime = WoobRuntime::new(python.to_str().unwrap(), dir.path(), Duration::from_secs(5), 1);
        let _helper = Helper::start(&runtime, "test").await.unwrap();
        while !dump.exists() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let shell_own = ["PWD", "SHLVL", "_", "OLDPWD"];
        for line in std::fs::read_to_string(&dump).unwrap().lines() {
            let name = line.split('=').next().unwrap();
            assert!(
                HELPER_ENV.contains(&name) || name.starts_with("WOOB_") || shell_own.contains(&name),
                "{name} reached the helper"
            );
        }
    }
}
