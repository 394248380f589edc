// Package nodeinterop lets Go tests run scripts under interop/ with Node.js,
// where the independent peers live: the official Alipay Node SDK, the MCP
// Inspector CLI and a Chromium driver. Without Node (a local run) the tests
// skip with a clear message; under CI=true a missing peer is a failure.
package nodeinterop
