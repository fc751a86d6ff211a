//! Memory advice for the buffer pool.
//!
//! `adviseHugePages(view)`: asks the kernel to back the view's memory with transparent huge pages
//! (madvise MADV_HUGEPAGE on the 2 MiB-aligned part of it) and returns how many bytes were advised
//! (0 when the view holds no whole aligned 2 MiB). Pool slots are pinned page by page by every
//! cross-process copy (process_vm_readv), O_DIRECT transfer and FUSE request that touches them;
//! with 2 MiB pages the kernel pins one page where it pinned 512, and the TLB covers a chunk with
//! one entry. Advice only: memory already touched stays as it is until khugepaged collapses it; a
//! kernel with THP set to `never` accepts the advice and keeps 4 KiB pages; one built without THP
//! fails it with EINVAL (thrown; the buffer pool ignores it).

use crate::napi::*;
use crate::js_fn;
use std::ffi::{c_int, c_void};

extern "C" {
    fn madvise(addr: *mut c_void, len: usize, advice: c_int) -> c_int;
}

const MADV_HUGEPAGE: c_int = 14;
const HUGE_PAGE_BYTES: usize = 2 * 1024 * 1024;

fn advise_huge_pages(env: napi_env, info: napi_callback_info) -> Result<napi_value> {
    let [v] = args::<1>(env, info)?;
    let (data, len) = get_bytes(env, v, "view")?;
    let start = (data as usize + HUGE_PAGE_BYTES - 1) & !(HUGE_PAGE_BYTES - 1);
    let end = (data as usize + len) & !(HUGE_PAGE_BYTES - 1);
    if end <= start { return number(env, 0.0); }
    if unsafe { madvise(start as *mut c_void, end - start, MADV_HUGEPAGE) } != 0 {
        return Err(errno_error("madvise"));
    }
    number(env, (end - start) as f64)
}
js_fn!(js_advise_huge_pages, advise_huge_pages);

pub fn register(env: napi_env, exports: napi_value) {
    export(env, exports, "adviseHugePages", js_advise_huge_pages);
}
