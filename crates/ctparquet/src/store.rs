//! Where data lives: one `object_store` and a prefix in it. Local folders, memory (tests) and,
//! with the S3 backend, buckets all go through the same code.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

#[cfg(feature = "s3")]
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
#[cfg(feature = "s3")]
use object_store::{BackoffConfig, ClientOptions, RetryConfig};
use object_store::{ObjectStore, ObjectStoreExt};

/// A store and the prefix in it that a command works under.
#[derive(Clone)]
pub struct Location {
    pub store: Arc<dyn ObjectStore>,
    pub prefix: Path,
    /// What the user wrote, for messages.
    pub display: String,
    /// The folder `prefix` is relative to, for a local location: what object_store does not
    /// show (staging files of killed puts, FIFOs, dangling links) is looked at there.
    local_root: Option<std::path::PathBuf>,
}

impl fmt::Debug for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Location({})", self.display)
    }
}

/// How S3 locations are reached. Credentials and region come from the standard AWS chain
/// ([`crate::aws`]: environment, the profile's config and credentials files, SSO,
/// `credential_process`, web identity, container and instance credentials) unless given here;
/// the endpoint from `AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL` (and `AWS_ALLOW_HTTP`).
#[derive(Debug, Clone, PartialEq)]
pub struct S3Options {
    /// The named profile of the shared AWS config files (default: `AWS_PROFILE`, else `default`).
    pub profile: Option<String>,
    /// An S3-compatible endpoint, e.g. `http://127.0.0.1:9000`.
    pub endpoint: Option<String>,
    pub region: Option<String>,
    /// Allow `http://` endpoints.
    pub allow_http: bool,
    /// Retries of a failed request (500, 503 SlowDown, connection reset, timeout), with
    /// exponential backoff and jitter.
    pub max_retries: usize,
    /// No retry starts later than this after the first attempt.
    pub retry_timeout: Duration,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// Per request.
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
    /// Writes: encrypt with this KMS key (SSE-KMS).
    pub sse_kms_key_id: Option<String>,
    /// Writes: grant the bucket owner full control (for cross-account destinations).
    pub bucket_owner_full_control: bool,
    /// Every request: fail unless the bucket belongs to this account.
    pub expected_bucket_owner: Option<String>,
}

impl Default for S3Options {
    fn default() -> Self {
        S3Options {
            profile: None,
            endpoint: None,
            region: None,
            allow_http: false,
            max_retries: 10,
            retry_timeout: Duration::from_secs(180),
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(15),
            request_timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(5),
            sse_kms_key_id: None,
            bucket_owner_full_control: false,
            expected_bucket_owner: None,
        }
    }
}

/// Why a location could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum LocationError {
    #[error("{0}: only local paths and s3:// URLs are supported")]
    UnsupportedScheme(String),
    #[error("{0}: this build of ctparquet has no S3 support (its `s3` feature)")]
    NoS3(String),
    #[error("{0}: an S3 URL needs a bucket (s3://BUCKET/PREFIX)")]
    NoBucket(String),
    #[error("{0}: invalid S3 option: {1}")]
    S3Option(String, String),
    #[error("{0}: {1}")]
    Credentials(String, String),
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Store {
        path: String,
        #[source]
        source: object_store::Error,
    },
}

impl Location {
    /// A local folder. With `create`, the folder is made if missing (for destinations).
    pub fn local(path: &str, create: bool) -> Result<Location, LocationError> {
        let io = |source| LocationError::Io {
            path: path.to_string(),
            source,
        };
        if create {
            std::fs::create_dir_all(path).map_err(io)?;
        }
        let canonical = std::fs::canonicalize(path).map_err(io)?;
        if !canonical.is_dir() {
            return Err(io(std::io::Error::new(
                std::io::ErrorKind::NotADirectory,
                "not a folder",
            )));
        }
        let store = LocalFileSystem::new_with_prefix(&canonical).map_err(|source| {
            LocationError::Store {
                path: path.to_string(),
                source,
            }
        })?;
        Ok(Location {
            store: Arc::new(store.with_automatic_cleanup(true)),
            prefix: Path::default(),
            display: path.to_string(),
            local_root: Some(canonical),
        })
    }

    /// A location in any store (tests wrap stores to count or fail requests).
    pub fn in_store(store: Arc<dyn ObjectStore>, prefix: Path, display: &str) -> Location {
        Location {
            store,
            prefix,
            display: display.to_string(),
            local_root: None,
        }
    }

    /// The same prefix (and local folder) through another store: `store` wraps this one's.
    pub fn with_store(&self, store: Arc<dyn ObjectStore>) -> Location {
        Location {
            store,
            ..self.clone()
        }
    }

    /// An empty in-memory store, for tests.
    pub fn memory() -> Location {
        Location {
            store: Arc::new(InMemory::new()),
            prefix: Path::default(),
            display: "memory://".to_string(),
            local_root: None,
        }
    }

    /// Open what the user named: a local folder path (made when `create`), `file://PATH` or
    /// `s3://BUCKET/PREFIX`. An S3 location resolves its credentials now, so that a missing
    /// login is one clear error before any work.
    pub async fn parse(
        text: &str,
        create: bool,
        s3: &S3Options,
    ) -> Result<Location, LocationError> {
        match text.split_once("://") {
            #[cfg(feature = "s3")]
            Some(("s3", rest)) => Location::s3(text, rest, s3).await,
            #[cfg(not(feature = "s3"))]
            Some(("s3", _)) => {
                let _ = s3;
                Err(LocationError::NoS3(text.to_string()))
            }
            Some(("file", path)) => Location::local(path, create),
            Some(_) => Err(LocationError::UnsupportedScheme(text.to_string())),
            None => Location::local(text, create),
        }
    }

    #[cfg(feature = "s3")]
    async fn s3(text: &str, rest: &str, opts: &S3Options) -> Result<Location, LocationError> {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(LocationError::NoBucket(text.to_string()));
        }
        let bad = |e: String| LocationError::S3Option(text.to_string(), e);
        let mut headers = http::HeaderMap::new();
        if opts.bucket_owner_full_control {
            headers.insert(
                "x-amz-acl",
                http::HeaderValue::from_static("bucket-owner-full-control"),
            );
        }
        if let Some(owner) = &opts.expected_bucket_owner {
            let value = http::HeaderValue::from_str(owner).map_err(|e| bad(e.to_string()))?;
            headers.insert("x-amz-expected-bucket-owner", value);
        }
        // These client options replace the ones `from_env` read, so keep its AWS_ALLOW_HTTP.
        let allow_http = opts.allow_http
            || std::env::var("AWS_ALLOW_HTTP").is_ok_and(|v| v.eq_ignore_ascii_case("true"));
        let client = ClientOptions::new()
            .with_timeout(opts.request_timeout)
            .with_connect_timeout(opts.connect_timeout)
            .with_allow_http(allow_http)
            .with_default_headers(headers);
        let mut builder = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .with_client_options(client)
            .with_retry(RetryConfig {
                backoff: BackoffConfig {
                    init_backoff: opts.initial_backoff,
                    max_backoff: opts.max_backoff,
                    base: 2.0,
                },
                max_retries: opts.max_retries,
                retry_timeout: opts.retry_timeout,
            });
        if allow_http {
            builder = builder.with_allow_http(true);
        }
        if let Some(endpoint) = &opts.endpoint {
            builder = builder.with_endpoint(endpoint);
        }
        let sdk = crate::aws::sdk_config(opts.profile.as_deref()).await;
        let credentials = crate::aws::SdkCredentials::from_config(&sdk, opts.profile.as_deref())
            .ok_or_else(|| {
                LocationError::Credentials(text.to_string(), "no AWS credential chain".into())
            })?;
        credentials
            .check()
            .await
            .map_err(|e| LocationError::Credentials(text.to_string(), e))?;
        builder = builder.with_credentials(Arc::new(credentials));
        let region = opts
            .region
            .clone()
            .or_else(|| sdk.region().map(|r| r.to_string()));
        if let Some(region) = region {
            builder = builder.with_region(region);
        }
        if let Some(key) = &opts.sse_kms_key_id {
            builder = builder.with_sse_kms_encryption(key);
        }
        let store = builder.build().map_err(|e| bad(e.to_string()))?;
        Ok(Location {
            store: Arc::new(store),
            prefix: Path::from(prefix.trim_matches('/')),
            display: text.trim_end_matches('/').to_string(),
            local_root: None,
        })
    }

    /// The key of `relative` (`a/b/c`) below this location's prefix.
    pub fn key(&self, relative: &str) -> Path {
        relative
            .split('/')
            .filter(|p| !p.is_empty())
            .fold(self.prefix.clone(), |key, part| key.join(part))
    }

    /// The same store with a prefix below this one.
    pub fn join(&self, relative: &str) -> Location {
        Location {
            store: self.store.clone(),
            prefix: self.key(relative),
            display: format!("{}/{}", self.display.trim_end_matches('/'), relative),
            local_root: self.local_root.clone(),
        }
    }

    /// Whether this is a local folder (its files can be read without the store).
    pub fn is_local(&self) -> bool {
        self.local_root.is_some()
    }

    /// The local file or folder of a key, for a local location.
    pub fn local_path(&self, key: &Path) -> Option<std::path::PathBuf> {
        let mut path = self.local_root.clone()?;
        for part in key.parts() {
            path.push(part.as_ref());
        }
        Some(path)
    }

    /// A key relative to this location's prefix, for messages and partition parsing.
    pub fn relative<'a>(&self, key: &'a Path) -> &'a str {
        let key = key.as_ref();
        let prefix = self.prefix.as_ref();
        if prefix.is_empty() {
            key
        } else {
            key.strip_prefix(prefix)
                .map_or(key, |r| r.trim_start_matches('/'))
        }
    }

    /// The user-facing name of a key.
    pub fn describe(&self, key: &Path) -> String {
        format!(
            "{}/{}",
            self.display.trim_end_matches('/'),
            self.relative(key)
        )
    }

    /// The whole object at `key`; the error names it.
    pub async fn read_all(&self, key: &Path) -> Result<bytes::Bytes, String> {
        let failed = |e: object_store::Error| format!("{}: {e}", self.describe(key));
        self.store
            .get(key)
            .await
            .map_err(failed)?
            .bytes()
            .await
            .map_err(failed)
    }

    /// Put bytes at a key (tests and small files).
    pub async fn put(&self, key: &Path, bytes: Vec<u8>) -> Result<(), object_store::Error> {
        self.store.put(key, bytes.into()).await.map(|_| ())
    }
}
