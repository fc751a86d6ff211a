//! libibverbs loaded at run time (dlopen "libibverbs.so.1"). No library, no kernel RDMA support
//! (ibv_get_device_list fails with ENOSYS, as on these VMs) or no device is reported as
//! `{ available: false, reason }`, never thrown.

use crate::napi::*;
use crate::{js_fn, sys};
use std::ffi::{c_char, c_int, c_void, CStr};
use std::sync::OnceLock;

const RTLD_NOW: c_int = 2;

struct Lib { handle: usize }

fn lib() -> std::result::Result<&'static Lib, String> {
    static L: OnceLock<std::result::Result<Lib, String>> = OnceLock::new();
    L.get_or_init(|| {
        let h = unsafe { sys::dlopen(b"libibverbs.so.1\0".as_ptr() as *const c_char, RTLD_NOW) };
        if h.is_null() {
            let why = unsafe { sys::dlerror() };
            let why = if why.is_null() { "unknown".to_string() } else { unsafe { CStr::from_ptr(why) }.to_string_lossy().into_owned() };
            return Err(format!("libibverbs.so.1 could not be loaded ({why}); install rdma-core/libibverbs1"));
        }
        Ok(Lib { handle: h as usize })
    }).as_ref().map_err(|e| e.clone())
}

fn sym(l: &Lib, name: &str) -> std::result::Result<*mut c_void, String> {
    let c = std::ffi::CString::new(name).unwrap();
    let p = unsafe { sys::dlsym(l.handle as *mut c_void, c.as_ptr()) };
    if p.is_null() { Err(format!("libibverbs.so.1 has no symbol {name}")) } else { Ok(p) }
}

pub struct Device { pub name: String, pub guid: u64 }

/// Ok(devices) or Err(reason why RDMA is not available).
pub fn devices() -> std::result::Result<Vec<Device>, String> {
    let l = lib()?;
    type GetList = unsafe extern "C" fn(*mut c_int) -> *mut *mut c_void;
    type FreeList = unsafe extern "C" fn(*mut *mut c_void);
    type GetName = unsafe extern "C" fn(*mut c_void) -> *const c_char;
    type GetGuid = unsafe extern "C" fn(*mut c_void) -> u64;
    let get_list: GetList = unsafe { std::mem::transmute(sym(l, "ibv_get_device_list")?) };
    let free_list: FreeList = unsafe { std::mem::transmute(sym(l, "ibv_free_device_list")?) };
    let get_name: GetName = unsafe { std::mem::transmute(sym(l, "ibv_get_device_name")?) };
    let get_guid: GetGuid = unsafe { std::mem::transmute(sym(l, "ibv_get_device_guid")?) };
    let mut n: c_int = 0;
    sys::set_errno(0);
    let list = unsafe { get_list(&mut n) };
    if list.is_null() {
        let e = sys::errno();
        let text = std::io::Error::from_raw_os_error(e).to_string();
        let hint = if e == 38 { "; the kernel has no RDMA support (CONFIG_INFINIBAND)" } else { "" };
        return Err(format!("ibv_get_device_list failed: {} (errno {e}){hint}", text.split(" (os error").next().unwrap_or(&text)));
    }
    let mut out = Vec::new();
    for i in 0..n.max(0) as usize {
        let d = unsafe { *list.add(i) };
        if d.is_null() { break; }
        let name = unsafe { CStr::from_ptr(get_name(d)) }.to_string_lossy().into_owned();
        out.push(Device { name, guid: u64::from_be(unsafe { get_guid(d) }) });
    }
    unsafe { free_list(list) };
    if out.is_empty() { return Err("no RDMA devices found (ibv_get_device_list returned 0 devices)".into()); }
    Ok(out)
}

fn js_probe(env: napi_env, _info: napi_callback_info) -> Result<napi_value> {
    let o = object(env)?;
    set(env, o, "library", boolean(env, lib().is_ok())?)?;
    match devices() {
        Ok(list) => {
            set(env, o, "available", boolean(env, true)?)?;
            let mut items = Vec::new();
            for d in list {
                let x = object(env)?;
                set(env, x, "name", string(env, &d.name)?)?;
                set(env, x, "guid", string(env, &format!("{:016x}", d.guid))?)?;
                items.push(x);
            }
            set(env, o, "devices", array(env, &items)?)?;
        }
        Err(reason) => {
            set(env, o, "available", boolean(env, false)?)?;
            set(env, o, "reason", string(env, &reason)?)?;
            set(env, o, "devices", array(env, &[])?)?;
        }
    }
    Ok(o)
}

js_fn!(probe_cb, js_probe);

pub fn register(env: napi_env, exports: napi_value) {
    export(env, exports, "verbsProbe", probe_cb);
}
