// Runs the official Alipay Node SDK (alipay-sdk 4.14.0) on cases sent by the
// Go interop tests (internal/alipay/interop_test.go).
//
// stdin:  {"cases": [{"op": "...", ...}, ...]}
// stdout: {"results": [{...}, ...]}, one result per case, in order; a case
//         that throws gets {"error": "..."} instead of failing the batch.
//
// Ops:
//   sign          SDK's own OpenAPI v2 request signer (dist util.sign) over the
//                 given public params (timestamp fixed by the caller) and
//                 bizContent → {sign, params}
//   pageExecute   sdk.pageExecute(method, 'GET', params) → {url}
//   checkLink     a signed link's query parameters checked with
//                 sdk.checkNotifySignV2 (sorted raw k=v, sign removed) and
//                 sdk.rsaCheck(content, sign, signType) → {checkNotifySignV2, rsaCheck}
//   checkNotify   a notification form → {checkNotifySignV2, checkNotifySign}
//   checkResponse sdk.checkResponseSign(body, responseKey, sign) → {ok, message}
import { AlipaySdk } from 'alipay-sdk';
import { sign } from './node_modules/alipay-sdk/dist/esm/util.js';

function newSdk(c) {
  const config = { appId: c.appId || '2021000122671080', signType: c.signType || 'RSA2' };
  config.privateKey = c.privateKey || DUMMY_PRIVATE_KEY;
  if (c.keyType) config.keyType = c.keyType;
  if (c.publicKey) config.alipayPublicKey = c.publicKey;
  if (c.gateway) config.gateway = c.gateway;
  return new AlipaySdk(config);
}

// The SDK insists on a private key even when only verifying; it only wraps
// the text, and verifying never uses it.
const DUMMY_PRIVATE_KEY = 'unused-for-verification';

function run(c) {
  switch (c.op) {
    case 'sign': {
      const sdk = newSdk(c);
      const signed = sign(c.method, { ...c.params, bizContent: c.bizContent }, sdk.config);
      const { sign: s, ...params } = signed;
      return { sign: s, params };
    }
    case 'pageExecute': {
      const sdk = newSdk(c);
      return { url: sdk.pageExecute(c.method, 'GET', c.params) };
    }
    case 'checkLink': {
      const sdk = newSdk(c);
      const postData = Object.fromEntries(new URL(c.url).searchParams);
      return {
        checkNotifySignV2: sdk.checkNotifySignV2(postData),
        rsaCheck: c.content === undefined ? null : sdk.rsaCheck(c.content, postData.sign, postData.sign_type),
      };
    }
    case 'checkNotify': {
      const sdk = newSdk(c);
      return {
        checkNotifySignV2: sdk.checkNotifySignV2({ ...c.form }),
        checkNotifySign: safe(() => sdk.checkNotifySign({ ...c.form })),
      };
    }
    case 'checkResponse': {
      const sdk = newSdk(c);
      const body = JSON.parse(c.body);
      try {
        sdk.checkResponseSign(c.body, c.responseKey, body.sign, 'trace');
        return { ok: true };
      } catch (err) {
        return { ok: false, message: String(err.message).slice(0, 200) };
      }
    }
    default:
      throw new Error(`unknown op ${c.op}`);
  }
}

function safe(f) {
  try {
    return f();
  } catch (err) {
    return `throws: ${err.message}`;
  }
}

let input = '';
for await (const chunk of process.stdin) input += chunk;
const { cases } = JSON.parse(input);
const results = cases.map(c => {
  try {
    return run(c);
  } catch (err) {
    return { error: String(err && err.stack || err) };
  }
});
process.stdout.write(JSON.stringify({ results }));
