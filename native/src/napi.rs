//! The N-API C functions this addon uses, declared by hand (napi-rs cannot be fetched here).
//! The symbols resolve against the `node` binary when the `.node` file is dlopen'ed.
//! Also a few thin helpers that turn N-API calls into Rust values; nothing else lives here.
#![allow(non_camel_case_types, dead_code)]

use std::ffi::{c_char, c_void};
use std::ptr;

pub type napi_env = *mut c_void;
pub type napi_value = *mut c_void;
pub type napi_callback_info = *mut c_void;
pub type napi_deferred = *mut c_void;
pub type napi_ref = *mut c_void;
pub type napi_threadsafe_function = *mut c_void;
pub type napi_async_work = *mut c_void;
pub type napi_async_context = *mut c_void;
pub type napi_callback_scope = *mut c_void;
pub type napi_handle_scope = *mut c_void;
pub type uv_loop_t = c_void;
pub type uv_poll_cb = Option<unsafe extern "C" fn(*mut c_void, i32, i32)>;
pub type uv_close_cb = Option<unsafe extern "C" fn(*mut c_void)>;
pub const UV_READABLE: i32 = 1;
/// Bytes reserved for a uv_poll_t (it is 160 on x86_64 Linux; uv_poll_init fills it).
pub const UV_POLL_T_BYTES: usize = 512;
pub type napi_status = i32;
pub type napi_callback = Option<unsafe extern "C" fn(napi_env, napi_callback_info) -> napi_value>;
pub type napi_finalize = Option<unsafe extern "C" fn(napi_env, *mut c_void, *mut c_void)>;
pub type napi_threadsafe_function_call_js =
    Option<unsafe extern "C" fn(napi_env, napi_value, *mut c_void, *mut c_void)>;
pub type napi_async_execute_callback = Option<unsafe extern "C" fn(napi_env, *mut c_void)>;
pub type napi_async_complete_callback = Option<unsafe extern "C" fn(napi_env, napi_status, *mut c_void)>;

pub const NAPI_OK: napi_status = 0;
pub const NAPI_AUTO_LENGTH: usize = usize::MAX;
// napi_valuetype
pub const NAPI_UNDEFINED: i32 = 0;
pub const NAPI_NULL: i32 = 1;
pub const NAPI_BOOLEAN: i32 = 2;
pub const NAPI_NUMBER: i32 = 3;
pub const NAPI_STRING: i32 = 4;
pub const NAPI_OBJECT: i32 = 6;
pub const NAPI_FUNCTION: i32 = 7;
pub const NAPI_BIGINT: i32 = 9;
// napi_threadsafe_function_release_mode / call mode
pub const NAPI_TSFN_RELEASE: i32 = 0;
pub const NAPI_TSFN_ABORT: i32 = 1;
pub const NAPI_TSFN_NONBLOCKING: i32 = 0;

extern "C" {
    pub fn napi_create_function(env: napi_env, name: *const c_char, len: usize, cb: napi_callback,
                                data: *mut c_void, result: *mut napi_value) -> napi_status;
    pub fn napi_set_named_property(env: napi_env, object: napi_value, name: *const c_char,
                                   value: napi_value) -> napi_status;
    pub fn napi_get_named_property(env: napi_env, object: napi_value, name: *const c_char,
                                   result: *mut napi_value) -> napi_status;
    pub fn napi_get_cb_info(env: napi_env, info: napi_callback_info, argc: *mut usize, argv: *mut napi_value,
                            this_arg: *mut napi_value, data: *mut *mut c_void) -> napi_status;
    pub fn napi_get_undefined(env: napi_env, result: *mut napi_value) -> napi_status;
    pub fn napi_get_null(env: napi_env, result: *mut napi_value) -> napi_status;
    pub fn napi_get_boolean(env: napi_env, value: bool, result: *mut napi_value) -> napi_status;
    pub fn napi_create_object(env: napi_env, result: *mut napi_value) -> napi_status;
    pub fn napi_create_array_with_length(env: napi_env, len: usize, result: *mut napi_value) -> napi_status;
    pub fn napi_set_element(env: napi_env, object: napi_value, index: u32, value: napi_value) -> napi_status;
    pub fn napi_get_element(env: napi_env, object: napi_value, index: u32, result: *mut napi_value) -> napi_status;
    pub fn napi_get_array_length(env: napi_env, value: napi_value, result: *mut u32) -> napi_status;
    pub fn napi_is_array(env: napi_env, value: napi_value, result: *mut bool) -> napi_status;
    pub fn napi_create_int32(env: napi_env, value: i32, result: *mut napi_value) -> napi_status;
    pub fn napi_create_uint32(env: napi_env, value: u32, result: *mut napi_value) -> napi_status;
    pub fn napi_create_int64(env: napi_env, value: i64, result: *mut napi_value) -> napi_status;
    pub fn napi_create_double(env: napi_env, value: f64, result: *mut napi_value) -> napi_status;
    pub fn napi_get_value_int32(env: napi_env, value: napi_value, result: *mut i32) -> napi_status;
    pub fn napi_get_value_uint32(env: napi_env, value: napi_value, result: *mut u32) -> napi_status;
    pub fn napi_get_value_int64(env: napi_env, value: napi_value, result: *mut i64) -> napi_status;
    pub fn napi_get_value_double(env: napi_env, value: napi_value, result: *mut f64) -> napi_status;
    pub fn napi_get_value_bool(env: napi_env, value: napi_value, result: *mut bool) -> napi_status;
    pub fn napi_get_value_bigint_int64(env: napi_env, value: napi_value, result: *mut i64,
                                       lossless: *mut bool) -> napi_status;
    pub fn napi_create_string_utf8(env: napi_env, s: *const c_char, len: usize, result: *mut napi_value) -> napi_status;
    pub fn napi_get_value_string_utf8(env: napi_env, value: napi_value, buf: *mut c_char, bufsize: usize,
                                      result: *mut usize) -> napi_status;
    pub fn napi_typeof(env: napi_env, value: napi_value, result: *mut i32) -> napi_status;
    pub fn napi_is_typedarray(env: napi_env, value: napi_value, result: *mut bool) -> napi_status;
    pub fn napi_get_typedarray_info(env: napi_env, value: napi_value, kind: *mut i32, length: *mut usize,
                                    data: *mut *mut c_void, arraybuffer: *mut napi_value,
                                    byte_offset: *mut usize) -> napi_status;
    pub fn napi_throw(env: napi_env, error: napi_value) -> napi_status;
    pub fn napi_create_error(env: napi_env, code: napi_value, msg: napi_value, result: *mut napi_value) -> napi_status;
    pub fn napi_is_exception_pending(env: napi_env, result: *mut bool) -> napi_status;
    pub fn napi_get_and_clear_last_exception(env: napi_env, result: *mut napi_value) -> napi_status;
    pub fn napi_create_promise(env: napi_env, deferred: *mut napi_deferred, promise: *mut napi_value) -> napi_status;
    pub fn napi_resolve_deferred(env: napi_env, deferred: napi_deferred, resolution: napi_value) -> napi_status;
    pub fn napi_reject_deferred(env: napi_env, deferred: napi_deferred, rejection: napi_value) -> napi_status;
    pub fn napi_create_reference(env: napi_env, value: napi_value, initial: u32, result: *mut napi_ref) -> napi_status;
    pub fn napi_delete_reference(env: napi_env, r: napi_ref) -> napi_status;
    pub fn napi_get_reference_value(env: napi_env, r: napi_ref, result: *mut napi_value) -> napi_status;
    pub fn napi_call_function(env: napi_env, recv: napi_value, func: napi_value, argc: usize,
                              argv: *const napi_value, result: *mut napi_value) -> napi_status;
    pub fn napi_create_threadsafe_function(env: napi_env, func: napi_value, async_resource: napi_value,
                                           async_resource_name: napi_value, max_queue_size: usize,
                                           initial_thread_count: usize, thread_finalize_data: *mut c_void,
                                           thread_finalize_cb: napi_finalize, context: *mut c_void,
                                           call_js_cb: napi_threadsafe_function_call_js,
                                           result: *mut napi_threadsafe_function) -> napi_status;
    pub fn napi_call_threadsafe_function(f: napi_threadsafe_function, data: *mut c_void, mode: i32) -> napi_status;
    pub fn napi_release_threadsafe_function(f: napi_threadsafe_function, mode: i32) -> napi_status;
    pub fn napi_ref_threadsafe_function(env: napi_env, f: napi_threadsafe_function) -> napi_status;
    pub fn napi_unref_threadsafe_function(env: napi_env, f: napi_threadsafe_function) -> napi_status;
    pub fn napi_set_instance_data(env: napi_env, data: *mut c_void, finalize_cb: napi_finalize,
                                  hint: *mut c_void) -> napi_status;
    pub fn napi_get_instance_data(env: napi_env, data: *mut *mut c_void) -> napi_status;
    pub fn napi_add_env_cleanup_hook(env: napi_env, f: Option<unsafe extern "C" fn(*mut c_void)>, arg: *mut c_void) -> napi_status;
    pub fn napi_remove_env_cleanup_hook(env: napi_env, f: Option<unsafe extern "C" fn(*mut c_void)>, arg: *mut c_void) -> napi_status;
    pub fn napi_get_uv_event_loop(env: napi_env, lp: *mut *mut uv_loop_t) -> napi_status;
    pub fn napi_async_init(env: napi_env, resource: napi_value, name: napi_value, result: *mut napi_async_context) -> napi_status;
    pub fn napi_open_callback_scope(env: napi_env, resource: napi_value, ctx: napi_async_context,
                                    result: *mut napi_callback_scope) -> napi_status;
    pub fn napi_close_callback_scope(env: napi_env, scope: napi_callback_scope) -> napi_status;
    pub fn napi_open_handle_scope(env: napi_env, result: *mut napi_handle_scope) -> napi_status;
    pub fn napi_close_handle_scope(env: napi_env, scope: napi_handle_scope) -> napi_status;
    pub fn napi_create_async_work(env: napi_env, async_resource: napi_value, async_resource_name: napi_value,
                                  execute: napi_async_execute_callback, complete: napi_async_complete_callback,
                                  data: *mut c_void, result: *mut napi_async_work) -> napi_status;
    pub fn napi_queue_async_work(env: napi_env, work: napi_async_work) -> napi_status;
    pub fn napi_delete_async_work(env: napi_env, work: napi_async_work) -> napi_status;
}

// libuv, exported by the node binary like the napi_* symbols: the io_uring eventfd is watched on
// the JS thread's own loop.
extern "C" {
    pub fn uv_poll_init(lp: *mut uv_loop_t, handle: *mut c_void, fd: i32) -> i32;
    pub fn uv_poll_start(handle: *mut c_void, events: i32, cb: uv_poll_cb) -> i32;
    pub fn uv_poll_stop(handle: *mut c_void) -> i32;
    pub fn uv_close(handle: *mut c_void, cb: uv_close_cb);
    pub fn uv_ref(handle: *mut c_void);
    pub fn uv_unref(handle: *mut c_void);
}

// ---- helpers -------------------------------------------------------------------------------

/// An error raised by a native function: thrown (sync) or used to reject a promise (async).
/// `Errno` carries the OS error number; index.ts maps it to a T3fsError coded with the errno name.
#[derive(Debug, Clone)]
pub enum Error {
    Arg(String),
    Errno { errno: i32, syscall: &'static str, path: Option<String> },
    Coded { code: &'static str, message: String },
}

pub type Result<T> = std::result::Result<T, Error>;

pub fn errno_error(syscall: &'static str) -> Error {
    Error::Errno { errno: std::io::Error::last_os_error().raw_os_error().unwrap_or(0), syscall, path: None }
}

pub fn arg_error<T>(msg: impl Into<String>) -> Result<T> { Err(Error::Arg(msg.into())) }

macro_rules! check {
    ($e:expr) => {{
        let s = unsafe { $e };
        if s != $crate::napi::NAPI_OK {
            return Err($crate::napi::Error::Coded { code: "ERR_NAPI", message: format!("{} failed: status {}", stringify!($e), s) });
        }
    }};
}
pub(crate) use check;

pub fn undefined(env: napi_env) -> napi_value {
    let mut v = ptr::null_mut();
    unsafe { napi_get_undefined(env, &mut v) };
    v
}

pub fn string(env: napi_env, s: &str) -> Result<napi_value> {
    let mut v = ptr::null_mut();
    check!(napi_create_string_utf8(env, s.as_ptr() as *const c_char, s.len(), &mut v));
    Ok(v)
}

pub fn number(env: napi_env, n: f64) -> Result<napi_value> {
    let mut v = ptr::null_mut();
    check!(napi_create_double(env, n, &mut v));
    Ok(v)
}

pub fn boolean(env: napi_env, b: bool) -> Result<napi_value> {
    let mut v = ptr::null_mut();
    check!(napi_get_boolean(env, b, &mut v));
    Ok(v)
}

pub fn object(env: napi_env) -> Result<napi_value> {
    let mut v = ptr::null_mut();
    check!(napi_create_object(env, &mut v));
    Ok(v)
}

pub fn array(env: napi_env, items: &[napi_value]) -> Result<napi_value> {
    let mut v = ptr::null_mut();
    check!(napi_create_array_with_length(env, items.len(), &mut v));
    for (i, item) in items.iter().enumerate() {
        check!(napi_set_element(env, v, i as u32, *item));
    }
    Ok(v)
}

pub fn set(env: napi_env, obj: napi_value, name: &str, value: napi_value) -> Result<()> {
    let c = std::ffi::CString::new(name).unwrap();
    check!(napi_set_named_property(env, obj, c.as_ptr(), value));
    Ok(())
}

pub fn get(env: napi_env, obj: napi_value, name: &str) -> Result<napi_value> {
    let c = std::ffi::CString::new(name).unwrap();
    let mut v = ptr::null_mut();
    check!(napi_get_named_property(env, obj, c.as_ptr(), &mut v));
    Ok(v)
}

pub fn type_of(env: napi_env, v: napi_value) -> i32 {
    let mut t = 0;
    unsafe { napi_typeof(env, v, &mut t) };
    t
}

pub fn args<const N: usize>(env: napi_env, info: napi_callback_info) -> Result<[napi_value; N]> {
    let mut argv = [ptr::null_mut(); N];
    let mut argc = N;
    check!(napi_get_cb_info(env, info, &mut argc, argv.as_mut_ptr(), ptr::null_mut(), ptr::null_mut()));
    let u = undefined(env);
    for a in argv.iter_mut().skip(argc.min(N)) { *a = u; }
    Ok(argv)
}

pub fn get_f64(env: napi_env, v: napi_value, what: &str) -> Result<f64> {
    let mut n = 0f64;
    match type_of(env, v) {
        NAPI_NUMBER => { check!(napi_get_value_double(env, v, &mut n)); Ok(n) }
        NAPI_BIGINT => {
            let (mut i, mut lossless) = (0i64, false);
            check!(napi_get_value_bigint_int64(env, v, &mut i, &mut lossless));
            if !lossless { return arg_error(format!("{what} is a bigint outside the int64 range")); }
            Ok(i as f64)
        }
        _ => arg_error(format!("{what} must be a number")),
    }
}

/// A non-negative safe integer (number or bigint).
pub fn get_u64(env: napi_env, v: napi_value, what: &str) -> Result<u64> {
    if type_of(env, v) == NAPI_BIGINT {
        let (mut i, mut lossless) = (0i64, false);
        check!(napi_get_value_bigint_int64(env, v, &mut i, &mut lossless));
        if !lossless || i < 0 { return arg_error(format!("{what} must be a non-negative int64")); }
        return Ok(i as u64);
    }
    let n = get_f64(env, v, what)?;
    if !(n >= 0.0) || n.fract() != 0.0 || n > 9007199254740991.0 {
        return arg_error(format!("{what} must be a non-negative safe integer, got {n}"));
    }
    Ok(n as u64)
}

pub fn get_i32(env: napi_env, v: napi_value, what: &str) -> Result<i32> {
    let n = get_f64(env, v, what)?;
    if n.fract() != 0.0 || n < i32::MIN as f64 || n > i32::MAX as f64 {
        return arg_error(format!("{what} must be a 32-bit integer, got {n}"));
    }
    Ok(n as i32)
}

pub fn get_bool(env: napi_env, v: napi_value) -> bool {
    let mut b = false;
    if type_of(env, v) == NAPI_BOOLEAN { unsafe { napi_get_value_bool(env, v, &mut b) }; }
    b
}

pub fn get_string(env: napi_env, v: napi_value, what: &str) -> Result<String> {
    if type_of(env, v) != NAPI_STRING { return arg_error(format!("{what} must be a string")); }
    let mut len = 0usize;
    check!(napi_get_value_string_utf8(env, v, ptr::null_mut(), 0, &mut len));
    let mut buf = vec![0u8; len + 1];
    check!(napi_get_value_string_utf8(env, v, buf.as_mut_ptr() as *mut c_char, len + 1, &mut len));
    buf.truncate(len);
    String::from_utf8(buf).map_err(|_| Error::Arg(format!("{what} is not valid UTF-8")))
}

/// The bytes of a TypedArray/Buffer/DataView-free view (Buffer, Uint8Array, also SharedArrayBuffer-backed).
pub fn get_bytes(env: napi_env, v: napi_value, what: &str) -> Result<(*mut u8, usize)> {
    let mut is = false;
    check!(napi_is_typedarray(env, v, &mut is));
    if !is { return arg_error(format!("{what} must be a Buffer or TypedArray")); }
    let (mut kind, mut len, mut data, mut ab, mut off) = (0i32, 0usize, ptr::null_mut(), ptr::null_mut(), 0usize);
    check!(napi_get_typedarray_info(env, v, &mut kind, &mut len, &mut data, &mut ab, &mut off));
    // element size per napi_typedarray_type: int8,uint8,uint8_clamped,int16,uint16,int32,uint32,float32,float64,bigint64,biguint64
    const SIZES: [usize; 11] = [1, 1, 1, 2, 2, 4, 4, 4, 8, 8, 8];
    let size = *SIZES.get(kind as usize).unwrap_or(&1);
    if data.is_null() && len != 0 { return arg_error(format!("{what} is detached")); }
    Ok((data as *mut u8, len * size))
}

// ---- errors ---------------------------------------------------------------------------------

/// Per-env error factory set from index.ts: (code, message, errno, syscall, path) => Error.
pub fn make_error(env: napi_env, factory: napi_ref, err: &Error) -> napi_value {
    let (code, message, errno, syscall, path) = match err {
        Error::Arg(m) => ("ERR_INVALID_ARG".to_string(), m.clone(), 0, "", None),
        Error::Coded { code, message } => (code.to_string(), message.clone(), 0, "", None),
        Error::Errno { errno, syscall, path } => {
            let text = std::io::Error::from_raw_os_error(*errno).to_string();
            let text = text.split(" (os error").next().unwrap_or(&text).to_string();
            let msg = match path { Some(p) => format!("{syscall} {p}: {text}"), None => format!("{syscall}: {text}") };
            ("ERRNO".to_string(), msg, *errno, *syscall, path.clone())
        }
    };
    unsafe {
        let code_v = string(env, &code).unwrap_or(ptr::null_mut());
        let msg_v = string(env, &message).unwrap_or(ptr::null_mut());
        if !factory.is_null() {
            let mut f = ptr::null_mut();
            if napi_get_reference_value(env, factory, &mut f) == NAPI_OK && !f.is_null() {
                let path_v = match &path { Some(p) => string(env, p).unwrap_or(undefined(env)), None => undefined(env) };
                let argv = [code_v, msg_v, number(env, errno as f64).unwrap_or(undefined(env)),
                            string(env, syscall).unwrap_or(undefined(env)), path_v];
                let mut out = ptr::null_mut();
                if napi_call_function(env, undefined(env), f, argv.len(), argv.as_ptr(), &mut out) == NAPI_OK {
                    return out;
                }
                let mut pending = false;
                napi_is_exception_pending(env, &mut pending);
                if pending { let mut e = ptr::null_mut(); napi_get_and_clear_last_exception(env, &mut e); }
            }
        }
        let mut e = ptr::null_mut();
        napi_create_error(env, code_v, msg_v, &mut e);
        if errno != 0 {
            let _ = set(env, e, "errno", number(env, errno as f64).unwrap_or(undefined(env)));
            let _ = set(env, e, "syscall", string(env, syscall).unwrap_or(undefined(env)));
        }
        e
    }
}

/// Registers `name` on `exports` as a function implemented by `cb`.
pub fn export(env: napi_env, exports: napi_value, name: &str, cb: unsafe extern "C" fn(napi_env, napi_callback_info) -> napi_value) {
    let c = std::ffi::CString::new(name).unwrap();
    let mut f = ptr::null_mut();
    unsafe {
        napi_create_function(env, c.as_ptr(), NAPI_AUTO_LENGTH, Some(cb), ptr::null_mut(), &mut f);
        napi_set_named_property(env, exports, c.as_ptr(), f);
    }
}
