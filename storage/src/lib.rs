//! Image bytes in object storage, through the `object_store` crate: a local
//! folder (the default, or `file:///abs/path`) or an S3-compatible bucket
//! (`s3://bucket/prefix`, endpoint, region and credentials from the standard
//! `AWS_*` variables).
//!
//! Keys are content-addressed (`images/<sha256[..2]>/<sha256>`): identical
//! images are stored once, and bytes an event names are never overwritten
//! (a key is written only when nothing is there, and whatever is there has
//! the same bytes). An upload is spooled to a temporary local file while it
//! is hashed and counted ([`upload`]), checked, then written to its key and
//! flushed before the caller appends the event that names it. [`gc`] removes
//! what no event names.
#![forbid(unsafe_code)]

pub mod gc;
pub mod upload;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{GetOptions, GetResultPayload, ObjectStore, ObjectStoreExt};

pub use object_store::GetRange;
pub use upload::{UploadError, LIMIT_COVER, LIMIT_PAGE};

/// The folder, under the working directory, that holds the images when
/// `COMICS_STORAGE_URL` is not set.
pub const DEFAULT_FOLDER: &str = "comics-storage";

/// How much of a local file one read takes.
const READ_CHUNK: u64 = 256 * 1024;

/// The bytes of `range` of a local file, read [`READ_CHUNK`] at a time on a
/// blocking thread.
fn read_file(
    file: std::fs::File,
    range: std::ops::Range<u64>,
) -> BoxStream<'static, Result<Bytes, StorageError>> {
    futures::stream::try_unfold(
        (file, range.start, range.end),
        |(file, at, end)| async move {
            if at >= end {
                return Ok(None);
            }
            let n = (end - at).min(READ_CHUNK) as usize;
            let read = tokio::task::spawn_blocking(move || -> std::io::Result<_> {
                use std::io::{Read, Seek, SeekFrom};
                let mut file = file;
                file.seek(SeekFrom::Start(at))?;
                let mut chunk = vec![0; n];
                file.read_exact(&mut chunk)?;
                Ok((file, chunk))
            });
            let (file, chunk) = read
                .await
                .map_err(|e| StorageError::Unavailable(e.to_string()))??;
            Ok(Some((Bytes::from(chunk), (file, at + n as u64, end))))
        },
    )
    .boxed()
}

/// Where image keys start.
const IMAGES: &str = "images";

/// Makes a local store's 256 image folders (`images/00` to `images/ff`, by
/// the first two hex digits of the sha256) once, flushed, so that an upload
/// flushes its file and one folder, never folders made for it.
fn make_folders(root: &std::path::Path) -> std::io::Result<()> {
    let images = root.join(IMAGES);
    let mut made = false;
    if !images.is_dir() {
        std::fs::create_dir_all(&images)?;
        std::fs::File::open(root)?.sync_all()?;
    }
    for prefix in 0..=255u8 {
        let dir = images.join(format!("{prefix:02x}"));
        if !dir.is_dir() {
            std::fs::create_dir(&dir)?;
            made = true;
        }
    }
    if made {
        std::fs::File::open(&images)?.sync_all()?;
    }
    Ok(())
}
/// Where a local store spools uploads (beside `images/`, never listed).
const UPLOADS: &str = ".uploads";

/// An object store holding the platform's images.
#[derive(Clone)]
pub struct Storage {
    store: Arc<dyn ObjectStore>,
    /// The folder behind a local store, whose writes are flushed with fsync.
    local_root: Option<PathBuf>,
    describe: String,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe)
    }
}

/// A storage failure: the store is unreachable or answered an error.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("no stored object at {0}")]
    Missing(String),
    #[error("object storage: {0}")]
    Unavailable(String),
}

impl From<object_store::Error> for StorageError {
    fn from(e: object_store::Error) -> Self {
        match e {
            object_store::Error::NotFound { path, .. } => Self::Missing(path),
            e => Self::Unavailable(e.to_string()),
        }
    }
}

impl From<std::io::Error> for StorageError {
    fn from(e: std::io::Error) -> Self {
        Self::Unavailable(e.to_string())
    }
}

/// Stored bytes on their way out: the part asked for and the object's size.
pub struct Fetched {
    pub bytes: BoxStream<'static, Result<Bytes, StorageError>>,
    /// The byte range returned, end exclusive.
    pub range: std::ops::Range<u64>,
    pub size: u64,
}

impl Storage {
    /// The store `url` names (`None`: [`DEFAULT_FOLDER`] under the working
    /// directory). Local folders are created if missing. An S3 store takes
    /// its endpoint, region and credentials from the `AWS_*` variables, then
    /// `options` (`AmazonS3ConfigKey` names and values) over them.
    pub fn from_url(url: Option<&str>, options: &[(String, String)]) -> anyhow::Result<Self> {
        match url.map(str::trim).filter(|u| !u.is_empty()) {
            None => {
                let dir = std::env::current_dir()?.join(DEFAULT_FOLDER);
                Self::local(dir)
            }
            Some(url) if url.starts_with("file://") => {
                let path = PathBuf::from(&url["file://".len()..]);
                anyhow::ensure!(
                    path.is_absolute(),
                    "COMICS_STORAGE_URL {url:?}: a file URL needs an absolute path (file:///abs/path)"
                );
                Self::local(path)
            }
            Some(url) if url.starts_with("s3://") => Self::s3(url, options),
            Some(url) => anyhow::bail!(
                "COMICS_STORAGE_URL {url:?}: expected file:///abs/path or s3://bucket/prefix"
            ),
        }
    }

    fn local(dir: PathBuf) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create the storage folder {}", dir.display()))?;
        let dir = dir.canonicalize()?;
        make_folders(&dir)
            .with_context(|| format!("cannot prepare the storage folder {}", dir.display()))?;
        let store = LocalFileSystem::new_with_prefix(&dir)?;
        Ok(Self {
            store: Arc::new(store),
            describe: format!("local folder {}", dir.display()),
            local_root: Some(dir),
        })
    }

    fn s3(url: &str, options: &[(String, String)]) -> anyhow::Result<Self> {
        let rest = &url["s3://".len()..];
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        anyhow::ensure!(
            !bucket.is_empty(),
            "COMICS_STORAGE_URL {url:?} names no bucket"
        );
        let mut builder = AmazonS3Builder::from_env();
        for (key, value) in options {
            let key: AmazonS3ConfigKey = key
                .parse()
                .with_context(|| format!("{key:?} is not an S3 option"))?;
            builder = builder.with_config(key, value);
        }
        let s3 = builder.with_bucket_name(bucket).build().with_context(|| {
            format!("cannot configure S3 for {url:?} (see the AWS_* variables)")
        })?;
        let prefix = prefix.trim_matches('/');
        let store: Arc<dyn ObjectStore> = match prefix {
            "" => Arc::new(s3),
            p => Arc::new(PrefixStore::new(s3, Path::from(p))),
        };
        Ok(Self {
            store,
            local_root: None,
            describe: format!("S3 bucket {bucket}, prefix {prefix:?}"),
        })
    }

    /// The content-addressed key of bytes with this SHA-256 (hex).
    pub fn key_of(sha256: &str) -> String {
        format!("{IMAGES}/{}/{sha256}", &sha256[..2])
    }

    /// Reads `key`, whole or the part `range` names.
    pub async fn get(&self, key: &str, range: Option<GetRange>) -> Result<Fetched, StorageError> {
        let options = GetOptions::new().with_range(range);
        let got = self.store.get_opts(&Path::from(key), options).await?;
        let (range, size) = (got.range.clone(), got.meta.size);
        let bytes = match got.payload {
            // `object_store` would read a local file in 8 KiB pieces, each a
            // trip to a blocking thread (19 for a 150 KB page).
            GetResultPayload::File(file, _) => read_file(file, range.clone()),
            GetResultPayload::Stream(stream) => stream
                .map(|chunk| chunk.map_err(StorageError::from))
                .boxed(),
        };
        Ok(Fetched { bytes, range, size })
    }

    /// When the object at `key` was last written, if there is one.
    pub async fn modified(
        &self,
        key: &str,
    ) -> Result<Option<chrono::DateTime<chrono::Utc>>, StorageError> {
        match self.store.head(&Path::from(key)).await {
            Ok(meta) => Ok(Some(meta.last_modified)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Whether something is stored at `key`.
    pub async fn exists(&self, key: &str) -> Result<bool, StorageError> {
        match self.store.head(&Path::from(key)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Whether the store answers (a missing key is an answer).
    pub async fn check(&self) -> Result<(), StorageError> {
        self.exists(&format!("{IMAGES}/health-check"))
            .await
            .map(|_| ())
    }
}
