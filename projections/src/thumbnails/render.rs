//! Making thumbnails: the cover decoded once (its first frame), within a
//! memory budget checked before decoding, scaled down to each width with its
//! aspect kept, and encoded as JPEG (quality 85), or PNG when it has an
//! alpha channel. The same bytes in give the same bytes out, so a rebuild
//! stores and names the very thumbnails the live projection did.

use std::io::Cursor;

use comics_domain::values::ImageType;
use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::{DynamicImage, ImageEncoder, ImageFormat, ImageReader, Limits};

/// The widths thumbnails are made at (`GET /comics/{id}/cover?size=`).
pub const WIDTHS: [u32; 2] = [256, 512];

/// The most memory one decode may take (its output pixels and the
/// decoder's own buffers): a 20000 px cover claims up to 1.6 GB as RGBA,
/// which is refused up front; the largest decoded is about 8000×8000.
pub const DECODE_BUDGET: u64 = 256 * 1024 * 1024;

const JPEG_QUALITY: u8 = 85;

/// One encoded thumbnail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thumbnail {
    pub width: u32,
    pub height: u32,
    pub kind: ImageType,
    pub bytes: Vec<u8>,
}

/// Why a cover has no thumbnails (its original is served instead).
#[derive(Debug, thiserror::Error)]
pub enum NotRendered {
    #[error("a {width}×{height} px cover needs more than {DECODE_BUDGET} bytes to decode")]
    TooLarge { width: u32, height: u32 },
    #[error("the cover does not decode: {0}")]
    Undecodable(#[from] image::ImageError),
}

/// The thumbnails of a `width`×`height` cover of kind `kind` for each of
/// `widths` narrower than the cover (none is scaled up).
pub fn render(
    bytes: &[u8],
    kind: ImageType,
    (width, height): (u32, u32),
    widths: &[u32],
) -> Result<Vec<Thumbnail>, NotRendered> {
    let wanted: Vec<u32> = widths.iter().copied().filter(|w| *w < width).collect();
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    // RGBA at 8 bits per channel; 16-bit PNGs take twice that, which the
    // decoder's own limit (the same budget) refuses.
    if u64::from(width) * u64::from(height) * 4 > DECODE_BUDGET {
        return Err(NotRendered::TooLarge { width, height });
    }
    let format = match kind {
        ImageType::Png => ImageFormat::Png,
        ImageType::Jpeg => ImageFormat::Jpeg,
        ImageType::Gif => ImageFormat::Gif,
        ImageType::Webp => ImageFormat::WebP,
    };
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = Limits::default();
    limits.max_alloc = Some(DECODE_BUDGET);
    limits.max_image_width = Some(width);
    limits.max_image_height = Some(height);
    reader.limits(limits);
    let cover = reader.decode()?;
    let mut thumbnails = Vec::with_capacity(wanted.len());
    for w in wanted {
        // The height that keeps the aspect, rounded to the nearest pixel.
        let h = ((u64::from(height) * u64::from(w) + u64::from(width) / 2) / u64::from(width))
            .max(1) as u32;
        thumbnails.push(encode(&cover.thumbnail_exact(w, h))?);
    }
    Ok(thumbnails)
}

fn encode(image: &DynamicImage) -> Result<Thumbnail, image::ImageError> {
    let (width, height) = (image.width(), image.height());
    let mut bytes = Vec::new();
    let kind = if image.color().has_alpha() {
        let rgba = image.to_rgba8();
        PngEncoder::new(&mut bytes).write_image(
            rgba.as_raw(),
            width,
            height,
            image::ExtendedColorType::Rgba8,
        )?;
        ImageType::Png
    } else {
        let rgb = image.to_rgb8();
        JpegEncoder::new_with_quality(&mut bytes, JPEG_QUALITY).write_image(
            rgb.as_raw(),
            width,
            height,
            image::ExtendedColorType::Rgb8,
        )?;
        ImageType::Jpeg
    };
    Ok(Thumbnail {
        width,
        height,
        kind,
        bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32, alpha: bool) -> Vec<u8> {
        let image = match alpha {
            true => DynamicImage::ImageRgba8(image::RgbaImage::from_fn(width, height, |x, y| {
                image::Rgba([(x % 256) as u8, (y % 256) as u8, 7, 200])
            })),
            false => DynamicImage::ImageRgb8(image::RgbImage::from_fn(width, height, |x, y| {
                image::Rgb([(x % 256) as u8, (y % 256) as u8, 7])
            })),
        };
        let mut bytes = Vec::new();
        image
            .write_to(&mut Cursor::new(&mut bytes), ImageFormat::Png)
            .unwrap();
        bytes
    }

    #[test]
    fn thumbnails_keep_the_aspect_and_are_made_only_smaller() {
        let cover = png(600, 900, false);
        let made = render(&cover, ImageType::Png, (600, 900), &WIDTHS).unwrap();
        let sizes: Vec<_> = made.iter().map(|t| (t.width, t.height, t.kind)).collect();
        assert_eq!(
            sizes,
            [(256, 384, ImageType::Jpeg), (512, 768, ImageType::Jpeg)]
        );
        let decoded = image::load_from_memory(&made[0].bytes).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (256, 384));
        // Narrower than 512: only the 256 one.
        let cover = png(300, 100, true);
        let made = render(&cover, ImageType::Png, (300, 100), &WIDTHS).unwrap();
        let sizes: Vec<_> = made.iter().map(|t| (t.width, t.height, t.kind)).collect();
        assert_eq!(sizes, [(256, 85, ImageType::Png)]);
    }

    #[test]
    fn the_same_cover_gives_the_same_bytes() {
        let cover = png(700, 300, false);
        let a = render(&cover, ImageType::Png, (700, 300), &WIDTHS).unwrap();
        let b = render(&cover, ImageType::Png, (700, 300), &WIDTHS).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn a_cover_beyond_the_budget_is_not_decoded() {
        // The header claims 20000×20000 px; nothing is decoded.
        let cover = png(300, 300, false);
        let refused = render(&cover, ImageType::Png, (20_000, 20_000), &WIDTHS);
        assert!(matches!(refused, Err(NotRendered::TooLarge { .. })));
        // A header claiming more than it is does not get past the decoder.
        let truncated = &cover[..cover.len() / 2];
        let refused = render(truncated, ImageType::Png, (300, 300), &WIDTHS);
        assert!(matches!(refused, Err(NotRendered::Undecodable(_))));
    }
}
