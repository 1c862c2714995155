// oidc-provider 8 (npm, OpenID Certified; 8 is the last major supporting Node 20) as the interop tests need it: only
// configuration and glue live here, every token decision is the library's.
//
// Usage: node server.mjs <port> <packages dir> <client public key PEM>
// Stops when its stdin closes, so a crashed test run leaves no server behind.
//
// Besides the provider, one HTTP server on the same port answers:
//   GET  /api/<name>  a protected API; validates the bearer token by RFC 7662
//                     introspection (over HTTP, as a separate resource server
//                     would) and checks the token's `aud` is its own resource
//   GET  /test/stats  counters the tests assert on (token requests by grant
//                     type, errors, refresh token reuse, API calls)

import { createHash, createPublicKey, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [port, packagesDir, publicKeyPath] = process.argv.slice(2);
// The packages live in a git-ignored folder, not next to this script.
const packages = createRequire(join(packagesDir, 'package.json'));
const { default: Provider, errors } = await import(pathToFileURL(packages.resolve('oidc-provider')).href);
// oidc-provider's own JOSE library, to check DPoP proofs at the API.
const jose = await import(pathToFileURL(packages.resolve('jose')).href);

const issuer = `http://127.0.0.1:${port}`;
const TOKEN_TTL = 3; // seconds: several lifetimes fit in a quick test
const ODD_SECRET = 's:e+c%2Fr/e t';
const PLAIN_SECRET = 'ordinary-secret-0123456789';
const USERS = new Map([['alice', 'wonderland']]);
// Every API on this server, by name; the default one is used when a token
// request names no resource.
const API_NAMES = ['default', 'a', 'b'];
const apiUrl = (name) => `${issuer}/api/${name}`;
const RESOURCES = new Set(API_NAMES.map(apiUrl));

// The resource server's own credentials, for introspection.
const API_CLIENT = { client_id: 'api', client_secret: 'api-secret-0123456789' };

const grantTypes = ['client_credentials', 'password', 'refresh_token'];
const secretClient = (id, secret, method) => ({
  client_id: id,
  client_secret: secret,
  token_endpoint_auth_method: method,
  grant_types: grantTypes,
  response_types: [],
  redirect_uris: [],
});

const clients = [
  secretClient('basic-plain', PLAIN_SECRET, 'client_secret_basic'),
  secretClient('basic-odd', ODD_SECRET, 'client_secret_basic'),
  secretClient('post-plain', PLAIN_SECRET, 'client_secret_post'),
  secretClient('post-odd', ODD_SECRET, 'client_secret_post'),
  {
    client_id: 'jwt-client',
    token_endpoint_auth_method: 'private_key_jwt',
    token_endpoint_auth_signing_alg: 'RS256',
    jwks: { keys: [{ ...createPublicKey(readFileSync(publicKeyPath)).export({ format: 'jwk' }), alg: 'RS256', use: 'sig' }] },
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
  },
  { ...API_CLIENT, grant_types: [], response_types: [], redirect_uris: [] },
];

const stats = {
  token_requests: 0,
  grants: {},
  errors: [],
  refresh_token_reuse: 0,
  grants_revoked: 0,
  revocations: 0,
  api_ok: 0,
  api_rejected: 0,
  dpop_api_ok: 0,
};

const provider = new Provider(issuer, {
  clients,
  // Signs the interaction cookies no test uses; set only to keep the log quiet.
  cookies: { keys: ['interop-tests-only'] },
  routes: { token: '/token', revocation: '/token/revocation', introspection: '/token/introspection' },
  ttl: {
    AccessToken: TOKEN_TTL,
    ClientCredentials: TOKEN_TTL,
    RefreshToken: 600,
    Grant: 600,
  },
  // Rotate on every use: a reused (rotated-out) refresh token makes the
  // provider revoke the whole grant, which the tests must never trigger.
  rotateRefreshToken: true,
  findAccount: async (_ctx, sub) => (USERS.has(sub) ? { accountId: sub, claims: async () => ({ sub }) } : undefined),
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    // RFC 9449, with a nonce always required: a client's first proof is
    // answered `use_dpop_nonce`, as a server rotating nonces would.
    dPoP: { enabled: true, nonceSecret: randomBytes(32), requireNonce: () => true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => apiUrl('default'),
      useGrantedResource: () => true,
      getResourceServerInfo: (_ctx, resource) => {
        if (!RESOURCES.has(resource)) throw new errors.InvalidTarget();
        return { scope: 'api', accessTokenFormat: 'opaque', accessTokenTTL: TOKEN_TTL };
      },
    },
  },
});

// oidc-provider implements no password grant (OAuth 2.1 drops it). This is
// the smallest one on top of its own models: it checks the user, records a
// Grant, and issues the provider's own access and refresh tokens, so refresh,
// rotation, reuse detection, introspection and revocation are all the
// library's code.
provider.registerGrantType('password', async (ctx) => {
  const { username, password } = ctx.oidc.params;
  if (!username || USERS.get(username) !== password) {
    throw new errors.InvalidGrant('wrong username or password');
  }
  const { client } = ctx.oidc;
  const resource = apiUrl('default');
  const grant = new provider.Grant({ accountId: username, clientId: client.clientId });
  grant.addResourceScope(resource, 'api');
  const grantId = await grant.save();
  const common = { accountId: username, client, grantId, gty: 'password', scope: 'api', resource };
  const refreshToken = new provider.RefreshToken({ ...common, iiat: Math.floor(Date.now() / 1000), rotations: 0 });
  const at = new provider.AccessToken({ ...common });
  at.resourceServer = new provider.ResourceServer(resource, { scope: 'api', accessTokenFormat: 'opaque', accessTokenTTL: TOKEN_TTL });
  ctx.body = {
    access_token: await at.save(),
    refresh_token: await refreshToken.save(),
    expires_in: at.expiration,
    token_type: 'Bearer',
    scope: 'api',
  };
}, ['username', 'password', 'scope']);

provider.on('grant.success', (ctx) => {
  const type = ctx.oidc.params.grant_type;
  stats.grants[type] = (stats.grants[type] ?? 0) + 1;
});
provider.on('grant.error', (ctx, error) => {
  stats.errors.push(error.error);
  // The public description is generic; the detail names the cause.
  if (error.error_detail === 'refresh token already used') stats.refresh_token_reuse += 1;
});
provider.on('grant.revoked', () => { stats.grants_revoked += 1; });
provider.on('revocation.success', () => { stats.revocations += 1; });
// Client authentication failures end the request before a grant handler runs.
provider.on('server_error', (_ctx, error) => { stats.errors.push(`server_error: ${error.message}`); });

const introspectionAuth = `Basic ${Buffer.from(`${API_CLIENT.client_id}:${API_CLIENT.client_secret}`).toString('base64')}`;

// The protected API: a resource server that trusts only what the provider's
// introspection endpoint says about the token, including its audience.
async function api(req, res, name) {
  const reject = (description) => {
    stats.api_rejected += 1;
    res.writeHead(401, { 'www-authenticate': `Bearer error="invalid_token", error_description="${description}"` });
    res.end();
  };
  const match = /^(Bearer|DPoP) (\S+)$/.exec(req.headers.authorization ?? '');
  if (!match) return reject('no bearer token');
  const [, scheme, token] = match;
  const answer = await fetch(`${issuer}/token/introspection`, {
    method: 'POST',
    headers: { authorization: introspectionAuth, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token }),
  });
  const info = await answer.json();
  if (!info.active) return reject('inactive');
  if ((info.token_type === 'DPoP') !== (scheme === 'DPoP')) return reject('wrong scheme for this token');
  if (scheme === 'DPoP') {
    const why = await dpopProblem(req, name, token, info);
    if (why) return reject(why);
    stats.dpop_api_ok += 1;
  }
  const audiences = Array.isArray(info.aud) ? info.aud : [info.aud];
  if (!audiences.includes(apiUrl(name))) return reject('wrong audience');
  stats.api_ok += 1;
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ api: name, client_id: info.client_id, sub: info.sub ?? null }));
}

// RFC 9449 section 7.1 at a resource server: the proof is signed by the
// key the token is bound to (`cnf.jkt`, from introspection) and matches
// this request and this token. Returns what is wrong, or nothing.
async function dpopProblem(req, name, token, info) {
  try {
    const { payload, protectedHeader } = await jose.jwtVerify(req.headers.dpop ?? '', jose.EmbeddedJWK, {
      typ: 'dpop+jwt',
      algorithms: ['ES256'],
      maxTokenAge: '60s',
    });
    if (await jose.calculateJwkThumbprint(protectedHeader.jwk) !== info.cnf?.jkt) return 'proof key is not the bound key';
    if (payload.htm !== req.method || payload.htu !== apiUrl(name)) return 'htm or htu mismatch';
    const ath = createHash('sha256').update(token).digest('base64url');
    if (payload.ath !== ath) return 'ath mismatch';
    return undefined;
  } catch (error) {
    return `invalid proof: ${error.code ?? error.message}`;
  }
}

const callback = provider.callback();
const server = http.createServer((req, res) => {
  const path = req.url.split('?')[0];
  if (req.method === 'POST' && path === '/token') stats.token_requests += 1;
  if (path === '/test/stats') {
    res.writeHead(200, { 'content-type': 'application/json' });
    return res.end(JSON.stringify(stats));
  }
  const apiMatch = /^\/api\/([a-z]+)$/.exec(path);
  if (apiMatch && API_NAMES.includes(apiMatch[1])) {
    return api(req, res, apiMatch[1]).catch((error) => {
      res.writeHead(500);
      res.end(String(error));
    });
  }
  return callback(req, res);
});
// Keep-alive connections from the client pool must not outlive the test.
server.keepAliveTimeout = 5_000;
server.listen(Number(port), '127.0.0.1', () => console.log(`listening on ${issuer}`));
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
