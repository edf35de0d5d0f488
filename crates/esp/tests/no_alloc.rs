//! The per-packet paths allocate nothing: a counting global allocator watches
//! encapsulate and decapsulate for every transform and provider.
#![allow(unsafe_code)] // GlobalAlloc is an unsafe trait; the impl only forwards to System.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use common::{SUITES, params, providers};
use l2sec_esp::{Error, InboundSa, Mode, OutboundSa, SaTable};

struct Counting;

thread_local! {
    /// Allocations made by this thread while counting is on (None: not counting).
    static COUNT: Cell<Option<u64>> = const { Cell::new(None) };
}

// SAFETY: every method forwards to `System` unchanged; the counter is a const-initialised
// thread-local `Cell`, which never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        COUNT.with(|c| c.set(c.get().map(|n| n + 1)));
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's pointer and layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        COUNT.with(|c| c.set(c.get().map(|n| n + 1)));
        // SAFETY: forwarded with the caller's arguments.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs `f` and returns how many allocations it made on this thread.
fn allocations(f: impl FnOnce()) -> u64 {
    COUNT.with(|c| c.set(Some(0)));
    f();
    COUNT.with(|c| c.replace(None)).unwrap_or(0)
}

#[test]
fn the_counter_sees_allocations() {
    // Guards against a counter that can never fail.
    assert!(allocations(|| drop(std::hint::black_box(vec![1u8; 10]))) >= 1);
}

#[test]
fn encapsulate_and_decapsulate_allocate_nothing() {
    for provider in providers() {
        for (i, (name, ..)) in SUITES.iter().enumerate() {
            for esn in [false, true] {
                let p = params(i, Mode::Tunnel, esn);
                let mut tx = OutboundSa::with_provider(&p, &provider).unwrap();
                let mut table = SaTable::new();
                table.insert(InboundSa::with_provider(&p, &provider).unwrap()).unwrap();
                let inner = common::ipv4_udp(&[0x5a; 1372]);
                let mut buf = vec![0u8; 64 + inner.len() + 64];
                let n = allocations(|| {
                    for _ in 0..50 {
                        buf[64..64 + inner.len()].copy_from_slice(&inner);
                        let pkt = tx.encapsulate_tunnel(&mut buf, 64..64 + inner.len()).unwrap();
                        let (_, d) = table.decapsulate(pkt).unwrap();
                        assert_eq!(d.payload.len(), inner.len());
                        while tx.poll_event().is_some() {}
                    }
                    // The rejection paths too: replay and a bad ICV.
                    buf[64..64 + inner.len()].copy_from_slice(&inner);
                    let pkt = tx.encapsulate_tunnel(&mut buf, 64..64 + inner.len()).unwrap();
                    let len = pkt.len();
                    let copy: &mut [u8] = &mut [0u8; 1600][..len];
                    copy.copy_from_slice(pkt);
                    let mut forged = [0u8; 1600];
                    forged[..len].copy_from_slice(copy);
                    forged[len - 1] ^= 1;
                    assert_eq!(table.decapsulate(&mut forged[..len]).unwrap_err(), Error::IcvMismatch);
                    table.decapsulate(pkt).unwrap();
                    assert!(matches!(table.decapsulate(copy).unwrap_err(), Error::Replay(_)));
                });
                assert_eq!(n, 0, "{name} ({}, esn {esn}) allocated {n} times", provider.name);
            }
        }
    }
}
