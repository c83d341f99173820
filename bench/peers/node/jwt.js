'use strict';
// HS256 verification of a viewer's token (PROTOCOL.md §2) with node's crypto, shared by
// the Node peers: only alg HS256, a valid signature, `exp` required and not past, `nbf`
// not in the future (2 s leeway), a role that may watch. No npm dependency for 30 lines.
const crypto = require('crypto');

const LEEWAY_S = 2;

function b64json(part) {
  return JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
}

// The claims of a valid token, or null.
function verify(token, secret) {
  if (!token) return null;
  const parts = token.split('.');
  if (parts.length !== 3) return null;
  try {
    const header = b64json(parts[0]);
    if (header.alg !== 'HS256') return null;
    const expected = crypto.createHmac('sha256', secret).update(parts[0] + '.' + parts[1]).digest();
    const given = Buffer.from(parts[2], 'base64url');
    if (given.length !== expected.length || !crypto.timingSafeEqual(given, expected)) return null;
    const claims = b64json(parts[1]);
    const now = Date.now() / 1000;
    if (typeof claims.exp !== 'number' || claims.exp + LEEWAY_S <= now) return null;
    if (typeof claims.nbf === 'number' && claims.nbf - LEEWAY_S > now) return null;
    return claims;
  } catch (e) {
    return null;
  }
}

// The token from `Authorization: Bearer`, the `token` query parameter or the cookie.
function tokenOf(authorization, query, cookie) {
  if (authorization && authorization.startsWith('Bearer ')) return authorization.slice(7).trim();
  const q = new URLSearchParams(query || '').get('token');
  if (q) return q;
  const m = /(?:^|;\s*)peyk_token=([^;]*)/.exec(cookie || '');
  return m ? decodeURIComponent(m[1]) : null;
}

const VIEWER_ROLES = new Set(['admin', 'dispatcher', 'customer']);

// 200 with the claims, 401 or 403 (PROTOCOL.md §5).
function authorize(token, secret) {
  const claims = verify(token, secret);
  if (!claims) return { status: 401 };
  if (!VIEWER_ROLES.has(claims.role)) return { status: 403 };
  return { status: 200, claims };
}

function parseArgs(argv) {
  const a = { listen: '127.0.0.1:8082', redis: 'redis://127.0.0.1:6379', channel: 'dlchannel' };
  for (let i = 2; i < argv.length; i += 2) {
    const k = argv[i].replace(/^--/, '');
    if (!(k in a) || i + 1 >= argv.length) throw new Error('usage: --listen H:P --redis URL --channel C');
    a[k] = argv[i + 1];
  }
  const colon = a.listen.lastIndexOf(':');
  a.host = a.listen.slice(0, colon);
  a.port = Number(a.listen.slice(colon + 1));
  a.secret = process.env.PEYK_JWT_SECRET;
  if (!a.secret) throw new Error('PEYK_JWT_SECRET is not set');
  return a;
}

module.exports = { verify, tokenOf, authorize, parseArgs };
