//! Discovery advertises what the interactive flows implement.

use crate::each_backend;
use crate::helpers::ISSUER;

each_backend!(discovery_advertises_the_interactive_endpoints, |app| {
    let response = app.get("/.well-known/openid-configuration", None).await;
    assert_eq!(response.status, 200);
    let doc = response.json();
    assert_eq!(doc["issuer"], ISSUER);
    assert_eq!(doc["authorization_endpoint"], format!("{ISSUER}authorize"));
    assert_eq!(doc["userinfo_endpoint"], format!("{ISSUER}userinfo"));
    assert_eq!(doc["end_session_endpoint"], format!("{ISSUER}oidc/logout"));
    assert_eq!(doc["token_endpoint"], format!("{ISSUER}oauth/token"));
    assert_eq!(doc["jwks_uri"], format!("{ISSUER}.well-known/jwks.json"));
    let list = |name: &str| -> Vec<String> {
        doc[name]
            .as_array()
            .unwrap_or_else(|| panic!("{name} in {doc}"))
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect()
    };
    let types = list("response_types_supported");
    for t in ["code", "token", "id_token", "id_token token"] {
        assert!(types.contains(&t.to_owned()), "{t} in {types:?}");
    }
    assert_eq!(list("code_challenge_methods_supported"), ["S256"]);
    let modes = list("response_modes_supported");
    for m in ["query", "fragment", "form_post"] {
        assert!(modes.contains(&m.to_owned()));
    }
    let grants = list("grant_types_supported");
    for g in ["authorization_code", "implicit", "password"] {
        assert!(grants.contains(&g.to_owned()), "{g} in {grants:?}");
    }
    assert!(list("id_token_signing_alg_values_supported").contains(&"RS256".to_owned()));
    assert!(list("scopes_supported").contains(&"openid".to_owned()));
});
