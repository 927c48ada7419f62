//! How a stored event's JSON is compressed: one zstd frame, level 1, with a dictionary
//! trained on real SDK events and shipped in the binary (`scripts/train_payload_dictionary.py`).
//!
//! The dictionary holds what every event repeats (field names, SDK and runtime contexts,
//! the fields normalization adds), so a row is 8–32% smaller than without it, for ~5%
//! more compression time. Each frame names its dictionary in its header; frames without one
//! (rows written before the dictionary, or by tools) are read as they are.

use std::cell::RefCell;
use std::io::Read;
use std::sync::LazyLock;

use zstd::bulk::Compressor;
use zstd::dict::{DecoderDictionary, EncoderDictionary};

use super::StoreError;

/// The dictionary's id, as written in its header and in every frame compressed with it.
pub const DICTIONARY_ID: u32 = 0x4552_5201;

const DICTIONARY: &[u8] = include_bytes!("payload.dict");

/// zstd level 1: fast, and a good ratio for JSON; compression runs on every event.
const LEVEL: i32 = 1;

static ENCODER: LazyLock<EncoderDictionary<'static>> = LazyLock::new(|| EncoderDictionary::copy(DICTIONARY, LEVEL));
static DECODER: LazyLock<DecoderDictionary<'static>> = LazyLock::new(|| DecoderDictionary::copy(DICTIONARY));

thread_local! {
    /// One compression context per thread: creating one per event costs more than compressing
    /// a medium event (it allocates and clears several hundred KB of tables).
    static COMPRESSOR: RefCell<Option<Compressor<'static>>> = const { RefCell::new(None) };
}

/// Compresses a stored event's JSON into one zstd frame that names the dictionary.
pub fn compress(json: &[u8]) -> std::io::Result<Vec<u8>> {
    COMPRESSOR.with(|cell| {
        let mut slot = cell.try_borrow_mut().map_err(std::io::Error::other)?;
        let compressor = match slot.as_mut() {
            Some(c) => c,
            None => slot.insert(Compressor::with_prepared_dictionary(&ENCODER)?),
        };
        compressor.compress(json)
    })
}

/// The JSON of a stored payload, whether its frame names the dictionary or none.
pub fn decompress(blob: &[u8]) -> Result<Vec<u8>, StoreError> {
    let corrupt = |e: std::io::Error| StoreError::Corrupt(e.to_string());
    match zstd::zstd_safe::get_dict_id_from_frame(blob).map(|id| id.get()) {
        None => zstd::decode_all(blob).map_err(corrupt),
        Some(DICTIONARY_ID) => {
            let mut json = Vec::new();
            zstd::stream::read::Decoder::with_prepared_dictionary(blob, &DECODER)
                .and_then(|mut decoder| decoder.read_to_end(&mut json))
                .map_err(corrupt)?;
            Ok(json)
        }
        Some(other) => Err(StoreError::Corrupt(format!(
            "payload compressed with unknown dictionary {other}"
        ))),
    }
}

/// A stored payload as the event JSON it holds.
pub fn decode_payload(blob: &[u8]) -> Result<serde_json::Value, StoreError> {
    serde_json::from_slice(&decompress(blob)?).map_err(|e| StoreError::Corrupt(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "event_id": "0123456789abcdef0123456789abcdef",
            "platform": "python",
            "level": "error",
            "exception": {"values": [{"type": "ValueError", "value": "bad input", "stacktrace": {"frames": [
                {"filename": "app/views.py", "function": "handler", "lineno": 12, "in_app": true}
            ]}}]},
            "contexts": {"runtime": {"name": "CPython", "version": "3.11.7", "type": "runtime"}},
            "sdk": {"name": "sentry.python", "version": "2.19.0"},
        }))
        .expect("serializes")
    }

    #[test]
    fn the_shipped_dictionary_has_its_id() {
        let id = zstd::zstd_safe::get_dict_id_from_dict(DICTIONARY).map(|id| id.get());
        assert_eq!(id, Some(DICTIONARY_ID));
    }

    #[test]
    fn a_payload_names_the_dictionary_and_reads_back() {
        let json = event();
        let blob = compress(&json).expect("compresses");
        assert_eq!(
            zstd::zstd_safe::get_dict_id_from_frame(&blob).map(|id| id.get()),
            Some(DICTIONARY_ID)
        );
        assert_eq!(decompress(&blob).expect("decompresses"), json);
    }

    #[test]
    fn the_dictionary_makes_an_sdk_event_smaller() {
        let json = event();
        let with = compress(&json).expect("compresses").len();
        let without = zstd::bulk::compress(&json, LEVEL).expect("compresses").len();
        assert!(with < without, "{with} bytes with the dictionary, {without} without");
    }

    #[test]
    fn a_payload_without_a_dictionary_still_reads() {
        let json = event();
        let blob = zstd::bulk::compress(&json, LEVEL).expect("compresses");
        assert_eq!(decompress(&blob).expect("decompresses"), json);
    }

    #[test]
    fn an_unknown_dictionary_or_garbage_is_corrupt_not_a_panic() {
        let json = event();
        // The same dictionary under another id: a frame names it, and it is not ours.
        let mut other = DICTIONARY.to_vec();
        other[4..8].copy_from_slice(&(DICTIONARY_ID + 1).to_le_bytes());
        let blob = Compressor::with_dictionary(LEVEL, &other)
            .and_then(|mut c| c.compress(&json))
            .expect("compresses");
        assert_eq!(
            zstd::zstd_safe::get_dict_id_from_frame(&blob).map(|id| id.get()),
            Some(DICTIONARY_ID + 1)
        );
        assert!(matches!(decompress(&blob), Err(StoreError::Corrupt(m)) if m.contains("unknown dictionary")));
        assert!(matches!(decompress(b"not zstd"), Err(StoreError::Corrupt(_))));
        let blob = compress(&json).expect("compresses");
        assert!(matches!(
            decompress(&blob[..blob.len() / 2]),
            Err(StoreError::Corrupt(_))
        ));
    }
}
