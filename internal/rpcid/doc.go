// Package rpcid answers every JSON-RPC request under exactly the id it
// carried, around the Go MCP SDK (v1.8.0), which reads numeric ids through
// float64: 9007199254740993 comes back as 9007199254740992, and an id above
// 2^63 as -9223372036854775808.
//
// A Mapper rewrites, on the way in, each numeric request id the SDK would
// change into a private string substitute, and maps it back on the way out.
// Ids no JSON-RPC peer should send (fractions, exponents, integers outside
// int64, booleans, objects, arrays) are refused with -32600 Invalid Request
// under the id as sent, before the SDK sees them. Stdio wraps a
// newline-delimited stream; Handler wraps an HTTP handler (JSON bodies and
// server-sent events).
//
// Remove the package once the SDK keeps ids exact (upstream
// modelcontextprotocol/go-sdk PR #1253): TestSDKManglesIDs then fails.
package rpcid
