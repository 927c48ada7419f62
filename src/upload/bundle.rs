//! Artifact bundles as sentry-cli builds them: a zip holding `manifest.json` and the files
//! it lists (`files: {path: {url, type, headers: {debug-id, sourcemap}}}`). Untrusted, so
//! every dimension is bounded before anything is unpacked: the archive's size, its entry
//! count, each entry's declared and actual uncompressed size, their total, and each entry's
//! compression ratio (a zip bomb is refused, never inflated). Entry names that could escape
//! a directory are refused too, though files are only ever kept as rows.

use std::collections::HashMap;
use std::io::{Cursor, Read};

use serde::Deserialize;
use uuid::Uuid;

use super::{UploadError, UploadLimits};
use crate::store::artifacts::ArtifactKind;

/// Most bytes of `manifest.json`.
const MAX_MANIFEST_BYTES: u64 = 16 << 20;

/// One file of a bundle, read and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleFile {
    pub kind: ArtifactKind,
    pub url: Option<String>,
    pub debug_id: Option<Uuid>,
    pub sourcemap_ref: Option<String>,
    pub content: Vec<u8>,
}

/// What a bundle holds (files of types other than sources and maps are left out).
#[derive(Debug, Clone, Default)]
pub struct Bundle {
    pub files: Vec<BundleFile>,
    pub release: Option<String>,
    pub dist: Option<String>,
}

#[derive(Deserialize)]
struct Manifest {
    #[serde(default)]
    files: HashMap<String, ManifestFile>,
    #[serde(default)]
    release: Option<String>,
    #[serde(default)]
    dist: Option<String>,
}

#[derive(Deserialize)]
struct ManifestFile {
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    headers: HashMap<String, String>,
}

fn invalid(message: impl Into<String>) -> UploadError {
    UploadError::Bundle(message.into())
}

fn too_large(message: impl Into<String>) -> UploadError {
    UploadError::BundleTooLarge(message.into())
}

/// Reads a bundle archive, refusing it whole when any bound is crossed.
pub fn read_bundle(archive: &[u8], limits: &UploadLimits) -> Result<Bundle, UploadError> {
    if archive.len() > limits.max_file_size {
        return Err(too_large(format!(
            "the archive is larger than {} bytes",
            limits.max_file_size
        )));
    }
    let mut zip = zip::ZipArchive::new(Cursor::new(archive)).map_err(|_| invalid("not a zip archive"))?;
    if zip.len() > limits.max_bundle_files + 1 {
        return Err(too_large(format!("more than {} files", limits.max_bundle_files)));
    }
    // Every entry's name and declared sizes first, so nothing is inflated from an archive
    // that is refused.
    let mut declared_total: u64 = 0;
    for index in 0..zip.len() {
        let entry = zip.by_index_raw(index).map_err(|_| invalid("unreadable zip entry"))?;
        let name = entry
            .name()
            .map_err(|_| invalid("an entry name is not UTF-8"))?
            .to_string();
        check_entry_name(&name)?;
        if entry.encrypted() {
            return Err(invalid(format!("entry {name:?} is encrypted")));
        }
        check_sizes(&name, entry.size(), entry.compressed_size(), limits)?;
        declared_total = declared_total.saturating_add(entry.size());
        if declared_total > limits.max_bundle_total_size {
            return Err(too_large(format!(
                "the files add up to more than {} bytes",
                limits.max_bundle_total_size
            )));
        }
    }
    let manifest = read_entry(&mut zip, "manifest.json", MAX_MANIFEST_BYTES, limits)?
        .ok_or_else(|| invalid("no manifest.json"))?;
    let manifest: Manifest =
        serde_json::from_slice(&manifest).map_err(|e| invalid(format!("manifest.json is not valid: {e}")))?;
    if manifest.files.len() > limits.max_bundle_files {
        return Err(too_large(format!("more than {} files", limits.max_bundle_files)));
    }
    let mut paths: Vec<&String> = manifest.files.keys().collect();
    paths.sort();
    let mut files = Vec::new();
    let mut total: u64 = 0;
    for path in paths {
        check_entry_name(path)?;
        let info = &manifest.files[path];
        let Some(kind) = info.kind.as_deref().and_then(ArtifactKind::parse) else {
            continue;
        };
        let content = read_entry(&mut zip, path, limits.max_bundle_entry_size, limits)?
            .ok_or_else(|| invalid(format!("manifest.json lists {path:?}, which the archive does not hold")))?;
        total += content.len() as u64;
        if total > limits.max_bundle_total_size {
            return Err(too_large(format!(
                "the files add up to more than {} bytes",
                limits.max_bundle_total_size
            )));
        }
        let header = |name: &str| {
            info.headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.trim().to_string())
        };
        let debug_id = header("debug-id")
            .and_then(|id| Uuid::parse_str(&id).ok())
            .or_else(|| comment_value(&content, "debugId").and_then(|id| Uuid::parse_str(&id).ok()));
        let sourcemap_ref = match kind {
            ArtifactKind::MinifiedSource => header("sourcemap")
                .or_else(|| header("x-sourcemap"))
                .or_else(|| comment_value(&content, "sourceMappingURL")),
            _ => None,
        };
        files.push(BundleFile {
            kind,
            url: info.url.clone().filter(|u| !u.is_empty()),
            debug_id,
            sourcemap_ref,
            content,
        });
    }
    Ok(Bundle {
        files,
        release: manifest.release.filter(|r| !r.is_empty()),
        dist: manifest.dist.filter(|d| !d.is_empty()),
    })
}

/// Refuses names that are absolute or climb out of the archive (`..`), or hold NUL or
/// backslashes.
pub fn check_entry_name(name: &str) -> Result<(), UploadError> {
    let bad = name.is_empty()
        || name.len() > 1024
        || name.starts_with('/')
        || name.contains('\\')
        || name.contains('\0')
        || name.as_bytes().get(1) == Some(&b':')
        || name.split('/').any(|part| part == "..");
    if bad {
        Err(invalid(format!(
            "entry name {:?} is not allowed",
            name.chars().take(128).collect::<String>()
        )))
    } else {
        Ok(())
    }
}

fn check_sizes(name: &str, size: u64, compressed: u64, limits: &UploadLimits) -> Result<(), UploadError> {
    if size > limits.max_bundle_entry_size {
        return Err(too_large(format!(
            "{name:?} is larger than {} bytes",
            limits.max_bundle_entry_size
        )));
    }
    if size > limits.ratio_floor && size / compressed.max(1) > limits.max_compression_ratio {
        return Err(too_large(format!(
            "{name:?} expands more than {} times (a zip bomb)",
            limits.max_compression_ratio
        )));
    }
    Ok(())
}

/// An entry's bytes, reading at most `max` of them (the declared size may lie); `None`
/// when the archive has no such entry.
fn read_entry(
    zip: &mut zip::ZipArchive<Cursor<&[u8]>>,
    name: &str,
    max: u64,
    limits: &UploadLimits,
) -> Result<Option<Vec<u8>>, UploadError> {
    let entry = match zip.by_name(name) {
        Ok(entry) => entry,
        Err(zip::result::ZipError::FileNotFound) => return Ok(None),
        Err(_) => return Err(invalid(format!("{name:?} cannot be read"))),
    };
    let compressed = entry.compressed_size();
    let mut content = Vec::new();
    entry
        .take(max + 1)
        .read_to_end(&mut content)
        .map_err(|_| invalid(format!("{name:?} is corrupt")))?;
    if content.len() as u64 > max {
        return Err(too_large(format!("{name:?} is larger than {max} bytes")));
    }
    check_sizes(name, content.len() as u64, compressed, limits)?;
    Ok(Some(content))
}

/// The value of a `//# key=value` comment among the last lines of a file.
fn comment_value(content: &[u8], key: &str) -> Option<String> {
    let tail = &content[content.len().saturating_sub(4096)..];
    let text = String::from_utf8_lossy(tail);
    text.lines().rev().take(8).find_map(|line| {
        let line = line.trim();
        let rest = line.strip_prefix("//# ").or_else(|| line.strip_prefix("//@ "))?;
        let value = rest.strip_prefix(key)?.strip_prefix('=')?;
        Some(value.trim().to_string()).filter(|v| !v.is_empty())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use zip::write::SimpleFileOptions;

    const ID: &str = "c941d872-af1f-4f0c-a7ff-ad3d295fe153";

    fn archive(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        for (name, data) in entries {
            zip.start_file(*name, options).expect("starts");
            zip.write_all(data).expect("writes");
        }
        zip.finish().expect("finishes").into_inner()
    }

    fn manifest() -> String {
        serde_json::json!({
            "org": "errata", "release": "web@1.0.0",
            "files": {
                "files/_/_/app.min.js": {"url": "~/app.min.js", "type": "minified_source",
                    "headers": {"debug-id": ID, "Sourcemap": "app.min.js.map"}},
                "files/_/_/app.min.js.map": {"url": "~/app.min.js.map", "type": "source_map",
                    "headers": {"debug-id": ID}},
                "files/_/_/other.bin": {"url": "~/other.bin", "type": "unknown"}
            }
        })
        .to_string()
    }

    #[test]
    fn a_bundle_gives_its_files_with_urls_debug_ids_and_map_references() {
        let manifest = manifest();
        let zip = archive(&[
            ("manifest.json", manifest.as_bytes()),
            ("files/_/_/app.min.js", b"function a(){}\n"),
            ("files/_/_/app.min.js.map", br#"{"version":3}"#),
            ("files/_/_/other.bin", b"x"),
        ]);
        let bundle = read_bundle(&zip, &UploadLimits::default()).expect("reads");
        assert_eq!(bundle.release.as_deref(), Some("web@1.0.0"));
        assert_eq!(bundle.files.len(), 2);
        let minified = &bundle.files[0];
        assert_eq!(minified.kind, ArtifactKind::MinifiedSource);
        assert_eq!(minified.url.as_deref(), Some("~/app.min.js"));
        assert_eq!(minified.debug_id, Uuid::parse_str(ID).ok());
        assert_eq!(minified.sourcemap_ref.as_deref(), Some("app.min.js.map"));
        assert_eq!(bundle.files[1].kind, ArtifactKind::SourceMap);
        assert_eq!(bundle.files[1].content, br#"{"version":3}"#);
    }

    #[test]
    fn debug_ids_and_map_references_also_come_from_comments() {
        let manifest = serde_json::json!({"files": {"a.js": {"url": "~/a.js", "type": "minified_source"}}}).to_string();
        let source = format!("x()\n//# debugId={ID}\n//# sourceMappingURL=a.js.map\n");
        let zip = archive(&[("manifest.json", manifest.as_bytes()), ("a.js", source.as_bytes())]);
        let bundle = read_bundle(&zip, &UploadLimits::default()).expect("reads");
        assert_eq!(bundle.files[0].debug_id, Uuid::parse_str(ID).ok());
        assert_eq!(bundle.files[0].sourcemap_ref.as_deref(), Some("a.js.map"));
    }

    #[test]
    fn a_zip_bomb_is_refused_before_it_is_inflated() {
        let manifest = serde_json::json!({"files": {"bomb.js": {"url": "~/b.js", "type": "source"}}}).to_string();
        let zip = archive(&[("manifest.json", manifest.as_bytes()), ("bomb.js", &vec![0u8; 8 << 20])]);
        let err = read_bundle(&zip, &UploadLimits::default()).expect_err("refused");
        assert!(err.to_string().contains("zip bomb"), "{err}");
    }

    #[test]
    fn oversized_and_too_many_entries_are_refused() {
        let limits = UploadLimits {
            max_bundle_files: 2,
            max_bundle_entry_size: 100,
            ..UploadLimits::default()
        };
        let manifest = serde_json::json!({"files": {}}).to_string();
        let many = archive(&[
            ("manifest.json", manifest.as_bytes()),
            ("a", b"1"),
            ("b", b"2"),
            ("c", b"3"),
        ]);
        assert!(matches!(
            read_bundle(&many, &limits),
            Err(UploadError::BundleTooLarge(_))
        ));
        let big = archive(&[("manifest.json", manifest.as_bytes()), ("a", &[7u8; 101])]);
        assert!(matches!(
            read_bundle(&big, &limits),
            Err(UploadError::BundleTooLarge(_))
        ));
    }

    #[test]
    fn names_that_escape_are_refused() {
        for name in ["../evil.js", "/etc/passwd", "a/../../b", "C:/x", "a\\..\\b"] {
            assert!(check_entry_name(name).is_err(), "{name}");
            let manifest = serde_json::json!({"files": {}}).to_string();
            let zip = archive(&[("manifest.json", manifest.as_bytes()), (name, b"x")]);
            assert!(read_bundle(&zip, &UploadLimits::default()).is_err(), "{name}");
        }
        assert!(check_entry_name("files/_/_/a..b.js").is_ok());
    }

    #[test]
    fn what_is_not_a_bundle_is_refused_clearly() {
        let limits = UploadLimits::default();
        assert_eq!(
            read_bundle(b"PK not really", &limits).unwrap_err(),
            invalid("not a zip archive")
        );
        let no_manifest = archive(&[("a.js", b"x")]);
        assert_eq!(
            read_bundle(&no_manifest, &limits).unwrap_err(),
            invalid("no manifest.json")
        );
        let missing = serde_json::json!({"files": {"gone.js": {"type": "source"}}}).to_string();
        let zip = archive(&[("manifest.json", missing.as_bytes())]);
        assert!(
            read_bundle(&zip, &limits)
                .unwrap_err()
                .to_string()
                .contains("does not hold")
        );
    }
}
