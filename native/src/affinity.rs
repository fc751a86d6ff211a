//! NUMA topology (from sysfs) and pinning of the *calling* OS thread (sched_setaffinity(0) on
//! Linux applies to the calling thread only, so a worker_thread pins itself and nothing else).

use crate::napi::*;
use crate::{js_fn, sys};

const MASK_BYTES: usize = 128; // 1024 CPUs

pub fn parse_cpulist(s: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for part in s.trim().split(',').filter(|p| !p.is_empty()) {
        let mut it = part.splitn(2, '-');
        let a = it.next().and_then(|x| x.trim().parse::<u32>().ok());
        let b = it.next().and_then(|x| x.trim().parse::<u32>().ok());
        match (a, b) {
            (Some(a), Some(b)) if b >= a => out.extend(a..=b),
            (Some(a), None) => out.push(a),
            _ => {}
        }
    }
    out
}

/// (node id, cpus) for every NUMA node; one node with all online CPUs when sysfs has none.
pub fn topology() -> Vec<(u32, Vec<u32>)> {
    let mut nodes = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/sys/devices/system/node") {
        for e in dir.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if let Some(id) = name.strip_prefix("node").and_then(|n| n.parse::<u32>().ok()) {
                let cpus = std::fs::read_to_string(e.path().join("cpulist")).map(|s| parse_cpulist(&s)).unwrap_or_default();
                nodes.push((id, cpus));
            }
        }
    }
    nodes.sort_by_key(|n| n.0);
    if nodes.is_empty() {
        let cpus = std::fs::read_to_string("/sys/devices/system/cpu/online").map(|s| parse_cpulist(&s)).unwrap_or_default();
        nodes.push((0, cpus));
    }
    nodes
}

fn js_topology(env: napi_env, _info: napi_callback_info) -> Result<napi_value> {
    let mut items = Vec::new();
    for (id, cpus) in topology() {
        let o = object(env)?;
        set(env, o, "node", number(env, id as f64)?)?;
        let list: Result<Vec<_>> = cpus.iter().map(|c| number(env, *c as f64)).collect();
        set(env, o, "cpus", array(env, &list?)?)?;
        items.push(o);
    }
    array(env, &items)
}

fn js_pin(env: napi_env, info: napi_callback_info) -> Result<napi_value> {
    let [list] = args::<1>(env, info)?;
    let mut is = false;
    check!(napi_is_array(env, list, &mut is));
    if !is { return arg_error("cpus must be an array of CPU numbers"); }
    let mut n = 0u32;
    check!(napi_get_array_length(env, list, &mut n));
    if n == 0 { return arg_error("cpus must name at least one CPU"); }
    let mut mask = [0u8; MASK_BYTES];
    for i in 0..n {
        let mut v = std::ptr::null_mut();
        check!(napi_get_element(env, list, i, &mut v));
        let cpu = get_u64(env, v, "cpu")?;
        if cpu as usize >= MASK_BYTES * 8 { return arg_error(format!("cpu {cpu} is out of range 0..{}", MASK_BYTES * 8 - 1)); }
        mask[cpu as usize / 8] |= 1 << (cpu % 8);
    }
    if unsafe { sys::sched_setaffinity(0, MASK_BYTES, mask.as_ptr()) } != 0 { return Err(errno_error("sched_setaffinity")); }
    Ok(undefined(env))
}

fn js_get(env: napi_env, _info: napi_callback_info) -> Result<napi_value> {
    let mut mask = [0u8; MASK_BYTES];
    if unsafe { sys::sched_getaffinity(0, MASK_BYTES, mask.as_mut_ptr()) } < 0 { return Err(errno_error("sched_getaffinity")); }
    let mut cpus = Vec::new();
    for cpu in 0..MASK_BYTES * 8 {
        if mask[cpu / 8] & (1 << (cpu % 8)) != 0 { cpus.push(number(env, cpu as f64)?); }
    }
    array(env, &cpus)
}

fn js_tid(env: napi_env, _info: napi_callback_info) -> Result<napi_value> {
    number(env, unsafe { sys::syscall(sys::SYS_GETTID) } as f64)
}

fn js_cpu(env: napi_env, _info: napi_callback_info) -> Result<napi_value> {
    number(env, unsafe { sys::sched_getcpu() } as f64)
}

js_fn!(topology_cb, js_topology);
js_fn!(pin_cb, js_pin);
js_fn!(get_cb, js_get);
js_fn!(tid_cb, js_tid);
js_fn!(cpu_cb, js_cpu);

pub fn register(env: napi_env, exports: napi_value) {
    export(env, exports, "numaTopology", topology_cb);
    export(env, exports, "pinThread", pin_cb);
    export(env, exports, "threadAffinity", get_cb);
    export(env, exports, "threadId", tid_cb);
    export(env, exports, "currentCpu", cpu_cb);
}
