//! How an audit entry's content is kept in SQLite: compressed (issue 16).
//!
//! A record is JSON in which most bytes are the same words every time ("kind", "sentence",
//! ", over REST, asked to search Apollo's people database..."), so each one is compressed
//! on its own with zstd and a dictionary of those words (`audit_dict_v1.txt`, raw content in
//! zstd's terms, RFC 8878 section 5). A 700-byte record keeps about 170 bytes, most of them
//! its random ids. Records stay separate rows, so nothing else changes: the hash chain, the
//! Merkle tree and every reader see the JSON text, which is what they hash and show.
//!
//! On disk, a content value is JSON text (entries written before this), or in SQLite a
//! BLOB that starts with a format byte (`0x01`: zstd with dictionary v1), or in PostgreSQL
//! (whose `TEXT` holds no arbitrary bytes) `z1:` and the same frame in base64. The
//! dictionary can never change once an entry used it; better words are a v2 beside it.
//!
//! An entry's `hash` and `prev_hash` are SHA-256 digests that every reader handles as 64
//! hex digits; SQLite keeps the 32 bytes ([`hash_bytes`], [`StoredHash`]), half the size.
//!
//! SQL cannot look inside compressed content, so the search for a keyed hash
//! ([`keep_containing`]) reads pages of entries and looks in their text.

use std::cell::RefCell;
use std::sync::LazyLock;

use zstd::bulk::{Compressor, Decompressor};
use zstd::dict::{DecoderDictionary, EncoderDictionary};

use super::{StoreError, StoreResult};

const DICT_V1: &[u8] = include_bytes!("audit_dict_v1.txt");
const FORMAT_V1: u8 = 0x01;
/// The text form's prefix: JSON never starts with it.
const TEXT_V1: &str = "z1:";
/// zstd level 3 (its default): the dictionary does most of the work; higher levels gained a
/// few bytes a record for several times the CPU.
const LEVEL: i32 = 3;
/// No record is near this (a request body is at most 1 MiB); a value claiming more is not
/// one Bollard wrote.
const MAX_CONTENT: usize = 8 << 20;

static ENCODER_V1: LazyLock<EncoderDictionary<'static>> =
    LazyLock::new(|| EncoderDictionary::copy(DICT_V1, LEVEL));
static DECODER_V1: LazyLock<DecoderDictionary<'static>> =
    LazyLock::new(|| DecoderDictionary::copy(DICT_V1));

thread_local! {
    static COMPRESSOR: RefCell<Option<Compressor<'static>>> = const { RefCell::new(None) };
    static DECOMPRESSOR: RefCell<Option<Decompressor<'static>>> = const { RefCell::new(None) };
}

/// A record's JSON text as a zstd frame with dictionary v1.
fn compress(json: &str) -> StoreResult<Vec<u8>> {
    COMPRESSOR.with(|c| {
        let mut slot = c.borrow_mut();
        let compressor = match slot.as_mut() {
            Some(c) => c,
            None => slot.insert(Compressor::with_prepared_dictionary(&ENCODER_V1).map_err(io)?),
        };
        compressor.compress(json.as_bytes()).map_err(io)
    })
}

/// The JSON text back from a frame [`compress`] made.
fn decompress(frame: &[u8]) -> StoreResult<Vec<u8>> {
    DECOMPRESSOR.with(|d| {
        let mut slot = d.borrow_mut();
        let decompressor = match slot.as_mut() {
            Some(d) => d,
            None => slot.insert(Decompressor::with_prepared_dictionary(&DECODER_V1).map_err(io)?),
        };
        decompressor.decompress(frame, MAX_CONTENT).map_err(io)
    })
}

/// The value to store for a record's JSON text.
pub(super) fn pack(json: &str) -> StoreResult<Vec<u8>> {
    let frame = compress(json)?;
    let mut out = Vec::with_capacity(frame.len() + 1);
    out.push(FORMAT_V1);
    out.extend_from_slice(&frame);
    Ok(out)
}

/// The value to store in a text column (PostgreSQL's `TEXT` holds no arbitrary bytes): the
/// same frame in base64 after `z1:`, still about a third of the JSON.
pub(super) fn pack_text(json: &str) -> StoreResult<String> {
    use base64::Engine;
    Ok(format!(
        "{TEXT_V1}{}",
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(compress(json)?)
    ))
}

/// Each chained entry's stored content, `pack`ed (SQLite) or `pack_text`ed (PostgreSQL), in
/// chunks of `rows` to go with the entries' own chunks into multi-row inserts.
pub(super) fn packed_chunks<T>(
    chained: &[(super::AuditEntry, i64)],
    pack: fn(&str) -> StoreResult<T>,
    rows: usize,
) -> StoreResult<Vec<Vec<T>>> {
    chained
        .chunks(rows)
        .map(|chunk| chunk.iter().map(|(e, _)| pack(&e.content)).collect())
        .collect()
}

/// A record's JSON text from what the store holds, in any of its forms.
pub(super) fn unpack(stored: &[u8]) -> StoreResult<String> {
    let bytes = if let Some(b64) = stored.strip_prefix(TEXT_V1.as_bytes()) {
        use base64::Engine;
        let frame = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(b64)
            .map_err(|_| StoreError::Corrupt("an audit entry's content is not base64".into()))?;
        decompress(&frame)?
    } else {
        match stored.split_first() {
            Some((&FORMAT_V1, frame)) => decompress(frame)?,
            Some((b'{', _)) => stored.to_vec(),
            _ => {
                return Err(StoreError::Corrupt(
                    "an audit entry's content is in no form Bollard writes".into(),
                ));
            }
        }
    };
    String::from_utf8(bytes)
        .map_err(|_| StoreError::Corrupt("an audit entry's content is not UTF-8 text".into()))
}

/// Entries read newest first in pages for `audit_containing`: keeps those whose text holds
/// `needle` until `found` has `want`. Returns the seq to read before next, or `None` when
/// the search is over (the log is exhausted or enough were found).
pub(super) fn keep_containing(
    page: Vec<super::codec::AuditRow>,
    needle: &str,
    want: usize,
    found: &mut Vec<super::AuditEntry>,
) -> StoreResult<Option<i64>> {
    let mut last = None;
    for row in page {
        let e = row.into_entry()?;
        last = Some(e.seq);
        if e.content.contains(needle) {
            found.push(e);
            if found.len() >= want {
                return Ok(None);
            }
        }
    }
    Ok(last)
}

/// How many entries `audit_containing` reads at a time.
pub(super) const SEARCH_PAGE: i64 = 2_000;

fn io(e: std::io::Error) -> StoreError {
    StoreError::Corrupt(format!("compressing an audit entry's content: {e}"))
}

/// A content column as read back: decoded from SQLite's BLOB (or older TEXT), or
/// PostgreSQL's TEXT.
#[derive(Debug)]
pub(super) struct Stored(pub(super) String);

impl sqlx::Type<sqlx::Sqlite> for Stored {
    fn type_info() -> sqlx::sqlite::SqliteTypeInfo {
        <Vec<u8> as sqlx::Type<sqlx::Sqlite>>::type_info()
    }
    fn compatible(ty: &sqlx::sqlite::SqliteTypeInfo) -> bool {
        <Vec<u8> as sqlx::Type<sqlx::Sqlite>>::compatible(ty)
            || <String as sqlx::Type<sqlx::Sqlite>>::compatible(ty)
    }
}

impl<'r> sqlx::Decode<'r, sqlx::Sqlite> for Stored {
    fn decode(value: sqlx::sqlite::SqliteValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
        let bytes = <&[u8] as sqlx::Decode<sqlx::Sqlite>>::decode(value)?;
        Ok(Stored(unpack(bytes)?))
    }
}

impl sqlx::Type<sqlx::Postgres> for Stored {
    fn type_info() -> sqlx::postgres::PgTypeInfo {
        <String as sqlx::Type<sqlx::Postgres>>::type_info()
    }
    fn compatible(ty: &sqlx::postgres::PgTypeInfo) -> bool {
        <String as sqlx::Type<sqlx::Postgres>>::compatible(ty)
    }
}

impl<'r> sqlx::Decode<'r, sqlx::Postgres> for Stored {
    fn decode(value: sqlx::postgres::PgValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
        let text = <&str as sqlx::Decode<sqlx::Postgres>>::decode(value)?;
        Ok(Stored(unpack(text.as_bytes())?))
    }
}

/// A chain hash as SQLite keeps it: the 32 bytes of its hex (any other text, as given).
pub(super) fn hash_bytes(hex_digest: &str) -> Vec<u8> {
    match hex::decode(hex_digest) {
        Ok(b) if b.len() == 32 => b,
        _ => hex_digest.as_bytes().to_vec(),
    }
}

/// A hash column read back as hex: 32 bytes (SQLite, since issue 16), or older text.
#[derive(Debug)]
pub(super) struct StoredHash(pub(super) String);

impl sqlx::Type<sqlx::Sqlite> for StoredHash {
    fn type_info() -> sqlx::sqlite::SqliteTypeInfo {
        <Stored as sqlx::Type<sqlx::Sqlite>>::type_info()
    }
    fn compatible(ty: &sqlx::sqlite::SqliteTypeInfo) -> bool {
        <Stored as sqlx::Type<sqlx::Sqlite>>::compatible(ty)
    }
}

impl<'r> sqlx::Decode<'r, sqlx::Sqlite> for StoredHash {
    fn decode(value: sqlx::sqlite::SqliteValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
        let bytes = <&[u8] as sqlx::Decode<sqlx::Sqlite>>::decode(value)?;
        Ok(StoredHash(super::audit_hash_text(bytes)))
    }
}

impl sqlx::Type<sqlx::Postgres> for StoredHash {
    fn type_info() -> sqlx::postgres::PgTypeInfo {
        <String as sqlx::Type<sqlx::Postgres>>::type_info()
    }
    fn compatible(ty: &sqlx::postgres::PgTypeInfo) -> bool {
        <String as sqlx::Type<sqlx::Postgres>>::compatible(ty)
    }
}

impl<'r> sqlx::Decode<'r, sqlx::Postgres> for StoredHash {
    fn decode(value: sqlx::postgres::PgValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
        Ok(StoredHash(
            <String as sqlx::Decode<sqlx::Postgres>>::decode(value)?,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_comes_back_exactly_and_much_smaller() {
        let json = r#"{"kind":"decision","request_id":"req_01a2410c2d317730ac3ccffbca57116e","at":"2026-12-04T12:34:06.769267873Z","agent_id":"agt_01a2410bf3c67339a702547ae06d563f","agent_name":"Research Bot","channel":"rest","source":"10.0.0.7","method":"POST","path":"/api/v1/mixed_people/api_search","action":"people.search","decision":"allowed","reason":"Research Bot may search the people database: 'People' is Read for this agent.","rule_ids":["grant:people"],"sentence":"Research Bot, over REST, asked to search Apollo's people database for \"CFO\" in Germany (page 2, 25 per page): allowed. Sending it to Apollo.","arguments":{"person_titles":["CFO"],"person_locations":["Germany"],"page":2,"per_page":25}}"#;
        let packed = pack(json).unwrap();
        assert_eq!(packed[0], FORMAT_V1);
        assert!(
            packed.len() * 3 < json.len(),
            "{} bytes of {}",
            packed.len(),
            json.len()
        );
        assert_eq!(unpack(&packed).unwrap(), json);
    }

    #[test]
    fn the_text_form_comes_back_exactly() {
        let json = r#"{"kind":"outcome","sentence":"Research Bot, over MCP, searched Apollo's company database: allowed."}"#;
        let text = pack_text(json).unwrap();
        assert!(text.starts_with("z1:") && text.is_ascii(), "{text}");
        assert_eq!(unpack(text.as_bytes()).unwrap(), json);
        assert!(matches!(unpack(b"z1:!!"), Err(StoreError::Corrupt(_))));
    }

    #[test]
    fn text_written_before_compression_reads_as_it_is() {
        assert_eq!(
            unpack(br#"{"kind":"admin"}"#).unwrap(),
            r#"{"kind":"admin"}"#
        );
    }

    #[test]
    fn a_value_in_no_known_form_is_corrupt_not_guessed() {
        for bad in [&b""[..], b"\x02abc", b"\x01not zstd", b"[1]"] {
            assert!(
                matches!(unpack(bad), Err(StoreError::Corrupt(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_hash_is_kept_in_32_bytes_and_read_back_as_its_hex() {
        let h = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
        let b = hash_bytes(h);
        assert_eq!(b.len(), 32);
        assert_eq!(crate::store::audit_hash_text(&b), h);
        // The genesis link, and text written before this, read as they were.
        assert_eq!(
            crate::store::audit_hash_text(&hash_bytes(crate::store::GENESIS_HASH)),
            crate::store::GENESIS_HASH
        );
        assert_eq!(crate::store::audit_hash_text(h.as_bytes()), h);
        assert_eq!(hash_bytes("p"), b"p");
    }

    /// Entries written with dictionary v1 can only be read with these exact bytes.
    #[test]
    fn dictionary_v1_never_changes() {
        use sha2::{Digest, Sha256};
        assert_eq!(
            hex::encode(Sha256::digest(DICT_V1)),
            "39e03fec5dffec80b5b3f58b8ee08a49d6fa85e272fd766b6c9bb6739941bdd2",
            "audit_dict_v1.txt changed: entries written with it would no longer read. Add a v2 beside it instead."
        );
    }
}
