// A Streamable HTTP client built on the official MCP TypeScript SDK, for
// the Go tests: it connects to the URL, lists the tools, creates a payment
// link and queries it, and prints what it saw as one JSON object.
//
//   node mcp-http-client.mjs <url> <bearer token or ""> <outTradeNo>
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const [url, token, outTradeNo] = process.argv.slice(2);
const headers = token ? { Authorization: `Bearer ${token}` } : {};
const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } });
const client = new Client({ name: "ts-sdk-interop", version: "1.0.0" });
await client.connect(transport);
const out = {
  protocolVersion: transport.protocolVersion,
  sessionId: transport.sessionId ?? null,
  server: client.getServerVersion(),
  tools: (await client.listTools()).tools.map((t) => t.name),
};
if (outTradeNo) {
  const call = async (name, args) => {
    try {
      return await client.callTool({ name, arguments: args });
    } catch (e) {
      return { protocolError: String(e.message ?? e) };
    }
  };
  out.created = await call("create-web-page-alipay-payment", { outTradeNo, totalAmount: 19.99, orderTitle: "定制插画" });
  out.queried = await call("query-alipay-payment", { outTradeNo });
  out.refund = await call("refund-alipay-payment", { outTradeNo, refundAmount: 1, outRequestNo: "R1" });
}
await transport.terminateSession().catch(() => {});
await client.close();
console.log(JSON.stringify(out));
