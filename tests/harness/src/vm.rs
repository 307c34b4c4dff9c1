//! Compiling (once per file per test process), linking and calling into one module instance.

use crate::error::HostError;
use crate::state::{VmId, VmState};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::SystemTime;
use wasmtime::{Config, Engine, Instance, Linker, Module, Store, Val};

/// The ABI version export this host speaks (proxy-wasm spec, `abi-versions/v0.2.1`).
const ABI_EXPORT: &str = "proxy_abi_version_0_2_1";

/// How many of the module's last error lines a trap report carries.
const TRAP_ERROR_LINES: usize = 20;

/// Frames kept in a trap's wasm backtrace (wasmtime's default is 20; SDK dispatch adds depth).
const BACKTRACE_FRAMES: usize = 64;

fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let mut config = Config::new();
        // Deep enough to reach from a host call back to the module's entry point.
        config.wasm_backtrace_max_frames(std::num::NonZeroUsize::new(BACKTRACE_FRAMES));
        Engine::new(&config).unwrap_or_else(|_| Engine::default())
    })
}

/// Identity of a file's content for the cache: a rebuilt `.wasm` is compiled again.
type Stamp = (u64, Option<SystemTime>);

/// Compiles a module, or returns the one compiled earlier in this process for the same file.
/// Compiling a megabyte of wasm takes seconds; every test of a suite shares one compilation.
pub(crate) fn load_module(path: &Path) -> Result<Module, HostError> {
    static MODULES: OnceLock<Mutex<HashMap<PathBuf, (Stamp, Module)>>> = OnceLock::new();
    let read_error = |message: String| HostError::Read {
        path: path.to_path_buf(),
        message,
    };
    let metadata = std::fs::metadata(path).map_err(|e| read_error(e.to_string()))?;
    let stamp = (metadata.len(), metadata.modified().ok());
    let cache = MODULES.get_or_init(Default::default);
    // A poisoned lock only means another test panicked while holding it; the map is intact.
    let mut modules = cache.lock().unwrap_or_else(|poison| poison.into_inner());
    if let Some((cached, module)) = modules.get(path) {
        if *cached == stamp {
            return Ok(module.clone());
        }
    }
    let bytes = std::fs::read(path).map_err(|e| read_error(e.to_string()))?;
    let module = Module::new(engine(), &bytes).map_err(|e| HostError::Compile {
        path: path.to_path_buf(),
        message: format!("{e:?}"),
    })?;
    modules.insert(path.to_path_buf(), (stamp, module.clone()));
    Ok(module)
}

pub(crate) fn linker() -> Result<Linker<VmState>, HostError> {
    let mut linker = Linker::new(engine());
    let instantiate = |e: wasmtime::Error| HostError::Instantiate {
        message: format!("{e:?}"),
    };
    crate::wasi::define(&mut linker).map_err(instantiate)?;
    crate::hostcalls::define(&mut linker).map_err(instantiate)?;
    Ok(linker)
}

pub(crate) struct Vm {
    pub(crate) store: Store<VmState>,
    instance: Instance,
    failed: bool,
}

impl Vm {
    /// Instantiates the module and runs its initializer (`_initialize` for a reactor, as Envoy
    /// does; `_start` for a command-style module).
    pub(crate) fn new(
        module: &Module,
        linker: &Linker<VmState>,
        state: VmState,
    ) -> Result<Vm, HostError> {
        let abi_exports: Vec<String> = module
            .exports()
            .map(|e| e.name().to_string())
            .filter(|name| name.starts_with("proxy_abi_version"))
            .collect();
        if !abi_exports.iter().any(|name| name == ABI_EXPORT) {
            return Err(HostError::UnsupportedAbi { abi_exports });
        }
        let mut store = Store::new(engine(), state);
        let missing: Vec<String> = module
            .imports()
            .filter(|import| linker.get_by_import(&mut store, import).is_none())
            .map(|import| format!("{}::{}", import.module(), import.name()))
            .collect();
        if !missing.is_empty() {
            return Err(HostError::MissingImports { imports: missing });
        }
        let instance =
            linker
                .instantiate(&mut store, module)
                .map_err(|e| HostError::Instantiate {
                    message: format!("{e:?}"),
                })?;
        let mut vm = Vm {
            store,
            instance,
            failed: false,
        };
        for init in ["_initialize", "_start"] {
            if vm.instance.get_func(&mut vm.store, init).is_some() {
                vm.call(init, &[])?;
                break;
            }
        }
        Ok(vm)
    }

    pub(crate) fn id(&self) -> VmId {
        self.store.data().id
    }

    pub(crate) fn state(&self) -> &VmState {
        self.store.data()
    }

    pub(crate) fn state_mut(&mut self) -> &mut VmState {
        self.store.data_mut()
    }

    /// Calls an export with the given context made effective. A missing callback export is
    /// skipped (returns `None`), as Envoy skips callbacks a module does not define.
    pub(crate) fn call_in(
        &mut self,
        context: u32,
        name: &str,
        args: &[i32],
    ) -> Result<Option<i32>, HostError> {
        self.store.data_mut().effective = context;
        self.call(name, args)
    }

    fn call(&mut self, name: &str, args: &[i32]) -> Result<Option<i32>, HostError> {
        let vm = self.id();
        if self.failed {
            return Err(HostError::VmFailed { vm });
        }
        let Some(func) = self.instance.get_func(&mut self.store, name) else {
            return Ok(None);
        };
        let params: Vec<Val> = args.iter().map(|a| Val::I32(*a)).collect();
        let mut results = vec![Val::I32(0); func.ty(&self.store).results().len()];
        let outcome = func.call(&mut self.store, &params, &mut results);
        crate::wasi::flush_stdio(self.store.data_mut());
        match outcome {
            Ok(()) => Ok(results.first().and_then(Val::i32)),
            Err(error) => {
                self.failed = true;
                let last_errors = self.recent_errors();
                Err(HostError::Trap {
                    vm,
                    callback: name.to_string(),
                    message: format!("{error:?}"),
                    last_errors,
                })
            }
        }
    }

    fn recent_errors(&self) -> Vec<String> {
        let vm = self.id();
        let shared = self.store.data().shared.borrow();
        let lines: Vec<String> = shared
            .logs
            .iter()
            .filter(|r| r.vm == vm && r.level >= crate::abi::LogLevel::Error)
            .map(|r| r.message.clone())
            .collect();
        let skip = lines.len().saturating_sub(TRAP_ERROR_LINES);
        lines.into_iter().skip(skip).collect()
    }
}
