//! Where a browser may be sent after signing in: `?next=` takes only a path on this site,
//! so a link cannot make the sign-in page forward to another one.

/// Longest `next` kept; a longer one is dropped for the start page.
const MAX_NEXT_LEN: usize = 2048;

/// A path on this site (`/organizations/errata/issues/?query=x`), never a URL elsewhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalPath(String);

impl LocalPath {
    /// Accepts `/…` but not `//host`, `/\host`, a scheme, backslashes, whitespace or
    /// control characters (browsers read `/\evil` and `/<tab>/evil` as another host).
    pub fn parse(raw: &str) -> Option<LocalPath> {
        let ok = raw.len() <= MAX_NEXT_LEN
            && raw.starts_with('/')
            && !raw.starts_with("//")
            && !raw.chars().any(|c| c == '\\' || c.is_whitespace() || c.is_control());
        ok.then(|| LocalPath(raw.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The sign-in page, with where to go afterwards (when it is a local path worth returning to).
pub fn login_url(next: &str) -> String {
    match LocalPath::parse(next) {
        Some(path) if path.as_str() != "/" && !path.as_str().starts_with("/auth/") => {
            let query = serde_urlencoded::to_string([("next", path.as_str())]).unwrap_or_default();
            format!("/auth/login/?{query}")
        }
        _ => "/auth/login/".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn only_local_paths_are_accepted() {
        for good in [
            "/",
            "/organizations/errata/issues/?query=is:unresolved",
            "/settings/account/",
        ] {
            assert!(LocalPath::parse(good).is_some(), "{good}");
        }
        for bad in [
            "",
            "https://evil.example/",
            "//evil.example/",
            "/\\evil.example",
            "\\\\evil.example",
            "/\t/evil.example",
            "javascript:alert(1)",
            "evil.example",
            " /x",
        ] {
            assert!(LocalPath::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn login_url_keeps_a_local_next_and_drops_others() {
        assert_eq!(
            login_url("/settings/account/"),
            "/auth/login/?next=%2Fsettings%2Faccount%2F"
        );
        assert_eq!(login_url("//evil.example/"), "/auth/login/");
        assert_eq!(login_url("/"), "/auth/login/");
    }

    proptest! {
        #[test]
        fn an_accepted_next_never_names_another_host(raw in ".{0,64}") {
            if let Some(path) = LocalPath::parse(&raw) {
                let s = path.as_str();
                prop_assert!(s.starts_with('/') && !s.starts_with("//"));
                prop_assert!(!s.contains('\\'));
            }
        }
    }
}
