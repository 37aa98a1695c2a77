//! Images: the four accepted kinds, what an uploaded image must prove about
//! itself (magic bytes of its declared kind, a header that decodes, sides of
//! at most [`MAX_SIDE`] px), and the metadata events carry about stored bytes.

use serde::{Deserialize, Serialize};

/// The largest width or height accepted, in pixels.
pub const MAX_SIDE: u32 = 20_000;

/// An accepted image kind, serialized as its media type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ImageType {
    #[serde(rename = "image/png")]
    Png,
    #[serde(rename = "image/jpeg")]
    Jpeg,
    #[serde(rename = "image/webp")]
    Webp,
    #[serde(rename = "image/gif")]
    Gif,
}

impl ImageType {
    pub const ALL: [ImageType; 4] = [Self::Png, Self::Jpeg, Self::Webp, Self::Gif];

    /// The kind a `Content-Type` names (parameters and case ignored).
    pub fn parse(content_type: &str) -> Option<Self> {
        let essence = content_type.split(';').next()?.trim().to_ascii_lowercase();
        Self::ALL.into_iter().find(|t| t.as_str() == essence)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Png => "image/png",
            Self::Jpeg => "image/jpeg",
            Self::Webp => "image/webp",
            Self::Gif => "image/gif",
        }
    }
}

/// Why bytes are not an acceptable image of their declared kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageRefusal {
    #[error("the bytes are not a {0} image (their magic bytes do not match)")]
    WrongMagic(&'static str),
    #[error("the {0} header does not decode (truncated or malformed)")]
    Undecodable(&'static str),
    #[error("the image is {width}×{height} px; each side must be between 1 and {MAX_SIDE} px")]
    BadSize { width: u32, height: u32 },
}

/// Width and height read from the start of an image of kind `kind`.
/// `prefix` is the start of the bytes (the whole image, or enough of it: a
/// header that runs past it is undecodable).
pub fn dimensions(kind: ImageType, prefix: &[u8]) -> Result<(u32, u32), ImageRefusal> {
    let name = kind.as_str();
    let magic: &[&[u8]] = match kind {
        ImageType::Png => &[b"\x89PNG\r\n\x1a\n"],
        ImageType::Jpeg => &[b"\xff\xd8\xff"],
        ImageType::Gif => &[b"GIF87a", b"GIF89a"],
        ImageType::Webp => &[b"RIFF"],
    };
    let webp_magic = kind != ImageType::Webp || prefix.get(8..12) == Some(b"WEBP");
    if !magic.iter().any(|m| prefix.starts_with(m)) || !webp_magic {
        return Err(ImageRefusal::WrongMagic(name));
    }
    let size = match kind {
        ImageType::Png => png(prefix),
        ImageType::Jpeg => jpeg(prefix),
        ImageType::Gif => gif(prefix),
        ImageType::Webp => webp(prefix),
    }
    .ok_or(ImageRefusal::Undecodable(name))?;
    let (width, height) = size;
    if width == 0 || height == 0 || width > MAX_SIDE || height > MAX_SIDE {
        return Err(ImageRefusal::BadSize { width, height });
    }
    Ok(size)
}

fn be16(b: &[u8], at: usize) -> Option<u32> {
    Some(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?) as u32)
}

fn le16(b: &[u8], at: usize) -> Option<u32> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?) as u32)
}

fn le24(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at + 3)?;
    Some(s[0] as u32 | (s[1] as u32) << 8 | (s[2] as u32) << 16)
}

fn png(b: &[u8]) -> Option<(u32, u32)> {
    if b.get(12..16)? != b"IHDR" {
        return None;
    }
    let w = u32::from_be_bytes(b.get(16..20)?.try_into().ok()?);
    let h = u32::from_be_bytes(b.get(20..24)?.try_into().ok()?);
    Some((w, h))
}

fn gif(b: &[u8]) -> Option<(u32, u32)> {
    Some((le16(b, 6)?, le16(b, 8)?))
}

fn webp(b: &[u8]) -> Option<(u32, u32)> {
    match b.get(12..16)? {
        b"VP8 " => {
            if b.get(23..26)? != [0x9d, 0x01, 0x2a] {
                return None;
            }
            Some((le16(b, 26)? & 0x3fff, le16(b, 28)? & 0x3fff))
        }
        b"VP8L" => {
            if *b.get(20)? != 0x2f {
                return None;
            }
            let s = b.get(21..25)?;
            let (b0, b1, b2, b3) = (s[0] as u32, s[1] as u32, s[2] as u32, s[3] as u32);
            let w = 1 + (b0 | (b1 & 0x3f) << 8);
            let h = 1 + (b1 >> 6 | b2 << 2 | (b3 & 0x0f) << 10);
            Some((w, h))
        }
        b"VP8X" => Some((1 + le24(b, 24)?, 1 + le24(b, 27)?)),
        _ => None,
    }
}

/// Walks the JPEG segments to the first start-of-frame marker.
fn jpeg(b: &[u8]) -> Option<(u32, u32)> {
    let mut i = 2;
    loop {
        if *b.get(i)? != 0xff {
            return None;
        }
        while *b.get(i + 1)? == 0xff {
            i += 1;
        }
        let marker = *b.get(i + 1)?;
        match marker {
            0xc0..=0xcf if !matches!(marker, 0xc4 | 0xc8 | 0xcc) => {
                return Some((be16(b, i + 7)?, be16(b, i + 5)?));
            }
            0x01 | 0xd0..=0xd7 => i += 2,
            0xd8..=0xda => return None,
            _ => i += 2 + be16(b, i + 2)? as usize,
        }
    }
}

/// What an event records about stored image bytes: never the bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    pub content_type: ImageType,
    pub width: u32,
    pub height: u32,
    /// Bytes.
    pub size: u64,
    /// Hex SHA-256 of the bytes.
    pub sha256: String,
    /// Where the bytes are in object storage (content-addressed).
    pub key: String,
}

#[cfg(test)]
#[path = "image_tests.rs"]
mod tests;
