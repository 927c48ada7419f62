//! Releases and uploads against a real server: the releases, deploys and repositories API
//! as sentry-cli calls it, releases created by ingest, and artifact bundles uploaded in
//! chunks and assembled, with every refusal (zip bomb, escaping names, too many entries,
//! wrong scope, bad checksums) answered clearly.

mod common;

use std::io::{Cursor, Write};

use common::*;
use errata::store::artifacts::ArtifactKind;
use reqwest::Method;
use serde_json::{Value, json};
use sha1::{Digest, Sha1};

const DEBUG_ID: &str = "c941d872-af1f-4f0c-a7ff-ad3d295fe153";

fn send(server: &TestServer, method: Method, path: &str, body: &Value) -> (u16, Value) {
    let response = server.api(method, path).json(body).send().expect("request");
    let status = response.status().as_u16();
    (status, response.json().unwrap_or(Value::Null))
}

fn sha1_hex(data: &[u8]) -> String {
    hex::encode(Sha1::digest(data))
}

/// A bundle zip: `manifest.json` listing `files` (path, url, type, headers) and their bytes.
fn bundle_zip(files: &[(&str, &str, &str, Value, &[u8])], extra: &[(&str, &[u8])]) -> Vec<u8> {
    let mut manifest = serde_json::Map::new();
    for (path, url, kind, headers, _) in files {
        manifest.insert(path.to_string(), json!({"url": url, "type": kind, "headers": headers}));
    }
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    zip.start_file("manifest.json", options).expect("starts");
    zip.write_all(json!({"org": "errata", "files": manifest}).to_string().as_bytes())
        .expect("writes");
    for (path, _, _, _, data) in files {
        zip.start_file(*path, options).expect("starts");
        zip.write_all(data).expect("writes");
    }
    for (path, data) in extra {
        zip.start_file(*path, options).expect("starts");
        zip.write_all(data).expect("writes");
    }
    zip.finish().expect("finishes").into_inner()
}

fn sample_bundle() -> Vec<u8> {
    bundle_zip(
        &[
            (
                "files/_/_/app.min.js",
                "~/static/app.min.js",
                "minified_source",
                json!({"debug-id": DEBUG_ID, "Sourcemap": "app.min.js.map"}),
                b"function f(){throw new Error('boom')}\n//# debugId=c941d872-af1f-4f0c-a7ff-ad3d295fe153\n",
            ),
            (
                "files/_/_/app.min.js.map",
                "~/static/app.min.js.map",
                "source_map",
                json!({"debug-id": DEBUG_ID}),
                br#"{"version":3,"sources":["app.js"],"names":[],"mappings":"AAAA","debugId":"c941d872-af1f-4f0c-a7ff-ad3d295fe153"}"#,
            ),
        ],
        &[],
    )
}

/// Posts chunks as sentry-cli does: one multipart part per chunk, named by its SHA-1.
fn upload_chunks(server: &TestServer, token: &str, chunks: &[(&str, &[u8])], gzip: bool) -> (u16, Value) {
    let boundary = "------------------------errata1234";
    let mut body = Vec::new();
    for (name, data) in chunks {
        let (field, bytes) = if gzip {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(data).expect("writes");
            ("file_gzip", gz.finish().expect("finishes"))
        } else {
            ("file", data.to_vec())
        };
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{name}\"\r\n\
                 Content-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(&bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    let response = server
        .client
        .post(format!("{}/api/0/organizations/errata/chunk-upload/", server.base))
        .header("Authorization", format!("Bearer {token}"))
        .header("Content-Type", format!("multipart/form-data; boundary={boundary}"))
        .body(body)
        .send()
        .expect("request");
    let status = response.status().as_u16();
    (status, response.json().unwrap_or(Value::Null))
}

fn assemble(server: &TestServer, body: &Value) -> (u16, Value) {
    send(
        server,
        Method::POST,
        "/api/0/organizations/errata/artifactbundle/assemble/",
        body,
    )
}

/// Uploads `archive` in chunks of `chunk` bytes and assembles it; returns the final state.
fn upload_bundle(server: &TestServer, archive: &[u8], chunk: usize, version: Option<&str>) -> Value {
    let pieces: Vec<&[u8]> = archive.chunks(chunk).collect();
    let names: Vec<String> = pieces.iter().map(|p| sha1_hex(p)).collect();
    let request = json!({
        "checksum": sha1_hex(archive), "chunks": names, "projects": ["default"],
        "version": version, "dist": null,
    });
    let named: Vec<(&str, &[u8])> = names.iter().map(String::as_str).zip(pieces.iter().copied()).collect();
    let (status, _) = upload_chunks(server, &server.token, &named, true);
    assert_eq!(status, 200);
    let (status, answer) = assemble(server, &request);
    assert_eq!(status, 200, "{answer}");
    answer
}

#[test]
fn chunk_upload_options_point_sentry_cli_at_artifact_bundles() {
    let server = spawn_server();
    let options = server.get_ok("/api/0/organizations/errata/chunk-upload/");
    assert_eq!(
        options["url"],
        format!("{}/api/0/organizations/errata/chunk-upload/", server.base)
    );
    assert_eq!(options["hashAlgorithm"], "sha1");
    assert_eq!(options["compression"], json!(["gzip"]));
    assert!(
        options["accept"]
            .as_array()
            .expect("list")
            .contains(&json!("artifact_bundles"))
    );
    for field in [
        "chunkSize",
        "chunksPerRequest",
        "maxFileSize",
        "maxRequestSize",
        "concurrency",
    ] {
        assert!(options[field].as_u64().is_some_and(|n| n > 0), "{field}: {options}");
    }
}

#[test]
fn releases_are_created_listed_updated_given_commits_and_deployed() {
    let server = spawn_server();
    let (status, created) = send(
        &server,
        Method::POST,
        "/api/0/organizations/errata/releases/",
        &json!({"version": "web@1.0.0+build 7", "projects": ["default"]}),
    );
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["version"], "web@1.0.0+build 7");
    assert_eq!(created["shortVersion"], "1.0.0+build 7");
    assert_eq!(created["projects"][0]["slug"], "default");
    assert_eq!(created["dateReleased"], Value::Null);
    assert_eq!(created["commitCount"], 0);
    let (status, _) = send(
        &server,
        Method::POST,
        "/api/0/organizations/errata/releases/",
        &json!({"version": "web@1.0.0+build 7", "projects": ["default"]}),
    );
    assert_eq!(status, 208, "an existing release is answered as already reported");

    // The version is a URL-encoded path segment.
    let path = "/api/0/organizations/errata/releases/web%401.0.0%2Bbuild%207/";
    assert_eq!(server.get_ok(path)["version"], "web@1.0.0+build 7");
    let (status, finalized) = server.put_json(path, &json!({"dateReleased": "2026-01-02T03:04:05Z"}));
    assert_eq!(status, 200, "{finalized}");
    assert_eq!(finalized["dateReleased"], "2026-01-02T03:04:05.000000Z");

    // Refs need a registered repository.
    let (status, body) = server.put_json(path, &json!({"refs": [{"repository": "acme/web", "commit": "abc123"}]}));
    assert_eq!(status, 400, "{body}");
    assert!(body["detail"].as_str().expect("detail").contains("acme/web"));
    let (status, repo) = send(
        &server,
        Method::POST,
        "/api/0/organizations/errata/repos/",
        &json!({"name": "acme/web"}),
    );
    assert_eq!(status, 201, "{repo}");
    assert_eq!(
        server.get_ok("/api/0/organizations/errata/repos/")[0]["name"],
        "acme/web"
    );
    let (status, with_commit) =
        server.put_json(path, &json!({"refs": [{"repository": "acme/web", "commit": "abc123"}]}));
    assert_eq!(status, 200, "{with_commit}");
    assert_eq!(with_commit["commitCount"], 1);
    assert_eq!(with_commit["lastCommit"]["id"], "abc123");
    let commits = server.get_ok(&format!("{path}commits/"));
    assert_eq!(commits[0]["repository"]["name"], "acme/web");

    // Commits as `--local` sends them, with authors.
    let (status, local) = server.put_json(
        path,
        &json!({"commits": [
            {"id": "1111111111111111111111111111111111111111", "repository": "acme/web", "message": "fix",
             "author_name": "Ada", "author_email": "ada@example.com", "timestamp": "2026-01-01T00:00:00Z"},
            {"id": "2222222222222222222222222222222222222222", "message": "older"}
        ]}),
    );
    assert_eq!(status, 200, "{local}");
    assert_eq!(local["commitCount"], 2);
    assert_eq!(local["authors"], json!([{"name": "Ada", "email": "ada@example.com"}]));

    let (status, deploy) = send(
        &server,
        Method::POST,
        &format!("{path}deploys/"),
        &json!({"environment": "production", "name": "first"}),
    );
    assert_eq!(status, 201, "{deploy}");
    assert_eq!(deploy["environment"], "production");
    let (status, _) = send(
        &server,
        Method::POST,
        &format!("{path}deploys/"),
        &json!({"name": "no env"}),
    );
    assert_eq!(status, 400);
    let deploys = server.get_ok(&format!("{path}deploys/"));
    assert_eq!(deploys.as_array().expect("list").len(), 1);
    let detail = server.get_ok(path);
    assert_eq!(detail["deployCount"], 1);
    assert_eq!(detail["lastDeploy"]["environment"], "production");

    // A later release finds this one as the previous release with commits.
    let (status, _) = send(
        &server,
        Method::POST,
        "/api/0/projects/errata/default/releases/",
        &json!({"version": "web@1.1.0"}),
    );
    assert_eq!(status, 201);
    let previous = server.get_ok("/api/0/organizations/errata/releases/web@1.1.0/previous-with-commits/");
    assert_eq!(previous["version"], "web@1.0.0+build 7");
    assert_eq!(
        server.get_ok(&format!("{path}previous-with-commits/")),
        json!({}),
        "none before the first"
    );

    let listed = server.get_ok("/api/0/projects/errata/default/releases/");
    let versions: Vec<&str> = listed
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|r| r["version"].as_str())
        .collect();
    assert_eq!(versions, vec!["web@1.1.0", "web@1.0.0+build 7"]);
    let searched = server.get_ok("/api/0/organizations/errata/releases/?query=1.1");
    assert_eq!(searched.as_array().expect("list").len(), 1);

    // Versions that could be path tricks are refused, and name nothing.
    for bad in ["a/b", "..", "latest", " x"] {
        let (status, body) = send(
            &server,
            Method::POST,
            "/api/0/organizations/errata/releases/",
            &json!({"version": bad, "projects": ["default"]}),
        );
        assert_eq!(status, 400, "{bad:?}: {body}");
    }
    let (status, _, _) = server.get("/api/0/organizations/errata/releases/a%2Fb/");
    assert_eq!(status, 404);
    let (status, _, _) = server.get(&format!("/api/0/organizations/errata/releases/{}/", "x".repeat(300)));
    assert_eq!(status, 404);

    // A release no event names can be deleted.
    let response = server.api(Method::DELETE, path).send().expect("request");
    assert_eq!(response.status().as_u16(), 204);
    let (status, _, _) = server.get(path);
    assert_eq!(status, 404);
}

#[test]
fn releases_named_by_events_are_created_at_ingest_and_cannot_be_deleted() {
    let server = spawn_server();
    let mut event = exception_event("ValueError", "bad", "app", "handler");
    event["release"] = json!("api@2.0.0");
    server.send_event(&event);
    let mut second = exception_event("KeyError", "other", "app", "other");
    second["release"] = json!("api@2.0.0");
    server.send_event(&second);

    let release = server.get_ok("/api/0/organizations/errata/releases/api@2.0.0/");
    assert_eq!(release["projects"][0]["slug"], "default");
    assert!(release["firstEvent"].is_string(), "{release}");
    assert!(release["lastEvent"].is_string(), "{release}");
    assert_eq!(release["newGroups"], 2);

    let issue = &server.issues("")[0];
    assert_eq!(issue["firstRelease"]["version"], "api@2.0.0");
    assert_eq!(issue["lastRelease"]["shortVersion"], "2.0.0");

    let response = server
        .api(Method::DELETE, "/api/0/organizations/errata/releases/api@2.0.0/")
        .send()
        .expect("request");
    assert_eq!(response.status().as_u16(), 400);
    let body: Value = response.json().expect("json");
    assert!(
        body["detail"].as_str().expect("detail").contains("cannot be removed"),
        "{body}"
    );
}

#[test]
fn a_bundle_uploaded_in_chunks_is_assembled_and_found_by_debug_id_and_url() {
    let server = spawn_server();
    let archive = sample_bundle();
    let pieces: Vec<&[u8]> = archive.chunks(200).collect();
    assert!(pieces.len() > 1, "several chunks");
    let names: Vec<String> = pieces.iter().map(|p| sha1_hex(p)).collect();
    let request = json!({
        "checksum": sha1_hex(&archive), "chunks": names, "projects": ["default"],
        "version": "web@3.0.0", "dist": "prod",
    });
    // Before any chunk is there, the server asks for all of them.
    let (_, answer) = assemble(&server, &request);
    assert_eq!(answer["state"], "not_found");
    assert_eq!(answer["missingChunks"].as_array().expect("list").len(), names.len());

    let named: Vec<(&str, &[u8])> = names.iter().map(String::as_str).zip(pieces.iter().copied()).collect();
    let (status, body) = upload_chunks(&server, &server.token, &named[..1], false);
    assert_eq!(status, 200, "{body}");
    let (_, answer) = assemble(&server, &request);
    assert_eq!(answer["state"], "not_found");
    assert_eq!(answer["missingChunks"].as_array().expect("list").len(), names.len() - 1);
    let (status, _) = upload_chunks(&server, &server.token, &named[1..], true);
    assert_eq!(status, 200);
    let (_, answer) = assemble(&server, &request);
    assert_eq!(answer["state"], "ok", "{answer}");
    let (_, again) = assemble(&server, &request);
    assert_eq!(again["state"], "ok", "assembling again is harmless");

    let debug_id = uuid::Uuid::parse_str(DEBUG_ID).expect("uuid");
    let map = server
        .block_on(
            server
                .store
                .artifact_by_debug_id(server.project_id, debug_id, ArtifactKind::SourceMap),
        )
        .expect("reads")
        .expect("the map is found by its debug id");
    assert!(map.content.starts_with(br#"{"version":3"#));
    let minified = server
        .block_on(server.store.artifact_by_url(
            server.project_id,
            "web@3.0.0",
            Some("prod"),
            "https://cdn.example/static/app.min.js",
        ))
        .expect("reads")
        .expect("found by URL");
    assert_eq!(minified.sourcemap_ref.as_deref(), Some("app.min.js.map"));

    let bundles = server.get_ok("/api/0/projects/errata/default/artifactbundles/");
    assert_eq!(bundles[0]["fileCount"], 2);
    assert_eq!(bundles[0]["release"], "web@3.0.0");
    let files = server.get_ok("/api/0/projects/errata/default/releases/web@3.0.0/files/");
    assert_eq!(files.as_array().expect("list").len(), 2);
    assert_eq!(files[0]["headers"]["debug-id"], DEBUG_ID);

    // Deleting the release deletes its files.
    let (status, _) = send(
        &server,
        Method::POST,
        "/api/0/organizations/errata/releases/",
        &json!({"version": "web@3.0.0", "projects": ["default"]}),
    );
    assert_eq!(status, 201);
    let response = server
        .api(Method::DELETE, "/api/0/organizations/errata/releases/web@3.0.0/")
        .send()
        .expect("request");
    assert_eq!(response.status().as_u16(), 204);
    let files = server.get_ok("/api/0/projects/errata/default/releases/web@3.0.0/files/");
    assert_eq!(files, json!([]));
}

#[test]
fn refused_bundles_say_why_and_nothing_of_them_is_kept() {
    let server = spawn_server();
    let bomb = bundle_zip(
        &[("bomb.js", "~/bomb.js", "source", json!({}), &vec![0u8; 16 << 20])],
        &[],
    );
    assert!(bomb.len() < 1 << 20, "a small archive");
    let answer = upload_bundle(&server, &bomb, 1 << 20, None);
    assert_eq!(answer["state"], "error");
    assert!(
        answer["detail"].as_str().expect("detail").contains("zip bomb"),
        "{answer}"
    );

    let escaping = bundle_zip(&[], &[("../../etc/cron.d/x", b"* * * * * root true")]);
    let answer = upload_bundle(&server, &escaping, 1 << 20, None);
    assert_eq!(answer["state"], "error");
    assert!(
        answer["detail"].as_str().expect("detail").contains("not allowed"),
        "{answer}"
    );

    let names: Vec<String> = (0..10_001).map(|i| format!("f/{i}.js")).collect();
    let many: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b"x"[..])).collect();
    let crowded = bundle_zip(&[], &many);
    let answer = upload_bundle(&server, &crowded, 4 << 20, None);
    assert_eq!(answer["state"], "error");
    assert!(
        answer["detail"]
            .as_str()
            .expect("detail")
            .contains("more than 10000 files"),
        "{answer}"
    );

    // Chunks that do not add up to the announced checksum.
    let archive = sample_bundle();
    let name = sha1_hex(&archive);
    let (status, _) = upload_chunks(&server, &server.token, &[(&name, &archive)], false);
    assert_eq!(status, 200);
    let (_, answer) = assemble(
        &server,
        &json!({"checksum": sha1_hex(b"something else"), "chunks": [name], "projects": ["default"]}),
    );
    assert_eq!(answer["state"], "error");
    assert!(
        answer["detail"].as_str().expect("detail").contains("checksum"),
        "{answer}"
    );

    assert_eq!(
        server.get_ok("/api/0/projects/errata/default/artifactbundles/"),
        json!([])
    );
}

#[test]
fn chunks_are_checked_against_their_names_and_uploads_need_the_release_scope() {
    let server = spawn_server();
    let (status, body) = upload_chunks(&server, &server.token, &[(&sha1_hex(b"one"), b"two")], false);
    assert_eq!(status, 400);
    assert!(
        body["detail"].as_str().expect("detail").contains("does not match"),
        "{body}"
    );
    let (status, body) = upload_chunks(&server, &server.token, &[("not-a-sha1", b"x")], false);
    assert_eq!(status, 400, "{body}");

    let (status, body) = assemble(
        &server,
        &json!({"checksum": sha1_hex(b"x"), "chunks": [], "projects": []}),
    );
    assert_eq!(status, 400, "{body}");
    let (status, body) = assemble(
        &server,
        &json!({"checksum": sha1_hex(b"x"), "chunks": [], "projects": ["nope"]}),
    );
    assert_eq!(status, 400, "{body}");

    let read_only = server
        .block_on(server.store.create_token("ci-read", &["read"]))
        .expect("token");
    let (status, _) = upload_chunks(&server, &read_only, &[(&sha1_hex(b"x"), b"x")], false);
    assert_eq!(status, 403);
    let response = server
        .client
        .post(format!(
            "{}/api/0/organizations/errata/artifactbundle/assemble/",
            server.base
        ))
        .header("Authorization", format!("Bearer {read_only}"))
        .json(&json!({"checksum": sha1_hex(b"x"), "chunks": [], "projects": ["default"]}))
        .send()
        .expect("request");
    assert_eq!(response.status().as_u16(), 403);
    let response = server
        .client
        .post(format!("{}/api/0/organizations/errata/releases/", server.base))
        .header("Authorization", format!("Bearer {read_only}"))
        .json(&json!({"version": "x@1", "projects": ["default"]}))
        .send()
        .expect("request");
    assert_eq!(response.status().as_u16(), 403);
}

#[test]
fn retention_prunes_unassembled_chunks_and_old_bundles() {
    let server = spawn_server();
    let answer = upload_bundle(&server, &sample_bundle(), 1 << 20, Some("web@4.0.0"));
    assert_eq!(answer["state"], "ok", "{answer}");
    let (status, _) = upload_chunks(&server, &server.token, &[(&sha1_hex(b"waiting"), b"waiting")], false);
    assert_eq!(status, 200);
    let now = chrono::Utc::now().timestamp_micros();
    let pruned = server
        .block_on(server.store.expire_artifacts(now + 1, now + 1, 100))
        .expect("prunes");
    assert_eq!(pruned, 2, "the waiting chunk and the bundle");
    assert_eq!(
        server.get_ok("/api/0/projects/errata/default/artifactbundles/"),
        json!([])
    );
    let missing = server
        .block_on(server.store.missing_chunks(1, vec![sha1_hex(b"waiting")]))
        .expect("reads");
    assert_eq!(missing.len(), 1);
}
