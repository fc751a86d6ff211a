//! t3fs native addon: io_uring, CPU affinity/NUMA, CRC32C, FUSE mount, ibverbs, shared memory,
//! cross-memory copies.
//! N-API is declared by hand in `napi.rs`; everything else is Rust std plus a few libc symbols
//! declared in `sys` below.

mod napi;
mod affinity;
mod crc32c;
mod fuse;
mod uring;
mod uring_fs;
mod verbs;
mod shm;
mod cma;
mod advise;

use napi::*;
use std::ffi::c_void;
use std::ptr;

/// Raw libc/syscall declarations shared by the modules (std links libc already).
#[allow(non_camel_case_types, dead_code)]
pub mod sys {
    use std::ffi::{c_char, c_int, c_long, c_void};
    extern "C" {
        pub fn syscall(num: c_long, ...) -> c_long;
        pub fn open(path: *const c_char, flags: c_int, ...) -> c_int;
        pub fn close(fd: c_int) -> c_int;
        pub fn mmap(addr: *mut c_void, len: usize, prot: c_int, flags: c_int, fd: c_int, off: i64) -> *mut c_void;
        pub fn munmap(addr: *mut c_void, len: usize) -> c_int;
        pub fn mount(src: *const c_char, target: *const c_char, fstype: *const c_char, flags: u64,
                     data: *const c_void) -> c_int;
        pub fn umount2(target: *const c_char, flags: c_int) -> c_int;
        pub fn getuid() -> u32;
        pub fn getgid() -> u32;
        pub fn sched_setaffinity(pid: c_int, size: usize, mask: *const u8) -> c_int;
        pub fn sched_getaffinity(pid: c_int, size: usize, mask: *mut u8) -> c_int;
        pub fn sched_getcpu() -> c_int;
        pub fn dlopen(name: *const c_char, flags: c_int) -> *mut c_void;
        pub fn dlsym(handle: *mut c_void, name: *const c_char) -> *mut c_void;
        pub fn dlerror() -> *const c_char;
        pub fn __errno_location() -> *mut c_int;
    }
    pub const SYS_GETTID: c_long = 186;
    pub const SYS_IO_URING_SETUP: c_long = 425;
    pub const SYS_IO_URING_ENTER: c_long = 426;
    pub const SYS_IO_URING_REGISTER: c_long = 427;
    pub const O_RDONLY: c_int = 0;
    pub const O_WRONLY: c_int = 1;
    pub const O_RDWR: c_int = 2;
    pub const O_CREAT: c_int = 0o100;
    pub const O_EXCL: c_int = 0o200;
    pub const O_TRUNC: c_int = 0o1000;
    pub const O_APPEND: c_int = 0o2000;
    pub const O_DIRECT: c_int = 0o40000;
    pub const O_CLOEXEC: c_int = 0o2000000;
    pub fn errno() -> i32 { unsafe { *__errno_location() } }
    pub fn set_errno(e: i32) { unsafe { *__errno_location() = e } }
}

/// Per-env (per JS thread) state: the error factory and the thread's io_uring.
pub struct EnvData {
    pub error_factory: napi_ref,
    pub ring: Option<Box<uring::Ring>>,
}

pub fn env_data<'a>(env: napi_env) -> &'a mut EnvData {
    let mut p: *mut c_void = ptr::null_mut();
    unsafe { napi_get_instance_data(env, &mut p) };
    assert!(!p.is_null(), "t3fs_native: instance data missing");
    unsafe { &mut *(p as *mut EnvData) }
}

pub fn throw(env: napi_env, e: &Error) {
    let err = make_error(env, env_data(env).error_factory, e);
    unsafe { napi_throw(env, err) };
}

/// Wraps `fn(env, info) -> Result<napi_value>` as an N-API callback that throws on Err.
macro_rules! js_fn {
    ($name:ident, $imp:path) => {
        unsafe extern "C" fn $name(env: $crate::napi::napi_env, info: $crate::napi::napi_callback_info) -> $crate::napi::napi_value {
            match $imp(env, info) {
                Ok(v) => v,
                Err(e) => { $crate::throw(env, &e); std::ptr::null_mut() }
            }
        }
    };
}
pub(crate) use js_fn;

unsafe extern "C" fn finalize_env(env: napi_env, data: *mut c_void, _hint: *mut c_void) {
    let mut d = Box::from_raw(data as *mut EnvData);
    if let Some(ring) = d.ring.take() { uring::destroy(env, ring); }
    if !d.error_factory.is_null() { napi_delete_reference(env, d.error_factory); }
}

fn set_error_factory(env: napi_env, info: napi_callback_info) -> Result<napi_value> {
    let [f] = args::<1>(env, info)?;
    if type_of(env, f) != NAPI_FUNCTION { return arg_error("error factory must be a function"); }
    let d = env_data(env);
    if !d.error_factory.is_null() { unsafe { napi_delete_reference(env, d.error_factory) }; }
    let mut r = ptr::null_mut();
    check!(napi_create_reference(env, f, 1, &mut r));
    d.error_factory = r;
    Ok(undefined(env))
}
js_fn!(js_set_error_factory, set_error_factory);

#[no_mangle]
pub unsafe extern "C" fn napi_register_module_v1(env: napi_env, exports: napi_value) -> napi_value {
    let data = Box::into_raw(Box::new(EnvData { error_factory: ptr::null_mut(), ring: None }));
    napi_set_instance_data(env, data as *mut c_void, Some(finalize_env), ptr::null_mut());
    export(env, exports, "setErrorFactory", js_set_error_factory);
    crc32c::register(env, exports);
    affinity::register(env, exports);
    uring::register(env, exports);
    uring_fs::register(env, exports);
    fuse::register(env, exports);
    verbs::register(env, exports);
    shm::register(env, exports);
    cma::register(env, exports);
    advise::register(env, exports);
    exports
}

#[no_mangle]
pub extern "C" fn node_api_module_get_api_version_v1() -> i32 { 8 }
