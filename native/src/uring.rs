//! io_uring over raw syscalls (no liburing): one ring per N-API env (per JS thread).
//!
//! The JS thread is the only producer of SQEs and the only consumer of CQEs: each call writes one
//! SQE and returns a Promise; `submit()` (scheduled once per JS turn by index.ts) hands the batch
//! to the kernel with one io_uring_enter (no waiting). The ring signals an eventfd
//! (IORING_REGISTER_EVENTFD) whenever it posts completions; libuv watches that eventfd on the
//! thread's own loop (uv_poll), and the callback reaps every CQE and settles the promises. So the
//! event loop never blocks, and a completion costs one wake-up of the JS thread and no other
//! thread (an earlier design with a completion thread + threadsafe function needed three
//! wake-ups per batch and lost to fio under CPU contention).

use crate::napi::*;
use crate::{env_data, js_fn, sys};
use std::ffi::{c_void, CString};
use std::ptr;
use std::sync::atomic::{AtomicU32, Ordering};

const SQ_ENTRIES: u32 = 256;
const CQ_ENTRIES: u32 = 8192;
/// Upper bound on operations in flight per ring (each holds a slot until its CQE arrives).
const MAX_IN_FLIGHT: usize = 65536;

const IORING_SETUP_CQSIZE: u32 = 1 << 3;
const IORING_SETUP_SINGLE_ISSUER: u32 = 1 << 12;
const IORING_SETUP_DEFER_TASKRUN: u32 = 1 << 13;
const IORING_ENTER_GETEVENTS: u32 = 1;
const IORING_ENTER_EXT_ARG: u32 = 1 << 3;
/// How long env teardown waits for operations still in flight.
const QUIESCE_MAX_MS: u64 = 5000;
const IORING_FEAT_SINGLE_MMAP: u32 = 1;
const IORING_OFF_SQ_RING: i64 = 0;
const IORING_OFF_CQ_RING: i64 = 0x800_0000;
const IORING_OFF_SQES: i64 = 0x1000_0000;
const IORING_REGISTER_EVENTFD: u32 = 4;
const IORING_REGISTER_BUFFERS2: u32 = 15;
const IORING_REGISTER_BUFFERS_UPDATE: u32 = 16;
const IORING_RSRC_REGISTER_SPARSE: u32 = 1;
/// Size of the ring's registered-buffer table (sparse: entries are filled and emptied one by one).
/// A buffer pool registers one entry per size class (per GiB of it), so a few dozen are plenty.
pub const REGISTERED_BUFFERS_MAX: usize = 1024;
/// The kernel refuses a registered buffer larger than 1 GiB.
pub const REGISTERED_BUFFER_BYTES_MAX: usize = 1 << 30;
const IORING_FSYNC_DATASYNC: u32 = 1;

const OP_NOP: u8 = 0;
const OP_FSYNC: u8 = 3;
const OP_READ_FIXED: u8 = 4;
const OP_WRITE_FIXED: u8 = 5;
const OP_OPENAT: u8 = 18;
const OP_CLOSE: u8 = 19;
const OP_READ: u8 = 22;
const OP_WRITE: u8 = 23;
const OP_OPENAT2: u8 = 28;
pub const AT_FDCWD: i32 = -100;
/// Always run in io-wq, never inline in io_uring_enter: open/close/fsync (and the path and
/// metadata ops of uring_fs.rs) may wait on a FUSE server that is this very thread (open sends
/// OPEN, close sends FLUSH), which would deadlock.
pub const IOSQE_ASYNC: u8 = 1 << 4;

#[repr(C)]
#[derive(Default)]
struct SqOffsets { head: u32, tail: u32, ring_mask: u32, ring_entries: u32, flags: u32, dropped: u32, array: u32, resv1: u32, user_addr: u64 }
#[repr(C)]
#[derive(Default)]
struct CqOffsets { head: u32, tail: u32, ring_mask: u32, ring_entries: u32, overflow: u32, cqes: u32, flags: u32, resv1: u32, user_addr: u64 }
#[repr(C)]
#[derive(Default)]
struct Params {
    sq_entries: u32, cq_entries: u32, flags: u32, sq_thread_cpu: u32, sq_thread_idle: u32, features: u32,
    wq_fd: u32, resv: [u32; 3], sq_off: SqOffsets, cq_off: CqOffsets,
}
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct Sqe {
    pub opcode: u8, pub flags: u8, pub ioprio: u16, pub fd: i32,
    /// offset, or addr2 (a second pointer: renameat's new path, statx's buffer, openat2's open_how)
    pub off: u64,
    pub addr: u64, pub len: u32, pub op_flags: u32,
    pub user_data: u64, pub buf_index: u16, pub personality: u16, pub file_index: i32, pub addr3: u64, pub pad: u64,
}
#[repr(C)]
struct Cqe { user_data: u64, res: i32, flags: u32 }

#[derive(Clone, Copy, PartialEq)]
pub enum Kind { Read, Write, ReadFixed, WriteFixed, Fsync, Open, Close, Nop, Fallocate, Ftruncate, Rename, Unlink, Rmdir, Mkdir, Statx }

impl Kind {
    fn syscall(self) -> &'static str {
        match self {
            Kind::Read | Kind::ReadFixed => "read",
            Kind::Write | Kind::WriteFixed => "write",
            Kind::Fsync => "fsync",
            Kind::Open => "open",
            Kind::Close => "close",
            Kind::Nop => "nop",
            Kind::Fallocate => "fallocate",
            Kind::Ftruncate => "ftruncate",
            Kind::Rename => "rename",
            Kind::Unlink => "unlink",
            Kind::Rmdir => "rmdir",
            Kind::Mkdir => "mkdir",
            Kind::Statx => "statx",
        }
    }
}

/// What an operation holds until its completion: the JS value the kernel reads or writes (`keep`),
/// the path shown in its error, and memory the kernel reads at submission (`hold`: C strings,
/// open_how), which happens at the end of the JS turn, after the call that queued it returned.
pub struct Pending {
    pub kind: Kind,
    pub keep: napi_value,
    pub path: Option<CString>,
    pub hold: Option<Box<dyn std::any::Any>>,
}

impl Pending {
    pub fn new(kind: Kind) -> Pending { Pending { kind, keep: ptr::null_mut(), path: None, hold: None } }
}

struct Slot {
    deferred: napi_deferred, keep: napi_ref, path: Option<CString>, kind: Kind,
    #[allow(dead_code)] // only held: dropped (freed) at completion
    hold: Option<Box<dyn std::any::Any>>,
    /// The registered buffer a fixed read/write uses (it cannot be unregistered meanwhile).
    fixed: Option<usize>,
}

struct Mapping { ptr: *mut c_void, len: usize }
unsafe impl Send for Mapping {}

pub struct Ring {
    fd: i32,
    sq_map: Mapping,
    cq_map: Option<Mapping>,
    sqe_map: Mapping,
    sq_head: *const AtomicU32,
    sq_tail: *const AtomicU32,
    sq_mask: u32,
    sq_array: *mut u32,
    sqes: *mut Sqe,
    tail: u32,      // local SQ tail (published on each push)
    submitted: u32, // SQ tail value up to which the kernel has been told
    slots: Vec<Option<Slot>>,
    free: Vec<usize>,
    in_flight: usize,
    cq_head: *const AtomicU32,
    cq_tail: *const AtomicU32,
    cq_mask: u32,
    cqes: *const Cqe,
    efd: i32,
    defer: bool,
    poll: *mut c_void, // uv_poll_t, freed by uv_close's callback
    env: napi_env,
    async_ctx: napi_async_context,
    resource: napi_ref,
    /// The registered-buffer table (empty until the first registration creates it sparse).
    registered: Vec<Option<napi_ref>>,
    /// Fixed reads/writes in flight per registered buffer.
    fixed_busy: Vec<u32>,

    referenced: bool,
    stopped: bool,
}

fn enter(fd: i32, to_submit: u32, min_complete: u32, flags: u32) -> i64 {
    unsafe { sys::syscall(sys::SYS_IO_URING_ENTER, fd as i64, to_submit as i64, min_complete as i64, flags as i64, 0i64, 0i64) as i64 }
}

unsafe fn map(fd: i32, len: usize, off: i64) -> Result<Mapping> {
    const PROT_RW: i32 = 3;
    const MAP_SHARED_POPULATE: i32 = 0x01 | 0x8000;
    let p = sys::mmap(ptr::null_mut(), len, PROT_RW, MAP_SHARED_POPULATE, fd, off);
    if p as isize == -1 { return Err(errno_error("mmap")); }
    Ok(Mapping { ptr: p, len })
}

extern "C" {
    fn eventfd(initval: u32, flags: i32) -> i32;
    fn read(fd: i32, buf: *mut c_void, n: usize) -> isize;
}
const EFD_NONBLOCK_CLOEXEC: i32 = 0o4000 | 0o2000000;

unsafe extern "C" fn on_readable(handle: *mut c_void, _status: i32, _events: i32) {
    let ring = &mut **(handle as *mut *mut Ring); // uv_handle_t.data is the first field
    let env = ring.env;
    let mut hs = ptr::null_mut();
    napi_open_handle_scope(env, &mut hs);
    let mut resource = ptr::null_mut();
    napi_get_reference_value(env, ring.resource, &mut resource);
    let mut cs = ptr::null_mut();
    // A callback scope: promise reactions (microtasks) run when it closes, as after any JS callback.
    napi_open_callback_scope(env, resource, ring.async_ctx, &mut cs);
    let mut counter = 0u64;
    read(ring.efd, &mut counter as *mut u64 as *mut c_void, 8);
    if ring.defer {
        // Run the deferred completion work now (it posts the CQEs), submitting anything queued.
        let n = ring.tail.wrapping_sub(ring.submitted);
        let r = enter(ring.fd, n, 0, IORING_ENTER_GETEVENTS);
        if r > 0 { ring.submitted = ring.submitted.wrapping_add(r as u32); }
    }
    ring.drain(env);
    if ring.tail != ring.submitted { let _ = ring.submit(); }
    ring.update_ref();
    napi_close_callback_scope(env, cs);
    napi_close_handle_scope(env, hs);
}

unsafe extern "C" fn free_handle(handle: *mut c_void) {
    drop(Box::from_raw(handle as *mut [u8; UV_POLL_T_BYTES]));
}

unsafe extern "C" fn cleanup_hook(arg: *mut c_void) { (*(arg as *mut Ring)).shutdown(); }

impl Ring {
    fn new(env: napi_env) -> Result<Box<Ring>> {
        // Preferred: completion task work deferred until this thread asks for it (no IPIs into
        // running JS; the eventfd still fires when work is queued). Kernels before 6.1 refuse the
        // flags: fall back to the default, where task work interrupts the thread.
        let mut defer = true;
        let mut p = Params { flags: IORING_SETUP_CQSIZE | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN, cq_entries: CQ_ENTRIES, ..Default::default() };
        let mut fd = unsafe { sys::syscall(sys::SYS_IO_URING_SETUP, SQ_ENTRIES as i64, &mut p as *mut Params) } as i32;
        if fd < 0 && sys::errno() == 22 {
            defer = false;
            p = Params { flags: IORING_SETUP_CQSIZE, cq_entries: CQ_ENTRIES, ..Default::default() };
            fd = unsafe { sys::syscall(sys::SYS_IO_URING_SETUP, SQ_ENTRIES as i64, &mut p as *mut Params) } as i32;
        }
        if fd < 0 { return Err(errno_error("io_uring_setup")); }
        let fail = |e: Error| -> Result<Box<Ring>> { unsafe { sys::close(fd) }; Err(e) };
        let sq_len = p.sq_off.array as usize + p.sq_entries as usize * 4;
        let cq_len = p.cq_off.cqes as usize + p.cq_entries as usize * std::mem::size_of::<Cqe>();
        let single = p.features & IORING_FEAT_SINGLE_MMAP != 0;
        let sq_map = match unsafe { map(fd, if single { sq_len.max(cq_len) } else { sq_len }, IORING_OFF_SQ_RING) } {
            Ok(m) => m, Err(e) => return fail(e),
        };
        let cq_map = if single { None } else {
            match unsafe { map(fd, cq_len, IORING_OFF_CQ_RING) } { Ok(m) => Some(m), Err(e) => return fail(e) }
        };
        let sqe_map = match unsafe { map(fd, p.sq_entries as usize * 64, IORING_OFF_SQES) } { Ok(m) => m, Err(e) => return fail(e) };
        let sq = sq_map.ptr as usize;
        let cq = cq_map.as_ref().map(|m| m.ptr as usize).unwrap_or(sq);
        let at = |base: usize, off: u32| base + off as usize;
        let efd = unsafe { eventfd(0, EFD_NONBLOCK_CLOEXEC) };
        if efd < 0 { return fail(errno_error("eventfd")); }
        if unsafe { sys::syscall(sys::SYS_IO_URING_REGISTER, fd as i64, IORING_REGISTER_EVENTFD as i64, &efd as *const i32, 1i64) } < 0 {
            let e = errno_error("io_uring_register");
            unsafe { sys::close(efd) };
            return fail(e);
        }
        let mut ring = Box::new(Ring {
            fd, sq_map, cq_map, sqe_map,
            sq_head: at(sq, p.sq_off.head) as *const AtomicU32,
            sq_tail: at(sq, p.sq_off.tail) as *const AtomicU32,
            sq_mask: unsafe { *(at(sq, p.sq_off.ring_mask) as *const u32) },
            sq_array: at(sq, p.sq_off.array) as *mut u32,
            sqes: ptr::null_mut(),
            tail: 0, submitted: 0,
            slots: Vec::new(), free: Vec::new(), in_flight: 0,
            cq_head: at(cq, p.cq_off.head) as *const AtomicU32,
            cq_tail: at(cq, p.cq_off.tail) as *const AtomicU32,
            cq_mask: unsafe { *(at(cq, p.cq_off.ring_mask) as *const u32) },
            cqes: at(cq, p.cq_off.cqes) as *const Cqe,
            efd, defer, poll: ptr::null_mut(), env, async_ctx: ptr::null_mut(), resource: ptr::null_mut(),
            registered: Vec::new(), fixed_busy: Vec::new(), referenced: true, stopped: false,
        });
        ring.sqes = ring.sqe_map.ptr as *mut Sqe;
        ring.tail = unsafe { (*ring.sq_tail).load(Ordering::Relaxed) };
        ring.submitted = ring.tail;
        let resource = object(env)?;
        check!(napi_create_reference(env, resource, 1, &mut ring.resource));
        let name = string(env, "t3fs.uring")?;
        check!(napi_async_init(env, resource, name, &mut ring.async_ctx));
        let mut lp = ptr::null_mut();
        check!(napi_get_uv_event_loop(env, &mut lp));
        let handle = Box::into_raw(Box::new([0u8; UV_POLL_T_BYTES])) as *mut c_void;
        if unsafe { uv_poll_init(lp, handle, efd) } != 0 {
            unsafe { free_handle(handle) };
            return Err(Error::Coded { code: "ERR_URING_POLL", message: "uv_poll_init on the ring's eventfd failed".into() });
        }
        ring.poll = handle;
        let ctx = &mut *ring as *mut Ring;
        unsafe {
            *(handle as *mut *mut Ring) = ctx; // handle->data
            uv_poll_start(handle, UV_READABLE, Some(on_readable));
        }
        ring.update_ref(); // nothing in flight yet: do not hold the event loop open
        // Runs before the loop is torn down: the poll handle must be closed by then.
        unsafe { napi_add_env_cleanup_hook(env, Some(cleanup_hook), ctx as *mut c_void) };
        Ok(ring)
    }

    /// Holds the event loop open exactly while operations are in flight.
    fn update_ref(&mut self) {
        let want = self.in_flight > 0 && !self.poll.is_null();
        if want != self.referenced && !self.poll.is_null() {
            unsafe { if want { uv_ref(self.poll) } else { uv_unref(self.poll) } }
            self.referenced = want;
        }
    }

    /// Reaps every CQE and settles its promise (JS thread, inside a handle + callback scope).
    unsafe fn drain(&mut self, env: napi_env) {
        loop {
            let mut h = (*self.cq_head).load(Ordering::Relaxed);
            let t = (*self.cq_tail).load(Ordering::Acquire);
            if h == t { break; }
            while h != t {
                let c = &*self.cqes.add((h & self.cq_mask) as usize);
                let (user_data, res) = (c.user_data, c.res);
                h = h.wrapping_add(1);
                // Publish before settling, so the slot (and the CQ entry) can be reused right away.
                (*self.cq_head).store(h, Ordering::Release);
                self.complete(env, user_data as usize, res);
            }
        }
    }

    fn sq_space(&self) -> u32 {
        let head = unsafe { (*self.sq_head).load(Ordering::Acquire) };
        SQ_ENTRIES - self.tail.wrapping_sub(head)
    }

    /// Hands every queued SQE to the kernel. Returns how many it took.
    fn submit(&mut self) -> Result<u32> {
        let mut total = 0;
        while self.tail != self.submitted {
            let n = self.tail.wrapping_sub(self.submitted);
            let r = enter(self.fd, n, 0, 0);
            if r < 0 {
                let e = sys::errno();
                if e == 4 { continue; }
                if e == 11 || e == 16 { break; } // kernel busy: retried on the next completion batch
                return Err(Error::Errno { errno: e, syscall: "io_uring_enter", path: None });
            }
            if r == 0 { break; }
            self.submitted = self.submitted.wrapping_add(r as u32);
            total += r as u32;
        }
        Ok(total)
    }

    fn push(&mut self, sqe: Sqe) -> Result<()> {
        if self.sq_space() == 0 {
            self.submit()?;
            if self.sq_space() == 0 { return Err(Error::Coded { code: "ERR_URING_BUSY", message: "submission queue is full".into() }); }
        }
        let idx = self.tail & self.sq_mask;
        unsafe {
            *self.sqes.add(idx as usize) = sqe;
            *self.sq_array.add(idx as usize) = idx;
            self.tail = self.tail.wrapping_add(1);
            (*self.sq_tail).store(self.tail, Ordering::Release);
        }
        Ok(())
    }

    /// Queues one operation; returns its promise.
    fn queue(&mut self, env: napi_env, sqe: Sqe, kind: Kind, keep: napi_value, path: Option<CString>) -> Result<napi_value> {
        self.queue_op(env, sqe, Pending { kind, keep, path, hold: None }, None)
    }

    /// Queues one operation with what it holds until completion; returns its promise.
    pub fn queue_op(&mut self, env: napi_env, mut sqe: Sqe, op: Pending, fixed: Option<usize>) -> Result<napi_value> {
        if self.stopped { return Err(Error::Coded { code: "ERR_URING_CLOSED", message: "the ring of this thread is shut down".into() }); }
        if self.in_flight >= MAX_IN_FLIGHT {
            return Err(Error::Coded { code: "ERR_URING_BUSY", message: format!("more than {MAX_IN_FLIGHT} operations in flight") });
        }
        let index = match self.free.pop() { Some(i) => i, None => { self.slots.push(None); self.slots.len() - 1 } };
        sqe.user_data = index as u64;
        if let Err(e) = self.push(sqe) { self.free.push(index); return Err(e); }
        let (mut deferred, mut promise, mut r) = (ptr::null_mut(), ptr::null_mut(), ptr::null_mut());
        check!(napi_create_promise(env, &mut deferred, &mut promise));
        if !op.keep.is_null() { check!(napi_create_reference(env, op.keep, 1, &mut r)); }
        self.slots[index] = Some(Slot { deferred, keep: r, path: op.path, kind: op.kind, hold: op.hold, fixed });
        if let Some(b) = fixed { self.fixed_busy[b] += 1; }
        self.in_flight += 1;
        self.update_ref();
        Ok(promise)
    }

    unsafe fn complete(&mut self, env: napi_env, index: usize, res: i32) {
        let Some(slot) = self.slots.get_mut(index).and_then(|s| s.take()) else { return };
        self.free.push(index);
        self.in_flight -= 1;
        if let Some(b) = slot.fixed { self.fixed_busy[b] -= 1; }
        if !slot.keep.is_null() { napi_delete_reference(env, slot.keep); }
        if res >= 0 {
            let mut v = ptr::null_mut();
            napi_create_double(env, res as f64, &mut v);
            napi_resolve_deferred(env, slot.deferred, v);
        } else {
            let path = slot.path.map(|p| p.to_string_lossy().into_owned());
            let e = Error::Errno { errno: -res, syscall: slot.kind.syscall(), path };
            napi_reject_deferred(env, slot.deferred, make_error(env, env_data(env).error_factory, &e));
        }
    }

    /// Stops watching the eventfd (idempotent). Pending promises stay unsettled: the env is ending.
    fn shutdown(&mut self) {
        if self.stopped { return; }
        self.stopped = true;
        self.quiesce();
        if !self.poll.is_null() {
            unsafe {
                uv_poll_stop(self.poll);
                uv_close(self.poll, Some(free_handle));
            }
            self.poll = ptr::null_mut();
        }
    }
}

impl Ring {
    /// Waits (bounded) for operations still in flight before the env goes away: an O_DIRECT read
    /// keeps DMA-ing into its buffer after the ring is closed, and that memory is about to be
    /// freed with the JS heap. Their promises are dropped unsettled (there is no JS left to run).
    fn quiesce(&mut self) {
        let _ = self.submit();
        let deadline = std::time::Instant::now() + std::time::Duration::from_millis(QUIESCE_MAX_MS);
        while self.in_flight > 0 && std::time::Instant::now() < deadline {
            let ts = [0i64, 50_000_000i64]; // 50 ms per wait
            let arg = [0u64, 0u64, &ts as *const [i64; 2] as u64]; // io_uring_getevents_arg
            unsafe {
                sys::syscall(sys::SYS_IO_URING_ENTER, self.fd as i64, 0i64, 1i64,
                             (IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG) as i64, arg.as_ptr(), 24i64);
                let mut h = (*self.cq_head).load(Ordering::Relaxed);
                let t = (*self.cq_tail).load(Ordering::Acquire);
                while h != t {
                    let c = &*self.cqes.add((h & self.cq_mask) as usize);
                    if let Some(slot) = self.slots.get_mut(c.user_data as usize).and_then(|s| s.take()) {
                        drop(slot);
                        self.in_flight -= 1;
                    }
                    h = h.wrapping_add(1);
                }
                (*self.cq_head).store(h, Ordering::Release);
            }
        }
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        self.shutdown();
        unsafe {
            sys::munmap(self.sqe_map.ptr, self.sqe_map.len);
            if let Some(m) = &self.cq_map { sys::munmap(m.ptr, m.len); }
            sys::munmap(self.sq_map.ptr, self.sq_map.len);
            sys::close(self.fd);
            sys::close(self.efd);
        }
    }
}

pub fn destroy(env: napi_env, ring: Box<Ring>) {
    let mut ring = ring;
    unsafe { napi_remove_env_cleanup_hook(env, Some(cleanup_hook), &mut *ring as *mut Ring as *mut c_void) };
    for r in ring.registered.drain(..).flatten() { unsafe { napi_delete_reference(env, r) }; }
    drop(ring);
}

pub fn ring<'a>(env: napi_env) -> Result<&'a mut Ring> {
    let d = env_data(env);
    if d.ring.is_none() { d.ring = Some(Ring::new(env)?); }
    Ok(d.ring.as_mut().unwrap())
}

// ---- JS bindings --------------------------------------------------------------------------

/// (fd, buffer, bufferOffset, length, position) → Promise<bytes>
fn rw(env: napi_env, info: napi_callback_info, write: bool) -> Result<napi_value> {
    let [fd, buf, boff, len, pos] = args::<5>(env, info)?;
    let fd = get_i32(env, fd, "fd")?;
    let (p, size) = get_bytes(env, buf, "buffer")?;
    let boff = get_u64(env, boff, "bufferOffset")? as usize;
    let len = get_u64(env, len, "length")? as usize;
    if boff.checked_add(len).map_or(true, |end| end > size) {
        return arg_error(format!("bufferOffset {boff} + length {len} exceeds the buffer's {size} bytes"));
    }
    if len > u32::MAX as usize { return arg_error("length must be below 4 GiB"); }
    let pos = get_u64(env, pos, "position")?;
    let sqe = Sqe { opcode: if write { OP_WRITE } else { OP_READ }, fd, off: pos, addr: unsafe { p.add(boff) } as u64, len: len as u32, ..Default::default() };
    ring(env)?.queue(env, sqe, if write { Kind::Write } else { Kind::Read }, buf, None)
}
fn js_read(env: napi_env, info: napi_callback_info) -> Result<napi_value> { rw(env, info, false) }
fn js_write(env: napi_env, info: napi_callback_info) -> Result<napi_value> { rw(env, info, true) }

/// (fd, bufIndex, bufferOffset, length, position) → Promise<bytes>, on a registered buffer.
fn rw_fixed(env: napi_env, info: napi_callback_info, write: bool) -> Result<napi_value> {
    let [fd, index, boff, len, pos] = args::<5>(env, info)?;
    let fd = get_i32(env, fd, "fd")?;
    let index = get_u64(env, index, "bufferIndex")? as usize;
    let r = ring(env)?;
    let Some(&Some(keep)) = r.registered.get(index) else {
        return arg_error(format!("bufferIndex {index} is not registered ({} registered buffers)", r.registered_count()));
    };
    let mut buf = ptr::null_mut();
    check!(napi_get_reference_value(env, keep, &mut buf));
    let (p, size) = get_bytes(env, buf, "registered buffer")?;
    let boff = get_u64(env, boff, "bufferOffset")? as usize;
    let len = get_u64(env, len, "length")? as usize;
    if boff.checked_add(len).map_or(true, |end| end > size) {
        return arg_error(format!("bufferOffset {boff} + length {len} exceeds the registered buffer's {size} bytes"));
    }
    let pos = get_u64(env, pos, "position")?;
    let sqe = Sqe { opcode: if write { OP_WRITE_FIXED } else { OP_READ_FIXED }, fd, off: pos, addr: unsafe { p.add(boff) } as u64,
                    len: len as u32, buf_index: index as u16, ..Default::default() };
    r.queue_op(env, sqe, Pending::new(if write { Kind::WriteFixed } else { Kind::ReadFixed }), Some(index))
}
fn js_read_fixed(env: napi_env, info: napi_callback_info) -> Result<napi_value> { rw_fixed(env, info, false) }
fn js_write_fixed(env: napi_env, info: napi_callback_info) -> Result<napi_value> { rw_fixed(env, info, true) }

/// (buffer) → index: registers one buffer in a free entry of the ring's table (pinned until
/// unregistered), for readFixed/writeFixed. The table is created sparse on first use.
fn js_register_buffer(env: napi_env, info: napi_callback_info) -> Result<napi_value> {
    let [buf] = args::<1>(env, info)?;
    let (p, len) = get_bytes(env, buf, "buffer")?;
    if len == 0 { return arg_error("buffer is empty"); }
    if len > REGISTERED_BUFFER_BYTES_MAX {
        return arg_error(format!("buffer is {len} bytes; a registered buffer holds at most {REGISTERED_BUFFER_BYTES_MAX} (1 GiB)"));
    }
    let r = ring(env)?;
    r.ensure_buffer_table()?;
    let Some(index) = r.registered.iter().position(|e| e.is_none()) else {
        return Err(Error::Coded { code: "ERR_URING_BUSY", message: format!("all {REGISTERED_BUFFERS_MAX} registered-buffer entries are taken") });
    };
    r.update_buffer(index, p as u64, len as u64)?;
    let mut rf = ptr::null_mut();
    check!(napi_create_reference(env, buf, 1, &mut rf));
    r.registered[index] = Some(rf);
    number(env, index as f64)
}

/// (index) empties a registered-buffer entry; refused (ERR_URING_BUSY) while a fixed op uses it.
fn js_unregister_buffer(env: napi_env, info: napi_callback_info) -> Result<napi_value> {
    let [index] = args::<1>(env, info)?;
    let index = get_u64(env, index, "bufferIndex")? as usize;
    let r = ring(env)?;
    let Some(&Some(rf)) = r.registered.get(index) else {
        return arg_error(format!("bufferIndex {index} is not registered ({} registered buffers)", r.registered_count()));
    };
    if r.fixed_busy[index] > 0 {
        return Err(Error::Coded { code: "ERR_URING_BUSY", message: format!("registered buffer {index} has {} fixed operations in flight", r.fixed_busy[index]) });
    }
    r.update_buffer(index, 0, 0)?;
    unsafe { napi_delete_reference(env, rf) };
    r.registered[index] = None;
    Ok(undefined(env))
}

impl Ring {
    fn registered_count(&self) -> usize { self.registered.iter().filter(|e| e.is_some()).count() }

    /// IORING_REGISTER_BUFFERS2 with a sparse table: entries are then set one by one.
    fn ensure_buffer_table(&mut self) -> Result<()> {
        if !self.registered.is_empty() { return Ok(()); }
        // struct io_uring_rsrc_register { u32 nr, u32 flags, u64 resv2, u64 data, u64 tags }
        let reg: [u64; 4] = [REGISTERED_BUFFERS_MAX as u64 | ((IORING_RSRC_REGISTER_SPARSE as u64) << 32), 0, 0, 0];
        let ret = unsafe { sys::syscall(sys::SYS_IO_URING_REGISTER, self.fd as i64, IORING_REGISTER_BUFFERS2 as i64, reg.as_ptr(), 32i64) };
        if ret < 0 { return Err(errno_error("io_uring_register")); }
        self.registered = (0..REGISTERED_BUFFERS_MAX).map(|_| None).collect();
        self.fixed_busy = vec![0; REGISTERED_BUFFERS_MAX];
        Ok(())
    }

    /// IORING_REGISTER_BUFFERS_UPDATE of one entry (address 0, length 0 empties it).
    fn update_buffer(&mut self, index: usize, addr: u64, len: u64) -> Result<()> {
        let iov: [u64; 2] = [addr, len];
        // struct io_uring_rsrc_update2 { u32 offset, u32 resv, u64 data, u64 tags, u32 nr, u32 resv2 }
        let up: [u64; 4] = [index as u64, &iov as *const [u64; 2] as u64, 0, 1];
        let ret = unsafe { sys::syscall(sys::SYS_IO_URING_REGISTER, self.fd as i64, IORING_REGISTER_BUFFERS_UPDATE as i64, up.as_ptr(), 32i64) };
        if ret < 0 { return Err(errno_error("io_uring_register")); }
        Ok(())
    }
}

/// (fd, datasync) → Promise<0>
fn js_fsync(env: napi_env, info: napi_callback_info) -> Result<napi_value> {
    let [fd, datasync] = args::<2>(env, info)?;
    let fd = get_i32(env, fd, "fd")?;
    let sqe = Sqe { opcode: OP_FSYNC, flags: IOSQE_ASYNC, fd, op_flags: if get_bool(env, datasync) { IORING_FSYNC_DATASYNC } else { 0 }, ..Default::default() };
    ring(env)?.queue(env, sqe, Kind::Fsync, ptr::null_mut(), None)
}

/// (path, flags, mode, dirFd?, resolve?) → Promise<fd>. flags are Linux open(2) flags (O_DIRECT
/// included); a relative path resolves against dirFd (default AT_FDCWD). A non-zero `resolve`
/// (openat2's RESOLVE_* bits, e.g. RESOLVE_BENEATH) uses IORING_OP_OPENAT2.
fn js_open(env: napi_env, info: napi_callback_info) -> Result<napi_value> {
    let [path, flags, mode, dir_fd, resolve] = args::<5>(env, info)?;
    let path = get_string(env, path, "path")?;
    let flags = get_i32(env, flags, "flags")? | sys::O_CLOEXEC;
    let mode = if type_of(env, mode) == NAPI_UNDEFINED { 0o644 } else { get_u64(env, mode, "mode")? as u32 };
    let dir_fd = if type_of(env, dir_fd) == NAPI_UNDEFINED { AT_FDCWD } else { get_i32(env, dir_fd, "dirFd")? };
    let resolve = if type_of(env, resolve) == NAPI_UNDEFINED { 0 } else { get_u64(env, resolve, "resolve")? };
    let c = CString::new(path).map_err(|_| Error::Arg("path contains a NUL byte".into()))?;
    let mut op = Pending::new(Kind::Open);
    let sqe = if resolve == 0 {
        Sqe { opcode: OP_OPENAT, flags: IOSQE_ASYNC, fd: dir_fd, addr: c.as_ptr() as u64, len: mode, op_flags: flags as u32, ..Default::default() }
    } else {
        // struct open_how { u64 flags, u64 mode, u64 resolve }: openat2 refuses a mode without O_CREAT/O_TMPFILE.
        const O_TMPFILE_BIT: i32 = 0o20000000;
        let how_mode = if flags & (sys::O_CREAT | O_TMPFILE_BIT) != 0 { mode as u64 } else { 0 };
        let how = Box::new([flags as u32 as u64, how_mode, resolve]);
        let sqe = Sqe { opcode: OP_OPENAT2, flags: IOSQE_ASYNC, fd: dir_fd, addr: c.as_ptr() as u64, len: 24,
                        off: how.as_ptr() as u64, ..Default::default() };
        op.hold = Some(how);
        sqe
    };
    op.path = Some(c);
    ring(env)?.queue_op(env, sqe, op, None)
}

fn js_close(env: napi_env, info: napi_callback_info) -> Result<napi_value> {
    let [fd] = args::<1>(env, info)?;
    let fd = get_i32(env, fd, "fd")?;
    ring(env)?.queue(env, Sqe { opcode: OP_CLOSE, flags: IOSQE_ASYNC, fd, ..Default::default() }, Kind::Close, ptr::null_mut(), None)
}

fn js_nop(env: napi_env, _info: napi_callback_info) -> Result<napi_value> {
    ring(env)?.queue(env, Sqe { opcode: OP_NOP, ..Default::default() }, Kind::Nop, ptr::null_mut(), None)
}

fn js_submit(env: napi_env, _info: napi_callback_info) -> Result<napi_value> {
    let d = env_data(env);
    let n = match d.ring.as_mut() { Some(r) => r.submit()?, None => 0 };
    number(env, n as f64)
}

fn js_stats(env: napi_env, _info: napi_callback_info) -> Result<napi_value> {
    let o = object(env)?;
    let d = env_data(env);
    let (inflight, queued, regs, fd, defer) = match d.ring.as_ref() {
        Some(r) => (r.in_flight, r.tail.wrapping_sub(r.submitted), r.registered_count(), r.fd, r.defer),
        None => (0, 0, 0, -1, false),
    };
    set(env, o, "deferTaskrun", boolean(env, defer)?)?;
    set(env, o, "inFlight", number(env, inflight as f64)?)?;
    set(env, o, "queued", number(env, queued as f64)?)?;
    set(env, o, "registeredBuffers", number(env, regs as f64)?)?;
    set(env, o, "ringFd", number(env, fd as f64)?)?;
    set(env, o, "sqEntries", number(env, SQ_ENTRIES as f64)?)?;
    set(env, o, "cqEntries", number(env, CQ_ENTRIES as f64)?)?;
    Ok(o)
}

/// (buffer, align) → address of buffer[0] modulo align (for carving aligned views for O_DIRECT).
fn js_addr_mod(env: napi_env, info: napi_callback_info) -> Result<napi_value> {
    let [buf, align] = args::<2>(env, info)?;
    let (p, _) = get_bytes(env, buf, "buffer")?;
    let align = get_u64(env, align, "align")?;
    if align == 0 || !align.is_power_of_two() { return arg_error(format!("align must be a power of two, got {align}")); }
    number(env, (p as u64 % align) as f64)
}

js_fn!(addr_mod_cb, js_addr_mod);
js_fn!(read_cb, js_read);
js_fn!(write_cb, js_write);
js_fn!(read_fixed_cb, js_read_fixed);
js_fn!(write_fixed_cb, js_write_fixed);
js_fn!(register_buffer_cb, js_register_buffer);
js_fn!(unregister_buffer_cb, js_unregister_buffer);
js_fn!(fsync_cb, js_fsync);
js_fn!(open_cb, js_open);
js_fn!(close_cb, js_close);
js_fn!(nop_cb, js_nop);
js_fn!(submit_cb, js_submit);
js_fn!(stats_cb, js_stats);

pub fn register(env: napi_env, exports: napi_value) {
    export(env, exports, "addressModulo", addr_mod_cb);
    export(env, exports, "uringRead", read_cb);
    export(env, exports, "uringWrite", write_cb);
    export(env, exports, "uringReadFixed", read_fixed_cb);
    export(env, exports, "uringWriteFixed", write_fixed_cb);
    export(env, exports, "uringRegisterBuffer", register_buffer_cb);
    export(env, exports, "uringUnregisterBuffer", unregister_buffer_cb);
    export(env, exports, "uringFsync", fsync_cb);
    export(env, exports, "uringOpen", open_cb);
    export(env, exports, "uringClose", close_cb);
    export(env, exports, "uringNop", nop_cb);
    export(env, exports, "uringSubmit", submit_cb);
    export(env, exports, "uringStats", stats_cb);
}
