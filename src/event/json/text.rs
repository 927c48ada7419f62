//! `Str`: a JSON string or object key that borrows from the payload it was parsed from
//! when it can (no escapes), and owns its text when it was built or changed.

use std::borrow::{Borrow, Cow};
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;

#[derive(Clone, Default)]
pub struct Str<'a>(Cow<'a, str>);

impl<'a> Str<'a> {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The text as an owned `String` (a copy only when it was borrowed).
    pub fn into_string(self) -> String {
        self.0.into_owned()
    }

    /// The same text, owned, so it outlives the payload it was parsed from.
    pub fn into_owned(self) -> Str<'static> {
        Str(Cow::Owned(self.0.into_owned()))
    }

    /// The text to change in place (copied once if it was borrowed).
    pub fn to_mut(&mut self) -> &mut String {
        self.0.to_mut()
    }

    pub fn push_str(&mut self, text: &str) {
        self.0.to_mut().push_str(text);
    }

    pub fn push(&mut self, ch: char) {
        self.0.to_mut().push(ch);
    }

    /// Shortens the text to `len` bytes (a char boundary), borrowed text without a copy.
    pub fn truncate(&mut self, len: usize) {
        if len >= self.0.len() {
            return;
        }
        match &mut self.0 {
            Cow::Borrowed(text) => *text = &text[..len],
            Cow::Owned(text) => text.truncate(len),
        }
    }
}

impl Deref for Str<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Str<'_> {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for Str<'_> {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl<'a> From<&'a str> for Str<'a> {
    fn from(text: &'a str) -> Self {
        Str(Cow::Borrowed(text))
    }
}

impl<'a> From<&'a String> for Str<'a> {
    fn from(text: &'a String) -> Self {
        Str(Cow::Borrowed(text.as_str()))
    }
}

impl From<String> for Str<'_> {
    fn from(text: String) -> Self {
        Str(Cow::Owned(text))
    }
}

impl<'a> From<Cow<'a, str>> for Str<'a> {
    fn from(text: Cow<'a, str>) -> Self {
        Str(text)
    }
}

impl<'a> From<&Str<'a>> for Str<'a> {
    fn from(text: &Str<'a>) -> Self {
        text.clone()
    }
}

impl From<Str<'_>> for String {
    fn from(text: Str<'_>) -> Self {
        text.into_string()
    }
}

impl PartialEq for Str<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Str<'_> {}

impl PartialOrd for Str<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Str<'_> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl Hash for Str<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl PartialEq<str> for Str<'_> {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Str<'_> {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for Str<'_> {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other.as_str()
    }
}

impl PartialEq<Str<'_>> for str {
    fn eq(&self, other: &Str<'_>) -> bool {
        self == other.as_str()
    }
}

impl PartialEq<Str<'_>> for &str {
    fn eq(&self, other: &Str<'_>) -> bool {
        *self == other.as_str()
    }
}

impl PartialEq<Str<'_>> for String {
    fn eq(&self, other: &Str<'_>) -> bool {
        self.as_str() == other.as_str()
    }
}

impl fmt::Debug for Str<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Str<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for Str<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncate_keeps_borrowed_text_borrowed() {
        let source = String::from("hello world");
        let mut text = Str::from(source.as_str());
        text.truncate(5);
        assert_eq!(text, "hello");
        assert!(matches!(text.0, Cow::Borrowed(_)));
        text.push_str("!");
        assert_eq!(text.as_str(), "hello!");
        assert!(matches!(text.0, Cow::Owned(_)));
    }

    #[test]
    fn orders_and_compares_by_text() {
        let a = Str::from("a");
        let b = Str::from(String::from("b"));
        assert!(a < b);
        assert_eq!(Str::from(String::from("a")), a);
        assert_eq!("a", a);
        assert_eq!(a.clone().into_owned(), a);
    }
}
