//! Cross-memory attach: one copy straight between this process and another on the same machine
//! (process_vm_readv), the same-host stand-in for an RDMA read. The transport uses it for one-sided
//! region transfers between co-located nodes instead of streaming the bytes through a TCP socket.
//!
//! `cmaAddress(view)`: where a view's bytes start in this process (a number: user addresses on
//! x86-64 and arm64 fit in 2^53). Backing stores of ArrayBuffers and SharedArrayBuffers do not move.
//! `cmaRead(pid, into, address)`: copies `into.byteLength` bytes at `address` in process `pid` into
//! `into`; throws the errno (EPERM/ESRCH: not allowed or gone; EFAULT: not mapped there) or
//! ERR_CMA_SHORT when the copy stopped part way (a page of the range is not mapped).
//! `cmaReadChecked(pid, into, address, wordAddress)`: the same copy, then the u32 at `wordAddress`
//! in the same system call (the kernel copies the remote ranges in order, so the word is read after
//! the bytes); returns the word.

use crate::napi::*;
use crate::js_fn;
use std::ffi::{c_int, c_void};

#[repr(C)]
struct IoVec { base: *mut c_void, len: usize }

extern "C" {
    fn process_vm_readv(pid: c_int, local: *const IoVec, liovcnt: u64, remote: *const IoVec, riovcnt: u64, flags: u64) -> isize;
}

fn cma_address(env: napi_env, info: napi_callback_info) -> Result<napi_value> {
    let [v] = args::<1>(env, info)?;
    let (data, _) = get_bytes(env, v, "view")?;
    number(env, data as usize as f64)
}
js_fn!(js_cma_address, cma_address);

fn cma_read(env: napi_env, info: napi_callback_info) -> Result<napi_value> {
    let [p, v, a] = args::<3>(env, info)?;
    let pid = get_i32(env, p, "pid")?;
    if pid <= 0 { return arg_error(format!("pid must be a positive process id, got {pid}")); }
    let (data, len) = get_bytes(env, v, "into")?;
    let address = get_u64(env, a, "address")?;
    if len == 0 { return number(env, 0.0); }
    let local = IoVec { base: data as *mut c_void, len };
    let remote = IoVec { base: address as usize as *mut c_void, len };
    let n = unsafe { process_vm_readv(pid, &local, 1, &remote, 1, 0) };
    if n < 0 { return Err(errno_error("process_vm_readv")); }
    if n as usize != len {
        return Err(Error::Coded { code: "ERR_CMA_SHORT", message: format!("process_vm_readv copied {n} of {len} bytes from process {pid}") });
    }
    number(env, n as f64)
}
js_fn!(js_cma_read, cma_read);

fn cma_read_checked(env: napi_env, info: napi_callback_info) -> Result<napi_value> {
    let [p, v, a, w] = args::<4>(env, info)?;
    let pid = get_i32(env, p, "pid")?;
    if pid <= 0 { return arg_error(format!("pid must be a positive process id, got {pid}")); }
    let (data, len) = get_bytes(env, v, "into")?;
    let address = get_u64(env, a, "address")?;
    let word_address = get_u64(env, w, "wordAddress")?;
    let mut word: u32 = 0;
    let local = [IoVec { base: data as *mut c_void, len }, IoVec { base: &mut word as *mut u32 as *mut c_void, len: 4 }];
    let remote = [IoVec { base: address as usize as *mut c_void, len }, IoVec { base: word_address as usize as *mut c_void, len: 4 }];
    let n = unsafe { process_vm_readv(pid, local.as_ptr(), 2, remote.as_ptr(), 2, 0) };
    if n < 0 { return Err(errno_error("process_vm_readv")); }
    if n as usize != len + 4 {
        return Err(Error::Coded { code: "ERR_CMA_SHORT", message: format!("process_vm_readv copied {n} of {} bytes from process {pid}", len + 4) });
    }
    number(env, word as f64)
}
js_fn!(js_cma_read_checked, cma_read_checked);

pub fn register(env: napi_env, exports: napi_value) {
    export(env, exports, "cmaReadChecked", js_cma_read_checked);
    export(env, exports, "cmaAddress", js_cma_address);
    export(env, exports, "cmaRead", js_cma_read);
}
