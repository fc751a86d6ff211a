//! File-system operations on the thread's io_uring (see uring.rs for the ring itself):
//! fallocate, ftruncate, renameat, unlinkat, mkdirat and statx. Each call writes one SQE and
//! returns a Promise; like reads and writes, they are submitted together at the end of the JS turn.
//! All run in io-wq (IOSQE_ASYNC): a path may lie on a FUSE mount served by this very thread.
//!
//! Directory listing and statfs have no io_uring operation (getdents was never merged); the
//! runtime does those on the libuv pool.

use crate::js_fn;
use crate::napi::*;
use crate::uring::{ring, Kind, Pending, Sqe, AT_FDCWD, IOSQE_ASYNC};
use std::ffi::CString;

const OP_FALLOCATE: u8 = 17;
const OP_STATX: u8 = 21;
const OP_RENAMEAT: u8 = 35;
const OP_UNLINKAT: u8 = 36;
const OP_MKDIRAT: u8 = 37;
/// Since Linux 6.9; older kernels fail the operation with EINVAL.
const OP_FTRUNCATE: u8 = 55;
const AT_REMOVEDIR: u32 = 0x200;
/// struct statx is 256 bytes; the caller's buffer receives it.
const STATX_BYTES: usize = 256;

fn c_path(env: napi_env, v: napi_value, what: &str) -> Result<CString> {
    let p = get_string(env, v, what)?;
    CString::new(p).map_err(|_| Error::Arg(format!("{what} contains a NUL byte")))
}

fn dir_fd(env: napi_env, v: napi_value) -> Result<i32> {
    if type_of(env, v) == NAPI_UNDEFINED { Ok(AT_FDCWD) } else { get_i32(env, v, "dirFd") }
}

/// (fd, mode, offset, length) → Promise<0>. mode: fallocate(2) flags (KEEP_SIZE, PUNCH_HOLE, ...).
fn js_fallocate(env: napi_env, info: napi_callback_info) -> Result<napi_value> {
    let [fd, mode, offset, length] = args::<4>(env, info)?;
    let fd = get_i32(env, fd, "fd")?;
    let mode = get_u64(env, mode, "mode")?;
    if mode > u32::MAX as u64 { return arg_error(format!("mode {mode} is not a fallocate mode")); }
    let offset = get_u64(env, offset, "offset")?;
    let length = get_u64(env, length, "length")?;
    // The kernel reads the length from sqe->addr and the mode from sqe->len.
    let sqe = Sqe { opcode: OP_FALLOCATE, flags: IOSQE_ASYNC, fd, off: offset, addr: length, len: mode as u32, ..Default::default() };
    ring(env)?.queue_op(env, sqe, Pending::new(Kind::Fallocate), None)
}

/// (fd, length) → Promise<0>.
fn js_ftruncate(env: napi_env, info: napi_callback_info) -> Result<napi_value> {
    let [fd, length] = args::<2>(env, info)?;
    let fd = get_i32(env, fd, "fd")?;
    let length = get_u64(env, length, "length")?;
    let sqe = Sqe { opcode: OP_FTRUNCATE, flags: IOSQE_ASYNC, fd, off: length, ..Default::default() };
    ring(env)?.queue_op(env, sqe, Pending::new(Kind::Ftruncate), None)
}

/// (oldDirFd, oldPath, newDirFd, newPath, flags) → Promise<0>. flags: renameat2's RENAME_*.
fn js_renameat(env: napi_env, info: napi_callback_info) -> Result<napi_value> {
    let [old_dir, old_path, new_dir, new_path, flags] = args::<5>(env, info)?;
    let (old_dir, new_dir) = (dir_fd(env, old_dir)?, dir_fd(env, new_dir)?);
    let from = c_path(env, old_path, "oldPath")?;
    let to = c_path(env, new_path, "newPath")?;
    let flags = if type_of(env, flags) == NAPI_UNDEFINED { 0 } else { get_u64(env, flags, "flags")? as u32 };
    // sqe->addr2 (the offset field) carries the new path, sqe->len the new directory fd.
    let sqe = Sqe { opcode: OP_RENAMEAT, flags: IOSQE_ASYNC, fd: old_dir, addr: from.as_ptr() as u64, off: to.as_ptr() as u64,
                    len: new_dir as u32, op_flags: flags, ..Default::default() };
    let op = Pending { kind: Kind::Rename, keep: std::ptr::null_mut(), path: Some(from), hold: Some(Box::new(to)) };
    ring(env)?.queue_op(env, sqe, op, None)
}

/// (dirFd, path, removeDir) → Promise<0>: unlink, or rmdir with removeDir (AT_REMOVEDIR).
fn js_unlinkat(env: napi_env, info: napi_callback_info) -> Result<napi_value> {
    let [dir, path, remove_dir] = args::<3>(env, info)?;
    let dir = dir_fd(env, dir)?;
    let c = c_path(env, path, "path")?;
    let rmdir = get_bool(env, remove_dir);
    let sqe = Sqe { opcode: OP_UNLINKAT, flags: IOSQE_ASYNC, fd: dir, addr: c.as_ptr() as u64,
                    op_flags: if rmdir { AT_REMOVEDIR } else { 0 }, ..Default::default() };
    let op = Pending { kind: if rmdir { Kind::Rmdir } else { Kind::Unlink }, keep: std::ptr::null_mut(), path: Some(c), hold: None };
    ring(env)?.queue_op(env, sqe, op, None)
}

/// (dirFd, path, mode) → Promise<0>.
fn js_mkdirat(env: napi_env, info: napi_callback_info) -> Result<napi_value> {
    let [dir, path, mode] = args::<3>(env, info)?;
    let dir = dir_fd(env, dir)?;
    let c = c_path(env, path, "path")?;
    let mode = if type_of(env, mode) == NAPI_UNDEFINED { 0o755 } else { get_u64(env, mode, "mode")? as u32 };
    let sqe = Sqe { opcode: OP_MKDIRAT, flags: IOSQE_ASYNC, fd: dir, addr: c.as_ptr() as u64, len: mode, ..Default::default() };
    let op = Pending { kind: Kind::Mkdir, keep: std::ptr::null_mut(), path: Some(c), hold: None };
    ring(env)?.queue_op(env, sqe, op, None)
}

/// (dirFd, path, flags, mask, buffer) → Promise<0>: struct statx lands in `buffer` (≥ 256 bytes,
/// kept alive until completion); index.ts decodes it. flags: AT_EMPTY_PATH, AT_SYMLINK_NOFOLLOW.
fn js_statx(env: napi_env, info: napi_callback_info) -> Result<napi_value> {
    let [dir, path, flags, mask, buf] = args::<5>(env, info)?;
    let dir = dir_fd(env, dir)?;
    let c = c_path(env, path, "path")?;
    let flags = get_u64(env, flags, "flags")? as u32;
    let mask = get_u64(env, mask, "mask")? as u32;
    let (p, size) = get_bytes(env, buf, "buffer")?;
    if size < STATX_BYTES { return arg_error(format!("buffer is {size} bytes; statx needs {STATX_BYTES}")); }
    // sqe->len carries the mask, sqe->addr2 the statx buffer.
    let sqe = Sqe { opcode: OP_STATX, flags: IOSQE_ASYNC, fd: dir, addr: c.as_ptr() as u64, len: mask, off: p as u64,
                    op_flags: flags, ..Default::default() };
    let op = Pending { kind: Kind::Statx, keep: buf, path: Some(c), hold: None };
    ring(env)?.queue_op(env, sqe, op, None)
}

js_fn!(fallocate_cb, js_fallocate);
js_fn!(ftruncate_cb, js_ftruncate);
js_fn!(renameat_cb, js_renameat);
js_fn!(unlinkat_cb, js_unlinkat);
js_fn!(mkdirat_cb, js_mkdirat);
js_fn!(statx_cb, js_statx);

pub fn register(env: napi_env, exports: napi_value) {
    export(env, exports, "uringFallocate", fallocate_cb);
    export(env, exports, "uringFtruncate", ftruncate_cb);
    export(env, exports, "uringRenameat", renameat_cb);
    export(env, exports, "uringUnlinkat", unlinkat_cb);
    export(env, exports, "uringMkdirat", mkdirat_cb);
    export(env, exports, "uringStatx", statx_cb);
}
