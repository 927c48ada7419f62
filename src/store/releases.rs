//! Releases as the store keeps them: versions of an organization's code with their
//! projects, what events said about them (first and last event, per project), commits,
//! deploys, and the organization's repositories. Events create the releases they name in
//! the writer's batch transaction (`seen_releases` folds a batch to one row per release).

use std::collections::HashMap;

use super::{EventRecord, Store, StoreError, Stored, dispatch};

/// Longest release version kept (Sentry's bound).
pub const MAX_VERSION_LEN: usize = 200;
/// Most commits one release keeps.
pub const MAX_COMMITS: usize = 10_000;
/// Most deploys listed for a release.
pub const MAX_DEPLOYS: usize = 1_000;

/// Whether a release version may be stored: as Sentry's `Release.is_valid_version`, not
/// empty, not `.`/`..`/`latest`, no slash, no line breaks or tabs, bounded in length.
pub fn valid_version(version: &str) -> bool {
    !version.is_empty()
        && version.len() <= MAX_VERSION_LEN
        && version.trim() == version
        && !matches!(version, "." | ".." | "latest")
        && !version.contains(['/', '\n', '\r', '\t', '\0'])
}

/// A release with what is known about it.
#[derive(Debug, Clone)]
pub struct Release {
    pub id: i64,
    pub organization_id: i64,
    pub version: String,
    pub reference: Option<String>,
    pub url: Option<String>,
    pub date_created_us: i64,
    pub date_started_us: Option<i64>,
    pub date_released_us: Option<i64>,
    pub projects: Vec<ReleaseProject>,
    /// Issues first seen in this release, over its projects.
    pub new_groups: i64,
    pub commit_count: i64,
    pub last_commit: Option<Commit>,
    /// Distinct commit authors: (name, email).
    pub authors: Vec<(Option<String>, Option<String>)>,
    pub deploy_count: i64,
    pub last_deploy: Option<Deploy>,
}

impl Release {
    pub fn first_event_us(&self) -> Option<i64> {
        self.projects.iter().filter_map(|p| p.first_event_us).min()
    }

    pub fn last_event_us(&self) -> Option<i64> {
        self.projects.iter().filter_map(|p| p.last_event_us).max()
    }
}

#[derive(Debug, Clone)]
pub struct ReleaseProject {
    pub project_id: i64,
    pub first_event_us: Option<i64>,
    pub last_event_us: Option<i64>,
}

/// A release to create (or, when it exists, to add projects to).
#[derive(Debug, Clone)]
pub struct NewRelease {
    pub organization_id: i64,
    pub version: String,
    pub project_ids: Vec<i64>,
    pub reference: Option<String>,
    pub url: Option<String>,
    pub date_started_us: Option<i64>,
    pub date_released_us: Option<i64>,
}

/// Changes to a release; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ReleaseChange {
    pub reference: Option<String>,
    pub url: Option<String>,
    pub date_started_us: Option<i64>,
    pub date_released_us: Option<i64>,
    pub project_ids: Option<Vec<i64>>,
    /// Replaces the commits, newest first.
    pub commits: Option<Vec<Commit>>,
}

/// One commit of a release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit {
    pub repository: Option<String>,
    pub id: String,
    pub message: Option<String>,
    pub author_name: Option<String>,
    pub author_email: Option<String>,
    pub timestamp_us: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct Deploy {
    pub id: i64,
    pub environment: String,
    pub name: Option<String>,
    pub url: Option<String>,
    pub date_started_us: Option<i64>,
    pub date_finished_us: i64,
}

#[derive(Debug, Clone)]
pub struct NewDeploy {
    pub environment: String,
    pub name: Option<String>,
    pub url: Option<String>,
    pub date_started_us: Option<i64>,
    pub date_finished_us: i64,
}

#[derive(Debug, Clone)]
pub struct Repository {
    pub id: i64,
    pub name: String,
    pub url: Option<String>,
    pub provider: String,
    pub date_created_us: i64,
}

/// Which releases to list, newest first.
#[derive(Debug, Clone)]
pub struct ReleaseFilter {
    pub organization_id: i64,
    /// Only releases of these projects (`None`: every project).
    pub project_ids: Option<Vec<i64>>,
    /// Versions containing this text.
    pub query: Option<String>,
    pub limit: usize,
    pub offset: usize,
}

/// A release named by events of one project in a batch, with the first and last of their
/// times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenRelease {
    pub project_id: i64,
    pub version: String,
    pub first_us: i64,
    pub last_us: i64,
}

/// Folds the events a batch stored (duplicates and failures left out) to one row per
/// (project, release), so the batch writes each release once.
pub fn seen_releases<'a>(stored: impl IntoIterator<Item = (&'a EventRecord, Option<&'a Stored>)>) -> Vec<SeenRelease> {
    let mut seen: HashMap<(i64, &str), (i64, i64)> = HashMap::new();
    for (record, outcome) in stored {
        let (Some(release), Some(outcome)) = (record.release.as_deref(), outcome) else {
            continue;
        };
        if outcome.duplicate || !valid_version(release) {
            continue;
        }
        let entry = seen
            .entry((record.project_id, release))
            .or_insert((record.timestamp, record.timestamp));
        entry.0 = entry.0.min(record.timestamp);
        entry.1 = entry.1.max(record.timestamp);
    }
    let mut out: Vec<SeenRelease> = seen
        .into_iter()
        .map(|((project_id, version), (first_us, last_us))| SeenRelease {
            project_id,
            version: version.to_string(),
            first_us,
            last_us,
        })
        .collect();
    // A stable order, so concurrent batches take row locks in the same order.
    out.sort_by(|a, b| (a.project_id, &a.version).cmp(&(b.project_id, &b.version)));
    out
}

impl Store {
    /// Creates a release, or adds projects to the existing one; returns it and whether it
    /// was created.
    pub async fn create_release(&self, new: NewRelease) -> Result<(Release, bool), StoreError> {
        dispatch!(self, b => b.create_release(new).await)
    }

    /// Releases, newest first.
    pub async fn releases(&self, filter: ReleaseFilter) -> Result<Vec<Release>, StoreError> {
        dispatch!(self, b => b.releases(filter).await)
    }

    pub async fn release(&self, organization_id: i64, version: &str) -> Result<Release, StoreError> {
        let version = version.to_string();
        dispatch!(self, b => b.release(organization_id, version).await)
    }

    pub async fn update_release(
        &self,
        organization_id: i64,
        version: &str,
        change: ReleaseChange,
    ) -> Result<Release, StoreError> {
        let version = version.to_string();
        dispatch!(self, b => b.update_release(organization_id, version, change).await)
    }

    /// Deletes a release with its commits, deploys and release files; refused (`Conflict`)
    /// while events name it.
    pub async fn delete_release(&self, organization_id: i64, version: &str) -> Result<(), StoreError> {
        let version = version.to_string();
        dispatch!(self, b => b.delete_release(organization_id, version).await)
    }

    /// A release's commits, newest first.
    pub async fn release_commits(&self, organization_id: i64, version: &str) -> Result<Vec<Commit>, StoreError> {
        let version = version.to_string();
        dispatch!(self, b => b.release_commits(organization_id, version).await)
    }

    /// The newest release created before this one that has commits.
    pub async fn previous_release_with_commits(
        &self,
        organization_id: i64,
        version: &str,
    ) -> Result<Option<Release>, StoreError> {
        let version = version.to_string();
        dispatch!(self, b => b.previous_release_with_commits(organization_id, version).await)
    }

    pub async fn create_deploy(
        &self,
        organization_id: i64,
        version: &str,
        deploy: NewDeploy,
    ) -> Result<Deploy, StoreError> {
        let version = version.to_string();
        dispatch!(self, b => b.create_deploy(organization_id, version, deploy).await)
    }

    /// A release's deploys, newest first.
    pub async fn deploys(&self, organization_id: i64, version: &str) -> Result<Vec<Deploy>, StoreError> {
        let version = version.to_string();
        dispatch!(self, b => b.deploys(organization_id, version).await)
    }

    pub async fn repositories(&self, organization_id: i64) -> Result<Vec<Repository>, StoreError> {
        dispatch!(self, b => b.repositories(organization_id).await)
    }

    /// Registers a repository (or returns the one of that name).
    pub async fn create_repository(
        &self,
        organization_id: i64,
        name: &str,
        url: Option<String>,
        provider: &str,
    ) -> Result<Repository, StoreError> {
        let (name, provider) = (name.to_string(), provider.to_string());
        dispatch!(self, b => b.create_repository(organization_id, name, url, provider).await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_bounded_and_cannot_be_path_tricks() {
        assert!(valid_version("web@1.2.3+build.7"));
        assert!(valid_version("2024-06-01 nightly"));
        for bad in ["", ".", "..", "latest", "a/b", "a\nb", " padded", &"x".repeat(201)] {
            assert!(!valid_version(bad), "{bad:?}");
        }
    }

    fn record(project_id: i64, release: Option<&str>, timestamp: i64) -> EventRecord {
        EventRecord {
            project_id,
            event_id: crate::ids::EventId::parse(&format!("{timestamp:032x}")).expect("32 hex digits"),
            hashes: vec![],
            grouping_config: "g",
            title: String::new(),
            culprit: None,
            location: None,
            metadata: String::new(),
            kind: "error",
            platform: String::new(),
            timestamp,
            received: timestamp,
            level: "error".into(),
            release: release.map(str::to_string),
            environment: None,
            trace_id: None,
            user_key: None,
            tags: vec![],
            payload: vec![],
            size: 0,
        }
    }

    #[test]
    fn a_batch_folds_to_one_row_per_project_and_release() {
        let stored = Stored {
            issue_id: 1,
            duplicate: false,
        };
        let duplicate = Stored {
            issue_id: 1,
            duplicate: true,
        };
        let records = [
            record(1, Some("a@1"), 30),
            record(1, Some("a@1"), 10),
            record(1, Some("a@1"), 20),
            record(2, Some("a@1"), 5),
            record(1, None, 1),
            record(1, Some("dup"), 1),
            record(1, Some("bad/version"), 1),
            record(1, Some("failed"), 1),
        ];
        let outcomes = [
            Some(&stored),
            Some(&stored),
            Some(&stored),
            Some(&stored),
            Some(&stored),
            Some(&duplicate),
            Some(&stored),
            None,
        ];
        let seen = seen_releases(records.iter().zip(outcomes));
        assert_eq!(
            seen,
            vec![
                SeenRelease {
                    project_id: 1,
                    version: "a@1".into(),
                    first_us: 10,
                    last_us: 30
                },
                SeenRelease {
                    project_id: 2,
                    version: "a@1".into(),
                    first_us: 5,
                    last_us: 5
                },
            ]
        );
    }
}
