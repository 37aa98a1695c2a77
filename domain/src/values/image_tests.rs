//! Image kinds and header decoding, on hand-made headers.

use super::*;

fn png(w: u32, h: u32) -> Vec<u8> {
    let mut b = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
    b.extend(w.to_be_bytes());
    b.extend(h.to_be_bytes());
    b.extend([8, 6, 0, 0, 0]);
    b
}

fn gif(w: u16, h: u16) -> Vec<u8> {
    let mut b = b"GIF89a".to_vec();
    b.extend(w.to_le_bytes());
    b.extend(h.to_le_bytes());
    b
}

/// A JPEG with an APP0 segment before its baseline frame header.
fn jpeg(w: u16, h: u16) -> Vec<u8> {
    let mut b = vec![0xff, 0xd8, 0xff, 0xe0, 0, 16];
    b.extend(b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0");
    b.extend([0xff, 0xc0, 0, 17, 8]);
    b.extend(h.to_be_bytes());
    b.extend(w.to_be_bytes());
    b.extend([3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]);
    b
}

fn webp(chunk: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let mut b = b"RIFF\0\0\0\0WEBP".to_vec();
    b.extend(chunk);
    b.extend(((body.len()) as u32).to_le_bytes());
    b.extend(body);
    b
}

#[test]
fn each_kind_reads_its_dimensions() {
    assert_eq!(dimensions(ImageType::Png, &png(800, 1200)), Ok((800, 1200)));
    assert_eq!(dimensions(ImageType::Gif, &gif(10, 20)), Ok((10, 20)));
    assert_eq!(dimensions(ImageType::Jpeg, &jpeg(640, 480)), Ok((640, 480)));
    // VP8X: 24-bit sizes minus one.
    let vp8x = webp(b"VP8X", &[0, 0, 0, 0, 0x1f, 0x03, 0, 0x57, 0x04, 0]);
    assert_eq!(dimensions(ImageType::Webp, &vp8x), Ok((800, 1112)));
    // VP8L: 14-bit sizes minus one, packed.
    let (w, h) = (100u32 - 1, 50u32 - 1);
    let bits = w | h << 14;
    let mut lossless = vec![0x2f];
    lossless.extend(bits.to_le_bytes());
    assert_eq!(
        dimensions(ImageType::Webp, &webp(b"VP8L", &lossless)),
        Ok((100, 50))
    );
    // VP8: a key frame's start code, then 14-bit sizes.
    let mut lossy = vec![0, 0, 0, 0x9d, 0x01, 0x2a];
    lossy.extend(300u16.to_le_bytes());
    lossy.extend(200u16.to_le_bytes());
    assert_eq!(
        dimensions(ImageType::Webp, &webp(b"VP8 ", &lossy)),
        Ok((300, 200))
    );
}

#[test]
fn bytes_of_another_kind_are_refused_by_their_magic() {
    assert_eq!(
        dimensions(ImageType::Jpeg, &png(1, 1)),
        Err(ImageRefusal::WrongMagic("image/jpeg"))
    );
    assert_eq!(
        dimensions(ImageType::Png, b"hello world, not an image"),
        Err(ImageRefusal::WrongMagic("image/png"))
    );
    let riff_not_webp = b"RIFF\0\0\0\0WAVEfmt ".to_vec();
    assert_eq!(
        dimensions(ImageType::Webp, &riff_not_webp),
        Err(ImageRefusal::WrongMagic("image/webp"))
    );
}

#[test]
fn a_truncated_header_does_not_decode() {
    assert_eq!(
        dimensions(ImageType::Png, &png(5, 5)[..18]),
        Err(ImageRefusal::Undecodable("image/png"))
    );
    let j = jpeg(5, 5);
    assert_eq!(
        dimensions(ImageType::Jpeg, &j[..j.len() - 14]),
        Err(ImageRefusal::Undecodable("image/jpeg"))
    );
    // Scan data before any frame header.
    assert_eq!(
        dimensions(ImageType::Jpeg, &[0xff, 0xd8, 0xff, 0xda, 0, 2]),
        Err(ImageRefusal::Undecodable("image/jpeg"))
    );
}

#[test]
fn sides_over_the_limit_or_zero_are_refused() {
    assert_eq!(
        dimensions(ImageType::Png, &png(30_000, 30_000)),
        Err(ImageRefusal::BadSize {
            width: 30_000,
            height: 30_000
        })
    );
    assert_eq!(dimensions(ImageType::Png, &png(20_000, 1)), Ok((20_000, 1)));
    assert!(matches!(
        dimensions(ImageType::Gif, &gif(0, 7)),
        Err(ImageRefusal::BadSize { .. })
    ));
}

#[test]
fn content_types_parse_case_and_parameters_aside() {
    assert_eq!(ImageType::parse("image/PNG"), Some(ImageType::Png));
    assert_eq!(
        ImageType::parse("image/jpeg; charset=binary"),
        Some(ImageType::Jpeg)
    );
    assert_eq!(ImageType::parse("image/svg+xml"), None);
    assert_eq!(serde_json::to_value(ImageType::Webp).unwrap(), "image/webp");
}
