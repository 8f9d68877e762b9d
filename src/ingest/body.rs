//! The one door for untrusted bytes: reads a request body whatever its Content-Type, with or
//! without Content-Length (the Kotlin library streams chunked gzip), decodes gzip or deflate
//! through a size-capped reader, and enforces the limits on the decoded size (Segment limits
//! after gunzip: 32 KiB per single event, 500 KiB per batch).
//!
//! A small compressed body can never inflate past the cap: decoding stops one byte after it.
//! The wire body is bounded too, so a huge upload is refused without being buffered.

// The one module allowed to name the raw decoders (see clippy.toml).
#![allow(clippy::disallowed_types)]

use std::io::Read;

use axum::body::Body;
use axum::http::{header, HeaderMap};
use bytes::{Bytes, BytesMut};
use flate2::read::{DeflateDecoder, MultiGzDecoder, ZlibDecoder};
use http_body_util::BodyExt;
use serde::Deserialize;

use super::error::IngestError;

/// A `Content-Encoding` the relay decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// `gzip` (or `x-gzip`); several members in a row are one stream, as the RFC allows.
    Gzip,
    /// `deflate`: zlib-wrapped as HTTP says, or raw deflate as some clients send it.
    Deflate,
}

impl Encoding {
    fn name(self) -> &'static str {
        match self {
            Encoding::Gzip => "gzip",
            Encoding::Deflate => "deflate",
        }
    }
}

/// The encodings applied to the body, in the order they were applied (`identity` dropped).
pub fn content_encodings(headers: &HeaderMap) -> Result<Vec<Encoding>, IngestError> {
    let mut out = Vec::new();
    for value in headers.get_all(header::CONTENT_ENCODING) {
        let value = value.to_str().map_err(|_| {
            IngestError::UnsupportedEncoding(String::from_utf8_lossy(value.as_bytes()).into_owned())
        })?;
        for token in value.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            let encoding =
                if token.eq_ignore_ascii_case("gzip") || token.eq_ignore_ascii_case("x-gzip") {
                    Encoding::Gzip
                } else if token.eq_ignore_ascii_case("deflate") {
                    Encoding::Deflate
                } else if token.eq_ignore_ascii_case("identity") {
                    continue;
                } else {
                    return Err(IngestError::UnsupportedEncoding(token.to_string()));
                };
            out.push(encoding);
        }
    }
    Ok(out)
}

/// Reads and decodes a body; `limit` is the most decoded bytes accepted.
///
/// On the wire, a plain body may carry `limit` bytes and an encoded one twice that (compressed
/// JSON is far smaller; the slack covers incompressible edge cases). An over-limit plain body
/// is still read, and thrown away, up to twice the limit before the 400 goes out: a server that
/// answers while the client is still writing resets the connection, and the client would see a
/// network error (and retry) instead of the 400. A declared `Content-Length` past that bound is
/// refused before reading anything.
pub async fn read(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, IngestError> {
    let encodings = content_encodings(headers)?;
    let wire_limit = limit.saturating_mul(2);
    let keep = if encodings.is_empty() {
        limit
    } else {
        wire_limit
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > wire_limit as u64) {
        return Err(IngestError::PayloadTooLarge { limit });
    }
    let raw = collect(body, keep, wire_limit)
        .await?
        .ok_or(IngestError::PayloadTooLarge { limit })?;
    let mut data = raw;
    for &encoding in encodings.iter().rev() {
        data = decode(encoding, &data, limit)?;
    }
    if data.len() > limit {
        return Err(IngestError::PayloadTooLarge { limit });
    }
    Ok(data)
}

/// Reads and discards a body up to `max` bytes (for `/v1/m`, which is answered 200 whatever it
/// holds), so the client can read the answer.
pub async fn discard(mut body: Body, max: usize) {
    let mut seen = 0usize;
    while let Some(Ok(frame)) = body.frame().await {
        if let Some(data) = frame.data_ref() {
            seen = seen.saturating_add(data.len());
            if seen > max {
                break;
            }
        }
    }
}

/// Collects up to `keep` bytes. Past that, reads and drops bytes until `drain_to` in all, then
/// returns `None` (too large).
async fn collect(
    mut body: Body,
    keep: usize,
    drain_to: usize,
) -> Result<Option<Bytes>, IngestError> {
    let mut buf = BytesMut::new();
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| IngestError::BodyRead)?;
        let Some(data) = frame.data_ref() else {
            continue;
        };
        seen = seen.saturating_add(data.len());
        if seen <= keep {
            buf.extend_from_slice(data);
        } else if seen > drain_to {
            return Ok(None);
        }
    }
    Ok((seen <= keep).then(|| buf.freeze()))
}

/// Decodes one layer, at most `limit` bytes out.
pub fn decode(encoding: Encoding, data: &[u8], limit: usize) -> Result<Bytes, IngestError> {
    let result = match encoding {
        Encoding::Gzip => read_capped(MultiGzDecoder::new(data), limit),
        Encoding::Deflate => {
            let result = if looks_like_zlib(data) {
                read_capped(ZlibDecoder::new(data), limit)
            } else {
                Err(Capped::Corrupt)
            };
            match result {
                // What is not zlib may still be raw deflate (a header can look right by chance).
                Err(Capped::Corrupt) => read_capped(DeflateDecoder::new(data), limit),
                other => other,
            }
        }
    };
    match result {
        Ok(bytes) => Ok(Bytes::from(bytes)),
        Err(Capped::TooLarge) => Err(IngestError::PayloadTooLarge { limit }),
        Err(Capped::Corrupt) => Err(IngestError::BadEncoding(encoding.name())),
    }
}

/// A zlib stream starts with CMF/FLG: compression method 8 and a header checksum.
fn looks_like_zlib(data: &[u8]) -> bool {
    match data {
        [cmf, flg, ..] => cmf & 0x0f == 8 && (u16::from(*cmf) << 8 | u16::from(*flg)) % 31 == 0,
        _ => false,
    }
}

/// Why capped decoding failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capped {
    /// The decoded stream is longer than the cap.
    TooLarge,
    /// The stream is not valid (bad header, bad data, truncated).
    Corrupt,
}

/// Reads a decoder to the end, but never more than `limit + 1` bytes, so a decompression bomb
/// costs at most `limit` bytes of memory and the time to inflate them.
pub fn read_capped(reader: impl Read, limit: usize) -> Result<Vec<u8>, Capped> {
    let cap = limit.saturating_add(1);
    let mut out = Vec::with_capacity(cap.min(64 << 10));
    reader
        .take(cap as u64)
        .read_to_end(&mut out)
        .map_err(|_| Capped::Corrupt)?;
    if out.len() > limit {
        Err(Capped::TooLarge)
    } else {
        Ok(out)
    }
}

/// Parses JSON, ignoring a UTF-8 byte-order mark (some Windows senders write one). The error
/// carries the parser's message (what and where).
pub fn parse_json<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, IngestError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    serde_json::from_slice(bytes).map_err(|e| IngestError::InvalidJson(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use flate2::write::{DeflateEncoder, GzEncoder, ZlibEncoder};
    use flate2::Compression;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn headers(encoding: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_ENCODING,
            HeaderValue::from_str(encoding).unwrap(),
        );
        h
    }

    #[test]
    fn gzip_round_trips() {
        let out = decode(Encoding::Gzip, &gzip(b"{\"a\":1}"), 100).unwrap();
        assert_eq!(&out[..], b"{\"a\":1}");
    }

    #[test]
    fn multi_member_gzip_is_one_stream() {
        let mut data = gzip(b"[1,");
        data.extend(gzip(b"2]"));
        assert_eq!(&decode(Encoding::Gzip, &data, 100).unwrap()[..], b"[1,2]");
    }

    #[test]
    fn deflate_accepts_zlib_and_raw() {
        let mut z = ZlibEncoder::new(Vec::new(), Compression::default());
        z.write_all(b"zlib body").unwrap();
        let z = z.finish().unwrap();
        assert_eq!(
            &decode(Encoding::Deflate, &z, 100).unwrap()[..],
            b"zlib body"
        );
        let mut r = DeflateEncoder::new(Vec::new(), Compression::default());
        r.write_all(b"raw body").unwrap();
        let r = r.finish().unwrap();
        assert_eq!(
            &decode(Encoding::Deflate, &r, 100).unwrap()[..],
            b"raw body"
        );
    }

    #[test]
    fn a_bomb_stops_at_the_cap() {
        let bomb = gzip(&vec![0u8; 10 << 20]);
        assert!(bomb.len() < 20 << 10);
        assert_eq!(
            read_capped(MultiGzDecoder::new(&bomb[..]), 1000),
            Err(Capped::TooLarge)
        );
        assert!(matches!(
            decode(Encoding::Gzip, &bomb, 1000),
            Err(IngestError::PayloadTooLarge { limit: 1000 })
        ));
    }

    #[test]
    fn exactly_the_cap_is_fine() {
        let data = vec![b'x'; 1000];
        assert_eq!(
            decode(Encoding::Gzip, &gzip(&data), 1000).unwrap().len(),
            1000
        );
    }

    #[test]
    fn garbage_and_truncated_streams_are_bad_encoding() {
        for bad in [
            b"not gzip at all".to_vec(),
            gzip(b"{\"a\":1}")[..12].to_vec(),
            Vec::new(),
        ] {
            let err = decode(Encoding::Gzip, &bad, 100).unwrap_err();
            assert!(matches!(err, IngestError::BadEncoding("gzip")), "{err:?}");
            assert_eq!(err.to_string(), "Malformed gzip content");
        }
        assert!(matches!(
            decode(Encoding::Deflate, b"\xff\xff\xff", 100),
            Err(IngestError::BadEncoding("deflate"))
        ));
    }

    #[test]
    fn content_encoding_header_forms() {
        assert_eq!(content_encodings(&HeaderMap::new()).unwrap(), vec![]);
        assert_eq!(
            content_encodings(&headers("GZIP")).unwrap(),
            vec![Encoding::Gzip]
        );
        assert_eq!(
            content_encodings(&headers("x-gzip")).unwrap(),
            vec![Encoding::Gzip]
        );
        assert_eq!(content_encodings(&headers("identity")).unwrap(), vec![]);
        assert_eq!(
            content_encodings(&headers("deflate, gzip")).unwrap(),
            vec![Encoding::Deflate, Encoding::Gzip]
        );
        assert!(matches!(
            content_encodings(&headers("br")),
            Err(IngestError::UnsupportedEncoding(e)) if e == "br"
        ));
    }

    #[tokio::test]
    async fn read_applies_limits_after_decoding() {
        let data = vec![b' '; 3000];
        let compressed = gzip(&data);
        let h = headers("gzip");
        assert!(matches!(
            read(&h, Body::from(compressed.clone()), 2000).await,
            Err(IngestError::PayloadTooLarge { limit: 2000 })
        ));
        assert_eq!(
            read(&h, Body::from(compressed), 3000).await.unwrap().len(),
            3000
        );
        assert!(matches!(
            read(&HeaderMap::new(), Body::from(data.clone()), 2999).await,
            Err(IngestError::PayloadTooLarge { .. })
        ));
        assert_eq!(
            read(&HeaderMap::new(), Body::from(data), 3000)
                .await
                .unwrap()
                .len(),
            3000
        );
    }

    #[tokio::test]
    async fn a_declared_length_past_the_wire_bound_is_refused_unread() {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("1000000"));
        assert!(matches!(
            read(&h, Body::empty(), 1000).await,
            Err(IngestError::PayloadTooLarge { .. })
        ));
    }

    #[test]
    fn json_errors_carry_the_parsers_message_and_a_bom_is_ignored() {
        let v: serde_json::Value = parse_json(b"\xEF\xBB\xBF{\"a\":1}").unwrap();
        assert_eq!(v["a"], 1);
        let err = parse_json::<serde_json::Value>(b"{\"a\":").unwrap_err();
        assert!(err.to_string().contains("line 1"), "{err}");
    }
}
