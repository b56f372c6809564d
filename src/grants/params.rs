//! Request parameters as the OAuth endpoints see them (RFC 6749 §3.1, §3.2): every parameter at
//! most once, and an empty value is the same as an absent one (Auth0's SDKs send `scope=""`).

use std::collections::BTreeMap;

use super::error::OAuthError;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    values: BTreeMap<String, String>,
    /// The first parameter given twice or with a NUL character, kept by
    /// [`Params::from_pairs_deferred`]; its values are dropped.
    defect: Option<Defect>,
    /// Every such parameter, with what is wrong with it (all of them are dropped).
    defective: BTreeMap<String, OAuthError>,
}

/// A parameter that makes the request `invalid_request` (RFC 6749 §3.1: at most once each).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Defect {
    pub name: String,
    pub error: OAuthError,
}

impl Params {
    /// Collects raw pairs; a name given twice is `invalid_request`, even if one value is empty,
    /// and so is a NUL character in a name or value (no client sends one, and PostgreSQL cannot
    /// store one: it would otherwise fail the request with a server error).
    pub fn from_pairs<I>(pairs: I) -> Result<Self, OAuthError>
    where
        I: IntoIterator<Item = (String, Option<String>)>,
    {
        let params = Self::from_pairs_deferred(pairs);
        match params.defect {
            Some(defect) => Err(defect.error),
            None => Ok(params),
        }
    }

    /// As [`Params::from_pairs`], but the first defect is kept (see [`Params::defect`]) and the
    /// defective parameter dropped, for the authorization endpoint: it answers such a request to
    /// the client once the client and its redirect URI are known (RFC 6749 §4.1.2.1).
    pub fn from_pairs_deferred<I>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (String, Option<String>)>,
    {
        let mut seen = std::collections::BTreeSet::new();
        let mut values = BTreeMap::new();
        let mut defect = None;
        let mut defective = BTreeMap::new();
        for (name, value) in pairs {
            let error = if name.contains('\0') || value.as_deref().is_some_and(|v| v.contains('\0'))
            {
                Some(OAuthError::invalid_request(crate::domain::NUL_REFUSED))
            } else if !seen.insert(name.clone()) {
                Some(OAuthError::invalid_request(format!(
                    "Parameter {name} was given more than once."
                )))
            } else {
                None
            };
            if let Some(error) = error {
                values.remove(&name);
                seen.insert(name.clone());
                defective
                    .entry(name.clone())
                    .or_insert_with(|| error.clone());
                defect.get_or_insert(Defect { name, error });
                continue;
            }
            if let Some(value) = value.filter(|v| !v.is_empty()) {
                values.insert(name, value);
            }
        }
        Self {
            values,
            defect,
            defective,
        }
    }

    /// The first parameter that was repeated or held a NUL character (deferred parsing only).
    pub fn defect(&self) -> Option<&Defect> {
        self.defect.as_ref()
    }

    /// What is wrong with this parameter, if it was repeated or held a NUL character (deferred
    /// parsing only).
    pub fn defect_of(&self, name: &str) -> Option<&OAuthError> {
        self.defective.get(name)
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    pub fn take(&mut self, name: &str) -> Option<String> {
        self.values.remove(name)
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
    fn deferred_parsing_keeps_the_first_defect_and_drops_its_parameter() {
        let p = Params::from_pairs_deferred(pairs(&[
            ("client_id", Some("c")),
            ("scope", Some("a")),
            ("state", Some("x\0")),
            ("scope", Some("b")),
            ("scope", Some("c")),
        ]));
        let defect = p.defect().expect("a defect");
        assert_eq!(defect.name, "state");
        assert_eq!(defect.error.code, ErrorCode::InvalidRequest);
        assert_eq!(p.get("client_id"), Some("c"));
        // Both defective parameters are gone, whichever was reported.
        assert_eq!(p.get("state"), None);
        assert_eq!(p.get("scope"), None);
        let scope = p.defect_of("scope").unwrap();
        assert!(scope.description.contains("more than once"));
        assert!(p.defect_of("state").is_some());
        assert!(p.defect_of("client_id").is_none());
        assert!(
            Params::from_pairs_deferred(pairs(&[("a", Some("1"))]))
                .defect()
                .is_none()
        );
    }

    #[test]
    fn repeated_parameters_are_refused() {
        let err =
            Params::from_pairs(pairs(&[("scope", Some("a")), ("scope", Some(""))])).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidRequest);
        assert!(err.description.contains("scope"));
    }
}
