//! A space-separated OAuth scope (RFC 6749 §3.3): an ordered set of distinct scope tokens.

use std::fmt;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope(Vec<String>);

impl Scope {
    /// Parses a space-separated scope string; duplicates are dropped, order is kept.
    pub fn parse(s: &str) -> Self {
        Self::from_iter(s.split(' ').filter(|t| !t.is_empty()))
    }

    pub fn contains(&self, token: &str) -> bool {
        self.0.iter().any(|t| t == token)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// Tokens of `self` that `other` does not contain.
    pub fn missing_from<'a>(&'a self, other: &'a Scope) -> impl Iterator<Item = &'a str> {
        self.iter().filter(|t| !other.contains(t))
    }

    pub fn into_vec(self) -> Vec<String> {
        self.0
    }
}

impl<S: Into<String>> FromIterator<S> for Scope {
    fn from_iter<I: IntoIterator<Item = S>>(iter: I) -> Self {
        let mut tokens: Vec<String> = Vec::new();
        for t in iter {
            let t = t.into();
            if !t.is_empty() && !tokens.contains(&t) {
                tokens.push(t);
            }
        }
        Self(tokens)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dedupes_and_prints() {
        let s = Scope::parse("  read:a write:b read:a ");
        assert_eq!(s.to_string(), "read:a write:b");
        assert!(s.contains("write:b"));
        assert!(!s.contains("write"));
        let other = Scope::parse("read:a");
        assert_eq!(s.missing_from(&other).collect::<Vec<_>>(), vec!["write:b"]);
    }
}
