//! Paths and URLs of JavaScript files: which release-file names a minified file may have
//! been uploaded under, how a map's `sources` resolve against the map's location, and the
//! `filename` and in-app guess Sentry derives from an original source's path.

/// Removes `?query` and `#fragment` (browsers add cache-busting queries to script URLs).
pub fn strip_query(url: &str) -> &str {
    let end = url.find(['?', '#']).unwrap_or(url.len());
    &url[..end]
}

/// Whether a path names a JavaScript file by its extension.
pub fn has_js_extension(path: &str) -> bool {
    let path = strip_query(path);
    [".js", ".mjs", ".cjs"].iter().any(|ext| path.ends_with(ext))
}

/// The `scheme://authority` part of a URL, and the path after it (`/…`, maybe empty).
fn split_origin(url: &str) -> (&str, &str) {
    if url.starts_with("~/") {
        return ("~", &url[1..]);
    }
    if let Some(scheme_end) = url.find("://") {
        let rest = &url[scheme_end + 3..];
        let path_start = rest.find('/').map_or(url.len(), |i| scheme_end + 3 + i);
        (&url[..path_start], &url[path_start..])
    } else {
        ("", url)
    }
}

/// The names a release file for `abs_path` may carry: the URL itself, then without its
/// query, then `~/path` (sentry-cli's default `--url-prefix`, matching any host).
pub fn url_candidates(abs_path: &str) -> Vec<String> {
    let mut out = vec![abs_path.to_string()];
    let bare = strip_query(abs_path);
    if bare != abs_path {
        out.push(bare.to_string());
    }
    let (origin, path) = split_origin(bare);
    if let Some(path) = path.strip_prefix('/')
        && origin != "~"
    {
        out.push(format!("~/{path}"));
    }
    out.dedup();
    out
}

/// Resolves `reference` (a map's `sources` entry, or a `sourceMappingURL`) against the URL
/// or path of the file that names it, as a browser resolves a relative URL.
pub fn join(base: &str, reference: &str) -> String {
    if reference.contains("://") || reference.starts_with("~/") || reference.starts_with("data:") {
        return reference.to_string();
    }
    let (origin, base_path) = split_origin(strip_query(base));
    let joined = if reference.starts_with('/') {
        reference.to_string()
    } else {
        let dir = base_path.rfind('/').map_or("", |i| &base_path[..=i]);
        format!("{dir}{reference}")
    };
    format!("{origin}{}", remove_dot_segments(&joined))
}

/// `a/./b/../c` → `a/c`, keeping a leading `/` or `~/` and never climbing above the root.
fn remove_dot_segments(path: &str) -> String {
    let (root, rest) = if let Some(rest) = path.strip_prefix("~/") {
        ("~/", rest)
    } else if let Some(rest) = path.strip_prefix('/') {
        ("/", rest)
    } else {
        ("", path)
    };
    let mut parts: Vec<&str> = Vec::new();
    for segment in rest.split('/') {
        match segment {
            "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if root.is_empty() {
                    parts.push("..");
                }
            }
            s => parts.push(s),
        }
    }
    format!("{root}{}", parts.join("/"))
}

/// The `filename` Sentry shows for an original source, and whether it is surely not the
/// application's own code (a dependency or the bundler's runtime).
pub fn filename_of(abs_path: &str) -> (String, bool) {
    let filename = if let Some(rest) = abs_path.strip_prefix("webpack://") {
        webpack_filename(rest)
    } else {
        let (_, path) = split_origin(abs_path);
        if path.is_empty() {
            abs_path.to_string()
        } else {
            path.to_string()
        }
    };
    let not_app = filename.starts_with("~/")
        || filename.contains("node_modules/")
        || filename.contains("webpack/bootstrap")
        || (abs_path.starts_with("webpack:") && !filename.starts_with("./") && !filename.starts_with("../"));
    (filename, not_app)
}

/// `webpack://app/./src/x.js` and `webpack:///./src/x.js` → `./src/x.js`; webpack marks
/// paths relative to its resolver root (dependencies) with `/~/`, shown as `~/…`.
fn webpack_filename(rest: &str) -> String {
    if let Some((_, dep)) = rest.split_once("/~/") {
        return format!("~/{dep}");
    }
    // `webpack://{namespace}/path`: the namespace is the first segment when it is not empty.
    let path = match rest.split_once('/') {
        Some((_, path)) => path,
        None => rest,
    };
    let path = path.trim_start_matches('/');
    let kept = ["./", "../", "webpack/", "external"];
    if kept.iter().any(|prefix| path.starts_with(prefix)) {
        path.to_string()
    } else {
        format!("./{path}")
    }
}

/// Sentry's line trimming for context: a line longer than 150 characters keeps a window of
/// 140 around `column`, marking each cut with `{snip}`.
pub fn trim_line(line: &str, column: usize) -> String {
    let line = line.trim_end_matches(['\n', '\r']);
    let chars: Vec<char> = line.chars().collect();
    let len = chars.len();
    if len <= 150 {
        return line.to_string();
    }
    let column = column.min(len);
    let mut start = column.saturating_sub(60);
    if start < 5 {
        start = 0;
    }
    let mut end = (start + 140).min(len);
    if end > len - 5 {
        end = len;
    }
    if end == len {
        start = end.saturating_sub(140);
    }
    let mut out: String = chars[start..end].iter().collect();
    if end < len {
        out.push_str(" {snip}");
    }
    if start > 0 {
        out.insert_str(0, "{snip} ");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_try_the_url_then_without_query_then_tilde_path() {
        assert_eq!(
            url_candidates("https://cdn.example/static/app.min.js?v=3"),
            [
                "https://cdn.example/static/app.min.js?v=3",
                "https://cdn.example/static/app.min.js",
                "~/static/app.min.js"
            ]
        );
        assert_eq!(
            url_candidates("/srv/app/dist/app.js"),
            ["/srv/app/dist/app.js", "~/srv/app/dist/app.js"]
        );
        assert_eq!(
            url_candidates("app:///dist/app.js"),
            ["app:///dist/app.js", "~/dist/app.js"]
        );
        assert_eq!(url_candidates("~/dist/app.js"), ["~/dist/app.js"]);
    }

    #[test]
    fn references_resolve_like_relative_urls() {
        assert_eq!(
            join("https://h/static/app.js", "app.js.map"),
            "https://h/static/app.js.map"
        );
        assert_eq!(join("https://h/static/app.js?x=1", "../src/a.js"), "https://h/src/a.js");
        assert_eq!(join("https://h/static/app.js", "/maps/a.map"), "https://h/maps/a.map");
        assert_eq!(join("/srv/app/dist/app.js", "../src/a.js"), "/srv/app/src/a.js");
        assert_eq!(join("~/dist/app.js", "app.js.map"), "~/dist/app.js.map");
        assert_eq!(join("app:///dist/app.js", "../../../x.js"), "app:///x.js");
        assert_eq!(
            join("https://h/a.js", "webpack://app/./src/x.js"),
            "webpack://app/./src/x.js"
        );
        assert_eq!(join("dist/app.js", "../../src/a.js"), "../src/a.js");
    }

    #[test]
    fn filenames_follow_sentry_and_dependencies_are_not_in_app() {
        assert_eq!(filename_of("webpack://app/./src/x.js"), ("./src/x.js".into(), false));
        assert_eq!(filename_of("webpack:///./src/x.js"), ("./src/x.js".into(), false));
        assert_eq!(
            filename_of("webpack:///~/lodash/index.js"),
            ("~/lodash/index.js".into(), true)
        );
        assert_eq!(
            filename_of("webpack:///webpack/bootstrap"),
            ("webpack/bootstrap".into(), true)
        );
        assert_eq!(filename_of("https://h/src/a.js"), ("/src/a.js".into(), false));
        assert_eq!(
            filename_of("/srv/app/node_modules/dep/index.js"),
            ("/srv/app/node_modules/dep/index.js".into(), true)
        );
        assert_eq!(filename_of("/srv/app/src/a.js"), ("/srv/app/src/a.js".into(), false));
    }

    #[test]
    fn long_lines_are_trimmed_around_the_column() {
        let line = "x".repeat(400);
        let trimmed = trim_line(&line, 200);
        assert!(
            trimmed.starts_with("{snip} ") && trimmed.ends_with(" {snip}"),
            "{trimmed}"
        );
        assert_eq!(trimmed.chars().count(), 140 + 14);
        assert_eq!(trim_line("short", 3), "short");
        assert!(trim_line(&line, 0).ends_with(" {snip}"));
        assert!(!trim_line(&line, 0).starts_with("{snip}"));
    }
}
