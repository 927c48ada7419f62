//! Identifiers and states that cross module boundaries, parsed once into types:
//! event ids, issue short ids (`WEB-1A`) and issue statuses. Pure, no I/O; used by
//! `ingest`, `event`, `store`, `api` and `notify` alike.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An event id: 32 lowercase hex digits, whatever UUID form the SDK sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventId([u8; 32]);

/// Why a string is not an event id; the text is what the normalizer records in `_meta`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidEventId(pub String);

impl EventId {
    /// Parses 32 hex digits, or the hyphenated (8-4-4-4-12) or braced forms, in any
    /// case (the normalizer's rules; `urn:uuid:` fails the character check).
    pub fn parse(raw: &str) -> Result<Self, InvalidEventId> {
        let err = |m: String| Err(InvalidEventId(m));
        for (i, c) in raw.chars().enumerate() {
            if !(c.is_ascii_hexdigit() || matches!(c, '-' | '{' | '}' | ':')) {
                return err(format!("invalid character: found `{c}` at {i}"));
            }
        }
        let inner = raw.strip_prefix('{').and_then(|r| r.strip_suffix('}')).unwrap_or(raw);
        let hex: Vec<u8> = match inner.len() {
            32 => inner.bytes().collect(),
            36 => {
                let bytes = inner.as_bytes();
                let dashes_ok = [8, 13, 18, 23].iter().all(|&i| bytes.get(i) == Some(&b'-'));
                if !dashes_ok {
                    return err("invalid group structure: expected 8-4-4-4-12 hex digits".to_owned());
                }
                inner.bytes().filter(|&c| c != b'-').collect()
            }
            n => return err(format!("invalid length: expected 32 or 36 characters, found {n}")),
        };
        let Ok(mut out) = <[u8; 32]>::try_from(hex) else {
            return err("invalid format: expected 32 hex digits".to_owned());
        };
        if !out.iter().all(u8::is_ascii_hexdigit) {
            return err("invalid format: expected 32 hex digits".to_owned());
        }
        out.make_ascii_lowercase();
        Ok(EventId(out))
    }

    /// A fresh random (v4) event id.
    pub fn new_random() -> Self {
        let mut out = [0u8; 32];
        out.copy_from_slice(uuid::Uuid::new_v4().simple().to_string().as_bytes());
        EventId(out)
    }

    /// An id as a URL or a search box names it: hyphens anywhere are ignored, as lookups
    /// always have; `None` when what is left is not an event id (a lookup answers "not found").
    pub fn parse_lookup(raw: &str) -> Option<Self> {
        let digits: String = raw.chars().filter(|c| *c != '-').collect();
        EventId::parse(&digits).ok()
    }

    /// The 16 bytes the digits spell, as the stores keep the id.
    pub fn to_bytes(&self) -> [u8; 16] {
        let mut out = [0u8; 16];
        for (byte, pair) in out.iter_mut().zip(self.0.chunks_exact(2)) {
            *byte = (hex_value(pair[0]) << 4) | hex_value(pair[1]);
        }
        out
    }

    /// The id whose 32 hex digits spell these 16 bytes.
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; 32];
        for (pair, byte) in out.chunks_exact_mut(2).zip(bytes) {
            pair[0] = DIGITS[usize::from(byte >> 4)];
            pair[1] = DIGITS[usize::from(byte & 0x0f)];
        }
        EventId(out)
    }

    /// The 32 lowercase hex digits.
    pub fn as_str(&self) -> &str {
        // Only ASCII hex digits are ever stored.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

/// The value of one lowercase hex digit (only those are ever stored in an `EventId`).
fn hex_value(digit: u8) -> u8 {
    match digit {
        b'0'..=b'9' => digit - b'0',
        b'a'..=b'f' => digit - b'a' + 10,
        _ => 0,
    }
}

#[cfg(test)]
impl EventId {
    /// The id a test names: 32 hex digits as they are, a short name (`"e1"`) as its bytes
    /// in hex, zero-padded, so tests keep readable names.
    pub(crate) fn named(name: &str) -> Self {
        EventId::parse(name)
            .or_else(|_| EventId::parse(&format!("{:0>32}", hex::encode(name))))
            .expect("a name of at most 16 bytes")
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EventId {
    type Err = InvalidEventId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for EventId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for EventId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        EventId::parse(&raw).map_err(serde::de::Error::custom)
    }
}

const CROCKFORD: &str = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// An issue's short id, `WEB-1A`: the project slug upper-cased, a dash, and the
/// per-project issue number in Crockford base32.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ShortId {
    /// The project slug, lower case.
    pub slug: String,
    /// The per-project issue number.
    pub number: i64,
}

impl ShortId {
    pub fn new(project_slug: &str, number: i64) -> Self {
        ShortId {
            slug: project_slug.to_lowercase(),
            number,
        }
    }

    /// Parses `WEB-1A` (any case); the slug is everything before the last dash.
    pub fn parse(raw: &str) -> Option<Self> {
        let (slug, code) = raw.rsplit_once('-')?;
        let mut n: i64 = 0;
        for c in code.chars() {
            let digit = CROCKFORD.find(c.to_ascii_uppercase())? as i64;
            n = n.checked_mul(32)?.checked_add(digit)?;
        }
        (!slug.is_empty() && !code.is_empty()).then(|| ShortId {
            slug: slug.to_lowercase(),
            number: n,
        })
    }
}

impl fmt::Display for ShortId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let alphabet = CROCKFORD.as_bytes();
        let mut n = self.number.max(0) as u64;
        let mut digits = Vec::new();
        loop {
            digits.push(alphabet[(n % 32) as usize] as char);
            n /= 32;
            if n == 0 {
                break;
            }
        }
        let encoded: String = digits.into_iter().rev().collect();
        write!(f, "{}-{encoded}", self.slug.to_uppercase())
    }
}

/// An issue's status as stored. The API's aliases (`muted`,
/// `resolvedInNextRelease`) are parsed by [`IssueStatus::from_api`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IssueStatus {
    Unresolved,
    Resolved,
    Ignored,
}

impl IssueStatus {
    pub const ALL: [IssueStatus; 3] = [IssueStatus::Unresolved, IssueStatus::Resolved, IssueStatus::Ignored];

    pub fn as_str(self) -> &'static str {
        match self {
            IssueStatus::Unresolved => "unresolved",
            IssueStatus::Resolved => "resolved",
            IssueStatus::Ignored => "ignored",
        }
    }

    /// The stored spelling only.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "unresolved" => Some(IssueStatus::Unresolved),
            "resolved" => Some(IssueStatus::Resolved),
            "ignored" => Some(IssueStatus::Ignored),
            _ => None,
        }
    }

    /// A status an API client may send: the stored spellings, `muted` (ignored) and
    /// `resolvedInNextRelease` (resolved; the flag says to record `inNextRelease`).
    pub fn from_api(raw: &str) -> Option<(Self, bool)> {
        match raw {
            "muted" => Some((IssueStatus::Ignored, false)),
            "resolvedInNextRelease" => Some((IssueStatus::Resolved, true)),
            other => Self::parse(other).map(|s| (s, false)),
        }
    }
}

impl fmt::Display for IssueStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for IssueStatus {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn event_ids_accept_every_uuid_form() {
        let want = "52df9022835246eeb317dbd739ccd059";
        for raw in [
            "52df9022835246eeb317dbd739ccd059",
            "52DF9022835246EEB317DBD739CCD059",
            "52DF9022-8352-46EE-B317-DBD739CCD059",
            "52df9022-8352-46ee-b317-dbd739ccd059",
            "{52df9022-8352-46ee-b317-dbd739ccd059}",
            "{52df9022835246eeb317dbd739ccd059}",
        ] {
            assert_eq!(
                EventId::parse(raw).map(|id| id.to_string()),
                Ok(want.to_owned()),
                "{raw}"
            );
        }
        assert!(EventId::parse("52df9022835246eeb317dbd739ccd05").is_err());
        assert!(EventId::parse("52df902-28352-46ee-b317-dbd739ccd059").is_err());
        assert!(EventId::parse("").is_err());
        // The character check runs first, so the `urn:uuid:` form is not accepted.
        assert!(EventId::parse("urn:uuid:52df9022-8352-46ee-b317-dbd739ccd059").is_err());
        assert!(EventId::parse("52df9022835246eeb317dbd739ccd05g").is_err());
        assert_eq!(
            EventId::parse("not-a-uuid"),
            Err(InvalidEventId("invalid character: found `n` at 0".to_owned()))
        );
    }

    #[test]
    fn event_ids_serialize_as_plain_strings() {
        let id = EventId::parse("52DF9022-8352-46EE-B317-DBD739CCD059").unwrap();
        assert_eq!(
            serde_json::to_string(&id).unwrap(),
            "\"52df9022835246eeb317dbd739ccd059\""
        );
        let back: EventId = serde_json::from_str("\"52df9022835246eeb317dbd739ccd059\"").unwrap();
        assert_eq!(back, id);
        assert!(serde_json::from_str::<EventId>("\"nope\"").is_err());
    }

    #[test]
    fn event_ids_round_trip_through_their_16_bytes() {
        let id = EventId::parse("52df9022835246eeb317dbd739ccd059").unwrap();
        let bytes = id.to_bytes();
        assert_eq!(bytes[0], 0x52);
        assert_eq!(bytes[15], 0x59);
        assert_eq!(bytes, *uuid::Uuid::parse_str(id.as_str()).unwrap().as_bytes());
        assert_eq!(EventId::from_bytes(bytes), id);
        assert_eq!(EventId::from_bytes([0; 16]).as_str(), "0".repeat(32));
        assert_eq!(EventId::from_bytes([0xff; 16]).as_str(), "f".repeat(32));
    }

    #[test]
    fn lookups_ignore_hyphens_and_refuse_what_is_not_an_id() {
        let want = EventId::parse("52df9022835246eeb317dbd739ccd059").ok();
        assert_eq!(EventId::parse_lookup("52DF9022-8352-46EE-B317-DBD739CCD059"), want);
        assert_eq!(EventId::parse_lookup("52df902-28352-46ee-b317-dbd739ccd059"), want);
        assert_eq!(EventId::parse_lookup("nope"), None);
        assert_eq!(EventId::parse_lookup("e2"), None);
        assert_eq!(EventId::parse_lookup(""), None);
    }

    #[test]
    fn short_ids_render_and_parse() {
        assert_eq!(ShortId::new("shop", 1).to_string(), "SHOP-1");
        assert_eq!(ShortId::new("shop", 42).to_string(), "SHOP-1A");
        assert_eq!(ShortId::new("my-shop", 32).to_string(), "MY-SHOP-10");
        assert_eq!(ShortId::parse("SHOP-1A"), Some(ShortId::new("shop", 42)));
        assert_eq!(ShortId::parse("shop-1a"), Some(ShortId::new("shop", 42)));
        assert_eq!(ShortId::parse("MY-SHOP-10"), Some(ShortId::new("my-shop", 32)));
        assert_eq!(ShortId::parse("nodash"), None);
        assert_eq!(ShortId::parse("-1"), None);
        assert_eq!(ShortId::parse("SHOP-"), None);
        assert_eq!(ShortId::parse("SHOP-1U"), None);
        assert_eq!(ShortId::parse("SHOP-ZZZZZZZZZZZZZZZ"), None);
    }

    #[test]
    fn statuses_parse_stored_and_api_spellings() {
        for s in IssueStatus::ALL {
            assert_eq!(IssueStatus::parse(s.as_str()), Some(s));
            assert_eq!(IssueStatus::from_api(s.as_str()), Some((s, false)));
        }
        assert_eq!(IssueStatus::from_api("muted"), Some((IssueStatus::Ignored, false)));
        assert_eq!(
            IssueStatus::from_api("resolvedInNextRelease"),
            Some((IssueStatus::Resolved, true))
        );
        assert_eq!(IssueStatus::parse("muted"), None);
        assert_eq!(IssueStatus::from_api("Resolved"), None);
        assert_eq!(serde_json::to_string(&IssueStatus::Ignored).unwrap(), "\"ignored\"");
    }

    proptest! {
        #[test]
        fn event_id_display_parses_back(bytes in any::<[u8; 16]>(), upper in any::<bool>(), form in 0..3u8) {
            let uuid = uuid::Uuid::from_bytes(bytes);
            let raw = match form {
                0 => uuid.simple().to_string(),
                1 => uuid.hyphenated().to_string(),
                _ => uuid.braced().to_string(),
            };
            let raw = if upper { raw.to_ascii_uppercase() } else { raw };
            let id = EventId::parse(&raw).unwrap();
            prop_assert_eq!(id.to_string(), uuid.simple().to_string());
            prop_assert_eq!(EventId::parse(&id.to_string()).unwrap(), id);
        }

        #[test]
        fn event_id_parse_never_panics(raw in "\\PC{0,40}") {
            if let Ok(id) = EventId::parse(&raw) {
                prop_assert_eq!(id.as_str().len(), 32);
                prop_assert!(id.as_str().bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
            }
        }

        #[test]
        fn event_id_bytes_match_the_uuid_bytes(bytes in any::<[u8; 16]>()) {
            let id = EventId::from_bytes(bytes);
            prop_assert_eq!(id.as_str(), uuid::Uuid::from_bytes(bytes).simple().to_string());
            prop_assert_eq!(id.to_bytes(), bytes);
            prop_assert_eq!(EventId::parse(id.as_str()).unwrap(), id);
        }

        #[test]
        fn short_id_display_parses_back(slug in "[a-z][a-z0-9-]{0,20}", number in 0..i64::MAX) {
            let id = ShortId::new(&slug, number);
            prop_assert_eq!(ShortId::parse(&id.to_string()), Some(id.clone()));
            prop_assert_eq!(ShortId::parse(&id.to_string().to_lowercase()), Some(id));
        }
    }
}
