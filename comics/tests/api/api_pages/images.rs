//! Image bytes for the tests: a real header of each kind followed by
//! deterministic filler up to a size (the server reads only headers), and
//! multipart bodies.

use sha2::{Digest, Sha256};

/// `len` bytes starting with `head`, the rest filler drawn from `seed`.
fn filled(mut head: Vec<u8>, len: usize, seed: u8) -> Vec<u8> {
    let mut x = 0x9e37_79b9_u32 ^ seed as u32;
    while head.len() < len {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        head.push(x as u8);
    }
    head
}

pub fn png(w: u32, h: u32, len: usize, seed: u8) -> Vec<u8> {
    let mut b = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
    b.extend(w.to_be_bytes());
    b.extend(h.to_be_bytes());
    b.extend([8, 6, 0, 0, 0]);
    filled(b, len, seed)
}

pub fn jpeg(w: u16, h: u16, len: usize, seed: u8) -> Vec<u8> {
    let mut b = vec![0xff, 0xd8, 0xff, 0xe0, 0, 16];
    b.extend(b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0");
    b.extend([0xff, 0xc0, 0, 17, 8]);
    b.extend(h.to_be_bytes());
    b.extend(w.to_be_bytes());
    b.extend([3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]);
    filled(b, len, seed)
}

pub fn gif(w: u16, h: u16, len: usize, seed: u8) -> Vec<u8> {
    let mut b = b"GIF89a".to_vec();
    b.extend(w.to_le_bytes());
    b.extend(h.to_le_bytes());
    filled(b, len, seed)
}

/// A lossy WebP (`VP8 ` chunk).
pub fn webp(w: u16, h: u16, len: usize, seed: u8) -> Vec<u8> {
    let mut b = b"RIFF\0\0\0\0WEBPVP8 \0\0\0\0".to_vec();
    b.extend([0, 0, 0, 0x9d, 0x01, 0x2a]);
    b.extend(w.to_le_bytes());
    b.extend(h.to_le_bytes());
    filled(b, len, seed)
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Where bytes are stored, under the storage root.
pub fn key_of(bytes: &[u8]) -> String {
    let sha = sha256_hex(bytes);
    format!("images/{}/{sha}", &sha[..2])
}

/// A `multipart/form-data` body of `(name, content type, bytes)` parts, and
/// its `Content-Type`.
pub fn multipart(parts: &[(&str, &str, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "comics-test-boundary-7d1f";
    let mut body = Vec::new();
    for (i, (name, ct, bytes)) in parts.iter().enumerate() {
        body.extend(format!("--{boundary}\r\n").as_bytes());
        body.extend(
            format!(
                "Content-Disposition: form-data; name=\"{name}\"; filename=\"p{i}\"\r\n\
                 Content-Type: {ct}\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend(*bytes);
        body.extend(b"\r\n");
    }
    body.extend(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}
