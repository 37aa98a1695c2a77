//! One image upload: the body is streamed into a temporary local file while
//! it is hashed and counted (memory stays at one chunk and the header's
//! first bytes, whatever the size), refused past its limit without reading
//! further, checked against its declared kind, then put at its
//! content-addressed key (unless those bytes are already there) and
//! flushed: a local store's spool file is renamed into place (it is spooled
//! in the store's `.uploads/` folder); an S3 upload goes up in 5 MiB parts.

use bytes::Bytes;
use comics_domain::values::{dimensions, Image, ImageRefusal, ImageType};
use futures::{Stream, StreamExt};
use object_store::path::Path;
use object_store::{ObjectStoreExt, WriteMultipart};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use crate::{Storage, StorageError, UPLOADS};

/// The largest page, in bytes (20 MiB).
pub const LIMIT_PAGE: u64 = 20 * 1024 * 1024;
/// The largest cover, in bytes (10 MiB).
pub const LIMIT_COVER: u64 = 10 * 1024 * 1024;

/// How much of the start of an image is kept to read its header from.
const HEADER_PREFIX: usize = 1024 * 1024;
/// The part size of multipart writes (S3's smallest part is 5 MiB).
const PART: usize = 5 * 1024 * 1024;
/// How much of the spooled file is read at a time.
const READ: usize = 256 * 1024;
/// How much of an upload is gathered before it is written to the spool file.
const SPOOL_BUFFER: usize = 256 * 1024;

/// Bytes already stored longer ago than this are written again by an
/// upload of the same image (so `gc`'s grace period must be longer).
pub const REFRESH_AFTER: chrono::Duration = chrono::Duration::hours(1);

/// Why an upload was not stored.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("the body is larger than {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("the body is empty")]
    Empty,
    #[error("{0}")]
    NotAnImage(ImageRefusal),
    /// The client's body broke off.
    #[error("the body could not be read: {0}")]
    Body(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl From<std::io::Error> for UploadError {
    fn from(e: std::io::Error) -> Self {
        Self::Storage(e.into())
    }
}

/// An upload spooled to a local temporary file, hashed, not yet checked.
struct Spooled {
    file: tempfile::NamedTempFile,
    prefix: Vec<u8>,
    size: u64,
    sha256: String,
}

/// Spools `body` into a temporary file in `dir` (the system's temporary
/// folder when `None`).
async fn spool<S, E>(
    mut body: S,
    limit: u64,
    dir: Option<&std::path::Path>,
) -> Result<Spooled, UploadError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let mut builder = tempfile::Builder::new();
    builder.prefix("comics-upload-");
    let file = match dir {
        Some(dir) => builder.tempfile_in(dir)?,
        None => builder.tempfile()?,
    };
    // Body chunks are small (often 8–64 KiB); each write to a tokio file is
    // a trip to a blocking thread, so they are gathered into SPOOL_BUFFER
    // writes.
    let mut out = tokio::io::BufWriter::with_capacity(
        SPOOL_BUFFER,
        tokio::fs::File::from_std(file.reopen()?),
    );
    let mut hash = Sha256::new();
    let mut prefix = Vec::new();
    let mut size = 0u64;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| UploadError::Body(e.to_string()))?;
        size += chunk.len() as u64;
        if size > limit {
            return Err(UploadError::TooLarge { limit });
        }
        if prefix.len() < HEADER_PREFIX {
            let take = (HEADER_PREFIX - prefix.len()).min(chunk.len());
            prefix.extend_from_slice(&chunk[..take]);
        }
        hash.update(&chunk);
        out.write_all(&chunk).await?;
    }
    out.flush().await?;
    if size == 0 {
        return Err(UploadError::Empty);
    }
    Ok(Spooled {
        file,
        prefix,
        size,
        sha256: hex::encode(hash.finalize()),
    })
}

impl Storage {
    /// Stores the image `body` claims to be (`kind`), at most `limit`
    /// bytes, and answers the metadata an event records about it. When
    /// this returns, the bytes are durably at `image.key`.
    pub async fn put_image<S, E>(
        &self,
        kind: ImageType,
        body: S,
        limit: u64,
    ) -> Result<Image, UploadError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        // A local store spools inside its own folder, so that storing the
        // upload is a rename.
        let uploads = self.local_root.as_ref().map(|root| root.join(UPLOADS));
        if let Some(dir) = &uploads {
            tokio::fs::create_dir_all(dir).await?;
        }
        let spooled = spool(body, limit, uploads.as_deref()).await?;
        let (width, height) = dimensions(kind, &spooled.prefix).map_err(UploadError::NotAnImage)?;
        let key = Self::key_of(&spooled.sha256);
        let (size, sha256) = (spooled.size, spooled.sha256.clone());
        // The same bytes stored long ago may be an orphan that `gc` is
        // about to remove: written again (same bytes), they are young.
        let stored_at = self.modified(&key).await?;
        let fresh = chrono::Utc::now() - REFRESH_AFTER;
        if stored_at.is_none_or(|at| at < fresh) {
            match &self.local_root {
                Some(root) => place(root.join(&key), spooled.file).await?,
                None => self.write(&key, &spooled).await?,
            }
            tracing::debug!(%key, size, "image stored");
        }
        Ok(Image {
            content_type: kind,
            width,
            height,
            size,
            sha256,
            key,
        })
    }

    /// Copies the spooled file to `key` in parts (an object appears whole
    /// or not at all), then flushes a local store's file and folder.
    async fn write(&self, key: &str, spooled: &Spooled) -> Result<(), StorageError> {
        let upload = self.store.put_multipart(&Path::from(key)).await?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART);
        let mut file = tokio::fs::File::from_std(spooled.file.reopen()?);
        file.seek(std::io::SeekFrom::Start(0)).await?;
        let mut buf = vec![0u8; READ];
        loop {
            let n = file.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            writer.wait_for_capacity(2).await?;
            writer.write(&buf[..n]);
        }
        writer.finish().await?;
        Ok(())
    }
}

/// Moves a spooled file (in the store's folder) to `path`, flushed: its
/// bytes, then its name in the folder, and a folder made for it in its
/// parents (`images/<sha[..2]>/` in `images/`, `images/` in the root).
async fn place(
    path: std::path::PathBuf,
    file: tempfile::NamedTempFile,
) -> Result<(), StorageError> {
    tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        file.as_file().sync_all()?;
        let dir = path.parent().expect("a key has a folder");
        let made = !dir.is_dir();
        if made {
            std::fs::create_dir_all(dir)?;
        }
        file.persist(&path).map_err(|e| e.error)?;
        std::fs::File::open(dir)?.sync_all()?;
        if made {
            for parent in dir.ancestors().skip(1).take(2) {
                std::fs::File::open(parent)?.sync_all()?;
            }
        }
        Ok(())
    })
    .await
    .map_err(|e| StorageError::Unavailable(e.to_string()))?
    .map_err(StorageError::from)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use super::*;

    fn png(w: u32, h: u32) -> Vec<u8> {
        let mut b = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        b.extend(w.to_be_bytes());
        b.extend(h.to_be_bytes());
        b.extend([8, 6, 0, 0, 0, 1, 2, 3]);
        b
    }

    fn files_under(dir: &std::path::Path) -> usize {
        std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| match e.path().is_dir() {
                true => files_under(&e.path()),
                false => 1,
            })
            .sum()
    }

    fn one(bytes: Vec<u8>) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Unpin {
        futures::stream::iter([Ok(Bytes::from(bytes))])
    }

    #[tokio::test]
    async fn an_endless_body_is_refused_past_the_limit_without_reading_it_whole() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::local(dir.path().to_path_buf()).unwrap();
        let pulled = Arc::new(AtomicUsize::new(0));
        let counter = pulled.clone();
        let mut first = Some(png(10, 10));
        let endless = futures::stream::repeat_with(move || {
            counter.fetch_add(1, Ordering::Relaxed);
            let chunk = first.take().unwrap_or_else(|| vec![0u8; 1024 * 1024]);
            Ok::<_, std::io::Error>(Bytes::from(chunk))
        });
        let refused = storage
            .put_image(ImageType::Png, Box::pin(endless), LIMIT_PAGE)
            .await;
        assert!(matches!(refused, Err(UploadError::TooLarge { limit }) if limit == LIMIT_PAGE));
        // The header and 20 chunks of 1 MiB are over the limit: nothing more is read.
        assert_eq!(pulled.load(Ordering::Relaxed), 21);
    }

    #[tokio::test]
    async fn identical_images_are_stored_once_under_their_sha256() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::local(dir.path().to_path_buf()).unwrap();
        let a = storage
            .put_image(ImageType::Png, one(png(3, 4)), LIMIT_PAGE)
            .await
            .unwrap();
        let b = storage
            .put_image(ImageType::Png, one(png(3, 4)), LIMIT_PAGE)
            .await
            .unwrap();
        assert_eq!(a, b);
        assert_eq!((a.width, a.height, a.size), (3, 4, 32));
        assert_eq!(a.key, format!("images/{}/{}", &a.sha256[..2], a.sha256));
        assert_eq!(std::fs::read(dir.path().join(&a.key)).unwrap(), png(3, 4));
        assert_eq!(files_under(&dir.path().join("images")), 1);
    }

    #[tokio::test]
    async fn what_is_not_an_image_of_its_kind_is_not_stored() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::local(dir.path().to_path_buf()).unwrap();
        let gif = storage
            .put_image(ImageType::Gif, one(png(3, 4)), LIMIT_PAGE)
            .await;
        assert!(matches!(gif, Err(UploadError::NotAnImage(_))));
        let empty = storage
            .put_image(ImageType::Png, one(Vec::new()), LIMIT_PAGE)
            .await;
        assert!(matches!(empty, Err(UploadError::Empty)));
        assert_eq!(files_under(&dir.path().join("images")), 0);
    }
}
