//! Message normalisation for grouping (spec/grouping.md §7): keep the first two
//! non-blank lines, then replace event-specific parts (numbers, ids, addresses,
//! dates…) by `<name>` placeholders in one left-to-right pass.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::{Captures, Regex};

/// Trims and parameterises a message or exception value.
pub fn normalize_message(text: &str) -> String {
    let trimmed = trim_lines(text);
    parameterize(&trimmed).into_owned()
}

/// Keeps the first two non-blank lines joined by `\n`; appends `...` when lines
/// were dropped.
pub fn trim_lines(text: &str) -> Cow<'_, str> {
    let mut non_blank = text.lines().filter(|line| !line.trim().is_empty());
    let first = non_blank.next();
    let second = non_blank.next();
    let more = non_blank.next().is_some();
    match (first, second) {
        (Some(a), None) if a == text => Cow::Borrowed(text),
        (Some(a), None) => Cow::Owned(a.to_owned()),
        (Some(a), Some(b)) => {
            let mut out = format!("{a}\n{b}");
            if more {
                out.push_str("...");
            }
            if out == text {
                Cow::Borrowed(text)
            } else {
                Cow::Owned(out)
            }
        }
        _ => Cow::Borrowed(""),
    }
}

/// The placeholder names, in the priority order of the alternation.
const NAMES: [&str; 14] = [
    "email",
    "url",
    "hostname",
    "ip",
    "uuid",
    "sha1",
    "md5",
    "date",
    "duration",
    "hex",
    "float",
    "int",
    "quoted_str",
    "bool",
];

/// Common top-level domains; words that often follow a dot in code
/// (`py`, `rs`, `js`, `app`, `dev`, `is`, `to`…) are left out on purpose.
const TLDS: &str = "com|net|org|edu|gov|mil|info|biz|io|co|us|uk|eu|de|fr|es|it|nl|be|ch|at|se|no|dk|fi|pl|cz|sk|hu|ro|bg|gr|pt|ie|lu|lt|lv|ee|si|hr|rs|ua|ru|by|kz|tr|il|ae|sa|ir|in|pk|bd|lk|cn|jp|kr|tw|hk|sg|my|th|vn|ph|au|nz|ca|mx|br|ar|cl|pe|ve|za|ng|ke|eg|ma|tv|fm|ai|cc|ly|gg|xyz|online|site|tech|store|cloud|shop|blog|page|news|live|space|website|host|email|local|internal|localdomain|example|test|invalid";

static PARAMETERS: LazyLock<Regex> = LazyLock::new(|| {
    let octet = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])";
    let h = r"[0-9a-fA-F]{1,4}";
    let tlds_upper = TLDS.to_uppercase();
    let patterns = [
        // email
        r"[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)+".to_owned(),
        // url
        r"\b(?:https?|wss?|ftp)://\S+".to_owned(),
        // hostname
        format!(
            r"\b(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?\.)+(?:{TLDS}|{tlds_upper})\b"
        ),
        // ip: IPv4, then the usual IPv6 forms (full, compressed with at least
        // two groups on one side, leading `::`, link-local)
        format!(
            r"\b{octet}(?:\.{octet}){{3}}\b|\b(?:{h}:){{7}}{h}\b|\b(?:{h}:){{2,6}}:(?:{h}(?::{h}){{0,5}})?|\b(?:{h}:){{1,5}}(?::{h}){{2,6}}\b|\B::(?:ffff:{octet}(?:\.{octet}){{3}}|{h}(?::{h}){{0,6}})\b|\b[fF][eE]80::[0-9a-fA-F:]*[0-9a-fA-F]"
        ),
        // uuid
        r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b".to_owned(),
        // sha1
        r"\b[0-9a-fA-F]{40}\b".to_owned(),
        // md5
        r"\b[0-9a-fA-F]{32}\b".to_owned(),
        // date
        r"\b[0-9]{4}-[0-9]{2}-[0-9]{2}(?:[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:[.,][0-9]+)?)?(?:Z|[+-][0-9]{2}:?[0-9]{2})?)?\b|\b[0-9]{1,2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?(?:\s?[aApP][mM])?\b".to_owned(),
        // duration
        r"\b[0-9]+ms\b|\b[0-9]+(?:\.[0-9]+)?s\b".to_owned(),
        // hex
        r"\b0[xX][0-9a-fA-F]+\b".to_owned(),
        // float
        r"(?:-|\b)[0-9]+\.[0-9]+\b".to_owned(),
        // int
        r"(?:-|\b)[0-9]+\b".to_owned(),
        // quoted_str
        r#"=(?:'[^']*'|"[^"]*")"#.to_owned(),
        // bool
        r"=(?:true|false|True|False)\b".to_owned(),
    ];
    let alternation = NAMES
        .iter()
        .zip(patterns.iter())
        .map(|(name, pattern)| format!("(?P<{name}>{pattern})"))
        .collect::<Vec<_>>()
        .join("|");
    Regex::new(&alternation).expect("the parameter patterns are valid regular expressions")
});

/// Replaces every parameter in `text` by its `<name>` placeholder.
pub fn parameterize(text: &str) -> Cow<'_, str> {
    PARAMETERS.replace_all(text, |caps: &Captures<'_>| {
        let name = NAMES
            .iter()
            .find(|name| caps.name(name).is_some())
            .copied()
            .unwrap_or("param");
        // The `key=value` patterns consume the `=`; put it back.
        if name == "quoted_str" || name == "bool" {
            format!("=<{name}>")
        } else {
            format!("<{name}>")
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameterises_each_kind() {
        let cases = [
            (
                "Timeout after 3000ms talking to 10.0.0.5",
                "Timeout after <duration> talking to <ip>",
            ),
            ("Order 17 not found", "Order <int> not found"),
            (
                "invalid literal for int() with base 10: 'abc'",
                "invalid literal for int() with base <int>: 'abc'",
            ),
            ("mail bob.smith+x@example.co.uk now", "mail <email> now"),
            ("GET https://api.x.com/v1?id=3 failed", "GET <url> failed"),
            ("cannot resolve db1.example.com", "cannot resolve <hostname>"),
            ("CANNOT RESOLVE DB.EXAMPLE.COM", "CANNOT RESOLVE <hostname>"),
            ("peer 2001:db8:0:0:0:0:0:1 gone", "peer <ip> gone"),
            ("peer 2001:db8::1 gone", "peer <ip> gone"),
            ("peer ::1 gone", "peer <ip> gone"),
            ("row 123e4567-e89b-12d3-a456-426614174000 missing", "row <uuid> missing"),
            (
                "commit da39a3ee5e6b4b0d3255bfef95601890afd80709 bad",
                "commit <sha1> bad",
            ),
            ("md5 d41d8cd98f00b204e9800998ecf8427e bad", "md5 <md5> bad"),
            ("at 2024-03-01T12:30:45.123Z ok", "at <date> ok"),
            ("at 2024-03-01 12:30:45 ok", "at <date> ok"),
            ("on 2024-03-01 ok", "on <date> ok"),
            ("at 12:30:45 ok", "at <date> ok"),
            ("at 9:30 pm ok", "at <date> ok"),
            ("took 1.5s", "took <duration>"),
            ("addr 0x7ffee3b1 bad", "addr <hex> bad"),
            ("ratio 0.75 too high", "ratio <float> too high"),
            ("code -1 and 404", "code <int> and <int>"),
            ("user42 kept", "user42 kept"),
            ("name='bob' rejected", "name=<quoted_str> rejected"),
            ("name=\"bob\" rejected", "name=<quoted_str> rejected"),
            ("flag=true set", "flag=<bool> set"),
            ("true without equals", "true without equals"),
            ("app.orders failed", "app.orders failed"),
            ("self.app is None", "self.app is None"),
            ("Foo::bad name", "Foo::bad name"),
        ];
        for (input, expected) in cases {
            assert_eq!(parameterize(input), expected, "input {input:?}");
        }
    }

    #[test]
    fn trim_keeps_two_non_blank_lines() {
        assert_eq!(trim_lines("one"), "one");
        assert_eq!(trim_lines("one\n\ntwo"), "one\ntwo");
        assert_eq!(trim_lines("one\ntwo\nthree"), "one\ntwo...");
        assert_eq!(trim_lines("\n\n"), "");
        assert_eq!(normalize_message("a 1\nb 2\nc 3"), "a <int>\nb <int>...");
    }
}
