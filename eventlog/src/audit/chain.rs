//! The hash chain: each event's canonical bytes, and its seal,
//! `sha256(previous seal || canonical bytes)` (the first event's previous
//! seal is 32 zero bytes).
//!
//! The canonical bytes are the same whether the event is read from the log
//! or from a message of the events stream: every field is written with its
//! length before it, JSON with its object keys sorted and no spaces (so the
//! key order and spacing Postgres or a serializer keeps do not matter), the
//! time as RFC 3339 UTC in microseconds (what Postgres stores).

use chrono::SecondsFormat;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::record::EventRecord;

pub type Seal = [u8; 32];

/// The previous seal of the first event.
pub const GENESIS: Seal = [0; 32];

/// The seal of `event` after `previous`.
pub fn seal(previous: &Seal, event: &EventRecord) -> Seal {
    let mut bytes = Vec::with_capacity(256);
    canonical(event, &mut bytes);
    let mut h = Sha256::new();
    h.update(previous);
    h.update(&bytes);
    h.finalize().into()
}

/// Appends `event`'s canonical bytes to `out`.
pub fn canonical(event: &EventRecord, out: &mut Vec<u8>) {
    field(out, event.position.to_string().as_bytes());
    field(out, event.aggregate_type.as_bytes());
    field(out, event.aggregate_id.as_bytes());
    field(out, event.sequence.to_string().as_bytes());
    field(out, event.event_type.as_bytes());
    field(out, event.event_version.as_bytes());
    let mut json = Vec::with_capacity(128);
    canonical_json(&event.payload, &mut json);
    field(out, &json);
    json.clear();
    canonical_json(&event.metadata, &mut json);
    field(out, &json);
    let at = event
        .recorded_at
        .to_rfc3339_opts(SecondsFormat::Micros, true);
    field(out, at.as_bytes());
}

fn field(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u64).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// JSON with object keys sorted (by their UTF-8 bytes) and no whitespace.
pub fn canonical_json(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Number(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Value::String(s) => string(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                canonical_json(item, out);
            }
            out.push(b']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_unstable();
            out.push(b'{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                string(key, out);
                out.push(b':');
                canonical_json(&map[key], out);
            }
            out.push(b'}');
        }
    }
}

fn string(s: &str, out: &mut Vec<u8>) {
    // serde_json's escaping of a string is fixed (no options), so it is
    // canonical; writing to a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

/// Lower-case hex.
pub fn hex(seal: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(seal.len() * 2);
    for b in seal {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// The seal a hex string names.
pub fn from_hex(text: &str) -> Option<Seal> {
    if text.len() != 64 {
        return None;
    }
    let mut seal = [0u8; 32];
    for (i, chunk) in text.as_bytes().chunks(2).enumerate() {
        let pair = std::str::from_utf8(chunk).ok()?;
        seal[i] = u8::from_str_radix(pair, 16).ok()?;
    }
    Some(seal)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use serde_json::json;

    fn event(payload: Value) -> EventRecord {
        EventRecord {
            position: 7,
            aggregate_type: "Comic".into(),
            aggregate_id: "c-1".into(),
            sequence: 2,
            event_type: "ComicUpdated".into(),
            event_version: "1".into(),
            payload,
            metadata: json!({"actor": "a", "request_id": "r"}),
            recorded_at: Utc.timestamp_micros(1_700_000_000_123_456).unwrap(),
        }
    }

    #[test]
    fn key_order_and_spacing_do_not_change_the_seal() {
        let a: Value =
            serde_json::from_str(r#"{"b": [1, {"y": 2, "x": "é\n"}], "a": null}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"a":null,"b":[1,{"x":"é\n","y":2}]}"#).unwrap();
        assert_eq!(seal(&GENESIS, &event(a)), seal(&GENESIS, &event(b)));
    }

    #[test]
    fn every_field_and_the_previous_seal_change_the_seal() {
        let base = event(json!({"title": "T"}));
        let s = seal(&GENESIS, &base);
        let mut changed = vec![];
        let mut e = base.clone();
        e.payload = json!({"title": "U"});
        changed.push(e);
        let mut e = base.clone();
        e.metadata = json!({"actor": "b", "request_id": "r"});
        changed.push(e);
        let mut e = base.clone();
        e.sequence = 3;
        changed.push(e);
        let mut e = base.clone();
        e.position = 8;
        changed.push(e);
        let mut e = base.clone();
        e.aggregate_id = "c-2".into();
        changed.push(e);
        let mut e = base.clone();
        e.recorded_at = Utc.timestamp_micros(1_700_000_000_123_457).unwrap();
        changed.push(e);
        for e in &changed {
            assert_ne!(seal(&GENESIS, e), s, "{e:?}");
        }
        assert_ne!(seal(&s, &base), s);
        // Field boundaries are part of the bytes: moving a character from
        // one field to the next changes the seal.
        let mut a = base.clone();
        a.aggregate_type = "Comicc".into();
        a.aggregate_id = "-1".into();
        let mut b = base.clone();
        b.aggregate_type = "Comic".into();
        b.aggregate_id = "c-1".into();
        assert_ne!(seal(&GENESIS, &a), seal(&GENESIS, &b));
    }

    #[test]
    fn hex_round_trips() {
        let s = seal(&GENESIS, &event(json!({})));
        assert_eq!(from_hex(&hex(&s)), Some(s));
        assert_eq!(from_hex("zz"), None);
    }
}
