//! How an audit entry is kept compactly (issue 16).
//!
//! A record is JSON in which most bytes are the same words every time ("kind", "sentence",
//! ", over REST, asked to search Apollo's people database..."), so each one is compressed
//! on its own with zstd and a dictionary of those words (`audit_dict_v1.txt`, raw content in
//! zstd's terms, RFC 8878 section 5). Records stay separate rows, so nothing else changes: the
//! hash chain, the Merkle tree and every reader see the JSON text, which is what they hash and
//! show.
//!
//! What is left after the dictionary is mostly what no dictionary can know: the entry's
//! random ids and its timestamp, which its row already holds in their own columns. So before
//! compressing, each exact occurrence of the row's request id, agent id and `at` (as RFC 3339
//! text) is swapped for one control byte, which JSON text never holds raw (RFC 8259
//! section 7), and the reader swaps them back from the row ([`Row`]). The swap is exact by
//! construction: a record holding any such byte is kept unswapped (format `0x01`).
//!
//! On disk, a content value is JSON text (entries written before compression), or in SQLite
//! a BLOB that starts with a format byte (`0x01`: a zstd frame with dictionary v1; `0x02`: the
//! same with the row's values swapped out and without zstd's constant 4-byte magic number),
//! or in PostgreSQL (whose `TEXT` holds no arbitrary bytes) `z1:`/`z2:` and the same frame in
//! base64. The dictionary can never change once an entry used it; better words are a v2
//! beside it.
//!
//! SQLite also keeps the row's own ids compactly ([`IdValue`]): `req_`/`agt_` and 32 hex
//! digits as their 16 bytes; and an entry's `hash` and `prev_hash`, SHA-256 digests that every
//! reader handles as 64 hex digits, as their 32 bytes ([`hash_bytes`], [`StoredHash`]). A
//! `prev_hash` is the previous entry's `hash`, so SQLite stores it empty and reads it from
//! there (`sqlite::AUDIT_SELECT`).
//!
//! SQL cannot look inside compressed content, so the search for a keyed hash
//! ([`keep_containing`]) reads pages of entries and looks in their text.

use std::borrow::Cow;
use std::cell::RefCell;
use std::sync::LazyLock;

use zstd::bulk::{Compressor, Decompressor};
use zstd::dict::{DecoderDictionary, EncoderDictionary};

use super::{StoreError, StoreResult};

const DICT_V1: &[u8] = include_bytes!("audit_dict_v1.txt");
const FORMAT_V1: u8 = 0x01;
const FORMAT_V2: u8 = 0x02;
/// The text forms' prefixes: JSON never starts with them.
const TEXT_V1: &str = "z1:";
const TEXT_V2: &str = "z2:";
/// What every zstd frame starts with (RFC 8878 section 3.1.1): format v2 leaves it out.
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];
/// The bytes format v2 swaps in for the row's request id, agent id and `at`. A JSON text
/// holds none of them raw: RFC 8259 section 7 requires control characters to be escaped.
const MARKS: [char; 3] = ['\u{1}', '\u{2}', '\u{3}'];
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

/// An entry's own row, whose values format v2 leaves out of the compressed text.
#[derive(Debug, Clone, Copy)]
pub(super) struct Row<'a> {
    pub(super) request_id: &'a str,
    pub(super) agent_id: Option<&'a str>,
    /// Unix nanoseconds, as the `at` column holds it.
    pub(super) at: i64,
}

impl<'a> Row<'a> {
    /// The values to swap, with their marks.
    fn swaps(&self) -> [(char, Option<Cow<'a, str>>); 3] {
        let at = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.at))
            .ok()
            .and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            });
        [
            (MARKS[0], Some(Cow::Borrowed(self.request_id))),
            (MARKS[1], self.agent_id.map(Cow::Borrowed)),
            (MARKS[2], at.map(Cow::Owned)),
        ]
    }
}

fn has_mark(s: &str) -> bool {
    let [a, b, c] = MARKS.map(|m| m as u8);
    memchr::memchr3(a, b, c, s.as_bytes()).is_some()
}

/// The record's text with the row's values swapped for their marks, or `None` when that
/// could not be undone exactly (a mark already in the text or in a value).
///
/// Built in one pass (issue 16): each value's occurrences are found first, then the text is
/// copied once with each occurrence, leftmost first, swapped for its mark; an occurrence that
/// overlaps one already swapped is left as it is. Any such choice is undone exactly by
/// [`swap_in`], as no mark is in the text or in a value, so each mark stands for one value.
fn swap_out(json: &str, row: Row<'_>) -> Option<String> {
    let swaps = row.swaps();
    if has_mark(json) || swaps.iter().flat_map(|(_, v)| v).any(|v| has_mark(v)) {
        return None;
    }
    let mut found: Vec<(usize, usize, char)> = Vec::new();
    for (mark, value) in &swaps {
        // An empty value would match everywhere; it is left in place (and cannot be missed:
        // its mark is then never written).
        if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
            found.extend(
                memchr::memmem::find_iter(json.as_bytes(), v.as_bytes())
                    .map(|at| (at, v.len(), *mark)),
            );
        }
    }
    found.sort_unstable_by_key(|&(at, _, _)| at);
    let mut text = String::with_capacity(json.len());
    let mut copied = 0;
    for (at, len, mark) in found {
        if at < copied {
            continue;
        }
        // A match of UTF-8 text in UTF-8 text starts and ends on character boundaries.
        text.push_str(&json[copied..at]);
        text.push(mark);
        copied = at + len;
    }
    text.push_str(&json[copied..]);
    Some(text)
}

/// [`swap_out`] undone: each mark back to the row's value (in any order, as no value holds a
/// mark).
fn swap_in(mut text: String, row: Row<'_>) -> StoreResult<String> {
    for (mark, value) in &row.swaps() {
        if !text.contains(*mark) {
            continue;
        }
        let Some(v) = value else {
            return Err(StoreError::Corrupt(
                "an audit entry's content refers to a value its row does not hold".into(),
            ));
        };
        text = text.replace(*mark, v.as_ref());
    }
    Ok(text)
}

/// A record's compressed frame and its format byte: v2 when the row's values could be
/// swapped out, else v1.
fn frame(json: &str, row: Row<'_>) -> StoreResult<(u8, Vec<u8>)> {
    match swap_out(json, row) {
        Some(text) => {
            let frame = compress(&text)?;
            let body = frame
                .strip_prefix(&ZSTD_MAGIC[..])
                .ok_or_else(|| io(std::io::Error::other("zstd wrote no magic number")))?;
            Ok((FORMAT_V2, body.to_vec()))
        }
        None => Ok((FORMAT_V1, compress(json)?)),
    }
}

/// The value to store for a record's JSON text.
pub(super) fn pack(json: &str, row: Row<'_>) -> StoreResult<Vec<u8>> {
    let (format, frame) = frame(json, row)?;
    let mut out = Vec::with_capacity(frame.len() + 1);
    out.push(format);
    out.extend_from_slice(&frame);
    Ok(out)
}

/// The value to store in a text column (PostgreSQL's `TEXT` holds no arbitrary bytes): the
/// same frame in base64 after `z1:` or `z2:`.
pub(super) fn pack_text(json: &str, row: Row<'_>) -> StoreResult<String> {
    use base64::Engine;
    let (format, frame) = frame(json, row)?;
    let prefix = if format == FORMAT_V2 {
        TEXT_V2
    } else {
        TEXT_V1
    };
    Ok(format!(
        "{prefix}{}",
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(frame)
    ))
}

/// Each chained entry's stored content, `pack`ed (SQLite) or `pack_text`ed (PostgreSQL), in
/// chunks of `rows` to go with the entries' own chunks into multi-row inserts.
pub(super) fn packed_chunks<T>(
    chained: &[(super::AuditEntry, i64)],
    pack: fn(&str, Row<'_>) -> StoreResult<T>,
    rows: usize,
) -> StoreResult<Vec<Vec<T>>> {
    chained
        .chunks(rows)
        .map(|chunk| {
            chunk
                .iter()
                .map(|(e, at)| {
                    let row = Row {
                        request_id: &e.request_id,
                        agent_id: e.agent_id.as_deref(),
                        at: *at,
                    };
                    pack(&e.content, row)
                })
                .collect()
        })
        .collect()
}

/// A record's JSON text from what the store holds, in any of its forms, and its row.
pub(super) fn unpack(stored: &[u8], row: Row<'_>) -> StoreResult<String> {
    use base64::Engine;
    let b64 = |text: &[u8]| {
        base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(text)
            .map_err(|_| StoreError::Corrupt("an audit entry's content is not base64".into()))
    };
    let (format, frame): (u8, Cow<'_, [u8]>) =
        if let Some(text) = stored.strip_prefix(TEXT_V1.as_bytes()) {
            (FORMAT_V1, Cow::Owned(b64(text)?))
        } else if let Some(text) = stored.strip_prefix(TEXT_V2.as_bytes()) {
            (FORMAT_V2, Cow::Owned(b64(text)?))
        } else {
            match stored.split_first() {
                Some((&f @ (FORMAT_V1 | FORMAT_V2), frame)) => (f, Cow::Borrowed(frame)),
                Some((b'{', _)) => return utf8(stored.to_vec()),
                _ => {
                    return Err(StoreError::Corrupt(
                        "an audit entry's content is in no form Bollard writes".into(),
                    ));
                }
            }
        };
    if format == FORMAT_V1 {
        return utf8(decompress(&frame)?);
    }
    let whole = [&ZSTD_MAGIC[..], &frame].concat();
    swap_in(utf8(decompress(&whole)?)?, row)
}

fn utf8(bytes: Vec<u8>) -> StoreResult<String> {
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

/// A content column as read back, still packed: [`unpack`] needs its row.
#[derive(Debug)]
pub(super) struct Stored(pub(super) Vec<u8>);

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
        Ok(Stored(<Vec<u8> as sqlx::Decode<sqlx::Sqlite>>::decode(
            value,
        )?))
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
        let text = <String as sqlx::Decode<sqlx::Postgres>>::decode(value)?;
        Ok(Stored(text.into_bytes()))
    }
}

/// An audit row's request or agent id as SQLite keeps it: `prefix` and 32 lowercase hex
/// digits (what Bollard makes, a UUID) as their 16 bytes, any other id as its text. The
/// two never compare equal, so a lookup binds the same form ([`id_value`]).
#[derive(Debug)]
pub(super) enum IdValue<'a> {
    Bytes([u8; 16]),
    Text(&'a str),
}

pub(super) const REQUEST_ID: &str = "req_";
pub(super) const AGENT_ID: &str = "agt_";

/// How SQLite keeps the id `id` of a column whose ids Bollard makes as `prefix` + hex.
pub(super) fn id_value<'a>(prefix: &str, id: &'a str) -> IdValue<'a> {
    let bytes = id.strip_prefix(prefix).and_then(|digits| {
        // Lowercase only: the bytes must read back as exactly this text.
        let canonical = digits.len() == 32
            && digits
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        let mut out = [0u8; 16];
        (canonical && hex::decode_to_slice(digits, &mut out).is_ok()).then_some(out)
    });
    match bytes {
        Some(b) => IdValue::Bytes(b),
        None => IdValue::Text(id),
    }
}

impl sqlx::Type<sqlx::Sqlite> for IdValue<'_> {
    fn type_info() -> sqlx::sqlite::SqliteTypeInfo {
        <Stored as sqlx::Type<sqlx::Sqlite>>::type_info()
    }
}

impl<'q> sqlx::Encode<'q, sqlx::Sqlite> for IdValue<'q> {
    fn encode_by_ref(
        &self,
        buf: &mut Vec<sqlx::sqlite::SqliteArgumentValue<'q>>,
    ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        match self {
            IdValue::Bytes(b) => <Vec<u8> as sqlx::Encode<sqlx::Sqlite>>::encode(b.to_vec(), buf),
            IdValue::Text(t) => <&str as sqlx::Encode<sqlx::Sqlite>>::encode(*t, buf),
        }
    }
}

/// An id column as read back: 16 bytes ([`IdValue::Bytes`]) or text, made whole by
/// [`StoredId::text`] with the column's prefix.
#[derive(Debug)]
pub(super) enum StoredId {
    Bytes(Vec<u8>),
    Text(String),
}

impl StoredId {
    pub(super) fn text(self, prefix: &str) -> StoreResult<String> {
        match self {
            StoredId::Text(t) => Ok(t),
            StoredId::Bytes(b) if b.len() == 16 => Ok(format!("{prefix}{}", hex::encode(b))),
            StoredId::Bytes(_) => Err(StoreError::Corrupt(
                "an audit entry's id is in no form Bollard writes".into(),
            )),
        }
    }
}

impl sqlx::Type<sqlx::Sqlite> for StoredId {
    fn type_info() -> sqlx::sqlite::SqliteTypeInfo {
        <Stored as sqlx::Type<sqlx::Sqlite>>::type_info()
    }
    fn compatible(ty: &sqlx::sqlite::SqliteTypeInfo) -> bool {
        <Stored as sqlx::Type<sqlx::Sqlite>>::compatible(ty)
    }
}

impl<'r> sqlx::Decode<'r, sqlx::Sqlite> for StoredId {
    fn decode(value: sqlx::sqlite::SqliteValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
        use sqlx::{TypeInfo, ValueRef};
        if value.type_info().name() == "BLOB" {
            Ok(StoredId::Bytes(
                <Vec<u8> as sqlx::Decode<sqlx::Sqlite>>::decode(value)?,
            ))
        } else {
            Ok(StoredId::Text(
                <String as sqlx::Decode<sqlx::Sqlite>>::decode(value)?,
            ))
        }
    }
}

impl sqlx::Type<sqlx::Postgres> for StoredId {
    fn type_info() -> sqlx::postgres::PgTypeInfo {
        <String as sqlx::Type<sqlx::Postgres>>::type_info()
    }
    fn compatible(ty: &sqlx::postgres::PgTypeInfo) -> bool {
        <String as sqlx::Type<sqlx::Postgres>>::compatible(ty)
    }
}

impl<'r> sqlx::Decode<'r, sqlx::Postgres> for StoredId {
    fn decode(value: sqlx::postgres::PgValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
        Ok(StoredId::Text(
            <String as sqlx::Decode<sqlx::Postgres>>::decode(value)?,
        ))
    }
}

/// A chain hash as SQLite keeps it: the 32 bytes of its hex (any other text, as given).
pub(super) fn hash_bytes(hex_digest: &str) -> Vec<u8> {
    // Into a fixed array, not `hex::decode`'s growing vector: two of these a record, in the
    // audit thread's time (issue 16).
    let mut digest = [0u8; 32];
    match hex::decode_to_slice(hex_digest, &mut digest) {
        Ok(()) => digest.to_vec(),
        Err(_) => hex_digest.as_bytes().to_vec(),
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

    const REQ: &str = "req_01a2410c2d317730ac3ccffbca57116e";
    const AGT: &str = "agt_01a2410bf3c67339a702547ae06d563f";
    /// 2026-12-04T12:34:06.769267873Z
    const AT: i64 = 1_796_387_646_769_267_873;
    const JSON: &str = r#"{"kind":"decision","request_id":"req_01a2410c2d317730ac3ccffbca57116e","at":"2026-12-04T12:34:06.769267873Z","agent_id":"agt_01a2410bf3c67339a702547ae06d563f","agent_name":"Research Bot","channel":"rest","source":"10.0.0.7","method":"POST","path":"/api/v1/mixed_people/api_search","action":"people.search","decision":"allowed","reason":"Research Bot may search the people database: 'People' is Read for this agent.","rule_ids":["grant:people"],"sentence":"Research Bot, over REST, asked to search Apollo's people database for \"CFO\" in Germany (page 2, 25 per page): allowed. Sending it to Apollo.","arguments":{"person_titles":["CFO"],"person_locations":["Germany"],"page":2,"per_page":25}}"#;

    fn row() -> Row<'static> {
        Row {
            request_id: REQ,
            agent_id: Some(AGT),
            at: AT,
        }
    }

    /// Format v1 as earlier builds wrote it.
    fn v1(json: &str) -> Vec<u8> {
        let mut out = vec![FORMAT_V1];
        out.extend(compress(json).unwrap());
        out
    }

    #[test]
    fn a_record_comes_back_exactly_and_much_smaller() {
        let packed = pack(JSON, row()).unwrap();
        assert_eq!(packed[0], FORMAT_V2);
        assert!(
            packed.len() * 4 < JSON.len(),
            "{} bytes of {}",
            packed.len(),
            JSON.len()
        );
        assert_eq!(unpack(&packed, row()).unwrap(), JSON);
    }

    #[test]
    fn the_rows_ids_and_time_are_left_to_the_row() {
        let v1 = v1(JSON);
        let v2 = pack(JSON, row()).unwrap();
        // Two random ids and a timestamp cost v1 about 70 bytes; v2 one byte each (201 -> 127
        // bytes when this was written).
        assert!(
            v2.len() + 60 <= v1.len(),
            "v2 {} bytes, v1 {}",
            v2.len(),
            v1.len()
        );
        // Read with another row, the same bytes say something else, so the chain hash (over
        // the text) catches a row whose id or time was edited.
        let other = Row {
            request_id: "req_ffffffffffffffffffffffffffffffff",
            ..row()
        };
        let read = unpack(&v2, other).unwrap();
        assert!(read.contains("req_ffff") && !read.contains(REQ), "{read}");
        // A mark for an agent the row does not hold is corrupt, not guessed.
        let no_agent = Row {
            agent_id: None,
            ..row()
        };
        assert!(matches!(unpack(&v2, no_agent), Err(StoreError::Corrupt(_))));
    }

    #[test]
    fn format_v1_written_before_still_reads() {
        assert_eq!(unpack(&v1(JSON), row()).unwrap(), JSON);
        // Its text form too.
        let text = format!(
            "z1:{}",
            base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD_NO_PAD,
                compress(JSON).unwrap()
            )
        );
        assert_eq!(unpack(text.as_bytes(), row()).unwrap(), JSON);
    }

    #[test]
    fn text_holding_a_mark_is_kept_without_swapping() {
        // No record serde_json writes holds a raw control byte, but content is any text.
        let json = "{\"kind\":\"admin\",\"note\":\"\u{1}req_01a2410c2d317730ac3ccffbca57116e\"}";
        let packed = pack(json, row()).unwrap();
        assert_eq!(packed[0], FORMAT_V1);
        assert_eq!(unpack(&packed, row()).unwrap(), json);
        // So is a row value holding one.
        let odd = Row {
            agent_id: Some("agt\u{2}"),
            ..row()
        };
        let packed = pack(JSON, odd).unwrap();
        assert_eq!(packed[0], FORMAT_V1);
        assert_eq!(unpack(&packed, odd).unwrap(), JSON);
    }

    #[test]
    fn values_that_overlap_in_the_text_are_swapped_leftmost_first_and_come_back() {
        let row = Row {
            request_id: "aba",
            agent_id: Some("bab"),
            at: 0,
        };
        // "aba" at 0 is swapped; "bab" at 1 overlaps it and stays as text. So does "bab" at 3,
        // as it overlaps that one (a value's own occurrences are found without overlapping).
        assert_eq!(swap_out("ababab", row).unwrap(), "\u{1}bab");
        assert_eq!(
            swap_in(swap_out("ababab", row).unwrap(), row).unwrap(),
            "ababab"
        );
        // Each value, wherever it is, and text around them of several bytes a character.
        let json = "é aba… bab aba😀";
        assert_eq!(swap_out(json, row).unwrap(), "é \u{1}… \u{2} \u{1}😀");
        let packed = pack(json, row).unwrap();
        assert_eq!(packed[0], FORMAT_V2);
        assert_eq!(unpack(&packed, row).unwrap(), json);
    }

    #[test]
    fn the_text_form_comes_back_exactly() {
        let json = r#"{"kind":"outcome","request_id":"req_01a2410c2d317730ac3ccffbca57116e","sentence":"Research Bot, over MCP, searched Apollo's company database: allowed."}"#;
        let text = pack_text(json, row()).unwrap();
        assert!(text.starts_with("z2:") && text.is_ascii(), "{text}");
        assert_eq!(unpack(text.as_bytes(), row()).unwrap(), json);
        assert!(matches!(
            unpack(b"z1:!!", row()),
            Err(StoreError::Corrupt(_))
        ));
        assert!(matches!(
            unpack(b"z2:!!", row()),
            Err(StoreError::Corrupt(_))
        ));
    }

    #[test]
    fn text_written_before_compression_reads_as_it_is() {
        assert_eq!(
            unpack(br#"{"kind":"admin"}"#, row()).unwrap(),
            r#"{"kind":"admin"}"#
        );
    }

    #[test]
    fn a_value_in_no_known_form_is_corrupt_not_guessed() {
        for bad in [
            &b""[..],
            b"\x03abc",
            b"\x01not zstd",
            b"\x02not zstd",
            b"[1]",
        ] {
            assert!(
                matches!(unpack(bad, row()), Err(StoreError::Corrupt(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn ids_bollard_makes_are_kept_in_16_bytes_and_others_as_text() {
        let IdValue::Bytes(b) = id_value(REQUEST_ID, REQ) else {
            panic!("a request id Bollard makes is kept as bytes")
        };
        assert_eq!(StoredId::Bytes(b.to_vec()).text(REQUEST_ID).unwrap(), REQ);
        // Anything that would not read back as exactly itself stays text.
        for other in [
            "req_01A2410C2D317730AC3CCFFBCA57116E",
            "req_01a2410c2d317730ac3ccffbca57116",
            "agt_01a2410bf3c67339a702547ae06d563f",
            "req_1",
            "",
        ] {
            assert!(
                matches!(id_value(REQUEST_ID, other), IdValue::Text(t) if t == other),
                "{other}"
            );
        }
        assert!(matches!(
            StoredId::Bytes(vec![1; 15]).text(AGENT_ID),
            Err(StoreError::Corrupt(_))
        ));
    }

    proptest::proptest! {
        /// Whatever the text and the row's values, what is packed reads back exactly.
        #[test]
        fn any_record_and_row_come_back_exactly(
            json in "[\\x00-\\x7f\u{e9}\u{1F600}]{0,80}",
            request_id in "(req_)?[\\x00-\\x7fa-f]{0,12}",
            agent_id in proptest::option::of("[\\x00-\\x05a-z\"]{0,6}"),
            at in proptest::prelude::any::<i64>(),
            pieces in proptest::collection::vec(0usize..3, 0..4),
        ) {
            let row = Row { request_id: &request_id, agent_id: agent_id.as_deref(), at };
            // Put the row's own values into the text, as records do.
            let at_text = row.swaps()[2].1.clone().unwrap_or_default();
            let mut json = json;
            for p in pieces {
                json.push_str(match p {
                    0 => &request_id,
                    1 => agent_id.as_deref().unwrap_or(""),
                    _ => &at_text,
                });
            }
            let packed = pack(&json, row).unwrap();
            proptest::prop_assert_eq!(&unpack(&packed, row).unwrap(), &json);
            let text = pack_text(&json, row).unwrap();
            proptest::prop_assert_eq!(&unpack(text.as_bytes(), row).unwrap(), &json);
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
