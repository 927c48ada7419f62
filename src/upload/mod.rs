//! What sentry-cli uploads, checked before anything is kept: multipart chunk requests
//! (`multipart`), each chunk against its SHA-1 name, and assembled artifact bundles (`bundle`:
//! a zip with a manifest, bounded in every dimension). Pure: no I/O, no HTTP types.

pub mod bundle;
pub mod multipart;

use std::io::Read;

use sha1::{Digest, Sha1};

/// The bounds of uploads. `Default` holds the values the server announces to sentry-cli.
#[derive(Debug, Clone, Copy)]
pub struct UploadLimits {
    /// Bytes of one chunk (sentry-cli splits files into chunks of this size).
    pub chunk_size: usize,
    /// Chunks in one upload request.
    pub chunks_per_request: usize,
    /// Bytes of one upload request body.
    pub max_request_size: usize,
    /// Bytes of one assembled file (bundle archive).
    pub max_file_size: usize,
    /// Bytes of chunks an organization may hold before they are assembled.
    pub max_waiting_chunk_bytes: i64,
    /// Files in one bundle.
    pub max_bundle_files: usize,
    /// Uncompressed bytes of one file of a bundle.
    pub max_bundle_entry_size: u64,
    /// Uncompressed bytes of all files of a bundle.
    pub max_bundle_total_size: u64,
    /// Most uncompressed bytes per compressed byte of a bundle entry (past the small
    /// entries below `ratio_floor`): more is a zip bomb.
    pub max_compression_ratio: u64,
    pub ratio_floor: u64,
    /// Uncompressed bytes of files a project may hold.
    pub max_project_bytes: i64,
}

impl Default for UploadLimits {
    fn default() -> Self {
        UploadLimits {
            chunk_size: 8 << 20,
            chunks_per_request: 64,
            max_request_size: 32 << 20,
            max_file_size: 64 << 20,
            max_waiting_chunk_bytes: 512 << 20,
            max_bundle_files: 10_000,
            max_bundle_entry_size: 32 << 20,
            max_bundle_total_size: 256 << 20,
            max_compression_ratio: 200,
            ratio_floor: 1 << 20,
            max_project_bytes: 2 << 30,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UploadError {
    #[error("the request body is larger than {0} bytes")]
    RequestTooLarge(usize),
    #[error("malformed multipart body: {0}")]
    Multipart(&'static str),
    #[error("too many chunks in one request (at most {0})")]
    TooManyChunks(usize),
    #[error("a chunk is larger than {0} bytes")]
    ChunkTooLarge(usize),
    #[error("chunk names must be the 40 hex digits of their SHA-1, not {0:?}")]
    BadChecksum(String),
    #[error("chunk {0} does not match its SHA-1")]
    ChecksumMismatch(String),
    #[error("chunk {0} is not valid gzip")]
    BadGzip(String),
    #[error("invalid bundle: {0}")]
    Bundle(String),
    #[error("bundle refused: {0}")]
    BundleTooLarge(String),
}

/// A SHA-1 checksum as sentry-cli names chunks and files: 40 lower-case hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Checksum(String);

impl Checksum {
    pub fn parse(text: &str) -> Result<Checksum, UploadError> {
        let text = text.trim();
        if text.len() == 40 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(Checksum(text.to_ascii_lowercase()))
        } else {
            Err(UploadError::BadChecksum(text.chars().take(64).collect()))
        }
    }

    pub fn of(data: &[u8]) -> Checksum {
        Checksum(hex::encode(Sha1::digest(data)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// One part of a chunk upload, checked: its checksum and bytes (gunzipped when sent as
/// `file_gzip`, bounded by the chunk size).
pub fn check_chunk(
    field: &str,
    filename: Option<&str>,
    data: &[u8],
    limits: &UploadLimits,
) -> Result<Option<(Checksum, Vec<u8>)>, UploadError> {
    let gzip = match field {
        "file" => false,
        "file_gzip" => true,
        // Fields sentry-cli does not send are ignored, as Sentry does.
        _ => return Ok(None),
    };
    let checksum = Checksum::parse(filename.unwrap_or(""))?;
    let data = if gzip {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(data)
            .take(limits.chunk_size as u64 + 1)
            .read_to_end(&mut out)
            .map_err(|_| UploadError::BadGzip(checksum.0.clone()))?;
        out
    } else {
        data.to_vec()
    };
    if data.len() > limits.chunk_size {
        return Err(UploadError::ChunkTooLarge(limits.chunk_size));
    }
    if Checksum::of(&data) != checksum {
        return Err(UploadError::ChecksumMismatch(checksum.0));
    }
    Ok(Some((checksum, data)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_chunk_is_kept_only_under_its_own_sha1() {
        let limits = UploadLimits::default();
        let sum = Checksum::of(b"hello").into_string();
        let (checksum, data) = check_chunk("file", Some(&sum), b"hello", &limits)
            .expect("valid")
            .expect("a chunk");
        assert_eq!(checksum.as_str(), "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d");
        assert_eq!(data, b"hello");
        assert_eq!(
            check_chunk("file", Some(&sum), b"hellO", &limits),
            Err(UploadError::ChecksumMismatch(sum.clone()))
        );
        assert!(matches!(
            check_chunk("file", Some("../etc/passwd"), b"x", &limits),
            Err(UploadError::BadChecksum(_))
        ));
        assert_eq!(check_chunk("other", Some(&sum), b"x", &limits), Ok(None));
    }

    #[test]
    fn gzip_chunks_are_unpacked_within_the_chunk_size() {
        let limits = UploadLimits {
            chunk_size: 1000,
            ..UploadLimits::default()
        };
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&[b'a'; 500]).expect("writes");
        let small = gz.finish().expect("finishes");
        let sum = Checksum::of(&[b'a'; 500]).into_string();
        let (_, data) = check_chunk("file_gzip", Some(&sum), &small, &limits)
            .expect("valid")
            .expect("a chunk");
        assert_eq!(data.len(), 500);

        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&vec![b'a'; 1 << 20]).expect("writes");
        let bomb = gz.finish().expect("finishes");
        let sum = Checksum::of(&vec![b'a'; 1 << 20]).into_string();
        assert_eq!(
            check_chunk("file_gzip", Some(&sum), &bomb, &limits),
            Err(UploadError::ChunkTooLarge(1000))
        );
        assert!(matches!(
            check_chunk("file_gzip", Some(&sum), b"not gzip", &limits),
            Err(UploadError::BadGzip(_))
        ));
    }
}
