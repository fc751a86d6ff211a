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

// ---- the data path (needs a device; struct offsets are those of rdma-core 44 on x86_64) -------
//
// ibv_post_send / ibv_poll_cq are inline functions in verbs.h that call through the context's
// ops table, so they are reached here through the same offsets (ibv_context.ops.poll_cq = 96,
// .post_send = 208). Every other call is an exported libibverbs symbol.

mod off {
    pub const PORT_ATTR_BYTES: usize = 52;
    pub const PORT_ACTIVE_MTU: usize = 8;
    pub const PORT_LID: usize = 34;
    pub const PORT_LINK_LAYER: usize = 46;
    pub const MR_ADDR: usize = 16;
    pub const MR_LKEY: usize = 36;
    pub const MR_RKEY: usize = 40;
    pub const QP_NUM: usize = 52;
    pub const QP_ATTR_BYTES: usize = 144;
    pub const CTX_POLL_CQ: usize = 96;
    pub const CTX_POST_SEND: usize = 208;
    pub const WC_BYTES: usize = 48;
}
const LINK_LAYER_ETHERNET: u8 = 2;
const QPT_RC: u32 = 2;
const ACCESS_ALL: c_int = 1 | 2 | 4; // LOCAL_WRITE | REMOTE_WRITE | REMOTE_READ
/// Work requests and completions per queue pair / completion queue.
const QUEUE_DEPTH: c_int = 256;

struct Endpoint {
    ctx: usize, pd: usize, cq: usize, port: u8, lid: u16, mtu: u32, ethernet: bool, gid: [u8; 16],
    qps: Vec<usize>, mrs: Vec<(usize, napi_ref)>,
}
unsafe impl Send for Endpoint {}

fn endpoints() -> &'static std::sync::Mutex<Vec<Option<Endpoint>>> {
    static E: OnceLock<std::sync::Mutex<Vec<Option<Endpoint>>>> = OnceLock::new();
    E.get_or_init(|| std::sync::Mutex::new(Vec::new()))
}

fn unavailable(reason: String) -> Error { Error::Coded { code: "ERR_RDMA_UNAVAILABLE", message: reason } }

fn f<T: Copy>(name: &str) -> Result<T> {
    let l = lib().map_err(unavailable)?;
    let p = sym(l, name).map_err(unavailable)?;
    Ok(unsafe { std::mem::transmute_copy::<*mut c_void, T>(&p) })
}

fn verbs_errno(call: &'static str) -> Error {
    let e = sys::errno();
    Error::Errno { errno: if e == 0 { 5 } else { e }, syscall: call, path: None }
}

fn with_endpoint<R>(env: napi_env, id: napi_value, run: impl FnOnce(&mut Endpoint) -> Result<R>) -> Result<R> {
    let id = get_u64(env, id, "endpoint")? as usize;
    let mut all = endpoints().lock().unwrap();
    match all.get_mut(id).and_then(|e| e.as_mut()) {
        Some(ep) => run(ep),
        None => arg_error(format!("endpoint {id} is not open")),
    }
}

/// (deviceName, port) → endpoint id: device context, protection domain, completion queue.
fn js_open(env: napi_env, info: napi_callback_info) -> Result<napi_value> {
    let [name, port] = args::<2>(env, info)?;
    let name = get_string(env, name, "device")?;
    let port = if type_of(env, port) == NAPI_UNDEFINED { 1 } else { get_u64(env, port, "port")? as u8 };
    devices().map_err(unavailable)?;
    type GetList = unsafe extern "C" fn(*mut c_int) -> *mut *mut c_void;
    type FreeList = unsafe extern "C" fn(*mut *mut c_void);
    type GetName = unsafe extern "C" fn(*mut c_void) -> *const c_char;
    type OpenDev = unsafe extern "C" fn(*mut c_void) -> *mut c_void;
    let (get_list, free_list, get_name, open_dev) = (f::<GetList>("ibv_get_device_list")?, f::<FreeList>("ibv_free_device_list")?,
        f::<GetName>("ibv_get_device_name")?, f::<OpenDev>("ibv_open_device")?);
    let alloc_pd = f::<unsafe extern "C" fn(*mut c_void) -> *mut c_void>("ibv_alloc_pd")?;
    let create_cq = f::<unsafe extern "C" fn(*mut c_void, c_int, *mut c_void, *mut c_void, c_int) -> *mut c_void>("ibv_create_cq")?;
    let query_port = f::<unsafe extern "C" fn(*mut c_void, u8, *mut u8) -> c_int>("ibv_query_port")?;
    let query_gid = f::<unsafe extern "C" fn(*mut c_void, u8, c_int, *mut u8) -> c_int>("ibv_query_gid")?;
    let mut n = 0;
    let list = unsafe { get_list(&mut n) };
    if list.is_null() { return Err(verbs_errno("ibv_get_device_list")); }
    let mut ctx = std::ptr::null_mut();
    for i in 0..n as usize {
        let d = unsafe { *list.add(i) };
        if unsafe { CStr::from_ptr(get_name(d)) }.to_string_lossy() == name { ctx = unsafe { open_dev(d) }; break; }
    }
    unsafe { free_list(list) };
    if ctx.is_null() { return Err(Error::Coded { code: "ERR_RDMA_NO_DEVICE", message: format!("RDMA device {name} not found or not openable") }); }
    let pd = unsafe { alloc_pd(ctx) };
    if pd.is_null() { return Err(verbs_errno("ibv_alloc_pd")); }
    let cq = unsafe { create_cq(ctx, QUEUE_DEPTH, std::ptr::null_mut(), std::ptr::null_mut(), 0) };
    if cq.is_null() { return Err(verbs_errno("ibv_create_cq")); }
    let mut attr = [0u8; off::PORT_ATTR_BYTES];
    if unsafe { query_port(ctx, port, attr.as_mut_ptr()) } != 0 { return Err(verbs_errno("ibv_query_port")); }
    let mut gid = [0u8; 16];
    unsafe { query_gid(ctx, port, 0, gid.as_mut_ptr()) };
    let ep = Endpoint {
        ctx: ctx as usize, pd: pd as usize, cq: cq as usize, port,
        lid: u16::from_ne_bytes([attr[off::PORT_LID], attr[off::PORT_LID + 1]]),
        mtu: u32::from_ne_bytes(attr[off::PORT_ACTIVE_MTU..off::PORT_ACTIVE_MTU + 4].try_into().unwrap()),
        ethernet: attr[off::PORT_LINK_LAYER] == LINK_LAYER_ETHERNET, gid, qps: Vec::new(), mrs: Vec::new(),
    };
    let mut all = endpoints().lock().unwrap();
    all.push(Some(ep));
    number(env, (all.len() - 1) as f64)
}

/// (endpoint, buffer) → { index, addr: bigint-as-string, lkey, rkey }; the buffer stays referenced.
fn js_register_mr(env: napi_env, info: napi_callback_info) -> Result<napi_value> {
    let [id, buf] = args::<2>(env, info)?;
    let (p, len) = get_bytes(env, buf, "buffer")?;
    let reg_mr = f::<unsafe extern "C" fn(*mut c_void, *mut c_void, usize, c_int) -> *mut u8>("ibv_reg_mr")?;
    with_endpoint(env, id, |ep| {
        let mr = unsafe { reg_mr(ep.pd as *mut c_void, p as *mut c_void, len, ACCESS_ALL) };
        if mr.is_null() { return Err(verbs_errno("ibv_reg_mr")); }
        let mut r = std::ptr::null_mut();
        check!(napi_create_reference(env, buf, 1, &mut r));
        ep.mrs.push((mr as usize, r));
        let rd = |o: usize| unsafe { (mr.add(o) as *const u32).read_unaligned() };
        let o = object(env)?;
        set(env, o, "index", number(env, (ep.mrs.len() - 1) as f64)?)?;
        set(env, o, "addr", string(env, &(unsafe { (mr.add(off::MR_ADDR) as *const u64).read_unaligned() }).to_string())?)?;
        set(env, o, "lkey", number(env, rd(off::MR_LKEY) as f64)?)?;
        set(env, o, "rkey", number(env, rd(off::MR_RKEY) as f64)?)?;
        Ok(o)
    })
}

/// (endpoint) → { index, qpNum, lid, gid (hex), psn }: an RC queue pair in RESET, to exchange.
fn js_create_qp(env: napi_env, info: napi_callback_info) -> Result<napi_value> {
    let [id] = args::<1>(env, info)?;
    let create_qp = f::<unsafe extern "C" fn(*mut c_void, *mut u8) -> *mut u8>("ibv_create_qp")?;
    with_endpoint(env, id, |ep| {
        let mut init = [0u8; 64];
        init[8..16].copy_from_slice(&(ep.cq as u64).to_ne_bytes()); // send_cq
        init[16..24].copy_from_slice(&(ep.cq as u64).to_ne_bytes()); // recv_cq
        for (i, v) in [QUEUE_DEPTH as u32, QUEUE_DEPTH as u32, 1, 1, 0].iter().enumerate() {
            init[32 + i * 4..36 + i * 4].copy_from_slice(&v.to_ne_bytes()); // cap
        }
        init[52..56].copy_from_slice(&QPT_RC.to_ne_bytes());
        let qp = unsafe { create_qp(ep.pd as *mut c_void, init.as_mut_ptr()) };
        if qp.is_null() { return Err(verbs_errno("ibv_create_qp")); }
        ep.qps.push(qp as usize);
        let qpn = unsafe { (qp.add(off::QP_NUM) as *const u32).read_unaligned() };
        let o = object(env)?;
        set(env, o, "index", number(env, (ep.qps.len() - 1) as f64)?)?;
        set(env, o, "qpNum", number(env, qpn as f64)?)?;
        set(env, o, "lid", number(env, ep.lid as f64)?)?;
        set(env, o, "gid", string(env, &ep.gid.iter().map(|b| format!("{b:02x}")).collect::<String>())?)?;
        set(env, o, "psn", number(env, (qpn.wrapping_mul(2654435761) & 0xffffff) as f64)?)?;
        Ok(o)
    })
}

/// (endpoint, qpIndex, localPsn, remote { qpNum, lid, gid, psn }) → RESET → INIT → RTR → RTS.
fn js_connect(env: napi_env, info: napi_callback_info) -> Result<napi_value> {
    let [id, qpi, lpsn, remote] = args::<4>(env, info)?;
    let qpi = get_u64(env, qpi, "qp")? as usize;
    let local_psn = get_u64(env, lpsn, "localPsn")? as u32;
    let rqpn = get_u64(env, get(env, remote, "qpNum")?, "remote.qpNum")? as u32;
    let rlid = get_u64(env, get(env, remote, "lid")?, "remote.lid")? as u16;
    let rpsn = get_u64(env, get(env, remote, "psn")?, "remote.psn")? as u32;
    let gid_hex = get_string(env, get(env, remote, "gid")?, "remote.gid")?;
    if gid_hex.len() != 32 || !gid_hex.bytes().all(|b| b.is_ascii_hexdigit()) { return arg_error("remote.gid must be 32 hex digits"); }
    let mut rgid = [0u8; 16];
    for i in 0..16 { rgid[i] = u8::from_str_radix(&gid_hex[i * 2..i * 2 + 2], 16).unwrap(); }
    let modify = f::<unsafe extern "C" fn(*mut c_void, *mut u8, c_int) -> c_int>("ibv_modify_qp")?;
    with_endpoint(env, id, |ep| {
        let Some(&qp) = ep.qps.get(qpi) else { return arg_error(format!("qp {qpi} does not exist")) };
        let step = |a: &mut [u8; off::QP_ATTR_BYTES], mask: c_int| -> Result<()> {
            if unsafe { modify(qp as *mut c_void, a.as_mut_ptr(), mask) } != 0 { return Err(verbs_errno("ibv_modify_qp")); }
            Ok(())
        };
        let put32 = |a: &mut [u8; off::QP_ATTR_BYTES], o: usize, v: u32| a[o..o + 4].copy_from_slice(&v.to_ne_bytes());
        // INIT: state, pkey_index, port, access flags
        let mut a = [0u8; off::QP_ATTR_BYTES];
        put32(&mut a, 0, 1);
        a[129] = ep.port;
        put32(&mut a, 32, ACCESS_ALL as u32);
        step(&mut a, 1 | 16 | 32 | 8)?;
        // RTR: path mtu, remote qpn/psn, address vector, responder resources
        let mut a = [0u8; off::QP_ATTR_BYTES];
        put32(&mut a, 0, 2);
        put32(&mut a, 8, ep.mtu);
        put32(&mut a, 28, rqpn);
        put32(&mut a, 20, rpsn);
        a[127] = 1; // max_dest_rd_atomic
        a[128] = 12; // min_rnr_timer
        let ah = 56;
        a[ah + 24..ah + 26].copy_from_slice(&rlid.to_ne_bytes());
        a[ah + 30] = ep.port;
        if ep.ethernet || rgid.iter().any(|b| *b != 0) {
            a[ah + 29] = 1; // is_global
            a[ah..ah + 16].copy_from_slice(&rgid);
            a[ah + 21] = 1; // hop_limit
        }
        step(&mut a, 1 | 128 | 256 | 1048576 | 4096 | 131072 | 32768)?;
        // RTS: timeouts, retries, local psn, initiator depth
        let mut a = [0u8; off::QP_ATTR_BYTES];
        put32(&mut a, 0, 3);
        put32(&mut a, 24, local_psn);
        a[130] = 14; a[131] = 7; a[132] = 7; a[126] = 1;
        step(&mut a, 1 | 512 | 1024 | 2048 | 65536 | 8192)?;
        Ok(undefined(env))
    })
}

/// (endpoint, qpIndex, 'read'|'write', mrIndex, localOffset, length, remoteAddr (string/bigint), rkey, wrId)
fn js_post(env: napi_env, info: napi_callback_info) -> Result<napi_value> {
    let [id, qpi, op, mri, loff, len, raddr, rkey, wrid] = args::<9>(env, info)?;
    let qpi = get_u64(env, qpi, "qp")? as usize;
    let opcode: u32 = match get_string(env, op, "op")?.as_str() { "write" => 0, "read" => 4, o => return arg_error(format!("op must be 'read' or 'write', got {o:?}")) };
    let mri = get_u64(env, mri, "mr")? as usize;
    let loff = get_u64(env, loff, "localOffset")?;
    let len = get_u64(env, len, "length")?;
    let raddr: u64 = if type_of(env, raddr) == NAPI_STRING { get_string(env, raddr, "remoteAddr")?.parse().map_err(|_| Error::Arg("remoteAddr is not an integer".into()))? } else { get_u64(env, raddr, "remoteAddr")? };
    let rkey = get_u64(env, rkey, "rkey")? as u32;
    let wrid = get_u64(env, wrid, "wrId")?;
    with_endpoint(env, id, |ep| {
        let Some(&qp) = ep.qps.get(qpi) else { return arg_error(format!("qp {qpi} does not exist")) };
        let Some(&(mr, _)) = ep.mrs.get(mri) else { return arg_error(format!("memory region {mri} does not exist")) };
        let mr = mr as *const u8;
        let (maddr, mlen) = unsafe { ((mr.add(off::MR_ADDR) as *const u64).read_unaligned(), (mr.add(24) as *const u64).read_unaligned()) };
        if loff + len > mlen { return arg_error(format!("localOffset {loff} + length {len} exceeds the region's {mlen} bytes")); }
        let mut sge = [0u8; 16];
        sge[0..8].copy_from_slice(&(maddr + loff).to_ne_bytes());
        sge[8..12].copy_from_slice(&(len as u32).to_ne_bytes());
        sge[12..16].copy_from_slice(&unsafe { (mr.add(off::MR_LKEY) as *const u32).read_unaligned() }.to_ne_bytes());
        let mut wr = [0u8; 128];
        wr[0..8].copy_from_slice(&wrid.to_ne_bytes());
        wr[16..24].copy_from_slice(&(sge.as_ptr() as u64).to_ne_bytes());
        wr[24..28].copy_from_slice(&1u32.to_ne_bytes());
        wr[28..32].copy_from_slice(&opcode.to_ne_bytes());
        wr[32..36].copy_from_slice(&2u32.to_ne_bytes()); // IBV_SEND_SIGNALED
        wr[40..48].copy_from_slice(&raddr.to_ne_bytes());
        wr[48..52].copy_from_slice(&rkey.to_ne_bytes());
        let post: unsafe extern "C" fn(*mut c_void, *mut u8, *mut *mut u8) -> c_int =
            unsafe { std::mem::transmute(((ep.ctx + off::CTX_POST_SEND) as *const usize).read()) };
        let mut bad = std::ptr::null_mut();
        let r = unsafe { post(qp as *mut c_void, wr.as_mut_ptr(), &mut bad) };
        if r != 0 { return Err(Error::Errno { errno: r, syscall: "ibv_post_send", path: None }); }
        Ok(undefined(env))
    })
}

/// (endpoint, max) → [{ wrId, status, opcode, byteLength }] without blocking.
fn js_poll(env: napi_env, info: napi_callback_info) -> Result<napi_value> {
    let [id, max] = args::<2>(env, info)?;
    let max = (get_u64(env, max, "max")? as usize).clamp(1, QUEUE_DEPTH as usize);
    with_endpoint(env, id, |ep| {
        let mut wcs = vec![0u8; off::WC_BYTES * max];
        let poll: unsafe extern "C" fn(*mut c_void, c_int, *mut u8) -> c_int =
            unsafe { std::mem::transmute(((ep.ctx + off::CTX_POLL_CQ) as *const usize).read()) };
        let n = unsafe { poll(ep.cq as *mut c_void, max as c_int, wcs.as_mut_ptr()) };
        if n < 0 { return Err(Error::Coded { code: "ERR_RDMA_POLL", message: format!("ibv_poll_cq returned {n}") }); }
        let mut items = Vec::new();
        for i in 0..n as usize {
            let w = &wcs[i * off::WC_BYTES..];
            let u = |o: usize| u32::from_ne_bytes(w[o..o + 4].try_into().unwrap());
            let o = object(env)?;
            set(env, o, "wrId", number(env, u64::from_ne_bytes(w[0..8].try_into().unwrap()) as f64)?)?;
            set(env, o, "status", number(env, u(8) as f64)?)?;
            set(env, o, "opcode", number(env, u(12) as f64)?)?;
            set(env, o, "byteLength", number(env, u(20) as f64)?)?;
            items.push(o);
        }
        array(env, &items)
    })
}

/// (endpoint) → releases QPs, MRs, CQ, PD and the device context.
fn js_close(env: napi_env, info: napi_callback_info) -> Result<napi_value> {
    let [id] = args::<1>(env, info)?;
    let idx = get_u64(env, id, "endpoint")? as usize;
    let ep = endpoints().lock().unwrap().get_mut(idx).and_then(|e| e.take());
    let Some(ep) = ep else { return arg_error(format!("endpoint {idx} is not open")) };
    type Free = unsafe extern "C" fn(*mut c_void) -> c_int;
    let (dqp, dmr, dcq, dpd, close) = (f::<Free>("ibv_destroy_qp")?, f::<Free>("ibv_dereg_mr")?, f::<Free>("ibv_destroy_cq")?,
        f::<Free>("ibv_dealloc_pd")?, f::<Free>("ibv_close_device")?);
    unsafe {
        for qp in ep.qps { dqp(qp as *mut c_void); }
        for (mr, r) in ep.mrs { dmr(mr as *mut c_void); napi_delete_reference(env, r); }
        dcq(ep.cq as *mut c_void);
        dpd(ep.pd as *mut c_void);
        close(ep.ctx as *mut c_void);
    }
    Ok(undefined(env))
}

js_fn!(probe_cb, js_probe);
js_fn!(open_cb, js_open);
js_fn!(register_mr_cb, js_register_mr);
js_fn!(create_qp_cb, js_create_qp);
js_fn!(connect_cb, js_connect);
js_fn!(post_cb, js_post);
js_fn!(poll_cb, js_poll);
js_fn!(close_cb, js_close);

pub fn register(env: napi_env, exports: napi_value) {
    export(env, exports, "verbsProbe", probe_cb);
    export(env, exports, "verbsOpen", open_cb);
    export(env, exports, "verbsRegisterMr", register_mr_cb);
    export(env, exports, "verbsCreateQp", create_qp_cb);
    export(env, exports, "verbsConnect", connect_cb);
    export(env, exports, "verbsPost", post_cb);
    export(env, exports, "verbsPoll", poll_cb);
    export(env, exports, "verbsClose", close_cb);
}
