//! /dev/fuse and mount(2)/umount2(2) for a FUSE file system served from JS (the FUSE kernel
//! protocol itself is spoken in TypeScript: actors/client/fuse/kernel-protocol.ts).
//! mount and unmount run on the libuv thread pool (napi async work), never on the JS thread, so a
//! JS thread that also serves the mount cannot deadlock on its own mount.

use crate::napi::*;
use crate::uring::{ring, Kind, Pending, Sqe, IOSQE_ASYNC};
use crate::{env_data, js_fn, sys};
use std::ffi::{c_int, c_ulong, c_void, CString};
use std::ptr;

extern "C" {
    fn ioctl(fd: c_int, request: c_ulong, ...) -> c_int;
}

/// _IOR(229, 0, uint32_t): makes a fresh /dev/fuse fd another queue of the connection `arg` serves.
const FUSE_DEV_IOC_CLONE: c_ulong = 0x8004_e500;
const OP_WRITE: u8 = 23;

const MS_RDONLY: u64 = 1;
const MS_NOSUID: u64 = 2;
const MS_NODEV: u64 = 4;
const MS_NOEXEC: u64 = 8;

/// A blocking job on the thread pool whose outcome settles a promise.
struct Job {
    work: napi_async_work,
    deferred: napi_deferred,
    run: Option<Box<dyn FnOnce() -> Result<()> + Send>>,
    outcome: Option<Result<()>>,
}

unsafe extern "C" fn job_execute(_env: napi_env, data: *mut c_void) {
    let job = &mut *(data as *mut Job);
    if let Some(f) = job.run.take() { job.outcome = Some(f()); }
}

unsafe extern "C" fn job_complete(env: napi_env, _status: napi_status, data: *mut c_void) {
    let job = Box::from_raw(data as *mut Job);
    match job.outcome.unwrap_or(Err(Error::Coded { code: "ERR_CANCELED", message: "the job was cancelled".into() })) {
        Ok(()) => { napi_resolve_deferred(env, job.deferred, undefined(env)); }
        Err(e) => { napi_reject_deferred(env, job.deferred, make_error(env, env_data(env).error_factory, &e)); }
    }
    napi_delete_async_work(env, job.work);
}

pub fn run_blocking(env: napi_env, name: &str, f: Box<dyn FnOnce() -> Result<()> + Send>) -> Result<napi_value> {
    let (mut deferred, mut promise) = (ptr::null_mut(), ptr::null_mut());
    check!(napi_create_promise(env, &mut deferred, &mut promise));
    let job = Box::into_raw(Box::new(Job { work: ptr::null_mut(), deferred, run: Some(f), outcome: None }));
    let name_v = string(env, name)?;
    check!(napi_create_async_work(env, ptr::null_mut(), name_v, Some(job_execute), Some(job_complete), job as *mut c_void, &mut (*job).work));
    check!(napi_queue_async_work(env, (*job).work));
    Ok(promise)
}

const O_NONBLOCK: i32 = 0o4000;

/// Open flags for /dev/fuse: O_NONBLOCK when asked (`nonblocking` argument true).
fn open_flags(env: napi_env, arg: napi_value) -> i32 {
    let nonblocking = type_of(env, arg) != NAPI_UNDEFINED && get_bool(env, arg);
    sys::O_RDWR | sys::O_CLOEXEC | if nonblocking { O_NONBLOCK } else { 0 }
}

/// ([nonblocking]) → fd
fn js_open(env: napi_env, info: napi_callback_info) -> Result<napi_value> {
    let [nonblocking] = args::<1>(env, info)?;
    let fd = unsafe { sys::open(b"/dev/fuse\0".as_ptr() as _, open_flags(env, nonblocking)) };
    if fd < 0 {
        let mut e = errno_error("open");
        if let Error::Errno { path, .. } = &mut e { *path = Some("/dev/fuse".into()); }
        return Err(e);
    }
    number(env, fd as f64)
}

/// (fd, [nonblocking]) → fd: a new /dev/fuse fd cloned from `fd` (FUSE_DEV_IOC_CLONE): a second queue of the same
/// connection. Requests are handed to whichever queue reads first; a reply must be written to
/// the fd that read its request.
fn js_clone(env: napi_env, info: napi_callback_info) -> Result<napi_value> {
    let [master, nonblocking] = args::<2>(env, info)?;
    let master = get_i32(env, master, "fd")? as u32;
    let fd = unsafe { sys::open(b"/dev/fuse\0".as_ptr() as _, open_flags(env, nonblocking)) };
    if fd < 0 { return Err(errno_error("open")); }
    if unsafe { ioctl(fd, FUSE_DEV_IOC_CLONE, &master as *const u32) } != 0 {
        let e = errno_error("ioctl");
        unsafe { sys::close(fd) };
        return Err(e);
    }
    number(env, fd as f64)
}

/// (fd, buffer, offset, length) → Promise<bytes>: a write on this thread's ring that always runs in
/// io-wq (IOSQE_ASYNC), never inline. For FUSE notifications (invalidate an inode or an entry):
/// the kernel may wait in them for a page or directory lock held by a request that this very
/// thread has yet to answer, so a synchronous write could deadlock.
fn js_write_async(env: napi_env, info: napi_callback_info) -> Result<napi_value> {
    let [fd, buf, boff, len] = args::<4>(env, info)?;
    let fd = get_i32(env, fd, "fd")?;
    let (p, size) = get_bytes(env, buf, "buffer")?;
    let boff = get_u64(env, boff, "bufferOffset")? as usize;
    let len = get_u64(env, len, "length")? as usize;
    if boff.checked_add(len).map_or(true, |end| end > size) || len > u32::MAX as usize {
        return arg_error(format!("bufferOffset {boff} + length {len} exceeds the buffer's {size} bytes"));
    }
    let sqe = Sqe { opcode: OP_WRITE, flags: IOSQE_ASYNC, fd, addr: unsafe { p.add(boff) } as u64, len: len as u32, ..Default::default() };
    let mut op = Pending::new(Kind::Write);
    op.keep = buf;
    ring(env)?.queue_op(env, sqe, op, None)
}

fn opt_u64(env: napi_env, o: napi_value, name: &str) -> Result<Option<u64>> {
    let v = get(env, o, name)?;
    if type_of(env, v) == NAPI_UNDEFINED { Ok(None) } else { Ok(Some(get_u64(env, v, name)?)) }
}

/// ({ source, target, type, fd, rootMode, userId, groupId, maxRead?, allowOther?,
///    defaultPermissions?, readOnly?, noSuid?, noDev?, noExec? }) → Promise<void>
fn js_mount(env: napi_env, info: napi_callback_info) -> Result<napi_value> {
    let [o] = args::<1>(env, info)?;
    if type_of(env, o) != NAPI_OBJECT { return arg_error("mount options must be an object"); }
    let source = get_string(env, get(env, o, "source")?, "source")?;
    let target = get_string(env, get(env, o, "target")?, "target")?;
    let fstype = get_string(env, get(env, o, "type")?, "type")?;
    let fd = get_i32(env, get(env, o, "fd")?, "fd")?;
    let root_mode = opt_u64(env, o, "rootMode")?.unwrap_or(0o40000);
    let uid = opt_u64(env, o, "userId")?.unwrap_or(unsafe { sys::getuid() } as u64);
    let gid = opt_u64(env, o, "groupId")?.unwrap_or(unsafe { sys::getgid() } as u64);
    let mut data = format!("fd={fd},rootmode={root_mode:o},user_id={uid},group_id={gid}");
    if let Some(m) = opt_u64(env, o, "maxRead")? { data += &format!(",max_read={m}"); }
    if get_bool(env, get(env, o, "allowOther")?) { data += ",allow_other"; }
    if get_bool(env, get(env, o, "defaultPermissions")?) { data += ",default_permissions"; }
    let mut flags = 0u64;
    if get_bool(env, get(env, o, "readOnly")?) { flags |= MS_RDONLY; }
    if get_bool(env, get(env, o, "noSuid")?) { flags |= MS_NOSUID; }
    if get_bool(env, get(env, o, "noDev")?) { flags |= MS_NODEV; }
    if get_bool(env, get(env, o, "noExec")?) { flags |= MS_NOEXEC; }
    let c = |s: String, what: &str| CString::new(s).map_err(|_| Error::Arg(format!("{what} contains a NUL byte")));
    let (source_c, target_c, type_c, data_c) = (c(source, "source")?, c(target.clone(), "target")?, c(fstype, "type")?, c(data, "options")?);
    run_blocking(env, "t3fs.fuse.mount", Box::new(move || {
        let r = unsafe { sys::mount(source_c.as_ptr(), target_c.as_ptr(), type_c.as_ptr(), flags, data_c.as_ptr() as *const c_void) };
        if r != 0 { return Err(Error::Errno { errno: sys::errno(), syscall: "mount", path: Some(target) }); }
        Ok(())
    }))
}

/// (target, flags) → Promise<void>; flags: 1 MNT_FORCE, 2 MNT_DETACH.
fn js_unmount(env: napi_env, info: napi_callback_info) -> Result<napi_value> {
    let [target, flags] = args::<2>(env, info)?;
    let target = get_string(env, target, "target")?;
    let flags = if type_of(env, flags) == NAPI_UNDEFINED { 0 } else { get_i32(env, flags, "flags")? };
    let target_c = CString::new(target.clone()).map_err(|_| Error::Arg("target contains a NUL byte".into()))?;
    run_blocking(env, "t3fs.fuse.unmount", Box::new(move || {
        if unsafe { sys::umount2(target_c.as_ptr(), flags) } != 0 {
            return Err(Error::Errno { errno: sys::errno(), syscall: "umount2", path: Some(target) });
        }
        Ok(())
    }))
}

js_fn!(open_cb, js_open);
js_fn!(clone_cb, js_clone);
js_fn!(write_async_cb, js_write_async);
js_fn!(mount_cb, js_mount);
js_fn!(unmount_cb, js_unmount);

pub fn register(env: napi_env, exports: napi_value) {
    export(env, exports, "fuseOpen", open_cb);
    export(env, exports, "fuseClone", clone_cb);
    export(env, exports, "fuseWriteAsync", write_async_cb);
    export(env, exports, "fuseMount", mount_cb);
    export(env, exports, "fuseUnmount", unmount_cb);
}
