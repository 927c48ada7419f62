//! The artifact store through `Store`, with the same calls and assertions on both backends
//! (SQLite in a temporary file, PostgreSQL in a throwaway cluster: tests/support/pg.rs):
//! chunks wait by checksum within their organization's quota, a bundle's files are found by
//! debug id and by URL (exact, then the `~/path` form) for their release and dist, a
//! project's quota refuses a bundle, and retention prunes chunks and bundles.

#[path = "support/pg.rs"]
mod pg;

use std::path::PathBuf;

use errata::store::artifacts::{ArtifactKind, NewArtifact, NewBundle};
use errata::store::{Location, Store, StoreError, StoreOptions};
use pg::PgCluster;
use uuid::Uuid;

#[derive(Clone, Copy, Debug)]
enum Backend {
    Sqlite,
    Postgres,
}

const BOTH: [Backend; 2] = [Backend::Sqlite, Backend::Postgres];

struct Fixture {
    store: Store,
    _dir: Option<(tempfile::TempDir, PathBuf)>,
}

impl Fixture {
    async fn new(backend: Backend) -> Fixture {
        let opts = StoreOptions::default();
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let path = dir.path().join("errata.sqlite3");
                let store = Store::open_sqlite(&path, opts).expect("opens");
                store.bootstrap_if_empty().await.expect("bootstraps");
                Fixture {
                    store,
                    _dir: Some((dir, path)),
                }
            }
            Backend::Postgres => {
                let url = PgCluster::shared().fresh_database().await;
                let store = Store::connect(&Location::Postgres(url), opts).await.expect("opens");
                store.bootstrap_if_empty().await.expect("bootstraps");
                Fixture { store, _dir: None }
            }
        }
    }

    async fn close(self) {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || store.shutdown())
            .await
            .expect("shuts down");
    }
}

const DEBUG_ID: &str = "c941d872-af1f-4f0c-a7ff-ad3d295fe153";

fn bundle(checksum: &str, release: Option<&str>, dist: Option<&str>, chunks: Vec<String>) -> NewBundle {
    let debug_id = Uuid::parse_str(DEBUG_ID).expect("uuid");
    let minified = b"function a(){throw new Error('x')}\n//# debugId=c941d872-af1f-4f0c-a7ff-ad3d295fe153\n//# sourceMappingURL=app.min.js.map";
    let map = br#"{"version":3,"sources":["app.js"],"names":[],"mappings":"AAAA"}"#;
    let files = vec![
        NewArtifact::new(
            ArtifactKind::MinifiedSource,
            Some("~/static/app.min.js".into()),
            Some(debug_id),
            Some("app.min.js.map".into()),
            minified,
        )
        .expect("compresses"),
        NewArtifact::new(
            ArtifactKind::SourceMap,
            Some("~/static/app.min.js.map".into()),
            Some(debug_id),
            None,
            map,
        )
        .expect("compresses"),
    ];
    NewBundle {
        organization_id: 1,
        checksum: checksum.into(),
        release: release.map(str::to_string),
        dist: dist.map(str::to_string),
        project_ids: vec![1],
        size: (minified.len() + map.len()) as i64,
        files,
        chunks,
        max_project_bytes: 1 << 20,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunks_wait_by_checksum_within_the_organization_quota() {
    for backend in BOTH {
        let f = Fixture::new(backend).await;
        let store = &f.store;
        store
            .put_chunks(1, vec![("aa".into(), vec![1; 10]), ("bb".into(), vec![2; 20])], 100)
            .await
            .expect("kept");
        // Uploading the same chunk again is harmless.
        store
            .put_chunks(1, vec![("aa".into(), vec![1; 10])], 100)
            .await
            .expect("kept again");
        let missing = store
            .missing_chunks(1, vec!["aa".into(), "cc".into(), "bb".into(), "cc".into()])
            .await
            .expect("reads");
        assert_eq!(missing, vec!["cc".to_string()], "{backend:?}");
        let data = store
            .chunk_data(1, vec!["bb".into(), "aa".into()])
            .await
            .expect("reads");
        assert_eq!(data, vec![vec![2; 20], vec![1; 10]], "{backend:?}");
        assert!(matches!(
            store.chunk_data(1, vec!["cc".into()]).await,
            Err(StoreError::NotFound(_))
        ));
        let over = store.put_chunks(1, vec![("dd".into(), vec![3; 80])], 100).await;
        assert!(matches!(over, Err(StoreError::Conflict(_))), "{backend:?}: {over:?}");
        f.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saved_bundle_is_found_by_debug_id_and_by_url_for_its_release_and_dist() {
    for backend in BOTH {
        let f = Fixture::new(backend).await;
        let store = &f.store;
        store
            .put_chunks(1, vec![("c1".into(), vec![0; 4])], 1 << 20)
            .await
            .expect("kept");
        let id = store
            .save_bundle(bundle("b1", Some("web@1.0.0"), Some("prod"), vec!["c1".into()]))
            .await
            .expect("saved");
        assert_eq!(store.bundle_by_checksum(1, "b1").await.expect("reads"), Some(id));
        // Saving the same bundle again returns the one stored.
        let again = store
            .save_bundle(bundle("b1", Some("web@1.0.0"), Some("prod"), vec![]))
            .await
            .expect("saved");
        assert_eq!(again, id, "{backend:?}");
        // The chunks it was assembled from are gone.
        assert_eq!(
            store.missing_chunks(1, vec!["c1".into()]).await.expect("reads"),
            vec!["c1".to_string()]
        );

        let debug_id = Uuid::parse_str(DEBUG_ID).expect("uuid");
        let map = store
            .artifact_by_debug_id(1, debug_id, ArtifactKind::SourceMap)
            .await
            .expect("reads")
            .expect("found");
        assert_eq!(map.kind, ArtifactKind::SourceMap);
        assert!(map.content.starts_with(br#"{"version":3"#), "{backend:?}");
        let minified = store
            .artifact_by_debug_id(1, debug_id, ArtifactKind::MinifiedSource)
            .await
            .expect("reads")
            .expect("found");
        assert_eq!(minified.sourcemap_ref.as_deref(), Some("app.min.js.map"));
        assert_eq!(minified.debug_id, Some(debug_id));
        assert!(
            store
                .artifact_by_debug_id(2, debug_id, ArtifactKind::SourceMap)
                .await
                .expect("reads")
                .is_none(),
            "another project does not see it"
        );

        let by_url = store
            .artifact_by_url(
                1,
                "web@1.0.0",
                Some("prod"),
                "https://example.com/static/app.min.js?x=1",
            )
            .await
            .expect("reads")
            .expect("found by its ~/ form");
        assert_eq!(by_url.url.as_deref(), Some("~/static/app.min.js"));
        assert!(
            store
                .artifact_by_url(1, "web@1.0.0", None, "~/static/app.min.js")
                .await
                .expect("reads")
                .is_none(),
            "no dist matches only files without dist"
        );
        assert!(
            store
                .artifact_by_url(1, "web@2.0.0", Some("prod"), "~/static/app.min.js")
                .await
                .expect("reads")
                .is_none(),
            "another release does not match"
        );
        store
            .save_bundle(bundle("b2", Some("web@2.0.0"), None, vec![]))
            .await
            .expect("saved");
        assert!(
            store
                .artifact_by_url(1, "web@2.0.0", None, "~/static/app.min.js.map")
                .await
                .expect("reads")
                .is_some(),
            "{backend:?}"
        );
        assert_eq!(store.artifact_bundles(1, 10).await.expect("lists").len(), 2);
        assert_eq!(
            store
                .artifact_files(1, Some("web@2.0.0".into()), 10)
                .await
                .expect("lists")
                .len(),
            2
        );
        assert_eq!(store.artifact_files(1, None, 10).await.expect("lists").len(), 4);
        f.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bundle_past_the_project_quota_is_refused_and_retention_prunes_uploads() {
    for backend in BOTH {
        let f = Fixture::new(backend).await;
        let store = &f.store;
        let mut small = bundle("b1", None, None, vec![]);
        small.max_project_bytes = 10;
        let refused = store.save_bundle(small).await;
        assert!(
            matches!(refused, Err(StoreError::Conflict(_))),
            "{backend:?}: {refused:?}"
        );
        assert_eq!(store.bundle_by_checksum(1, "b1").await.expect("reads"), None);

        store
            .save_bundle(bundle("b1", None, None, vec![]))
            .await
            .expect("saved");
        store
            .put_chunks(1, vec![("c1".into(), vec![0; 4])], 1 << 20)
            .await
            .expect("kept");
        let now = chrono::Utc::now().timestamp_micros();
        // Nothing is old enough yet.
        assert_eq!(
            store
                .expire_artifacts(now - 1_000_000_000, now - 1_000_000_000, 100)
                .await
                .expect("runs"),
            0
        );
        let gone = store.expire_artifacts(now + 1, now + 1, 100).await.expect("runs");
        assert_eq!(gone, 2, "{backend:?}: the chunk and the bundle");
        assert!(store.artifact_files(1, None, 10).await.expect("lists").is_empty());
        let debug_id = Uuid::parse_str(DEBUG_ID).expect("uuid");
        assert!(
            store
                .artifact_by_debug_id(1, debug_id, ArtifactKind::SourceMap)
                .await
                .expect("reads")
                .is_none()
        );
        f.close().await;
    }
}
