//! Where data lives: one `object_store` and a prefix in it. Local folders, memory (tests) and,
//! with the S3 backend, buckets all go through the same code.

use std::fmt;
use std::sync::Arc;

use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};

/// A store and the prefix in it that a command works under.
#[derive(Clone)]
pub struct Location {
    pub store: Arc<dyn ObjectStore>,
    pub prefix: Path,
    /// What the user wrote, for messages.
    pub display: String,
}

impl fmt::Debug for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Location({})", self.display)
    }
}

/// Why a location could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum LocationError {
    #[error(
        "{0}: URL schemes other than local paths are not supported by this build (try a local folder)"
    )]
    UnsupportedScheme(String),
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
        })
    }

    /// An empty in-memory store, for tests.
    pub fn memory() -> Location {
        Location {
            store: Arc::new(InMemory::new()),
            prefix: Path::default(),
            display: "memory://".to_string(),
        }
    }

    /// Open what the user named: a local folder path, or a URL of a supported scheme.
    pub fn parse(text: &str, create: bool) -> Result<Location, LocationError> {
        match text.split_once("://") {
            Some((scheme, _)) if scheme != "file" => {
                Err(LocationError::UnsupportedScheme(text.to_string()))
            }
            Some((_, path)) => Location::local(path, create),
            None => Location::local(text, create),
        }
    }

    /// The same store with a prefix below this one.
    pub fn join(&self, relative: &str) -> Location {
        let mut prefix = self.prefix.clone();
        for part in relative.split('/').filter(|p| !p.is_empty()) {
            prefix = prefix.join(part);
        }
        Location {
            store: self.store.clone(),
            prefix,
            display: format!("{}/{}", self.display.trim_end_matches('/'), relative),
        }
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

    /// Put bytes at a key (tests and small files).
    pub async fn put(&self, key: &Path, bytes: Vec<u8>) -> Result<(), object_store::Error> {
        self.store.put(key, bytes.into()).await.map(|_| ())
    }
}
