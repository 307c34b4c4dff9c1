//! Reading and writing the module's linear memory from host calls.

use crate::abi::Status;
use crate::state::VmState;
use wasmtime::{Caller, Extern, Memory};

/// Why a host call stopped: a status the module receives, or a trap that aborts the module.
pub(crate) enum Fail {
    Status(Status),
    Trap(wasmtime::Error),
}

impl From<Status> for Fail {
    fn from(status: Status) -> Self {
        Fail::Status(status)
    }
}

impl From<wasmtime::Error> for Fail {
    fn from(error: wasmtime::Error) -> Self {
        Fail::Trap(error)
    }
}

pub(crate) type HostResult<T> = Result<T, Fail>;

/// Turns a host call body into what the module sees: a status code, or a trap.
pub(crate) fn finish(result: HostResult<Status>) -> wasmtime::Result<i32> {
    match result {
        Ok(status) | Err(Fail::Status(status)) => Ok(status.code()),
        Err(Fail::Trap(error)) => Err(error),
    }
}

fn memory(caller: &mut Caller<'_, VmState>) -> HostResult<Memory> {
    match caller.get_export("memory") {
        Some(Extern::Memory(memory)) => Ok(memory),
        _ => Err(Fail::Trap(wasmtime::Error::msg(
            "the module exports no `memory`",
        ))),
    }
}

fn range(ptr: i32, len: i32) -> HostResult<(usize, usize)> {
    // wasm32 pointers and sizes are unsigned 32-bit values passed as i32.
    let start = ptr as u32 as usize;
    let len = len as u32 as usize;
    let end = start.checked_add(len).ok_or(Status::InvalidMemoryAccess)?;
    Ok((start, end))
}

pub(crate) fn read(caller: &mut Caller<'_, VmState>, ptr: i32, len: i32) -> HostResult<Vec<u8>> {
    if len == 0 {
        return Ok(Vec::new());
    }
    let (start, end) = range(ptr, len)?;
    let memory = memory(caller)?;
    let data = memory.data(&*caller);
    Ok(data
        .get(start..end)
        .ok_or(Status::InvalidMemoryAccess)?
        .to_vec())
}

pub(crate) fn read_string(
    caller: &mut Caller<'_, VmState>,
    ptr: i32,
    len: i32,
) -> HostResult<String> {
    let bytes = read(caller, ptr, len)?;
    String::from_utf8(bytes).map_err(|_| Fail::Status(Status::BadArgument))
}

pub(crate) fn write(caller: &mut Caller<'_, VmState>, ptr: i32, bytes: &[u8]) -> HostResult<()> {
    let len = i32::try_from(bytes.len()).map_err(|_| Status::InvalidMemoryAccess)?;
    let (start, end) = range(ptr, len)?;
    let memory = memory(caller)?;
    let data = memory.data_mut(&mut *caller);
    data.get_mut(start..end)
        .ok_or(Status::InvalidMemoryAccess)?
        .copy_from_slice(bytes);
    Ok(())
}

pub(crate) fn write_u32(caller: &mut Caller<'_, VmState>, ptr: i32, value: u32) -> HostResult<()> {
    write(caller, ptr, &value.to_le_bytes())
}

pub(crate) fn write_u64(caller: &mut Caller<'_, VmState>, ptr: i32, value: u64) -> HostResult<()> {
    write(caller, ptr, &value.to_le_bytes())
}

/// Hands bytes to the module the way proxy-wasm hosts do: memory obtained from the module's own
/// allocator (`proxy_on_memory_allocate`, or `malloc`), which the module then owns and frees.
/// Empty data is returned as a null pointer and size 0, as proxy-wasm-cpp-host does.
pub(crate) fn copy_out(
    caller: &mut Caller<'_, VmState>,
    bytes: &[u8],
    ptr_ptr: i32,
    size_ptr: i32,
) -> HostResult<()> {
    if bytes.is_empty() {
        write_u32(caller, ptr_ptr, 0)?;
        return write_u32(caller, size_ptr, 0);
    }
    let size = i32::try_from(bytes.len()).map_err(|_| Status::InvalidMemoryAccess)?;
    let allocate = ["proxy_on_memory_allocate", "malloc"]
        .iter()
        .find_map(|name| caller.get_export(name).and_then(Extern::into_func))
        .ok_or_else(|| {
            Fail::Trap(wasmtime::Error::msg(
                "the module exports neither `proxy_on_memory_allocate` nor `malloc`",
            ))
        })?;
    let allocate = allocate.typed::<i32, i32>(&*caller)?;
    let ptr = allocate.call(&mut *caller, size)?;
    if ptr == 0 {
        return Err(Fail::Trap(wasmtime::Error::msg(
            "the module's allocator returned null",
        )));
    }
    write(caller, ptr, bytes)?;
    write_u32(caller, ptr_ptr, ptr as u32)?;
    write_u32(caller, size_ptr, size as u32)
}
