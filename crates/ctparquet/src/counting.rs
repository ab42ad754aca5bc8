//! A store that counts the requests made through it, as S3 would bill them: what planning and
//! discovery cost is shown by `backfill --plan` and bounded by tests.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::StreamExt;
use futures::stream::BoxStream;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, Result,
};
use serde::Serialize;

use crate::Location;

/// Keys (objects and common prefixes) an S3 LIST request returns at most.
pub const LIST_PAGE: u64 = 1000;

/// Requests made so far, by kind.
#[derive(Debug, Default)]
pub struct Requests {
    list: AtomicU64,
    get: AtomicU64,
    put: AtomicU64,
    other: AtomicU64,
}

/// A snapshot of [`Requests`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RequestCounts {
    /// LIST requests: one per page of [`LIST_PAGE`] keys of every listing.
    pub list: u64,
    pub get: u64,
    /// PUT requests (a multipart upload counts as one).
    pub put: u64,
    /// COPY and DELETE.
    pub other: u64,
}

impl Requests {
    pub fn counts(&self) -> RequestCounts {
        RequestCounts {
            list: self.list.load(Ordering::Relaxed),
            get: self.get.load(Ordering::Relaxed),
            put: self.put.load(Ordering::Relaxed),
            other: self.other.load(Ordering::Relaxed),
        }
    }
}

/// `inner` with every request counted in `requests`.
#[derive(Debug)]
pub struct CountingStore {
    inner: Arc<dyn ObjectStore>,
    requests: Arc<Requests>,
}

impl Location {
    /// This location with the requests made through it counted.
    pub fn counted(&self) -> (Location, Arc<Requests>) {
        let requests = Arc::new(Requests::default());
        let store = CountingStore {
            inner: self.store.clone(),
            requests: requests.clone(),
        };
        (self.with_store(Arc::new(store)), requests)
    }
}

impl fmt::Display for CountingStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Counting({})", self.inner)
    }
}

#[async_trait::async_trait]
impl ObjectStore for CountingStore {
    async fn put_opts(&self, l: &Path, p: PutPayload, o: PutOptions) -> Result<PutResult> {
        self.requests.put.fetch_add(1, Ordering::Relaxed);
        self.inner.put_opts(l, p, o).await
    }
    async fn put_multipart_opts(
        &self,
        l: &Path,
        o: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        self.requests.put.fetch_add(1, Ordering::Relaxed);
        self.inner.put_multipart_opts(l, o).await
    }
    async fn get_opts(&self, l: &Path, o: GetOptions) -> Result<GetResult> {
        self.requests.get.fetch_add(1, Ordering::Relaxed);
        self.inner.get_opts(l, o).await
    }
    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        let requests = self.requests.clone();
        self.inner
            .delete_stream(locations)
            .inspect(move |_| {
                requests.other.fetch_add(1, Ordering::Relaxed);
            })
            .boxed()
    }
    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        // A page is requested for the first key and after every full page.
        let requests = self.requests.clone();
        requests.list.fetch_add(1, Ordering::Relaxed);
        let mut keys = 0u64;
        self.inner
            .list(prefix)
            .inspect(move |_| {
                keys += 1;
                if keys > LIST_PAGE && keys % LIST_PAGE == 1 {
                    requests.list.fetch_add(1, Ordering::Relaxed);
                }
            })
            .boxed()
    }
    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        let listing = self.inner.list_with_delimiter(prefix).await;
        let keys = listing
            .as_ref()
            .map_or(0, |l| (l.objects.len() + l.common_prefixes.len()) as u64);
        let pages = keys.div_ceil(LIST_PAGE).max(1);
        self.requests.list.fetch_add(pages, Ordering::Relaxed);
        listing
    }
    async fn copy_opts(&self, from: &Path, to: &Path, o: CopyOptions) -> Result<()> {
        self.requests.other.fetch_add(1, Ordering::Relaxed);
        self.inner.copy_opts(from, to, o).await
    }
}
