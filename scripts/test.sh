#!/usr/bin/env bash
# The project's test command: installs the independent test peers (the
# official Alipay Node SDK, the MCP TypeScript SDK, Inspector CLI and
# conformance suite, headless Chromium, openssl, PostgreSQL, nginx,
# systemd-analyze, Prometheus's promtool), then
# vets, tests, and gives every fuzz target a short run.
#
#   ./scripts/test.sh            everything
#   FUZZTIME=0 ./scripts/test.sh skip the fuzz runs
#
# Fuzz budgets are execution counts, not durations: with a duration Go 1.26's
# fuzz coordinator can fail a target with "context deadline exceeded" at the
# deadline under CPU load, with no failing input (go.dev/issue/75804, fixed in
# Go 1.27). A count has no deadline to race.
set -euo pipefail
cd "$(dirname "$0")/.."

FUZZTIME="${FUZZTIME:-30000x}"
export PATH="$PATH:/usr/local/go/bin"

step() { printf '\n== %s\n' "$*"; }

step "peers: Node packages (alipay-sdk, MCP TypeScript SDK, inspector-cli, conformance with Node 22, playwright-core, mcpb)"
if command -v npm >/dev/null 2>&1; then
	npm ci --prefix interop --no-audit --no-fund --loglevel=error
else
	echo "npm not found: interop tests will skip (they fail under CI=true)"
fi

step "peers: headless Chromium for the cashier page tests"
if ! command -v chromium >/dev/null 2>&1; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
	else
		echo "chromium not found and cannot install it (not root): browser tests will skip"
	fi
fi
command -v chromium >/dev/null 2>&1 && chromium --version || true

step "peers: openssl for the README's shell check of a paid notification"
if ! command -v openssl >/dev/null 2>&1; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openssl >/dev/null
	else
		echo "openssl not found and cannot install it (not root): that test will skip"
	fi
fi
command -v openssl >/dev/null 2>&1 && openssl version || true

step "peers: PostgreSQL server binaries for the ledger tests (Debian's postgresql)"
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null
	else
		echo "PostgreSQL not found and cannot install it (not root): PostgreSQL cases will skip (they fail under CI=true)"
	fi
fi
ls -d /usr/lib/postgresql/*/bin 2>/dev/null || true

step "peers: nginx in front of two replicas (docs/deploy.md's configuration)"
if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx >/dev/null
		# The package starts a server on port 80 where it can; the test
		# needs none, so stop it when it did.
		(command -v service >/dev/null 2>&1 && service nginx stop >/dev/null 2>&1) || true
	else
		echo "nginx not found and cannot install it (not root): the replica test will skip"
	fi
fi
(command -v nginx >/dev/null 2>&1 && nginx -v) || (/usr/sbin/nginx -v 2>&1) || true

step "peers: systemd-analyze to verify docs/deploy.md's systemd unit (Debian's systemd)"
if ! command -v systemd-analyze >/dev/null 2>&1; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends systemd >/dev/null
	else
		echo "systemd-analyze not found and cannot install it (not root): the unit check will skip (it fails under CI=true)"
	fi
fi
command -v systemd-analyze >/dev/null 2>&1 && systemd-analyze --version | head -1 || true

step "peers: promtool (Prometheus's own metrics parser) for the /metrics tests"
if ! command -v promtool >/dev/null 2>&1; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		# Only promtool, from Debian's prometheus package: installing the
		# package would also set up and start a Prometheus server.
		tmp=$(mktemp -d)
		(cd "$tmp" && { apt-get download -qq prometheus 2>/dev/null || { apt-get update -qq && apt-get download -qq prometheus 2>/dev/null; }; })
		dpkg-deb --fsys-tarfile "$tmp"/prometheus_*.deb | tar -xO ./usr/bin/promtool >/usr/local/bin/promtool
		chmod 755 /usr/local/bin/promtool
		rm -rf "$tmp"
	else
		echo "promtool not found and cannot install it (not root): metrics format tests will skip"
	fi
fi
command -v promtool >/dev/null 2>&1 && promtool --version | head -1 || true

step "format and vet"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './interop/*'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change:"; echo "$unformatted"; exit 1
fi
go vet ./...

step "tests"
go test -race -count=1 -skip '^TestReleaseArtifacts$' ./...

# The release build: six platforms compiled twice over (once more from an
# empty build cache), the npm packages installed offline and the Claude
# Desktop bundle run. Minutes of compiling, so it runs once, on its own.
step "release artifacts"
go test -count=1 -timeout 30m -run '^TestReleaseArtifacts$' ./internal/release/

if [ "$FUZZTIME" != "0" ]; then
	step "fuzz: each target for $FUZZTIME"
	for pkg in $(go list ./...); do
		dir=$(go list -f '{{.Dir}}' "$pkg")
		for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
			echo "-- $pkg $target"
			log=$(mktemp)
			if go test -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" -fuzzminimizetime 1s "$pkg" >"$log" 2>&1; then
				tail -n 3 "$log"
			else
				cat "$log"; exit 1
			fi
		done
	done
fi
