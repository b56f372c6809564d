// In-memory OpenID provider peer for Tessera's refresh-exchange benchmark (issue 7).
//
// node-oidc-provider 9 with its own in-memory adapter (no database, no durability), one
// confidential client (client_secret_post), rotating refresh tokens, ES256 JWT access tokens
// for one resource server and RS256 ID tokens when `openid` is in the scope. At start-up it
// seeds PEER_FAMILIES refresh-token families directly through the provider's models, writes
// their tokens one per line to PEER_TOKENS_FILE and prints exactly one JSON "ready" line on
// stdout. Everything else (the provider's notices and warnings) goes to stderr.
//
// Environment (all optional):
//   PEER_PORT             3100
//   PEER_CLIENT_ID        bench-client
//   PEER_CLIENT_SECRET    bench-secret-0123456789abcdef0123456789abcdef
//   PEER_FAMILIES         256      refresh-token families seeded at start-up
//   PEER_SCOPE            "offline_access"  ("openid offline_access" adds an RS256 ID token)
//   PEER_AT_FORMAT        jwt      (jwt: ES256 at+jwt for PEER_AUDIENCE; opaque: stored in memory)
//   PEER_AUDIENCE         https://bench.api/
//   PEER_RESOURCE_SCOPE   api:read  resource-server scope carried by every family
//   PEER_TOKENS_FILE      <this dir>/tokens.txt
//   PEER_STORE_MAX        max(100000, 8 * PEER_FAMILIES)  capacity of the memory adapter's LRU
//                         (stock: 1000). The LRU keeps two generations of this many entries and
//                         every exchange writes at least one (the new refresh token; consumed ones
//                         stay until evicted), so with the stock 1000 an idle family is evicted
//                         after a few thousand exchanges and later runs find their tokens gone.
//   PEER_ACCOUNT_PREFIX   bench-user-  family i belongs to account <prefix><i>
//   PEER_DEBUG            1: log every failed token request with the provider's detail to stderr

import { generateKeyPairSync } from 'node:crypto';
import { createRequire } from 'node:module';
import { writeFileSync, renameSync, mkdirSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// The provider prints notices with console.info (stdout); stdout is reserved for the ready line.
console.info = (...args) => console.error(...args);
console.log = (...args) => console.error(...args);

const here = path.dirname(fileURLToPath(import.meta.url));

function envInt(name, dflt, min = 0) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return dflt;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) {
    throw new Error(`${name} must be an integer >= ${min}, got ${JSON.stringify(raw)}`);
  }
  return n;
}

const PORT = envInt('PEER_PORT', 3100, 1);
const HOST = '127.0.0.1';
const ISSUER = `http://${HOST}:${PORT}`;
const CLIENT_ID = process.env.PEER_CLIENT_ID || 'bench-client';
const CLIENT_SECRET = process.env.PEER_CLIENT_SECRET || 'bench-secret-0123456789abcdef0123456789abcdef';
const FAMILIES = envInt('PEER_FAMILIES', 256, 1);
const SCOPE = (process.env.PEER_SCOPE || 'offline_access').split(/\s+/).filter(Boolean);
const AT_FORMAT = process.env.PEER_AT_FORMAT || 'jwt';
const AUDIENCE = process.env.PEER_AUDIENCE || 'https://bench.api/';
const RESOURCE_SCOPE = process.env.PEER_RESOURCE_SCOPE || 'api:read';
const TOKENS_FILE = path.resolve(process.env.PEER_TOKENS_FILE || path.join(here, 'tokens.txt'));
const STORE_MAX = envInt('PEER_STORE_MAX', Math.max(100_000, 8 * FAMILIES), 1);
const ACCOUNT_PREFIX = process.env.PEER_ACCOUNT_PREFIX || 'bench-user-';

if (!['jwt', 'opaque'].includes(AT_FORMAT)) {
  throw new Error(`PEER_AT_FORMAT must be jwt or opaque, got ${JSON.stringify(AT_FORMAT)}`);
}
if (!SCOPE.includes('offline_access')) {
  // Not needed by the refresh grant itself, but every real family carries it.
  console.error('peer: note: PEER_SCOPE has no offline_access');
}

// The stock in-memory adapter class and its LRU, only with the capacity set (PEER_STORE_MAX).
// Without an `adapter` option the provider builds the same thing with maxSize 1000
// (createMemoryAdapter in lib/adapters/memory_adapter.js); its module-level setStorage() does
// not reach that per-provider store.
const { default: Provider } = await import('oidc-provider');
const { default: MemoryAdapter } = await import('oidc-provider/lib/adapters/memory_adapter.js');
const { default: LRU } = await import('oidc-provider/lib/helpers/lru.js');
const CLOCK_TOLERANCE = 15; // the provider's default clockTolerance
const store = new LRU({ maxSize: STORE_MAX });
const adapter = (model) => new MemoryAdapter(model, store, CLOCK_TOLERANCE);
const OIDC_PROVIDER_VERSION = createRequire(import.meta.url)('oidc-provider/package.json').version;

function signingKey(type, options, alg, kid) {
  const { privateKey } = generateKeyPairSync(type, options);
  return { ...privateKey.export({ format: 'jwk' }), alg, use: 'sig', kid };
}

// First key per alg is the one selected for signing.
const jwks = {
  keys: [
    signingKey('ec', { namedCurve: 'P-256' }, 'ES256', 'bench-es256'),
    signingKey('rsa', { modulusLength: 2048 }, 'RS256', 'bench-rs256'),
  ],
};

const OIDC_SCOPES = new Set(['openid', 'offline_access', 'profile', 'email']);

const resourceServer = {
  scope: RESOURCE_SCOPE,
  audience: AUDIENCE,
  accessTokenTTL: 3600,
  accessTokenFormat: AT_FORMAT,
  ...(AT_FORMAT === 'jwt' ? { jwt: { sign: { alg: 'ES256' } } } : {}),
};

const provider = new Provider(ISSUER, {
  adapter,
  clockTolerance: CLOCK_TOLERANCE,
  clients: [{
    client_id: CLIENT_ID,
    client_secret: CLIENT_SECRET,
    token_endpoint_auth_method: 'client_secret_post',
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    redirect_uris: [`http://${HOST}:${PORT}/cb`],
    id_token_signed_response_alg: 'RS256',
  }],
  clientDefaults: { id_token_signed_response_alg: 'RS256' },
  jwks,
  scopes: [...new Set([...OIDC_SCOPES, RESOURCE_SCOPE])],
  claims: { openid: ['sub'] },
  // Every sub exists; claims are just `sub` (what the ID token carries).
  async findAccount(_ctx, sub) {
    return { accountId: sub, async claims() { return { sub }; } };
  },
  // The default rotates a confidential client's token only once 70% of its TTL has passed.
  rotateRefreshToken: true,
  ttl: {
    AccessToken: 3600,
    AuthorizationCode: 60,
    IdToken: 3600,
    RefreshToken: 14 * 24 * 3600,
    Grant: 14 * 24 * 3600,
    Session: 14 * 24 * 3600,
    Interaction: 3600,
  },
  features: {
    devInteractions: { enabled: false },
    introspection: { enabled: false },
    revocation: { enabled: false },
    userinfo: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: async (_ctx, _client, oneOf) => oneOf ?? AUDIENCE,
      // Refresh without a `resource` parameter keeps the family's audience even with openid.
      useGrantedResource: async () => true,
      getResourceServerInfo: async (_ctx, resourceIndicator) => {
        if (resourceIndicator !== AUDIENCE) {
          throw new Provider.errors.InvalidTarget();
        }
        return resourceServer;
      },
    },
  },
});

provider.on('server_error', (_ctx, err) => console.error('peer: server_error', err));
if (process.env.PEER_DEBUG === '1') {
  // Every failed token request with the provider's detail (e.g. "refresh token already used").
  provider.on('grant.error', (_ctx, err) => console.error(`peer: grant.error ${err.error}: ${err.error_detail ?? err.error_description} (store entries: ${store.size})`));
}

// Seed the families: a Grant (as consent would) and a refresh token (as the code exchange would).
async function seed() {
  const client = await provider.Client.find(CLIENT_ID);
  if (!client) throw new Error('client not found');
  const oidcScope = SCOPE.filter((s) => OIDC_SCOPES.has(s)).join(' ');
  const scope = [...new Set([...SCOPE, RESOURCE_SCOPE])].join(' ');
  const tokens = [];
  const now = Math.floor(Date.now() / 1000);
  for (let i = 0; i < FAMILIES; i += 1) {
    const accountId = `${ACCOUNT_PREFIX}${i}`;
    const grant = new provider.Grant({ accountId, clientId: CLIENT_ID });
    if (oidcScope) grant.addOIDCScope(oidcScope);
    grant.addResourceScope(AUDIENCE, RESOURCE_SCOPE);
    const grantId = await grant.save();
    const rt = new provider.RefreshToken({
      accountId,
      authTime: now,
      client,
      expiresWithSession: false,
      grantId,
      gty: 'authorization_code',
      resource: AUDIENCE,
      rotations: 0,
      scope,
    });
    tokens.push(await rt.save());
  }
  return tokens;
}

const tokens = await seed();
mkdirSync(path.dirname(TOKENS_FILE), { recursive: true });
const tmp = `${TOKENS_FILE}.${process.pid}.tmp`;
writeFileSync(tmp, `${tokens.join('\n')}\n`, { mode: 0o600 });
renameSync(tmp, TOKENS_FILE);

const server = http.createServer(provider.callback());
server.keepAliveTimeout = 65_000;
server.headersTimeout = 66_000;

server.listen(PORT, HOST, () => {
  const ready = {
    ready: true,
    issuer: ISSUER,
    token_url: `${ISSUER}/token`,
    token_path: '/token',
    client_id: CLIENT_ID,
    client_secret: CLIENT_SECRET,
    token_endpoint_auth_method: 'client_secret_post',
    tokens_file: TOKENS_FILE,
    families: tokens.length,
    scope: [...new Set([...SCOPE, RESOURCE_SCOPE])].join(' '),
    id_token: SCOPE.includes('openid'),
    access_token_format: AT_FORMAT,
    audience: AUDIENCE,
    store_max: STORE_MAX,
    pid: process.pid,
    oidc_provider: OIDC_PROVIDER_VERSION,
    node: process.version,
  };
  process.stdout.write(`${JSON.stringify(ready)}\n`);
});

function shutdown(signal) {
  console.error(`peer: ${signal}, closing`);
  server.close(() => process.exit(0));
  server.closeAllConnections?.();
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
