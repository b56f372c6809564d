#!/usr/bin/env python3
"""Drives a running Tessera with Auth0's own SDKs (auth0-python 5+/6): the Management API for
clients, resource servers, client grants and users; the client-credentials grant; the
password-realm login, refresh-token rotation and revocation (GetToken, RevokeToken); and the
legacy /delegation endpoint (Delegated).

    pip install auth0-python 'pyjwt[crypto]' httpx
    export ADMIN_SECRET=$(openssl rand -hex 32)
    TESSERA_BOOTSTRAP_CLIENT_ID=admin TESSERA_BOOTSTRAP_CLIENT_SECRET=$ADMIN_SECRET cargo run &
    python3 scripts/auth0_sdk_smoke.py http://127.0.0.1:3000/ admin "$ADMIN_SECRET"
"""
import sys

from urllib.parse import urlparse

import httpx
import jwt
from auth0.authentication import Delegated, GetToken, RevokeToken
from auth0.authentication.exceptions import Auth0Error
from auth0.management.client import Auth0

issuer, admin_id, admin_secret = sys.argv[1], sys.argv[2], sys.argv[3]
if not issuer.endswith("/"):
    issuer += "/"


def client_credentials(client_id, secret, audience):
    r = httpx.post(f"{issuer}oauth/token", data={
        "grant_type": "client_credentials", "client_id": client_id,
        "client_secret": secret, "audience": audience})
    r.raise_for_status()
    return r.json()


token = client_credentials(admin_id, admin_secret, f"{issuer}api/v2/")["access_token"]
api = Auth0(base_url=f"{issuer}api/v2", token=token)

rs = api.resource_servers.create(identifier="https://sdk-smoke.example.com/", name="SDK smoke",
                                 scopes=[{"value": "read:smoke", "description": "read"}],
                                 signing_alg="RS256")
print("resource server", rs.id, rs.identifier)
client = api.clients.create(name="sdk-smoke", app_type="non_interactive")
print("client", client.client_id, "secret returned:", bool(client.client_secret))
grant = api.client_grants.create(client_id=client.client_id, audience=rs.identifier,
                                 scope=["read:smoke"])
print("client grant", grant.id)

answer = client_credentials(client.client_id, client.client_secret, rs.identifier)
jwks = jwt.PyJWKClient(f"{issuer}.well-known/jwks.json")
key = jwks.get_signing_key_from_jwt(answer["access_token"])
claims = jwt.decode(answer["access_token"], key.key, algorithms=["RS256"],
                    audience=rs.identifier, issuer=issuer)
assert claims["sub"] == f"{client.client_id}@clients", claims
assert claims["scope"] == "read:smoke", claims
print("access token verified against the JWKS:", claims["sub"], claims["scope"])

names = [c.name for c in api.clients.list(per_page=2)]
assert "sdk-smoke" in names, names
updated = api.clients.update(client.client_id, description="changed by the SDK")
assert updated.description == "changed by the SDK" and updated.name == "sdk-smoke"
rotated = api.clients.rotate_secret(client.client_id)
assert rotated.client_secret and rotated.client_secret != client.client_secret
print("clients: list, update, rotate-secret ok")

user = api.users.create(connection="Username-Password-Authentication",
                        email="sdk-smoke@example.com", password="correct horse battery")
assert user.user_id.startswith("auth0|"), user.user_id
fetched = api.users.get(user.user_id)
assert fetched.email == "sdk-smoke@example.com"
api.users.update(user.user_id, blocked=True)
assert api.users.get(user.user_id).blocked is True
emails = [u.email for u in api.users.list(per_page=1)]
assert "sdk-smoke@example.com" in emails, emails
print("users: create, get, update, list ok")

grants = [g.id for g in api.client_grants.list(client_id=client.client_id)]
assert grants == [grant.id], grants
apis = [r.identifier for r in api.resource_servers.list()]
assert rs.identifier in apis and f"{issuer}api/v2/" in apis, apis
api.client_grants.delete(grant.id)
api.users.delete(user.user_id)
api.clients.delete(client.client_id)
api.resource_servers.delete(rs.id)
print("deletes ok")

# The authentication SDK: password-realm login, rotation, revocation.
domain = urlparse(issuer).netloc
protocol = urlparse(issuer).scheme
REALM = "Username-Password-Authentication"
GRANTS = ["http://auth0.com/oauth/grant-type/password-realm", "refresh_token"]
api.users.create(connection=REALM, email="sdk-login@example.com", password="correct horse battery")
app = api.clients.create(name="sdk-login", app_type="regular_web", grant_types=GRANTS)
auth = GetToken(domain, app.client_id, client_secret=app.client_secret, protocol=protocol)
first = auth.login("sdk-login@example.com", "correct horse battery", realm=REALM,
                   scope="openid offline_access")
assert first["refresh_token"] and first["id_token"], first
second = auth.refresh_token(first["refresh_token"])
assert second["refresh_token"] != first["refresh_token"], second
try:
    auth.refresh_token(first["refresh_token"])
    raise SystemExit("a replayed refresh token was accepted")
except Auth0Error as e:
    assert e.error_code == "invalid_grant", e
print("GetToken: password-realm login, rotation, reuse refused")
third = auth.login("sdk-login@example.com", "correct horse battery", realm=REALM,
                   scope="offline_access")
RevokeToken(domain, app.client_id, client_secret=app.client_secret,
            protocol=protocol).revoke_refresh_token(third["refresh_token"])
try:
    auth.refresh_token(third["refresh_token"])
    raise SystemExit("a revoked refresh token was accepted")
except Auth0Error as e:
    assert e.error_code == "invalid_grant", e
print("RevokeToken: revoked")

# A legacy app and the /delegation endpoint.
legacy = api.clients.create(name="sdk-legacy", app_type="regular_web", grant_types=GRANTS,
                            oidc_conformant=False)
legacy_auth = GetToken(domain, legacy.client_id, client_secret=legacy.client_secret,
                       protocol=protocol)
tokens = legacy_auth.login("sdk-login@example.com", "correct horse battery", realm=REALM,
                           scope="openid offline_access")
delegated = Delegated(domain, legacy.client_id, protocol=protocol).get_token(
    target=legacy.client_id, api_type="app",
    grant_type="urn:ietf:params:oauth:grant-type:jwt-bearer",
    refresh_token=tokens["refresh_token"])
key = jwks.get_signing_key_from_jwt(delegated["id_token"])
claims = jwt.decode(delegated["id_token"], key.key, algorithms=["RS256"],
                    audience=legacy.client_id, issuer=issuer)
assert claims["sub"].startswith("auth0|"), claims
print("Delegated: a fresh ID token for", claims["sub"])
print("auth0-python drove Tessera successfully")
