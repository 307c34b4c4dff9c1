//! Allocation counting for cost measurements (feature `count-allocations`, never in a
//! release): every allocation of the module goes through here and is counted, and the
//! harness reads the totals through two exports.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU32, Ordering};

static ALLOCATIONS: AtomicU32 = AtomicU32::new(0);
static ALLOCATED_BYTES: AtomicU32 = AtomicU32::new(0);

struct Counting;

fn count(size: usize) {
    ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    ALLOCATED_BYTES.fetch_add(u32::try_from(size).unwrap_or(u32::MAX), Ordering::Relaxed);
}

// SAFETY: every call is forwarded unchanged to the system allocator.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        System.alloc(layout)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        System.alloc_zeroed(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size);
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

/// Allocations (and reallocations) since the VM started.
#[no_mangle]
pub extern "C" fn claimcheck_allocations() -> u32 {
    ALLOCATIONS.load(Ordering::Relaxed)
}

/// Bytes requested by those allocations.
#[no_mangle]
pub extern "C" fn claimcheck_allocated_bytes() -> u32 {
    ALLOCATED_BYTES.load(Ordering::Relaxed)
}
