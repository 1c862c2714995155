//! Figure 7: bytes held per cached key at 10,000 keys (40-byte token,
//! 25-byte audience), counted by a global allocator that tracks live bytes;
//! this crate beside a hand-rolled `std::sync::RwLock<HashMap>` holding the
//! same keys and tokens.
//!
//! `cargo bench --bench memory`

mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use reqwest_oauth::{OAuthMiddleware, TokenRequest};
use std::sync::Arc;
use support::CountingSource;
use support::peers::StdMapKeyed;

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: defers to the system allocator; only counts bytes.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same layout contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: `ptr` came from `alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const KEYS: usize = 10_000;
const TOKEN_LEN: usize = 40;

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let audiences: Vec<String> = (0..KEYS)
        .map(|i| format!("https://api-{i:05}.example"))
        .collect();
    let audience_len = audiences[0].len();
    let oauth = OAuthMiddleware::new(CountingSource {
        token_len: TOKEN_LEN,
        ..CountingSource::default()
    });
    let before = LIVE.load(Ordering::Relaxed);
    rt.block_on(async {
        for audience in &audiences {
            oauth
                .token(&TokenRequest::new().with_audience(audience.as_str()))
                .await
                .expect("token");
        }
    });
    let held = (LIVE.load(Ordering::Relaxed) - before) as f64 / KEYS as f64;
    println!(
        "7. memory: {held:.0} bytes held per cached key at {KEYS} keys = token ({TOKEN_LEN}) + \
         {:.0} (target <= 232); of those, the audience string is {audience_len}",
        held - TOKEN_LEN as f64
    );
    drop(oauth);

    let keys: Vec<Arc<str>> = audiences.iter().map(|a| Arc::from(a.as_str())).collect();
    let map = StdMapKeyed::with_token_len(TOKEN_LEN);
    let before = LIVE.load(Ordering::Relaxed);
    for key in &keys {
        map.fill(key);
    }
    // The map shares each key's `Arc<str>` with `keys`; count that
    // allocation (16 bytes of counts + the string) as the map's, since a
    // cache owns its keys.
    let key_bytes = (16 + audience_len) as f64;
    let held = (LIVE.load(Ordering::Relaxed) - before) as f64 / KEYS as f64 + key_bytes;
    println!(
        "   hand-rolled std RwLock<HashMap<Arc<str>, (HeaderValue, Instant)>>: {held:.0} bytes per key \
         = token ({TOKEN_LEN}) + {:.0}",
        held - TOKEN_LEN as f64
    );
}
