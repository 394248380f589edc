// Drives a running local Alipay with the official Alipay Node SDK
// (alipay-sdk 4.14.0) as a second, independent client. Used by
// internal/localalipay/nodesdk_test.go.
//
// stdin:  {"config": {"appId", "privateKey", "alipayPublicKey", "gateway", "tz"?},
//          "steps": [{"op": "...", ...}, ...]}
//         The credentials come only on stdin and are never printed.
// stdout: {"results": [...]}, one result per step, in order. A step that
//         throws gets {"error": {"name", "message"}} instead of failing the
//         batch.
//
// Ops (steps run one after another, so later steps see earlier effects):
//   exec              sdk.exec(method, {bizContent}, {validateSign: true})
//                     → the SDK's camelCased answer
//   pageExecute       sdk.pageExecute(method, 'GET', params) → {url}
//   checkNotifySignV2 sdk.checkNotifySignV2(form) → {ok}
import { AlipaySdk } from 'alipay-sdk';

// The SDK writes the request timestamp in the process's local wall time,
// while Alipay wants Beijing time (notes §1.5): a merchant on a UTC host must
// set TZ, or every call fails with isv.invalid-timestamp. Set before any
// Date is formatted; config.tz overrides it (to test that mistake).
let input = '';
for await (const chunk of process.stdin) input += chunk;
const { config, steps } = JSON.parse(input);
process.env.TZ = config.tz || 'Asia/Shanghai';

async function run(sdk, step) {
  switch (step.op) {
    case 'exec':
      return await sdk.exec(step.method, { bizContent: step.bizContent }, { validateSign: true });
    case 'pageExecute':
      return { url: sdk.pageExecute(step.method, 'GET', step.params) };
    case 'checkNotifySignV2':
      return { ok: sdk.checkNotifySignV2({ ...step.form }) };
    default:
      throw new Error(`unknown op ${step.op}`);
  }
}

// describe keeps an error's name and message only; the SDK's errors never
// carry the private key, but nothing else of the SDK's state is printed.
function describe(err) {
  return { name: String(err && err.name), message: String(err && err.message || err).slice(0, 500) };
}

const sdk = new AlipaySdk({
  appId: config.appId,
  privateKey: config.privateKey,
  keyType: 'PKCS8',
  alipayPublicKey: config.alipayPublicKey,
  gateway: config.gateway,
  timeout: 10000,
});
const results = [];
for (const step of steps) {
  try {
    results.push(await run(sdk, step));
  } catch (err) {
    results.push({ error: describe(err) });
  }
}
process.stdout.write(JSON.stringify({ results }));
