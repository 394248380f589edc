package nginxtest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// exampleReplicas are the replicas docs/deploy.md shows.
var exampleReplicas = []Replica{{Name: "a", Addr: "127.0.0.1:8801"}, {Name: "b", Addr: "127.0.0.1:8802"}}

// deploySnippet is the tested part of the configuration, as deploy.md
// shows it: the upstreams, maps and server, listening on 443 with TLS.
func deploySnippet(t *testing.T) string {
	t.Helper()
	conf, err := Config(ConfigOptions{Listen: "443 ssl", Prefix: "/var/lib/nginx", Replicas: exampleReplicas,
		ServerName: "mcp.example.com", Cert: "/etc/letsencrypt/live/mcp.example.com/fullchain.pem", Key: "/etc/letsencrypt/live/mcp.example.com/privkey.pem"})
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok1 := strings.Cut(conf, "    # BEGIN deploy.md\n")
	body, _, ok2 := strings.Cut(after, "    # END deploy.md\n")
	if !ok1 || !ok2 {
		t.Fatal("markers missing from the template")
	}
	return body
}

// docs/deploy.md shows exactly the nginx configuration the replica test
// runs (with its own ports); refresh it with UPDATE_DEPLOY=true.
func TestDeployDocMatchesTestedConfig(t *testing.T) {
	path := filepath.Join("..", "..", "docs", "deploy.md")
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const begin, end = "<!-- BEGIN nginx (generated from internal/nginxtest; refresh with UPDATE_DEPLOY=true go test ./internal/nginxtest/) -->\n```nginx\n", "```\n<!-- END nginx -->"
	before, rest, ok1 := strings.Cut(string(doc), begin)
	_, after, ok2 := strings.Cut(rest, end)
	if !ok1 || !ok2 {
		t.Fatalf("%s lacks the generated nginx block", path)
	}
	want := before + begin + "http {\n" + deploySnippet(t) + "}\n" + end + after
	if want == string(doc) {
		return
	}
	if os.Getenv("UPDATE_DEPLOY") == "true" {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("%s's nginx block differs from the tested configuration; run: UPDATE_DEPLOY=true go test ./internal/nginxtest/", path)
}
