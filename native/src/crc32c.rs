//! CRC32C (Castagnoli): SSE4.2 `crc32` instruction over three interleaved streams, slicing-by-8
//! software fallback, and `combine` (CRC of A‖B from CRC(A), CRC(B), len(B)).
//! All public functions take and return the *finished* CRC (init ~0, final xor ~0), so
//! `update(update(0, A), B) == crc(A‖B)`.

use crate::napi::*;
use crate::{js_fn};
use std::sync::OnceLock;

const POLY: u32 = 0x82F6_3B78; // reflected 0x1EDC6F41

fn tables() -> &'static [[u32; 256]; 8] {
    static T: OnceLock<Box<[[u32; 256]; 8]>> = OnceLock::new();
    T.get_or_init(|| {
        let mut t = Box::new([[0u32; 256]; 8]);
        for i in 0..256u32 {
            let mut c = i;
            for _ in 0..8 { c = if c & 1 != 0 { (c >> 1) ^ POLY } else { c >> 1 }; }
            t[0][i as usize] = c;
        }
        for i in 0..256 {
            for k in 1..8 { t[k][i] = (t[k - 1][i] >> 8) ^ t[0][(t[k - 1][i] & 0xff) as usize]; }
        }
        t
    })
}

/// Register-level software update (no inversion).
fn sw_raw(mut c: u32, data: &[u8]) -> u32 {
    let t = tables();
    let mut chunks = data.chunks_exact(8);
    for ch in &mut chunks {
        let lo = u32::from_le_bytes([ch[0], ch[1], ch[2], ch[3]]) ^ c;
        let hi = u32::from_le_bytes([ch[4], ch[5], ch[6], ch[7]]);
        c = t[7][(lo & 0xff) as usize] ^ t[6][((lo >> 8) & 0xff) as usize] ^ t[5][((lo >> 16) & 0xff) as usize]
            ^ t[4][(lo >> 24) as usize] ^ t[3][(hi & 0xff) as usize] ^ t[2][((hi >> 8) & 0xff) as usize]
            ^ t[1][((hi >> 16) & 0xff) as usize] ^ t[0][(hi >> 24) as usize];
    }
    for &b in chunks.remainder() { c = (c >> 8) ^ t[0][((c ^ b as u32) & 0xff) as usize]; }
    c
}

/// a(x)·b(x) mod P, reflected (zlib's multmodp).
fn multmodp(a: u32, mut b: u32) -> u32 {
    let mut m = 1u32 << 31;
    let mut p = 0u32;
    loop {
        if a & m != 0 {
            p ^= b;
            if a & (m - 1) == 0 { break; }
        }
        m >>= 1;
        b = if b & 1 != 0 { (b >> 1) ^ POLY } else { b >> 1 };
    }
    p
}

fn x2n_table() -> &'static [u32; 32] {
    static T: OnceLock<[u32; 32]> = OnceLock::new();
    T.get_or_init(|| {
        let mut t = [0u32; 32];
        let mut p = 1u32 << 30; // x^1
        t[0] = p;
        for n in 1..32 { p = multmodp(p, p); t[n] = p; }
        t
    })
}

/// x^(n·2^k) mod P.
fn x2nmodp(mut n: u64, mut k: u32) -> u32 {
    let t = x2n_table();
    let mut p = 1u32 << 31; // x^0
    while n != 0 {
        if n & 1 != 0 { p = multmodp(t[(k & 31) as usize], p); }
        n >>= 1;
        k += 1;
    }
    p
}

/// CRC of A‖B given crc(A), crc(B) and len(B).
pub fn combine(crc_a: u32, crc_b: u32, len_b: u64) -> u32 {
    multmodp(x2nmodp(len_b, 3), crc_a) ^ crc_b
}

pub fn software(crc: u32, data: &[u8]) -> u32 { !sw_raw(!crc, data) }

pub fn hardware_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    { std::is_x86_feature_detected!("sse4.2") }
    #[cfg(not(target_arch = "x86_64"))]
    { false }
}

/// Bytes per stream in the interleaved loop; the three results are merged with one shift each.
#[cfg(target_arch = "x86_64")]
const STREAM_BYTES: usize = 8192;
/// Stream bytes of the shorter interleaved rounds (runs under 3 × STREAM_BYTES).
#[cfg(target_arch = "x86_64")]
const SHORT_STREAM_BYTES: usize = 1024;
#[cfg(target_arch = "x86_64")]
const TINY_STREAM_BYTES: usize = 256;

/// Multiplication of a CRC register by x^(8·n) mod P (n zero bytes appended), as four table
/// lookups: the operation is linear, so it is the XOR of its value on each byte of the register.
struct ZeroShift { t: [[u32; 256]; 4] }

impl ZeroShift {
    fn new(bytes: u64) -> ZeroShift {
        let xn = x2nmodp(bytes, 3);
        let mut t = [[0u32; 256]; 4];
        for (k, row) in t.iter_mut().enumerate() {
            for (b, cell) in row.iter_mut().enumerate() { *cell = multmodp(xn, (b as u32) << (8 * k)); }
        }
        ZeroShift { t }
    }

    #[inline]
    fn apply(&self, c: u32) -> u32 {
        self.t[0][(c & 0xff) as usize] ^ self.t[1][((c >> 8) & 0xff) as usize] ^ self.t[2][((c >> 16) & 0xff) as usize] ^ self.t[3][(c >> 24) as usize]
    }
}

#[cfg(target_arch = "x86_64")]
fn short_shift() -> &'static ZeroShift {
    static T: OnceLock<Box<ZeroShift>> = OnceLock::new();
    T.get_or_init(|| Box::new(ZeroShift::new(SHORT_STREAM_BYTES as u64)))
}

#[cfg(target_arch = "x86_64")]
fn tiny_shift() -> &'static ZeroShift {
    static T: OnceLock<Box<ZeroShift>> = OnceLock::new();
    T.get_or_init(|| Box::new(ZeroShift::new(TINY_STREAM_BYTES as u64)))
}

/// The raw registers of three consecutive `stream`-byte runs at `p` (8-byte aligned), side by side:
/// the first continues `c`, the others start from 0 (the caller joins them with zero shifts).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse4.2")]
#[inline]
unsafe fn three_streams(c: u32, p: *const u8, stream: usize) -> (u32, u32, u32) {
    use std::arch::x86_64::_mm_crc32_u64;
    let (mut c0, mut c1, mut c2) = (c as u64, 0u64, 0u64);
    let p0 = p as *const u64;
    let p1 = p.add(stream) as *const u64;
    let p2 = p.add(2 * stream) as *const u64;
    let mut i = 0;
    while i < stream / 8 {
        c0 = _mm_crc32_u64(c0, p0.add(i).read());
        c1 = _mm_crc32_u64(c1, p1.add(i).read());
        c2 = _mm_crc32_u64(c2, p2.add(i).read());
        i += 1;
    }
    (c0 as u32, c1 as u32, c2 as u32)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse4.2")]
unsafe fn hw_raw(mut c: u32, data: &[u8]) -> u32 {
    use std::arch::x86_64::{_mm_crc32_u64, _mm_crc32_u8};
    static SHIFT: OnceLock<u32> = OnceLock::new();
    let shift = *SHIFT.get_or_init(|| x2nmodp(STREAM_BYTES as u64, 3));
    let mut p = data.as_ptr();
    let mut len = data.len();
    // Align to 8 bytes so the 64-bit loads below are aligned.
    while len > 0 && (p as usize) & 7 != 0 {
        c = _mm_crc32_u8(c, *p);
        p = p.add(1);
        len -= 1;
    }
    while len >= 3 * STREAM_BYTES {
        let (c0, c1, c2) = three_streams(c, p, STREAM_BYTES);
        // reg(A‖B‖C) = shift(shift(rA) ^ rB) ^ rC, each shift over STREAM_BYTES zero bytes.
        c = multmodp(shift, multmodp(shift, c0) ^ c1) ^ c2;
        p = p.add(3 * STREAM_BYTES);
        len -= 3 * STREAM_BYTES;
    }
    // Shorter runs (a 4 KiB segment) still go three streams at a time, in rounds of 3 × 1 KiB then
    // 3 × 256 bytes, each round's streams joined by two table shifts: a 4 KiB run costs about a
    // third of what one long dependent chain of `crc32` does.
    for (stream, shift) in [(SHORT_STREAM_BYTES, short_shift()), (TINY_STREAM_BYTES, tiny_shift())] {
        while len >= 3 * stream {
            let (c0, c1, c2) = three_streams(c, p, stream);
            c = shift.apply(shift.apply(c0) ^ c1) ^ c2;
            p = p.add(3 * stream);
            len -= 3 * stream;
        }
    }
    let mut c64 = c as u64;
    while len >= 8 {
        c64 = _mm_crc32_u64(c64, (p as *const u64).read());
        p = p.add(8);
        len -= 8;
    }
    c = c64 as u32;
    while len > 0 {
        c = _mm_crc32_u8(c, *p);
        p = p.add(1);
        len -= 1;
    }
    c
}

pub fn crc32c(crc: u32, data: &[u8]) -> u32 {
    #[cfg(target_arch = "x86_64")]
    {
        static HW: OnceLock<bool> = OnceLock::new();
        if *HW.get_or_init(hardware_available) { return !unsafe { hw_raw(!crc, data) }; }
    }
    software(crc, data)
}

/// CRC32C of each `segment`-byte piece of `data` (the last may be shorter) into `out`, and the CRC of
/// the whole `data` (their combination). On x86_64 three segments run interleaved (the `crc32`
/// instruction has a latency of three cycles and a throughput of one), so a chunk's 4 KiB segments
/// cost what one long run costs, in one call instead of one per segment.
pub fn segments(data: &[u8], segment: usize, out: &mut [u32]) -> u32 {
    let count = if data.is_empty() { 0 } else { (data.len() + segment - 1) / segment };
    debug_assert!(out.len() >= count);
    let mut i = 0;
    #[cfg(target_arch = "x86_64")]
    {
        static HW: OnceLock<bool> = OnceLock::new();
        if *HW.get_or_init(hardware_available) && segment % 8 == 0 {
            while i + 3 <= count && (i + 3) * segment <= data.len() {
                let (a, b, c) = unsafe { hw_three(&data[i * segment..(i + 3) * segment], segment) };
                out[i] = a;
                out[i + 1] = b;
                out[i + 2] = c;
                i += 3;
            }
        }
    }
    while i < count {
        let end = ((i + 1) * segment).min(data.len());
        out[i] = crc32c(0, &data[i * segment..end]);
        i += 1;
    }
    let mut whole = 0u32;
    let full = x2nmodp(segment as u64, 3);
    for s in 0..count {
        let len = ((s + 1) * segment).min(data.len()) - s * segment;
        whole = if s == 0 { out[0] } else if len == segment { multmodp(full, whole) ^ out[s] } else { combine(whole, out[s], len as u64) };
    }
    whole
}

/// The finished CRCs of three consecutive `segment`-byte runs of `data`, computed side by side.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse4.2")]
unsafe fn hw_three(data: &[u8], segment: usize) -> (u32, u32, u32) {
    use std::arch::x86_64::_mm_crc32_u64;
    let p0 = data.as_ptr();
    let p1 = p0.add(segment);
    let p2 = p1.add(segment);
    let (mut c0, mut c1, mut c2) = (!0u32 as u64, !0u32 as u64, !0u32 as u64);
    let mut at = 0;
    while at < segment {
        c0 = _mm_crc32_u64(c0, (p0.add(at) as *const u64).read_unaligned());
        c1 = _mm_crc32_u64(c1, (p1.add(at) as *const u64).read_unaligned());
        c2 = _mm_crc32_u64(c2, (p2.add(at) as *const u64).read_unaligned());
        at += 8;
    }
    (!(c0 as u32), !(c1 as u32), !(c2 as u32))
}

// ---- JS bindings --------------------------------------------------------------------------

fn crc_args(env: napi_env, info: napi_callback_info) -> Result<(u32, &'static [u8])> {
    let [buf, init] = args::<2>(env, info)?;
    let (p, len) = get_bytes(env, buf, "data")?;
    let crc = if type_of(env, init) == NAPI_UNDEFINED { 0 } else { get_u64(env, init, "initial crc")? };
    if crc > u32::MAX as u64 { return arg_error(format!("initial crc must be a uint32, got {crc}")); }
    let crc = crc as u32;
    let data = if len == 0 { &[][..] } else { unsafe { std::slice::from_raw_parts(p, len) } };
    Ok((crc, data))
}

fn js_crc(env: napi_env, info: napi_callback_info) -> Result<napi_value> {
    let (crc, data) = crc_args(env, info)?;
    number(env, crc32c(crc, data) as f64)
}

fn js_crc_sw(env: napi_env, info: napi_callback_info) -> Result<napi_value> {
    let (crc, data) = crc_args(env, info)?;
    number(env, software(crc, data) as f64)
}

fn js_combine(env: napi_env, info: napi_callback_info) -> Result<napi_value> {
    let [a, b, len] = args::<3>(env, info)?;
    let a = get_u64(env, a, "crcA")?;
    let b = get_u64(env, b, "crcB")?;
    if a > u32::MAX as u64 || b > u32::MAX as u64 { return arg_error("crcA and crcB must be uint32"); }
    let len = get_u64(env, len, "lengthB")?;
    number(env, combine(a as u32, b as u32, len) as f64)
}

fn js_segments(env: napi_env, info: napi_callback_info) -> Result<napi_value> {
    let [buf, seg, out, at] = args::<4>(env, info)?;
    let (p, len) = get_bytes(env, buf, "data")?;
    let segment = get_u64(env, seg, "segmentBytes")?;
    if segment == 0 || segment > (1 << 30) { return arg_error(format!("segmentBytes must be from 1 to 2^30, got {segment}")); }
    let segment = segment as usize;
    let (op, olen) = get_bytes(env, out, "out")?;
    let at = if type_of(env, at) == NAPI_UNDEFINED { 0 } else { get_u64(env, at, "outIndex")? as usize };
    let count = (len + segment - 1) / segment;
    if (op as usize) % 4 != 0 || at + count > olen / 4 { return arg_error(format!("out must be a Uint32Array with room for {count} CRCs from index {at}")); }
    let data = if len == 0 { &[][..] } else { unsafe { std::slice::from_raw_parts(p, len) } };
    let out = unsafe { std::slice::from_raw_parts_mut((op as *mut u32).add(at), count) };
    number(env, segments(data, segment, out) as f64)
}

fn js_hw(env: napi_env, _info: napi_callback_info) -> Result<napi_value> { boolean(env, hardware_available()) }

js_fn!(crc32c_cb, js_crc);
js_fn!(crc32c_sw_cb, js_crc_sw);
js_fn!(combine_cb, js_combine);
js_fn!(hw_cb, js_hw);
js_fn!(segments_cb, js_segments);

pub fn register(env: napi_env, exports: napi_value) {
    export(env, exports, "crc32c", crc32c_cb);
    export(env, exports, "crc32cSoftware", crc32c_sw_cb);
    export(env, exports, "crc32cCombine", combine_cb);
    export(env, exports, "crc32cHardware", hw_cb);
    export(env, exports, "crc32cSegments", segments_cb);
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn vectors() {
        assert_eq!(crc32c(0, b"123456789"), 0xE306_9283);
        assert_eq!(software(0, b"123456789"), 0xE306_9283);
        let big: Vec<u8> = (0..100_003u32).map(|i| (i * 2654435761u32 >> 13) as u8).collect();
        assert_eq!(crc32c(0, &big), software(0, &big));
        let (a, b) = big.split_at(40_000);
        assert_eq!(combine(crc32c(0, a), crc32c(0, b), b.len() as u64), crc32c(0, &big));
    }
    #[test]
    fn every_length_and_alignment_matches_software() {
        let big: Vec<u8> = (0..20_000u32).map(|i| (i * 2654435761u32 >> 11) as u8).collect();
        for len in (0..3200usize).chain([4095, 4096, 4097, 8191, 8192, 12_288, 16_384, 19_990]) {
            for start in [0usize, 1, 3, 8] {
                let data = &big[start..start + len];
                assert_eq!(crc32c(0, data), software(0, data), "len {len} start {start}");
                assert_eq!(crc32c(0x1234_5678, data), software(0x1234_5678, data), "len {len} start {start}, seeded");
            }
        }
        for bytes in [1u64, 7, 256, 1024, 8192] {
            let shift = ZeroShift::new(bytes);
            for c in [0u32, 1, 0xdead_beef, u32::MAX] { assert_eq!(shift.apply(c), multmodp(x2nmodp(bytes, 3), c)); }
        }
    }
    #[test]
    fn segments_match_one_by_one() {
        let big: Vec<u8> = (0..100_003u32).map(|i| (i * 2654435761u32 >> 13) as u8).collect();
        for segment in [8usize, 512, 4096, 65536] {
            for len in [0usize, 1, segment, 3 * segment, 3 * segment + 5, 7 * segment - 1, big.len()] {
                let data = &big[..len.min(big.len())];
                let mut out = vec![0u32; (data.len() + segment - 1) / segment];
                let whole = segments(data, segment, &mut out);
                assert_eq!(whole, crc32c(0, data));
                for (s, c) in out.iter().enumerate() {
                    assert_eq!(*c, crc32c(0, &data[s * segment..((s + 1) * segment).min(data.len())]));
                }
            }
        }
    }
}
