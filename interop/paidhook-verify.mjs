// Checks a paid notification of mcp-server-alipay with Node's own crypto:
// the verifier the README shows, run by internal/paidhook's tests against
// real deliveries. Usage: SECRET=… node paidhook-verify.mjs "<X-Alipay-MCP-Signature>" < body
// Prints "valid" and exits 0, or prints "INVALID" and exits 1.

// BEGIN README
import { createHmac, timingSafeEqual } from 'node:crypto';

// header: the X-Alipay-MCP-Signature value; rawBody: the body exactly as received (a Buffer, not re-encoded JSON).
export function verifyPaidWebhook(secret, header, rawBody, nowSec = Math.floor(Date.now() / 1000)) {
  const parts = Object.fromEntries(header.split(',').map((p) => p.trim().split('=', 2)));
  const t = Number(parts.t);
  if (!Number.isInteger(t) || !parts.v1) return false;
  if (Math.abs(nowSec - t) > 300) return false; // older than 5 minutes: a replay, or a wrong clock
  const want = createHmac('sha256', secret).update(`${parts.t}.`).update(rawBody).digest();
  const got = Buffer.from(parts.v1, 'hex');
  return got.length === want.length && timingSafeEqual(got, want);
}
// END README

const chunks = [];
for await (const c of process.stdin) chunks.push(c);
const ok = verifyPaidWebhook(process.env.SECRET, process.argv[2] ?? '', Buffer.concat(chunks));
console.log(ok ? 'valid' : 'INVALID');
process.exit(ok ? 0 : 1);
