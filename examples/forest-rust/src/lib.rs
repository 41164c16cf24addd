//! A 100-tree, depth-6 random forest (8 features, f32) implementing the
//! mlbox wasm model ABI v1 (docs/wasm-abi.md). The trees are generated from a
//! seed by `go run ./gen` into `forest_data.rs`.
//!
//! Built for `wasm32-unknown-unknown` with `#![no_std]`: the module has no
//! imports at all, no allocator, and its buffers are static arrays.
#![no_std]

mod forest_data;

use core::ptr::{addr_of, addr_of_mut};
use forest_data::*;

static mut INPUT: [f32; MAX_ROWS * N_FEATURES] = [0.0; MAX_ROWS * N_FEATURES];
static mut OUTPUT: [f32; MAX_ROWS] = [0.0; MAX_ROWS];
static mut ERROR: &str = "";

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}

#[no_mangle]
pub extern "C" fn mlbox_abi_version() -> i32 {
    1
}

#[no_mangle]
pub extern "C" fn mlbox_metadata_ptr() -> i32 {
    METADATA.as_ptr() as i32
}

#[no_mangle]
pub extern "C" fn mlbox_metadata_len() -> i32 {
    METADATA.len() as i32
}

#[no_mangle]
pub extern "C" fn mlbox_input_ptr() -> i32 {
    addr_of!(INPUT) as i32
}

#[no_mangle]
pub extern "C" fn mlbox_output_ptr() -> i32 {
    addr_of!(OUTPUT) as i32
}

fn error() -> &'static str {
    // SAFETY: a copy of the &str, read while no call is writing it.
    unsafe { *addr_of!(ERROR) }
}

#[no_mangle]
pub extern "C" fn mlbox_error_ptr() -> i32 {
    error().as_ptr() as i32
}

#[no_mangle]
pub extern "C" fn mlbox_error_len() -> i32 {
    error().len() as i32
}

// The hot path has no loops on purpose. With call timeouts on, wazero puts
// an interrupt check at every loop back-edge; a check per tree level would
// cost more than the comparison itself. So the levels and the trees are
// unrolled by hand (the row loop keeps its one check per row).
const _: () = assert!(N_TREES == 100 && DEPTH == 6);

/// One level: from node i of the tree at base, go to a child. A row goes
/// right when x > threshold, so NaN goes left.
#[inline(always)]
fn step(x: &[f32; N_FEATURES], base: usize, i: usize) -> usize {
    // SAFETY: i < INTERNAL at every level and FEAT values are < N_FEATURES,
    // both guaranteed by the generator.
    unsafe {
        let n = base + i;
        let v = *x.get_unchecked(*FEAT.get_unchecked(n) as usize);
        2 * i + 1 + (v > *THR.get_unchecked(n)) as usize
    }
}

/// The leaf value of tree t for row x.
#[inline(always)]
fn tree(x: &[f32; N_FEATURES], t: usize) -> f32 {
    let base = t * INTERNAL;
    let i = step(x, base, 0);
    let i = step(x, base, i);
    let i = step(x, base, i);
    let i = step(x, base, i);
    let i = step(x, base, i);
    let i = step(x, base, i);
    // SAFETY: after DEPTH levels, INTERNAL <= i < INTERNAL + LEAVES.
    unsafe { *LEAF.get_unchecked(t * LEAVES + i - INTERNAL) }
}

/// Scores one row: the mean of the trees, summed in tree order (the
/// generator's reference does the same).
#[inline(always)]
fn predict_row(x: &[f32; N_FEATURES]) -> f32 {
    let mut acc = 0.0f32;
    macro_rules! ten {
        ($b:expr) => {
            acc += tree(x, $b);
            acc += tree(x, $b + 1);
            acc += tree(x, $b + 2);
            acc += tree(x, $b + 3);
            acc += tree(x, $b + 4);
            acc += tree(x, $b + 5);
            acc += tree(x, $b + 6);
            acc += tree(x, $b + 7);
            acc += tree(x, $b + 8);
            acc += tree(x, $b + 9);
        };
    }
    ten!(0);
    ten!(10);
    ten!(20);
    ten!(30);
    ten!(40);
    ten!(50);
    ten!(60);
    ten!(70);
    ten!(80);
    ten!(90);
    acc / N_TREES as f32
}

#[no_mangle]
pub extern "C" fn mlbox_predict(rows: i32) -> i32 {
    if rows < 1 || rows as usize > MAX_ROWS {
        unsafe { *addr_of_mut!(ERROR) = "rows out of range [1, 1024]" };
        return -1;
    }
    let rows = rows as usize;
    // SAFETY: the host never runs two calls on one instance at once.
    let (input, output) = unsafe { (&*addr_of!(INPUT), &mut *addr_of_mut!(OUTPUT)) };
    for r in 0..rows {
        let x: &[f32; N_FEATURES] = input[r * N_FEATURES..(r + 1) * N_FEATURES].try_into().unwrap();
        output[r] = predict_row(x);
    }
    rows as i32
}
