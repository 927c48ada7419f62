//! What can go wrong on the issue and project pages, as one error type; `errors.rs`
//! turns it into a small HTML page with the right status.

use crate::settings::SettingsError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum PageError {
    #[error("There is nothing at this address.")]
    NotFound,
    #[error("Your role does not allow this.")]
    Forbidden,
    #[error("{0}")]
    BadRequest(String),
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for PageError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(_) => PageError::NotFound,
            StoreError::Conflict(m) => PageError::BadRequest(m),
            e => PageError::Store(e),
        }
    }
}

impl From<SettingsError> for PageError {
    fn from(e: SettingsError) -> Self {
        match e {
            SettingsError::Invalid { field, message } => PageError::BadRequest(format!("{field}: {message}")),
            SettingsError::Store(e) => e.into(),
        }
    }
}

/// `text` with the characters HTML gives meaning to escaped.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_a_message_is_escaped() {
        assert_eq!(
            escape_html("<script>alert('x')</script>&"),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;"
        );
    }
}
