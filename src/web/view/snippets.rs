//! The few lines that send a project's errors, per SDK, with its DSN filled in.

/// (SDK name, install command, code) for Python, JavaScript and Rust.
pub fn snippets(dsn: &str) -> Vec<Snippet> {
    vec![
        Snippet {
            sdk: "Python",
            install: "pip install sentry-sdk".to_owned(),
            code: format!("import sentry_sdk\n\nsentry_sdk.init(\n    dsn=\"{dsn}\",\n)\n"),
        },
        Snippet {
            sdk: "JavaScript (Node)",
            install: "npm install @sentry/node".to_owned(),
            code: format!("const Sentry = require(\"@sentry/node\");\n\nSentry.init({{\n  dsn: \"{dsn}\",\n}});\n"),
        },
        Snippet {
            sdk: "Rust",
            install: "cargo add sentry".to_owned(),
            code: format!(
                "let _guard = sentry::init((\n    \"{dsn}\",\n    sentry::ClientOptions {{\n        release: sentry::release_name!(),\n        ..Default::default()\n    }},\n));\n"
            ),
        },
    ]
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snippet {
    pub sdk: &'static str,
    pub install: String,
    pub code: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_snippet_carries_the_dsn() {
        let dsn = "http://abc@127.0.0.1:8000/1";
        let all = snippets(dsn);
        assert_eq!(all.len(), 3);
        assert!(all.iter().all(|s| s.code.contains(dsn)));
        assert!(all[2].code.contains("sentry::init"));
    }
}
