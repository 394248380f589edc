package main

import (
	"fmt"
	"io"
	"regexp"
	"runtime"
	"runtime/debug"
)

// version and commit are stamped by release builds:
//
//	go build -ldflags "-X main.version=v1.2.3 -X main.commit=$(git rev-parse HEAD)"
//
// Unstamped, both come from the build information (see buildVersion).
var (
	version = ""
	commit  = ""
)

// develVersion is the version of anything not built from a release: go run,
// go build in a clone, go install of a local path.
const develVersion = "devel"

// pseudoRE matches the pseudo-version part Go derives from a commit
// (v0.0.0-20261129221119-6b5e54bf896a): a commit, not a release.
var pseudoRE = regexp.MustCompile(`-(?:0\.)?\d{14}-([0-9a-f]{12})(\+dirty)?$`)

// buildVersion is what every build path reports, from one rule:
//   - the version stamped with -ldflags, if any;
//   - else the module version of `go install …@v1.2.3` (a release tag);
//   - else "devel": go run and go build in a clone give "(devel)" or a
//     pseudo-version made from the commit, which the commit line shows.
//
// The commit is the stamped one, else vcs.revision (+ "-dirty" when
// vcs.modified), else the commit inside a pseudo-version, else "unknown".
func buildVersion(stamped, stampedCommit string, bi *debug.BuildInfo) (ver, rev string) {
	ver, rev = stamped, stampedCommit
	if bi != nil {
		mv := bi.Main.Version
		if ver == "" && mv != "" && mv != "(devel)" && !pseudoRE.MatchString(mv) {
			ver = mv
		}
		if rev == "" {
			var modified bool
			for _, s := range bi.Settings {
				switch s.Key {
				case "vcs.revision":
					rev = s.Value
				case "vcs.modified":
					modified = s.Value == "true"
				}
			}
			if rev != "" && modified {
				rev += "-dirty"
			}
		}
		if m := pseudoRE.FindStringSubmatch(mv); rev == "" && m != nil {
			rev = m[1]
			if m[2] != "" {
				rev += "-dirty"
			}
		}
	}
	if ver == "" {
		ver = develVersion
	}
	if rev == "" {
		rev = "unknown"
	}
	return ver, rev
}

// versionString is the version every part of the program reports: --version,
// help, doctor, the MCP initialize answer and the log.
func versionString() string {
	v, _ := buildInfo()
	return v
}

func buildInfo() (ver, rev string) {
	bi, _ := debug.ReadBuildInfo()
	return buildVersion(version, commit, bi)
}

// printVersion is `mcp-server-alipay version`: the version, the commit and
// the Go toolchain.
func printVersion(w io.Writer) {
	v, rev := buildInfo()
	fmt.Fprintf(w, "mcp-server-alipay %s\n提交 / commit: %s\nGo: %s %s/%s\n", v, rev, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

const versionUsage = `用法 / Usage: mcp-server-alipay version
  显示版本、提交和 Go 版本 / prints the version, the commit and the Go version.
`
