//! The WASI preview1 functions a Rust `wasm32-wasip1` cdylib imports, implemented by hand so
//! the clock and randomness are the test's, and output becomes log records.
//!
//! Only the functions below are defined; a module importing anything else fails at
//! instantiation with the list of missing imports (see `vm.rs`), never at run time.

use crate::abi::LogLevel;
use crate::memory::{read, write, write_u32, write_u64, Fail};
use crate::state::{LogRecord, LogSource, VmState};
use wasmtime::{Caller, Linker};

const MODULE: &str = "wasi_snapshot_preview1";

// errno values from the WASI preview1 witx (`typenames.witx`).
const SUCCESS: i32 = 0;
const BADF: i32 = 8;
const FAULT: i32 = 21;
const INVAL: i32 = 28;
const NOTSUP: i32 = 58;
const SPIPE: i32 = 70;

// Clock ids from `typenames.witx`.
const CLOCK_REALTIME: i32 = 0;
const CLOCK_MONOTONIC: i32 = 1;
const CLOCK_PROCESS_CPUTIME: i32 = 2;
const CLOCK_THREAD_CPUTIME: i32 = 3;

/// `filetype::character_device`, what stdio reports in `fd_fdstat_get`.
const FILETYPE_CHARACTER_DEVICE: u8 = 2;

/// Longest line kept from stdout/stderr before it is flushed without a newline: a runaway
/// writer must not grow the buffer without bound. 64 KiB holds any panic message.
const MAX_STDIO_LINE: usize = 64 * 1024;

fn errno(result: Result<i32, Fail>) -> wasmtime::Result<i32> {
    match result {
        Ok(code) => Ok(code),
        Err(Fail::Status(_)) => Ok(FAULT),
        Err(Fail::Trap(error)) => Err(error),
    }
}

pub(crate) fn define(linker: &mut Linker<VmState>) -> wasmtime::Result<()> {
    linker.func_wrap(
        MODULE,
        "fd_write",
        |mut caller: Caller<'_, VmState>, fd: i32, iovs: i32, iovs_len: i32, nwritten: i32| {
            errno(fd_write(&mut caller, fd, iovs, iovs_len, nwritten))
        },
    )?;
    linker.func_wrap(
        MODULE,
        "fd_read",
        |mut caller: Caller<'_, VmState>, fd: i32, _iovs: i32, _len: i32, nread: i32| {
            // stdin is empty; other descriptors do not exist.
            errno(if fd == 0 {
                write_u32(&mut caller, nread, 0).map(|()| SUCCESS)
            } else {
                Ok(BADF)
            })
        },
    )?;
    linker.func_wrap(MODULE, "fd_close", |_: Caller<'_, VmState>, fd: i32| {
        Ok(if (0..=2).contains(&fd) { SUCCESS } else { BADF })
    })?;
    linker.func_wrap(
        MODULE,
        "fd_seek",
        |_: Caller<'_, VmState>, fd: i32, _offset: i64, _whence: i32, _out: i32| {
            Ok(if (0..=2).contains(&fd) { SPIPE } else { BADF })
        },
    )?;
    linker.func_wrap(
        MODULE,
        "fd_fdstat_get",
        |mut caller: Caller<'_, VmState>, fd: i32, out: i32| {
            if !(0..=2).contains(&fd) {
                return Ok(BADF);
            }
            // fdstat: filetype u8, (pad), flags u16, rights_base u64, rights_inheriting u64.
            let mut stat = [0u8; 24];
            stat[0] = FILETYPE_CHARACTER_DEVICE;
            errno(write(&mut caller, out, &stat).map(|()| SUCCESS))
        },
    )?;
    linker.func_wrap(
        MODULE,
        "fd_prestat_get",
        |_: Caller<'_, VmState>, _fd: i32, _out: i32| {
            // No preopened directories: the module has no file system.
            Ok(BADF)
        },
    )?;
    linker.func_wrap(
        MODULE,
        "fd_prestat_dir_name",
        |_: Caller<'_, VmState>, _fd: i32, _path: i32, _len: i32| Ok(BADF),
    )?;
    linker.func_wrap(
        MODULE,
        "clock_time_get",
        |mut caller: Caller<'_, VmState>, id: i32, _precision: i64, out: i32| {
            let now = {
                let shared = caller.data().shared.borrow();
                match id {
                    CLOCK_REALTIME => Some(shared.realtime_ns),
                    CLOCK_MONOTONIC | CLOCK_PROCESS_CPUTIME | CLOCK_THREAD_CPUTIME => {
                        Some(shared.monotonic_ns)
                    }
                    _ => None,
                }
            };
            match now {
                Some(now) => errno(write_u64(&mut caller, out, now).map(|()| SUCCESS)),
                None => Ok(INVAL),
            }
        },
    )?;
    linker.func_wrap(
        MODULE,
        "clock_res_get",
        |mut caller: Caller<'_, VmState>, _id: i32, out: i32| {
            errno(write_u64(&mut caller, out, 1).map(|()| SUCCESS))
        },
    )?;
    linker.func_wrap(
        MODULE,
        "random_get",
        |mut caller: Caller<'_, VmState>, buf: i32, len: i32| {
            let mut bytes = vec![0u8; len as u32 as usize];
            caller.data().shared.borrow_mut().random_bytes(&mut bytes);
            errno(write(&mut caller, buf, &bytes).map(|()| SUCCESS))
        },
    )?;
    for (name, _) in [("environ_sizes_get", ()), ("args_sizes_get", ())] {
        linker.func_wrap(
            MODULE,
            name,
            |mut caller: Caller<'_, VmState>, count: i32, size: i32| {
                // No environment variables and no arguments, as in Envoy.
                errno(
                    write_u32(&mut caller, count, 0)
                        .and_then(|()| write_u32(&mut caller, size, 0))
                        .map(|()| SUCCESS),
                )
            },
        )?;
    }
    for name in ["environ_get", "args_get"] {
        linker.func_wrap(
            MODULE,
            name,
            |_: Caller<'_, VmState>, _ptrs: i32, _buf: i32| Ok(SUCCESS),
        )?;
    }
    linker.func_wrap(MODULE, "sched_yield", |_: Caller<'_, VmState>| Ok(SUCCESS))?;
    linker.func_wrap(
        MODULE,
        "poll_oneoff",
        |_: Caller<'_, VmState>, _in: i32, _out: i32, _n: i32, _events: i32| {
            // Sleeping would block the proxy's worker thread; Envoy's WASI refuses too.
            Ok(NOTSUP)
        },
    )?;
    linker.func_wrap(
        MODULE,
        "proc_exit",
        |_: Caller<'_, VmState>, code: i32| -> wasmtime::Result<()> {
            Err(wasmtime::Error::msg(format!(
                "the module called proc_exit({code})"
            )))
        },
    )?;
    Ok(())
}

fn fd_write(
    caller: &mut Caller<'_, VmState>,
    fd: i32,
    iovs: i32,
    iovs_len: i32,
    nwritten: i32,
) -> Result<i32, Fail> {
    let stream = match fd {
        1 => 0,
        2 => 1,
        _ => return Ok(BADF),
    };
    let table_len = iovs_len
        .checked_mul(8)
        .ok_or(Fail::Status(crate::abi::Status::BadArgument))?;
    let table = read(caller, iovs, table_len)?;
    let mut written: u32 = 0;
    for entry in table.chunks_exact(8) {
        let mut ptr = [0u8; 4];
        let mut len = [0u8; 4];
        ptr.copy_from_slice(entry.get(0..4).unwrap_or(&[0; 4]));
        len.copy_from_slice(entry.get(4..8).unwrap_or(&[0; 4]));
        let (ptr, len) = (u32::from_le_bytes(ptr), u32::from_le_bytes(len));
        let bytes = read(caller, ptr as i32, len as i32)?;
        written = written.saturating_add(len);
        append_stdio(caller.data_mut(), stream, &bytes);
    }
    write_u32(caller, nwritten, written)?;
    Ok(SUCCESS)
}

fn append_stdio(state: &mut VmState, stream: usize, bytes: &[u8]) {
    let (level, source) = if stream == 0 {
        (LogLevel::Info, LogSource::Stdout)
    } else {
        (LogLevel::Error, LogSource::Stderr)
    };
    let vm = state.id;
    let mut lines = Vec::new();
    if let Some(buffer) = state.stdio.get_mut(stream) {
        for byte in bytes {
            if *byte == b'\n' || buffer.len() >= MAX_STDIO_LINE {
                lines.push(String::from_utf8_lossy(buffer).into_owned());
                buffer.clear();
                if *byte == b'\n' {
                    continue;
                }
            }
            buffer.push(*byte);
        }
    }
    let mut shared = state.shared.borrow_mut();
    for message in lines {
        shared.log(LogRecord {
            vm,
            level,
            source,
            message,
        });
    }
}

/// Flushes a partial stdio line (a panic message without newline) into the log.
pub(crate) fn flush_stdio(state: &mut VmState) {
    for stream in 0..2 {
        if state.stdio.get(stream).is_some_and(|b| !b.is_empty()) {
            append_stdio(state, stream, b"\n");
        }
    }
}
