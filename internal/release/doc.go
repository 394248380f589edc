// Command release builds the release artifacts from this checkout: static
// binaries for linux, darwin and windows on amd64 and arm64, the npm packages
// that `npx -y mcp-server-alipay-go` runs, the Claude Desktop bundle (.mcpb),
// and SHA256SUMS over all of them.
//
//	go run ./internal/release                  # everything, into dist/
//	go run ./internal/release -npm=false -mcpb=false   # binaries and SHA256SUMS only
//
// Builds are reproducible: CGO_ENABLED=0, -trimpath, an empty build id and
// the version from `git describe`, so the same commit gives the same bytes.
// The bundle too: NormalizeZip dates its entries at the commit (or
// SOURCE_DATE_EPOCH) and puts them in name order after mcpb pack.
package main
