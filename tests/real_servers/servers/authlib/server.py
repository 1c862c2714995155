"""Authlib (PyPI) as the interop tests need it: a Flask app whose token,
revocation and client authentication logic is Authlib's; only the storage
(in memory), the clients and the counters are ours.

Usage: python server.py <port> <client public key PEM>
Stops when its stdin closes, so a crashed test run leaves no server behind.

Routes:
  POST /token, /revoke        Authlib's token and RFC 7009 revocation endpoints
  GET  /.well-known/oauth-authorization-server
                              RFC 8414 metadata (serving it is left to the
                              application by Authlib)
  GET  /api/default           a protected API: Authlib's ResourceProtector
                              validates the bearer token against the token store
  GET  /test/stats            counters the tests assert on
"""

import json
import logging
import os
import secrets
import sys
import threading
import time

from authlib.integrations.flask_oauth2 import AuthorizationServer, ResourceProtector
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import ClientMixin, TokenMixin, grants
from authlib.oauth2.rfc6750 import BearerTokenValidator
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from flask import Flask, jsonify, request

PORT = int(sys.argv[1])
PUBLIC_KEY = open(sys.argv[2]).read()
ISSUER = f"http://127.0.0.1:{PORT}"
TOKEN_URL = f"{ISSUER}/token"
TOKEN_TTL = 3  # seconds: several lifetimes fit in a quick test
PLAIN_SECRET = "ordinary-secret-0123456789"
ODD_SECRET = "s:e+c%2Fr/e t"
USERS = {"alice": "wonderland"}
GRANT_TYPES = ["client_credentials", "password", "refresh_token"]

lock = threading.Lock()
stats = {
    "token_requests": 0,
    "grants": {},
    "errors": [],
    "refresh_token_reuse": 0,
    "grants_revoked": 0,
    "revocations": 0,
    "api_ok": 0,
    "api_rejected": 0,
}


class Client(ClientMixin):
    def __init__(self, client_id, secret, auth_method, grant_types):
        self.client_id = client_id
        self.client_secret = secret
        self.auth_method = auth_method
        self.grant_types = grant_types

    def get_client_id(self):
        return self.client_id

    def get_default_redirect_uri(self):
        return None

    def get_allowed_scope(self, scope):
        return scope or ""

    def check_redirect_uri(self, redirect_uri):
        return False

    def check_client_secret(self, client_secret):
        return self.client_secret is not None and secrets.compare_digest(
            self.client_secret, client_secret
        )

    # Like oidc-provider, each client is registered with one method.
    def check_endpoint_auth_method(self, method, endpoint):
        return method == self.auth_method

    def check_response_type(self, response_type):
        return False

    def check_grant_type(self, grant_type):
        return grant_type in self.grant_types


CLIENTS = {
    c.client_id: c
    for c in [
        Client("basic-plain", PLAIN_SECRET, "client_secret_basic", GRANT_TYPES),
        Client("basic-odd", ODD_SECRET, "client_secret_basic", GRANT_TYPES),
        Client("post-plain", PLAIN_SECRET, "client_secret_post", GRANT_TYPES),
        Client("post-odd", ODD_SECRET, "client_secret_post", GRANT_TYPES),
        Client("jwt-client", None, "private_key_jwt", ["client_credentials"]),
    ]
}


class Token(TokenMixin):
    def __init__(self, client_id, user, data):
        self.client_id = client_id
        self.user = user
        self.access_token = data["access_token"]
        self.refresh_token = data.get("refresh_token")
        self.scope = data.get("scope", "")
        self.expires_in = data["expires_in"]
        self.issued_at = time.time()
        self.access_revoked = False
        self.refresh_revoked = False

    def check_client(self, client):
        return client.get_client_id() == self.client_id

    def get_scope(self):
        return self.scope

    def get_expires_in(self):
        return self.expires_in

    def is_expired(self):
        return time.time() >= self.issued_at + self.expires_in

    def is_revoked(self):
        return self.access_revoked

    def get_user(self):
        return self.user


by_access = {}
by_refresh = {}


def query_client(client_id):
    return CLIENTS.get(client_id)


def save_token(data, req):
    user = req.user if req.user else None
    token = Token(req.client.get_client_id(), user, data)
    with lock:
        by_access[token.access_token] = token
        if token.refresh_token:
            by_refresh[token.refresh_token] = token


# Every secret-based method and private_key_jwt, at every grant; which one
# a client may use is its registration's business.
AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt"]


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS


class PasswordGrant(grants.ResourceOwnerPasswordCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS

    def authenticate_user(self, username, password):
        if USERS.get(username) == password:
            return username
        return None


class RefreshTokenGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS
    # Rotate on every use.
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token):
        with lock:
            token = by_refresh.get(refresh_token)
            if token is None:
                return None
            if token.refresh_revoked:
                # A rotated-out refresh token came back: what a thief or a
                # client racing itself looks like. Authlib refuses it
                # (invalid_grant); we count it so the tests can assert it
                # never happens.
                stats["refresh_token_reuse"] += 1
                return None
            return token

    def authenticate_user(self, credential):
        return credential.user

    def revoke_old_credential(self, credential):
        with lock:
            credential.refresh_revoked = True


class PrivateKeyJwt(JWTBearerClientAssertion):
    CLIENT_AUTH_METHOD = "private_key_jwt"

    def get_audiences(self):
        return [TOKEN_URL, ISSUER]

    def validate_jti(self, claims, jti):
        return True

    def resolve_client_public_key(self, client):
        return PUBLIC_KEY


class Revocation(RevocationEndpoint):
    CLIENT_AUTH_METHODS = AUTH_METHODS

    def query_token(self, token_string, token_type_hint):
        with lock:
            if token_type_hint != "refresh_token" and token_string in by_access:
                return by_access[token_string]
            return by_refresh.get(token_string)

    def revoke_token(self, token, req):
        with lock:
            token.access_revoked = True
            token.refresh_revoked = True
            stats["revocations"] += 1


class Validator(BearerTokenValidator):
    def authenticate_token(self, token_string):
        with lock:
            return by_access.get(token_string)


app = Flask(__name__)
app.config.update(
    OAUTH2_TOKEN_EXPIRES_IN={grant: TOKEN_TTL for grant in GRANT_TYPES},
    OAUTH2_REFRESH_TOKEN_GENERATOR=True,
)
server = AuthorizationServer(app, query_client=query_client, save_token=save_token)
server.register_grant(ClientCredentialsGrant)
server.register_grant(PasswordGrant)
server.register_grant(RefreshTokenGrant)
server.register_client_auth_method(PrivateKeyJwt.CLIENT_AUTH_METHOD, PrivateKeyJwt())
server.register_endpoint(Revocation)
require_oauth = ResourceProtector()
require_oauth.register_token_validator(Validator())

# RFC 8414 metadata. Authlib has a model for it but leaves serving it to the
# application; there is no authorization endpoint, so no response types.
METADATA = {
    "issuer": ISSUER,
    "token_endpoint": TOKEN_URL,
    "revocation_endpoint": f"{ISSUER}/revoke",
    "grant_types_supported": GRANT_TYPES,
    "token_endpoint_auth_methods_supported": AUTH_METHODS,
    "token_endpoint_auth_signing_alg_values_supported": ["RS256"],
    "response_types_supported": [],
}


@app.post("/token")
def token():
    with lock:
        stats["token_requests"] += 1
    response = server.create_token_response()
    grant_type = request.form.get("grant_type", "")
    with lock:
        if response.status_code == 200:
            stats["grants"][grant_type] = stats["grants"].get(grant_type, 0) + 1
        else:
            stats["errors"].append(json.loads(response.get_data()).get("error"))
    return response


@app.post("/revoke")
def revoke():
    return server.create_endpoint_response(Revocation.ENDPOINT_NAME)


@app.get("/.well-known/oauth-authorization-server")
def metadata():
    return jsonify(METADATA)


@app.get("/api/<name>")
def api(name):
    # Authlib has no resource indicators: one API, tokens carry no audience.
    if name != "default":
        return "", 404
    try:
        token = require_oauth.acquire_token()
    except OAuth2Error as error:
        with lock:
            stats["api_rejected"] += 1
        # Raises the answer ResourceProtector's decorator would give: 401
        # with an RFC 6750 `WWW-Authenticate: Bearer error="invalid_token"`.
        require_oauth.raise_error_response(error)
    with lock:
        stats["api_ok"] += 1
    return jsonify(api=name, client_id=token.client_id, sub=token.user)


@app.get("/test/stats")
def get_stats():
    with lock:
        return jsonify(stats)


def exit_when_stdin_closes():
    sys.stdin.read()
    os._exit(0)


if __name__ == "__main__":
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    threading.Thread(target=exit_when_stdin_closes, daemon=True).start()
    print(f"listening on {ISSUER}", flush=True)
    app.run(host="127.0.0.1", port=PORT, threaded=True)
