//! A real Envoy per test: render `envoy-config/e2e.yaml.tmpl`, start Envoy on it, wait until it
//! is ready, send requests through it, read its stats and log, stop it on drop.
//!
//! Envoy binds its listener and admin on port 0; the real ports come back through
//! `--admin-address-path` and admin `/listeners`, so parallel tests never race for a port.
//! `--disable-hot-restart` keeps instances from sharing a shared-memory region.

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use crate::http::{self, HttpError, Response};
use crate::process;

/// Overrides the Envoy binary (default: `<repo>/.venv/bin/envoy`, from `make envoy`).
pub const ENVOY_ENV: &str = "CLAIMCHECK_ENVOY";
/// Overrides the filter (default: `<repo>/target/wasm32-wasip1/release/claimcheck.wasm`).
pub const WASM_ENV: &str = "CLAIMCHECK_WASM";

/// How long Envoy may take to become ready. V8 compiles the module at start-up and the test
/// machine may be building at the same time; this bounds a hang, it is not an assertion.
pub const READY_TIMEOUT: Duration = Duration::from_secs(120);

/// How long Envoy gets to exit after SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// Markers around the wasm filter in the template (see the template's header).
const FILTER_BEGIN: &str = "# >>> wasm filter";
const FILTER_END: &str = "# <<< wasm filter";

/// The root of the repository (this crate lives in `tests/e2e`).
pub fn repo_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .and_then(Path::parent)
        .map_or_else(|| manifest.to_path_buf(), Path::to_path_buf)
}

/// Where runs keep their rendered config and log (under `target/`, ignored by git).
pub fn runs_dir() -> PathBuf {
    repo_root().join("target").join("e2e")
}

/// The Envoy binary, or why it cannot be used.
pub fn envoy_binary() -> Result<PathBuf, EnvoyError> {
    let path = std::env::var_os(ENVOY_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".venv/bin/envoy"));
    if path.is_file() {
        Ok(path)
    } else {
        Err(EnvoyError::EnvoyMissing(path))
    }
}

/// The claimcheck filter, or why it cannot be used.
pub fn claimcheck_wasm() -> Result<PathBuf, EnvoyError> {
    let path = std::env::var_os(WASM_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target/wasm32-wasip1/release/claimcheck.wasm"));
    wasm_file(path, "make build")
}

/// Where the callout probe module (tests/e2e/probe) is built.
pub fn probe_wasm_path() -> PathBuf {
    repo_root().join("target/e2e-probe/wasm32-wasip1/release/claimcheck_e2e_probe.wasm")
}

/// The callout probe module, built on first use (`make e2e-probe` builds it ahead). It is a
/// test fixture, so the tests build it rather than ask for it; cargo makes this cheap when it
/// is up to date.
pub fn probe_wasm() -> Result<PathBuf, EnvoyError> {
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    let built = BUILT.get_or_init(|| {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let out = Command::new(cargo)
            .args([
                "build",
                "--release",
                "--quiet",
                "--target",
                "wasm32-wasip1",
                "--manifest-path",
            ])
            .arg(repo_root().join("tests/e2e/probe/Cargo.toml"))
            .env("CARGO_TARGET_DIR", repo_root().join("target/e2e-probe"))
            .current_dir(repo_root())
            .output()
            .map_err(|e| format!("run cargo: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    });
    if let Err(stderr) = built {
        return Err(EnvoyError::ProbeBuild(stderr.clone()));
    }
    wasm_file(probe_wasm_path(), "make e2e-probe")
}

fn wasm_file(path: PathBuf, how: &'static str) -> Result<PathBuf, EnvoyError> {
    if path.is_file() {
        Ok(path)
    } else {
        Err(EnvoyError::WasmMissing { path, how })
    }
}

/// Why Envoy could not be run as asked.
#[derive(Debug)]
pub enum EnvoyError {
    EnvoyMissing(PathBuf),
    WasmMissing {
        path: PathBuf,
        how: &'static str,
    },
    Template(String),
    Io(String, io::Error),
    /// Envoy exited while we waited for it to become ready.
    Exited {
        status: ExitStatus,
        log: String,
    },
    /// Envoy did not become ready (or did not exit) in time.
    Timeout {
        waiting_for: &'static str,
        log: String,
    },
    Http(HttpError),
    Admin(String),
    /// The callout probe module did not build (cargo's error output).
    ProbeBuild(String),
}

impl fmt::Display for EnvoyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EnvoyError::EnvoyMissing(p) => write!(
                f,
                "Envoy not found at {} — run `make envoy` (or set {ENVOY_ENV})",
                p.display()
            ),
            EnvoyError::WasmMissing { path, how } => write!(
                f,
                "wasm module not found at {} — run `{how}`{}",
                path.display(),
                if *how == "make build" {
                    format!(" (or set {WASM_ENV})")
                } else {
                    String::new()
                }
            ),
            EnvoyError::Template(m) => write!(f, "envoy template: {m}"),
            EnvoyError::Io(what, e) => write!(f, "{what}: {e}"),
            EnvoyError::Exited { status, log } => {
                write!(
                    f,
                    "Envoy exited ({status}) before it was ready; log tail:\n{}",
                    tail(log)
                )
            }
            EnvoyError::Timeout { waiting_for, log } => write!(
                f,
                "Envoy: timed out waiting for {waiting_for}; log tail:\n{}",
                tail(log)
            ),
            EnvoyError::Http(e) => write!(f, "request through Envoy: {e}"),
            EnvoyError::Admin(m) => write!(f, "Envoy admin: {m}"),
            EnvoyError::ProbeBuild(m) => write!(
                f,
                "the callout probe (tests/e2e/probe) did not build; `make e2e-probe` shows why:\n{m}"
            ),
        }
    }
}

impl std::error::Error for EnvoyError {}

impl From<HttpError> for EnvoyError {
    fn from(e: HttpError) -> Self {
        EnvoyError::Http(e)
    }
}

/// The last lines of a log, for error messages.
fn tail(log: &str) -> String {
    const LINES: usize = 40;
    let lines: Vec<&str> = log.lines().collect();
    lines
        .get(lines.len().saturating_sub(LINES)..)
        .unwrap_or_default()
        .join("\n")
}

/// Which HTTP filter runs in front of the router.
#[derive(Debug, Clone)]
pub enum Filter {
    /// The claimcheck filter with this plugin configuration (JSON text).
    Claimcheck { plugin_config: String },
    /// Another wasm module (the callout probe) with its root id and configuration.
    Wasm {
        file: PathBuf,
        root_id: String,
        configuration: String,
    },
    /// No filter: Envoy routes straight to the upstream (infrastructure baseline).
    None,
}

/// What to run Envoy with.
#[derive(Debug, Clone)]
pub struct EnvoySpec {
    /// A short name for the run directory and messages (usually the test name).
    pub name: String,
    pub filter: Filter,
    pub echo_port: u16,
    pub idp_port: u16,
    /// Worker threads (`--concurrency`); each runs its own wasm VM.
    pub concurrency: u32,
}

impl EnvoySpec {
    pub fn claimcheck(name: &str, plugin_config: String, echo_port: u16, idp_port: u16) -> Self {
        EnvoySpec {
            name: name.to_owned(),
            filter: Filter::Claimcheck { plugin_config },
            echo_port,
            idp_port,
            concurrency: 1,
        }
    }

    pub fn concurrency(mut self, n: u32) -> Self {
        self.concurrency = n;
        self
    }
}

/// A port on 127.0.0.1 that nothing listens on (bound, then released). Only used as the
/// address of the `closed` cluster, where a connection refused is the point.
pub fn closed_port() -> Result<u16, EnvoyError> {
    let l = TcpListener::bind("127.0.0.1:0")
        .map_err(|e| EnvoyError::Io("bind 127.0.0.1:0".into(), e))?;
    let port = l
        .local_addr()
        .map_err(|e| EnvoyError::Io("local_addr".into(), e))?
        .port();
    Ok(port)
}

/// A YAML double-quoted scalar for `s`. A JSON string literal is one (YAML 1.2 §7.3.1 accepts
/// every JSON escape), so the plugin JSON can be embedded without re-indenting it.
fn yaml_quoted(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

/// Renders the template text for `spec`. Fails if a placeholder is left unfilled.
pub fn render(template: &str, spec: &EnvoySpec) -> Result<String, EnvoyError> {
    let mut text = template.to_owned();
    let (wasm, root_id, configuration) = match &spec.filter {
        Filter::Claimcheck { plugin_config } => (
            claimcheck_wasm()?,
            "claimcheck".to_owned(),
            plugin_config.clone(),
        ),
        Filter::Wasm {
            file,
            root_id,
            configuration,
        } => (file.clone(), root_id.clone(), configuration.clone()),
        Filter::None => {
            text = remove_filter(&text)?;
            (PathBuf::new(), String::new(), String::new())
        }
    };
    let values = [
        ("{{ECHO_PORT}}", spec.echo_port.to_string()),
        ("{{IDP_PORT}}", spec.idp_port.to_string()),
        ("{{CLOSED_PORT}}", closed_port()?.to_string()),
        ("{{WASM_FILE}}", yaml_quoted(&wasm.to_string_lossy())),
        ("{{ROOT_ID}}", yaml_quoted(&root_id)),
        ("{{PLUGIN_CONFIGURATION}}", yaml_quoted(&configuration)),
    ];
    // Only the YAML body: the header comment names the placeholders.
    let body_start = text
        .find("\nadmin:")
        .ok_or_else(|| EnvoyError::Template("no top-level `admin:` section".into()))?;
    let (header, body) = text.split_at(body_start);
    let mut body = body.to_owned();
    for (placeholder, value) in &values {
        body = body.replace(placeholder, value);
    }
    if let Some(at) = body.find("{{") {
        let rest: String = body.chars().skip(at).take(40).collect();
        return Err(EnvoyError::Template(format!(
            "unfilled placeholder at {rest:?}"
        )));
    }
    Ok(format!("{header}{body}"))
}

fn remove_filter(text: &str) -> Result<String, EnvoyError> {
    let begin = text
        .find(&format!("  {FILTER_BEGIN}"))
        .ok_or_else(|| EnvoyError::Template(format!("missing marker {FILTER_BEGIN:?}")))?;
    let end_marker = text
        .get(begin..)
        .and_then(|rest| rest.find(FILTER_END))
        .map(|i| begin + i)
        .ok_or_else(|| EnvoyError::Template(format!("missing marker {FILTER_END:?}")))?;
    let end = text
        .get(end_marker..)
        .and_then(|rest| rest.find('\n'))
        .map_or(text.len(), |i| end_marker + i + 1);
    let line_start = text
        .get(..begin)
        .and_then(|h| h.rfind('\n'))
        .map_or(0, |i| i + 1);
    Ok(format!(
        "{}{}",
        text.get(..line_start).unwrap_or_default(),
        text.get(end..).unwrap_or_default()
    ))
}

/// The e2e template from `envoy-config/`.
pub fn template() -> Result<String, EnvoyError> {
    let path = repo_root().join("envoy-config/e2e.yaml.tmpl");
    fs::read_to_string(&path).map_err(|e| EnvoyError::Io(format!("read {}", path.display()), e))
}

/// Removes run directories left by test processes that have exited, so `target/e2e` holds
/// only the latest runs (kept after a run for inspection).
fn prune_old_runs() {
    let Ok(entries) = fs::read_dir(runs_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let pid = name
            .to_str()
            .and_then(|n| n.rsplit('-').nth(1))
            .and_then(|pid| pid.parse::<u32>().ok());
        if let Some(pid) = pid {
            if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
                let _ = fs::remove_dir_all(entry.path());
            }
        }
    }
}

/// A fresh directory for one run: `target/e2e/<name>-<pid>-<n>`.
fn run_dir(name: &str) -> Result<PathBuf, EnvoyError> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    static PRUNED: OnceLock<()> = OnceLock::new();
    PRUNED.get_or_init(prune_old_runs);
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let dir = runs_dir().join(format!("{safe}-{}-{n}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).map_err(|e| EnvoyError::Io(format!("create {}", dir.display()), e))?;
    Ok(dir)
}

/// The rendered template for `spec` as a JSON value, for tests that change more than the
/// placeholders (a TLS listener, connection balancing); write it with
/// `platform::write_json` and start it with [`Envoy::start_with`].
pub fn bootstrap(spec: &EnvoySpec) -> Result<serde_json::Value, EnvoyError> {
    let text = render(&template()?, spec)?;
    serde_yaml_ng::from_str(&text)
        .map_err(|e| EnvoyError::Template(format!("rendered template is not YAML: {e}")))
}

/// Places every new connection of listener `ingress` on the worker with the fewest open
/// connections (`exact_balance`), instead of where the kernel's hash puts it, so that a test
/// can choose the worker that takes its next connection: hold connections open on the others
/// ([`Envoy::occupy_worker`]).
pub fn exact_balance(config: &mut serde_json::Value) -> Result<(), EnvoyError> {
    let listener = config
        .pointer_mut("/static_resources/listeners/0")
        .and_then(serde_json::Value::as_object_mut)
        .ok_or_else(|| EnvoyError::Template("the bootstrap has no listener".into()))?;
    listener.insert(
        "connection_balance_config".into(),
        serde_json::json!({ "exact_balance": {} }),
    );
    Ok(())
}

/// Writes the rendered config for `spec` into a fresh run directory.
fn prepare(spec: &EnvoySpec) -> Result<(PathBuf, PathBuf), EnvoyError> {
    let config = render(&template()?, spec)?;
    let dir = run_dir(&spec.name)?;
    let config_path = dir.join("envoy.yaml");
    fs::write(&config_path, config)
        .map_err(|e| EnvoyError::Io(format!("write {}", config_path.display()), e))?;
    Ok((dir, config_path))
}

fn envoy_command(
    envoy: &Path,
    config: &Path,
    dir: &Path,
    concurrency: u32,
) -> Result<Command, EnvoyError> {
    let log_path = dir.join("envoy.log");
    let log = fs::File::create(&log_path)
        .map_err(|e| EnvoyError::Io(format!("create {}", log_path.display()), e))?;
    let log_err = log
        .try_clone()
        .map_err(|e| EnvoyError::Io("clone log handle".into(), e))?;
    let mut command = Command::new(envoy);
    command
        .arg("-c")
        .arg(config)
        .arg("--disable-hot-restart")
        .arg("--concurrency")
        .arg(concurrency.to_string())
        .arg("--admin-address-path")
        .arg(dir.join("admin-address"))
        .args(["--log-level", "info", "--component-log-level", "wasm:debug"])
        .current_dir(repo_root())
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err);
    Ok(command)
}

fn read_log(dir: &Path) -> String {
    fs::read(dir.join("envoy.log"))
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// A running Envoy; stopped when dropped.
/// How long a worker VM may hold claimcheck's counters before they reach Envoy: its slow
/// tick period (one second), with room for a busy machine.
pub const METRICS_REPORT_DELAY: Duration = Duration::from_millis(1500);

pub struct Envoy {
    child: Child,
    dir: PathBuf,
    admin: SocketAddr,
    listener: SocketAddr,
}

impl Envoy {
    /// Starts Envoy for `spec` and waits until admin `/ready` says LIVE.
    pub fn start(spec: &EnvoySpec) -> Result<Envoy, EnvoyError> {
        let (dir, config) = prepare(spec)?;
        Envoy::start_in(dir, &config, spec.concurrency)
    }

    /// Starts Envoy on a configuration the caller writes: `write` gets a fresh run directory
    /// (`target/e2e/<name>-...`) and returns the path of the bootstrap it wrote there. The
    /// bootstrap must bind admin and a listener named `ingress` (port 0 is fine).
    pub fn start_with(
        name: &str,
        concurrency: u32,
        write: impl FnOnce(&Path) -> Result<PathBuf, EnvoyError>,
    ) -> Result<Envoy, EnvoyError> {
        let dir = run_dir(name)?;
        let config = write(&dir)?;
        Envoy::start_in(dir, &config, concurrency)
    }

    fn start_in(dir: PathBuf, config: &Path, concurrency: u32) -> Result<Envoy, EnvoyError> {
        let envoy = envoy_binary()?;
        let command = envoy_command(&envoy, config, &dir, concurrency)?;
        let child = process::spawn_tied(command)
            .map_err(|e| EnvoyError::Io(format!("start {}", envoy.display()), e))?;
        let mut starting = Starting {
            child: Some(child),
            dir: dir.clone(),
        };
        let admin = starting.wait_ready()?;
        let listener = listener_addr(admin)?;
        let child = starting
            .child
            .take()
            .ok_or_else(|| EnvoyError::Admin("child handle lost".into()))?;
        Ok(Envoy {
            child,
            dir,
            admin,
            listener,
        })
    }

    /// Runs Envoy for `spec` expecting it to refuse to start; returns its exit status and log.
    /// `Timeout` if it is still running after `timeout` (it was not refused).
    pub fn run_to_exit(
        spec: &EnvoySpec,
        timeout: Duration,
    ) -> Result<(ExitStatus, String), EnvoyError> {
        let envoy = envoy_binary()?;
        let (dir, config) = prepare(spec)?;
        let command = envoy_command(&envoy, &config, &dir, spec.concurrency)?;
        let child = process::spawn_tied(command)
            .map_err(|e| EnvoyError::Io(format!("start {}", envoy.display()), e))?;
        let mut running = Starting {
            child: Some(child),
            dir: dir.clone(),
        };
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(status) = running.exited() {
                return Ok((status, read_log(&dir)));
            }
            thread::sleep(Duration::from_millis(50));
        }
        Err(EnvoyError::Timeout {
            waiting_for: "Envoy to exit",
            log: read_log(&dir),
        })
    }

    /// `envoy --mode validate -c <config>`: exit status and output.
    pub fn validate(config: &Path) -> Result<(ExitStatus, String), EnvoyError> {
        let envoy = envoy_binary()?;
        let out = Command::new(&envoy)
            .args(["--mode", "validate", "--log-level", "info", "-c"])
            .arg(config)
            .current_dir(repo_root())
            .output()
            .map_err(|e| EnvoyError::Io(format!("run {}", envoy.display()), e))?;
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&out.stderr));
        Ok((out.status, text))
    }

    /// Renders `spec` into a run directory without starting Envoy; returns the config path.
    pub fn render_to_file(spec: &EnvoySpec) -> Result<PathBuf, EnvoyError> {
        prepare(spec).map(|(_, config)| config)
    }

    /// The run directory (rendered configuration, log, files the test writes for Envoy).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The listener (where requests go through the filter).
    pub fn addr(&self) -> SocketAddr {
        self.listener
    }

    pub fn admin_addr(&self) -> SocketAddr {
        self.admin
    }

    /// `GET path` through the listener.
    pub fn get(&self, path: &str, headers: &[(&str, &str)]) -> Result<Response, EnvoyError> {
        Ok(http::get(self.listener, path, headers)?)
    }

    /// Any request through the listener.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        host: &str,
        headers: &[(&str, &str)],
    ) -> Result<Response, EnvoyError> {
        Ok(http::send(self.listener, method, path, host, headers, b"")?)
    }

    /// `GET path` on the admin interface.
    pub fn admin(&self, path: &str) -> Result<Response, EnvoyError> {
        Ok(http::get(self.admin, path, &[])?)
    }

    /// Counters and gauges whose name matches the regex `filter` (admin `/stats?filter=`).
    /// Histograms are left out.
    pub fn stats(&self, filter: &str) -> Result<BTreeMap<String, u64>, EnvoyError> {
        let r = self.admin(&format!("/stats?filter={}", percent_encode(filter)))?;
        if r.status != 200 {
            return Err(EnvoyError::Admin(format!("/stats answered {}", r.status)));
        }
        Ok(parse_stats(&r.body_text()))
    }

    /// One stat's value (0 when Envoy does not report it).
    pub fn stat(&self, name: &str) -> Result<u64, EnvoyError> {
        let exact = format!("^{}$", regex_escape(name));
        Ok(self.stats(&exact)?.get(name).copied().unwrap_or(0))
    }

    /// [`Envoy::stats`] once every worker VM has reported the requests made so far:
    /// claimcheck's counters reach Envoy on each VM's tick, not on each request.
    pub fn reported_stats(&self, filter: &str) -> Result<BTreeMap<String, u64>, EnvoyError> {
        thread::sleep(METRICS_REPORT_DELAY);
        self.stats(filter)
    }

    /// [`Envoy::stat`] once every worker VM has reported the requests made so far.
    pub fn reported_stat(&self, name: &str) -> Result<u64, EnvoyError> {
        thread::sleep(METRICS_REPORT_DELAY);
        self.stat(name)
    }

    /// Everything Envoy has logged so far.
    pub fn log(&self) -> String {
        read_log(&self.dir)
    }

    /// Waits until `cond(stat)` holds for stat `name`; false if `timeout` passed first.
    pub fn wait_for_stat(&self, name: &str, timeout: Duration, cond: impl Fn(u64) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.stat(name).is_ok_and(&cond) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(25));
        }
    }

    /// Connections each worker has accepted on listener `ingress`, by worker index
    /// (`listener.ingress.worker_<n>.downstream_cx_total`).
    pub fn connections_per_worker(&self) -> Result<Vec<u64>, EnvoyError> {
        self.per_worker("downstream_cx_total")
    }

    fn per_worker(&self, stat: &str) -> Result<Vec<u64>, EnvoyError> {
        let stats = self.stats(&format!(r"^listener\.ingress\.worker_\d+\.{stat}$"))?;
        let mut counts = Vec::new();
        for worker in 0.. {
            match stats.get(&format!("listener.ingress.worker_{worker}.{stat}")) {
                Some(n) => counts.push(*n),
                None => break,
            }
        }
        if counts.is_empty() {
            return Err(EnvoyError::Admin(format!("no per-worker {stat} on /stats")));
        }
        Ok(counts)
    }

    /// Runs `connect`, which opens exactly one connection to the listener, and returns its
    /// result with the worker that accepted that connection (read from the per-worker
    /// counters, so nothing else may connect meanwhile).
    pub fn on_which_worker<T>(
        &self,
        connect: impl FnOnce() -> T,
    ) -> Result<(T, usize), EnvoyError> {
        let before = self.connections_per_worker()?;
        let result = connect();
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let after = self.connections_per_worker()?;
            let grown: Vec<usize> = (0..after.len())
                .filter(|&w| after.get(w) > before.get(w))
                .collect();
            match grown.as_slice() {
                [worker] => return Ok((result, *worker)),
                [] if Instant::now() < deadline => thread::sleep(Duration::from_millis(10)),
                _ => {
                    return Err(EnvoyError::Admin(format!(
                    "one connection expected, per-worker totals went from {before:?} to {after:?}"
                )))
                }
            }
        }
    }

    /// Opens idle connections until one lands on `worker` and returns it (open). Connections
    /// that land elsewhere are closed and waited out. Under [`exact_balance`] the next
    /// connection then goes to another worker than `worker` (on two workers: the other one).
    pub fn occupy_worker(&self, worker: usize) -> Result<TcpStream, EnvoyError> {
        let workers = self.connections_per_worker()?.len();
        for _ in 0..workers.saturating_mul(4) {
            let (stream, landed) = self.on_which_worker(|| TcpStream::connect(self.listener))?;
            let stream = stream.map_err(|e| EnvoyError::Io("connect to the listener".into(), e))?;
            if landed == worker {
                return Ok(stream);
            }
            drop(stream);
            self.wait_until_closed(landed)?;
        }
        Err(EnvoyError::Admin(format!(
            "no connection landed on worker {worker} of {workers}"
        )))
    }

    /// Waits until `worker` has no open connection on listener `ingress`.
    fn wait_until_closed(&self, worker: usize) -> Result<(), EnvoyError> {
        let deadline = Instant::now() + READY_TIMEOUT;
        while self.per_worker("downstream_cx_active")?.get(worker) != Some(&0) {
            if Instant::now() >= deadline {
                return Err(EnvoyError::Admin(format!(
                    "worker {worker} kept a closed connection open"
                )));
            }
            thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Envoy {
    fn drop(&mut self) {
        process::stop(&mut self.child, STOP_GRACE);
    }
}

/// A child that is starting; killed if dropped before it is handed to [`Envoy`].
struct Starting {
    child: Option<Child>,
    dir: PathBuf,
}

impl Starting {
    fn exited(&mut self) -> Option<ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    fn wait_ready(&mut self) -> Result<SocketAddr, EnvoyError> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let address_file = self.dir.join("admin-address");
        loop {
            if let Some(status) = self.exited() {
                return Err(EnvoyError::Exited {
                    status,
                    log: read_log(&self.dir),
                });
            }
            let admin = fs::read_to_string(&address_file)
                .ok()
                .and_then(|s| s.trim().parse::<SocketAddr>().ok());
            if let Some(admin) = admin {
                if let Ok(r) = http::get(admin, "/ready", &[]) {
                    if r.status == 200 && r.body_text().trim() == "LIVE" {
                        return Ok(admin);
                    }
                }
            }
            if Instant::now() >= deadline {
                return Err(EnvoyError::Timeout {
                    waiting_for: "admin /ready",
                    log: read_log(&self.dir),
                });
            }
            thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Starting {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            process::stop(child, STOP_GRACE);
        }
    }
}

/// The bound address of listener `ingress`, from admin `/listeners?format=json`.
fn listener_addr(admin: SocketAddr) -> Result<SocketAddr, EnvoyError> {
    let r = http::get(admin, "/listeners?format=json", &[])?;
    let v: serde_json::Value = serde_json::from_slice(&r.body)
        .map_err(|e| EnvoyError::Admin(format!("/listeners is not JSON: {e}")))?;
    let statuses = v
        .get("listener_statuses")
        .and_then(|s| s.as_array())
        .ok_or_else(|| EnvoyError::Admin("/listeners has no listener_statuses".into()))?;
    for status in statuses {
        if status.get("name").and_then(|n| n.as_str()) != Some("ingress") {
            continue;
        }
        let sock = status
            .get("local_address")
            .and_then(|a| a.get("socket_address"));
        let host = sock.and_then(|s| s.get("address")).and_then(|a| a.as_str());
        let port = sock
            .and_then(|s| s.get("port_value"))
            .and_then(|p| p.as_u64());
        if let (Some(host), Some(port)) = (host, port) {
            return format!("{host}:{port}")
                .parse()
                .map_err(|e| EnvoyError::Admin(format!("listener address: {e}")));
        }
    }
    Err(EnvoyError::Admin("listener `ingress` not found".into()))
}

/// Parses admin `/stats` text (`name: value` lines); histogram lines are skipped.
pub fn parse_stats(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|line| {
            let (name, value) = line.rsplit_once(": ")?;
            Some((name.to_owned(), value.trim().parse::<u64>().ok()?))
        })
        .collect()
}

fn regex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(filter: Filter) -> EnvoySpec {
        EnvoySpec {
            name: "unit".into(),
            filter,
            echo_port: 1111,
            idp_port: 2222,
            concurrency: 1,
        }
    }

    const TEMPLATE: &str = "# header {{X}}\nadmin:\n  port: {{ECHO_PORT}}\n  idp: {{IDP_PORT}}\n  closed: {{CLOSED_PORT}}\n  filters:\n    # >>> wasm filter\n    - file: {{WASM_FILE}}\n      root: {{ROOT_ID}}\n      value: {{PLUGIN_CONFIGURATION}}\n    # <<< wasm filter\n    - router\n";

    #[test]
    fn rendering_quotes_the_plugin_json_as_one_yaml_string() {
        let s = spec(Filter::Wasm {
            file: "/x/p.wasm".into(),
            root_id: "probe".into(),
            configuration: "{\"a\": \"b\\\"c\"}\n".into(),
        });
        let out = render(TEMPLATE, &s).unwrap();
        assert!(out.contains(r#"value: "{\"a\": \"b\\\"c\"}\n""#), "{out}");
        assert!(
            out.contains("port: 1111") && out.contains("idp: 2222"),
            "{out}"
        );
        assert!(out.contains(r#"file: "/x/p.wasm""#), "{out}");
    }

    #[test]
    fn rendering_without_a_filter_removes_the_marked_lines() {
        let out = render(TEMPLATE, &spec(Filter::None)).unwrap();
        assert!(
            !out.contains("wasm filter") && !out.contains("file:"),
            "{out}"
        );
        assert!(out.contains("    - router\n"), "{out}");
    }

    #[test]
    fn an_unknown_placeholder_is_an_error() {
        let t = format!("{TEMPLATE}  extra: {{{{NOPE}}}}\n");
        let err = render(&t, &spec(Filter::None)).unwrap_err();
        assert!(
            matches!(err, EnvoyError::Template(ref m) if m.contains("NOPE")),
            "{err}"
        );
    }

    #[test]
    fn stats_text_is_parsed_into_counters_and_gauges() {
        let s = parse_stats("a.b: 3\nwasmcustom.x.y: 0\nh: P0(nan,1) P25(nan,2)\n");
        assert_eq!(s.get("a.b"), Some(&3));
        assert_eq!(s.get("wasmcustom.x.y"), Some(&0));
        assert!(!s.contains_key("h"));
    }
}
