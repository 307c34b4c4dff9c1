//! What can go wrong in the host, as data.

use crate::state::{CallId, LogRecord, VmId};
use std::fmt;
use std::path::PathBuf;

/// A harness failure. A trap in the module is one of these, with the wasm backtrace and the
/// module's last error lines (the SDK's panic hook logs the panic message at Critical; without
/// it, Rust prints it to stderr).
pub enum HostError {
    /// The `.wasm` file could not be read.
    Read { path: PathBuf, message: String },
    /// wasmtime refused to compile the module.
    Compile { path: PathBuf, message: String },
    /// The module imports functions this host does not provide.
    MissingImports { imports: Vec<String> },
    /// The module does not export `proxy_abi_version_0_2_1`.
    UnsupportedAbi { abi_exports: Vec<String> },
    /// Instantiation or `_initialize` failed.
    Instantiate { message: String },
    /// The module trapped (panic, `proc_exit`, out-of-bounds access, unsupported host call).
    Trap {
        vm: VmId,
        callback: String,
        /// wasmtime's error with the wasm backtrace.
        message: String,
        /// The VM's last stderr lines and `proxy_log` lines at Error or above.
        last_errors: Vec<String>,
    },
    /// The VM trapped earlier; like Envoy, the harness does not call into it again.
    VmFailed { vm: VmId },
    /// No VM with this id in this host.
    UnknownVm(VmId),
    /// No pending call with this id (already answered, or never dispatched).
    UnknownCall(CallId),
    /// The stream was completed; it accepts no more events.
    StreamCompleted { context_id: u32 },
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostError::Read { path, message } => {
                write!(f, "cannot read {}: {message}", path.display())
            }
            HostError::Compile { path, message } => {
                write!(f, "cannot compile {}: {message}", path.display())
            }
            HostError::MissingImports { imports } => write!(
                f,
                "the module imports functions this host does not implement: {}",
                imports.join(", ")
            ),
            HostError::UnsupportedAbi { abi_exports } => write!(
                f,
                "the module does not export proxy_abi_version_0_2_1 (ABI exports found: [{}])",
                abi_exports.join(", ")
            ),
            HostError::Instantiate { message } => write!(f, "instantiation failed: {message}"),
            HostError::Trap {
                vm,
                callback,
                message,
                last_errors,
            } => {
                write!(
                    f,
                    "the module trapped in {callback} on vm {}: {message}",
                    vm.0
                )?;
                if !last_errors.is_empty() {
                    write!(
                        f,
                        "\nlast errors the module logged:\n{}",
                        last_errors.join("\n")
                    )?;
                }
                Ok(())
            }
            HostError::VmFailed { vm } => write!(f, "vm {} trapped earlier and is unusable", vm.0),
            HostError::UnknownVm(vm) => write!(f, "no vm {}", vm.0),
            HostError::UnknownCall(id) => {
                write!(
                    f,
                    "no pending call with token {} on vm {}",
                    id.token, id.vm.0
                )
            }
            HostError::StreamCompleted { context_id } => {
                write!(f, "stream {context_id} is completed")
            }
        }
    }
}

impl fmt::Debug for HostError {
    // `fn test() -> Result<(), HostError>` prints Debug: make it the readable text.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for HostError {}

/// The phase in which the module refused to start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartPhase {
    /// `proxy_on_vm_start` returned false.
    VmStart,
    /// `proxy_on_configure` returned false.
    Configure,
}

/// The module refused its configuration; Envoy would reject the listener/filter update.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigureRejected {
    pub vm: VmId,
    pub phase: StartPhase,
    /// Everything the VM logged while starting, in order (the reason is usually here).
    pub logs: Vec<LogRecord>,
}

impl ConfigureRejected {
    /// True when some log line contains `needle`.
    pub fn logged(&self, needle: &str) -> bool {
        self.logs
            .iter()
            .any(|record| record.message.contains(needle))
    }
}

/// Why [`crate::Host::start_vm`] did not produce a running VM.
#[derive(Debug)]
pub enum StartError {
    Rejected(ConfigureRejected),
    Host(HostError),
}

impl StartError {
    /// The rejection, when the module (not the harness) said no.
    pub fn rejected(&self) -> Option<&ConfigureRejected> {
        match self {
            StartError::Rejected(rejected) => Some(rejected),
            StartError::Host(_) => None,
        }
    }
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Rejected(r) => {
                write!(f, "the module rejected its configuration in {:?}", r.phase)?;
                for record in &r.logs {
                    write!(f, "\n  [{:?}] {}", record.level, record.message)?;
                }
                Ok(())
            }
            StartError::Host(error) => write!(f, "{error}"),
        }
    }
}

impl std::error::Error for StartError {}

impl From<HostError> for StartError {
    fn from(error: HostError) -> Self {
        StartError::Host(error)
    }
}
