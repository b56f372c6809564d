//! Request parameters as the OAuth endpoints see them (RFC 6749 §3.1, §3.2): every parameter at
//! most once, and an empty value is the same as an absent one (Auth0's SDKs send `scope=""`).

use std::collections::BTreeMap;

use super::error::OAuthError;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params(BTreeMap<String, String>);

impl Params {
    /// Collects raw pairs; a name given twice is `invalid_request`, even if one value is empty,
    /// and so is a NUL character in a name or value (no client sends one, and PostgreSQL cannot
    /// store one: it would otherwise fail the request with a server error).
    pub fn from_pairs<I>(pairs: I) -> Result<Self, OAuthError>
    where
        I: IntoIterator<Item = (String, Option<String>)>,
    {
        let mut seen = std::collections::BTreeSet::new();
        let mut map = BTreeMap::new();
        for (name, value) in pairs {
            if name.contains('\0') || value.as_deref().is_some_and(|v| v.contains('\0')) {
                return Err(OAuthError::invalid_request(format!(
                    "Parameter {} contains a NUL character.",
                    name.replace('\0', "\\0")
                )));
            }
            if !seen.insert(name.clone()) {
                return Err(OAuthError::invalid_request(format!(
                    "Parameter {name} was given more than once."
                )));
            }
            if let Some(value) = value.filter(|v| !v.is_empty()) {
                map.insert(name, value);
            }
        }
        Ok(Self(map))
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    pub fn take(&mut self, name: &str) -> Option<String> {
        self.0.remove(name)
    }

    pub fn require(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name).ok_or_else(|| {
            OAuthError::invalid_request(format!("Missing required parameter: {name}"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grants::error::ErrorCode;

    fn pairs(list: &[(&str, Option<&str>)]) -> Vec<(String, Option<String>)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.map(str::to_string)))
            .collect()
    }

    #[test]
    fn empty_values_count_as_omitted() {
        let p = Params::from_pairs(pairs(&[
            ("scope", Some("")),
            ("audience", None),
            ("a", Some("1")),
        ]))
        .unwrap();
        assert_eq!(p.get("scope"), None);
        assert_eq!(p.get("audience"), None);
        assert_eq!(p.get("a"), Some("1"));
        assert_eq!(
            p.require("scope").unwrap_err().code,
            ErrorCode::InvalidRequest
        );
    }

    #[test]
    fn nul_characters_are_refused_in_names_and_values() {
        for list in [
            pairs(&[("client_id", Some("a\0b"))]),
            pairs(&[("a\0", Some("1"))]),
        ] {
            let err = Params::from_pairs(list).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidRequest);
            assert!(err.description.contains("NUL"), "{}", err.description);
        }
    }

    #[test]
    fn repeated_parameters_are_refused() {
        let err =
            Params::from_pairs(pairs(&[("scope", Some("a")), ("scope", Some(""))])).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidRequest);
        assert!(err.description.contains("scope"));
    }
}
