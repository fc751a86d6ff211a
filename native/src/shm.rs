//! Shared-memory files (USRBIO regions and rings in /dev/shm) mapped into JS as ArrayBuffers:
//! `shmMap(path, writable)` maps the whole file MAP_SHARED and hands V8 an external ArrayBuffer
//! over the mapping (no copy: what another process stores there is what JS reads, and the other
//! way round); the mapping is unmapped when the ArrayBuffer is collected. The file descriptor is
//! closed at once (a mapping keeps the file alive).
//! `shmCreateSealed(bytes)` makes anonymous shared memory the server owns (memfd) whose size is
//! sealed (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL), maps it, and returns { fd, buffer }: another
//! process opens /proc/<pid>/fd/<fd> to map the same pages, and nobody can shrink them under the
//! server's mapping (which would fault it with SIGBUS).

use crate::napi::*;
use crate::{js_fn, sys};
use std::ffi::{c_int, c_void, CString};
use std::ptr;

extern "C" {
    fn napi_create_external_arraybuffer(env: napi_env, data: *mut c_void, length: usize, finalize: napi_finalize,
                                        hint: *mut c_void, result: *mut napi_value) -> napi_status;
    fn lseek(fd: c_int, offset: i64, whence: c_int) -> i64;
    fn ftruncate(fd: c_int, length: i64) -> c_int;
    fn fcntl(fd: c_int, cmd: c_int, ...) -> c_int;
}

const SYS_MEMFD_CREATE: std::ffi::c_long = 319;
const MFD_CLOEXEC: u32 = 1;
const MFD_ALLOW_SEALING: u32 = 2;
const F_ADD_SEALS: c_int = 1033;
const F_SEAL_SEAL: c_int = 1;
const F_SEAL_SHRINK: c_int = 2;
const F_SEAL_GROW: c_int = 4;

const PROT_READ: c_int = 1;
const PROT_WRITE: c_int = 2;
const MAP_SHARED: c_int = 1;
const SEEK_END: c_int = 2;
/// Largest mapping accepted (matches the TS-side limit of a region).
const MAX_MAP_BYTES: u64 = 1 << 40;

fn with_path(mut e: Error, p: &str) -> Error {
    if let Error::Errno { path, .. } = &mut e { *path = Some(p.to_string()); }
    e
}

unsafe extern "C" fn unmap(_env: napi_env, data: *mut c_void, hint: *mut c_void) {
    sys::munmap(data, hint as usize);
}

fn shm_map(env: napi_env, info: napi_callback_info) -> Result<napi_value> {
    let [p, w] = args::<2>(env, info)?;
    let path = get_string(env, p, "path")?;
    let writable = get_bool(env, w);
    let c = CString::new(path.clone()).map_err(|_| Error::Arg("path contains a NUL byte".into()))?;
    let flags = if writable { sys::O_RDWR } else { sys::O_RDONLY } | sys::O_CLOEXEC;
    let fd = unsafe { sys::open(c.as_ptr(), flags) };
    if fd < 0 { return Err(with_path(errno_error("open"), &path)); }
    let size = unsafe { lseek(fd, 0, SEEK_END) };
    if size < 0 {
        let e = with_path(errno_error("lseek"), &path);
        unsafe { sys::close(fd) };
        return Err(e);
    }
    if size == 0 || size as u64 > MAX_MAP_BYTES {
        unsafe { sys::close(fd) };
        return Err(Error::Coded { code: "ERR_SHM_SIZE", message: format!("{path} is {size} bytes; a shared-memory file must be 1 byte to 1 TiB") });
    }
    let prot = if writable { PROT_READ | PROT_WRITE } else { PROT_READ };
    let addr = unsafe { sys::mmap(ptr::null_mut(), size as usize, prot, MAP_SHARED, fd, 0) };
    let e = if addr as isize == -1 { Some(with_path(errno_error("mmap"), &path)) } else { None };
    unsafe { sys::close(fd) };
    if let Some(e) = e { return Err(e); }
    let mut ab = ptr::null_mut();
    let status = unsafe { napi_create_external_arraybuffer(env, addr, size as usize, Some(unmap), size as usize as *mut c_void, &mut ab) };
    if status != NAPI_OK {
        unsafe { sys::munmap(addr, size as usize) };
        return Err(Error::Coded { code: "ERR_NAPI", message: format!("napi_create_external_arraybuffer failed: status {status}") });
    }
    Ok(ab)
}
js_fn!(js_shm_map, shm_map);

fn shm_create_sealed(env: napi_env, info: napi_callback_info) -> Result<napi_value> {
    let [n] = args::<1>(env, info)?;
    let size = get_u64(env, n, "sizeBytes")?;
    if size == 0 || size > MAX_MAP_BYTES { return arg_error(format!("sizeBytes is {size}; accepted: 1 byte to 1 TiB")); }
    let name = b"t3fs-usrbio\0";
    let fd = unsafe { sys::syscall(SYS_MEMFD_CREATE, name.as_ptr(), MFD_CLOEXEC | MFD_ALLOW_SEALING) } as c_int;
    if fd < 0 { return Err(errno_error("memfd_create")); }
    let fail = |e: Error| -> Result<napi_value> { unsafe { sys::close(fd) }; Err(e) };
    if unsafe { ftruncate(fd, size as i64) } < 0 { return fail(errno_error("ftruncate")); }
    if unsafe { fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) } < 0 { return fail(errno_error("fcntl(F_ADD_SEALS)")); }
    let addr = unsafe { sys::mmap(ptr::null_mut(), size as usize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) };
    if addr as isize == -1 { return fail(errno_error("mmap")); }
    let mut ab = ptr::null_mut();
    let status = unsafe { napi_create_external_arraybuffer(env, addr, size as usize, Some(unmap), size as usize as *mut c_void, &mut ab) };
    if status != NAPI_OK {
        unsafe { sys::munmap(addr, size as usize) };
        return fail(Error::Coded { code: "ERR_NAPI", message: format!("napi_create_external_arraybuffer failed: status {status}") });
    }
    let out = object(env)?;
    set(env, out, "fd", number(env, fd as f64)?)?;
    set(env, out, "buffer", ab)?;
    Ok(out)
}
js_fn!(js_shm_create_sealed, shm_create_sealed);

/// Closes a descriptor shmCreateSealed returned (Node's fs would warn: it did not open it).
fn shm_close(env: napi_env, info: napi_callback_info) -> Result<napi_value> {
    let [f] = args::<1>(env, info)?;
    let fd = get_i32(env, f, "fd")?;
    if unsafe { sys::close(fd) } < 0 { return Err(errno_error("close")); }
    Ok(undefined(env))
}
js_fn!(js_shm_close, shm_close);

pub fn register(env: napi_env, exports: napi_value) {
    export(env, exports, "shmClose", js_shm_close);
    export(env, exports, "shmMap", js_shm_map);
    export(env, exports, "shmCreateSealed", js_shm_create_sealed);
}
