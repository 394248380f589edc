package nginxtest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"text/template"
	"time"
)

// Replica is one upstream: its name (AP_HTTP_REPLICA, the prefix of its
// session ids) and its loopback address.
type Replica struct {
	Name string
	Addr string // host:port
	// Down takes the replica out of round robin (nginx's "down"), as
	// docs/deploy.md does before stopping it; its sessions still reach it.
	Down bool
}

// Server is a running nginx.
type Server struct {
	URL    string // http://127.0.0.1:port
	port   int
	dir    string
	cmd    *exec.Cmd
	exited chan error
	bin    string // the nginx binary
	opts   ConfigOptions
}

// ConfigOptions shape the configuration.
type ConfigOptions struct {
	Listen   string // e.g. 127.0.0.1:8080, or 443 ssl
	Prefix   string // holds the pid file, logs and temp files
	User     string // runs the workers, when not empty
	Replicas []Replica
	// ServerName and the certificate files, for a TLS listener.
	ServerName, Cert, Key string
}

// Config is the nginx configuration of docs/deploy.md.
func Config(o ConfigOptions) (string, error) {
	var b bytes.Buffer
	err := tmpl.Execute(&b, o)
	return b.String(), err
}

// The part between the BEGIN and END markers is what docs/deploy.md shows
// (a test checks that they agree).
var tmpl = template.Must(template.New("nginx").Parse(`{{if .User}}user {{.User}};
{{end}}worker_processes 1;
pid {{.Prefix}}/nginx.pid;
error_log {{.Prefix}}/error.log warn;
events { worker_connections 1024; }
http {
    access_log {{.Prefix}}/access.log;
    client_body_temp_path {{.Prefix}}/tmp/body;
    proxy_temp_path {{.Prefix}}/tmp/proxy;
    fastcgi_temp_path {{.Prefix}}/tmp/fastcgi;
    uwsgi_temp_path {{.Prefix}}/tmp/uwsgi;
    scgi_temp_path {{.Prefix}}/tmp/scgi;

    # BEGIN deploy.md
    # Every replica, round robin: 2026-07-28 requests, new sessions, and the
    # Alipay notifications. A replica that refuses a connection is left out
    # for the next 5 s.
    upstream mcp_all {
{{- range .Replicas}}
        server {{.Addr}} max_fails=1 fail_timeout=5s{{if .Down}} down{{end}};
{{- end}}
        keepalive 32;
    }
{{- range .Replicas}}
    upstream mcp_{{.Name}} { server {{.Addr}}; keepalive 8; }
{{- end}}

    # A session (protocol revisions before 2026-07-28) lives in the replica
    # that opened it; its id starts with that replica's AP_HTTP_REPLICA.
    map $http_mcp_session_id $mcp_upstream {
        default mcp_all;
{{- range .Replicas}}
        ~^{{.Name}}\. mcp_{{.Name}};
{{- end}}
    }
    map $http_mcp_session_id $mcp_sticky {
        default 0;
        ~. 1;
    }

    server {
        listen {{.Listen}};
{{- if .ServerName}}
        server_name {{.ServerName}};
{{- end}}
{{- if .Cert}}
        ssl_certificate {{.Cert}};
        ssl_certificate_key {{.Key}};
{{- end}}

        location / {
            proxy_pass http://$mcp_upstream;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_buffering off;            # event streams flow as they are written
            proxy_read_timeout 1h;          # waits and subscriptions hold a response open
            # Only a request that never reached a replica moves to another:
            # nginx never resends a POST that was sent (no double payment).
            proxy_next_upstream error timeout;
            error_page 502 504 = @replica_gone;
        }

        # Alipay's notifications (the path of AP_NOTIFY_URL) go to one
        # replica each: one that finds its replica gone is answered 502, and
        # Alipay sends it again later, to a live replica (the receiver
        # records each notify_id once, so a resend changes nothing twice).
        location = /alipay/notify {
            proxy_pass http://mcp_all;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_read_timeout 30s;
            proxy_next_upstream off;
        }

        # Readiness and metrics are for the machines that watch the
        # service, not for the internet: /metrics tells anyone the traffic,
        # the tools called and their outcomes, and /readyz which checks fail.
        # Only this host may read them through nginx (each is one replica's,
        # round robin: a monitor should rather read every replica on its
        # own port). To let your monitoring network in, add a line such as
        # "allow 10.0.0.0/8;" before "deny all;".
        location ~ ^/(metrics|readyz)$ {
            allow 127.0.0.1;
            allow ::1;
            deny all;
            proxy_pass http://mcp_all;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
        }

        # The replica holding a session is gone: answer 404 so that the
        # client opens a new session, as the transport spec says.
        location @replica_gone {
            if ($mcp_sticky) {
                return 404 "session not found\n";
            }
            return 502 "no replica answered\n";
        }
    }
    # END deploy.md
}
`))

// New reserves nginx's loopback port, so that its URL is known before the
// replicas start (they need it as AP_NOTIFY_URL); Start runs it.
func New(t testing.TB) *Server {
	t.Helper()
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	return &Server{URL: fmt.Sprintf("http://127.0.0.1:%d", port), port: port, exited: make(chan error, 1)}
}

// Start runs nginx in front of the replicas on a fresh port.
func Start(t testing.TB, replicas []Replica) *Server {
	t.Helper()
	s := New(t)
	s.Start(t, replicas)
	return s
}

// Start runs nginx in front of the replicas. Without nginx it skips the test,
// or fails it under CI=true (scripts/test.sh installs Debian's nginx).
func (s *Server) Start(t testing.TB, replicas []Replica) {
	t.Helper()
	bin, err := exec.LookPath("nginx")
	if err != nil {
		if _, err2 := os.Stat("/usr/sbin/nginx"); err2 == nil {
			bin = "/usr/sbin/nginx"
		} else if os.Getenv("CI") != "" {
			t.Fatal("nginx not found under CI (scripts/test.sh installs Debian's nginx)")
		} else {
			t.Skip("nginx not found: apt-get install nginx, or run scripts/test.sh")
		}
	}
	dir := t.TempDir()
	s.dir = dir
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o777); err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Join(dir, "tmp"), 0o777)
	runAs := ""
	if os.Geteuid() == 0 {
		if u, err := user.Current(); err == nil {
			runAs = u.Username // workers as root in a throwaway test: they only read this directory
		}
	}
	s.bin = bin
	s.opts = ConfigOptions{Listen: fmt.Sprintf("127.0.0.1:%d", s.port), Prefix: dir, User: runAs}
	confPath := s.writeConfig(t, replicas)
	s.cmd = exec.Command(bin, "-p", dir, "-c", confPath, "-g", "daemon off;")
	var stderr bytes.Buffer
	s.cmd.Stderr = &stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.exited <- s.cmd.Wait() }()
	t.Cleanup(func() {
		s.cmd.Process.Signal(os.Interrupt) // nginx: fast shutdown
		select {
		case <-s.exited:
		case <-time.After(10 * time.Second):
			s.cmd.Process.Kill()
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", s.port), time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case err := <-s.exited:
			t.Fatalf("nginx exited: %v\n%s", err, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx did not listen: %s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// writeConfig writes the configuration for replicas, checks it with
// nginx -t, and returns its path.
func (s *Server) writeConfig(t testing.TB, replicas []Replica) string {
	t.Helper()
	o := s.opts
	o.Replicas = replicas
	conf, err := Config(o)
	if err != nil {
		t.Fatal(err)
	}
	confPath := filepath.Join(s.dir, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(s.bin, "-t", "-p", s.dir, "-c", confPath).CombinedOutput(); err != nil {
		t.Fatalf("nginx -t: %v\n%s\n%s", err, out, conf)
	}
	return confPath
}

// Reload has the running nginx load the configuration for replicas
// (nginx -s reload) and returns once every worker of the old
// configuration has finished its requests and exited, so that nothing
// reaches a replica the new configuration leaves out.
func (s *Server) Reload(t testing.TB, replicas []Replica) {
	t.Helper()
	old := s.workers()
	if len(old) == 0 {
		t.Fatal("nginx has no workers")
	}
	confPath := s.writeConfig(t, replicas)
	if out, err := exec.Command(s.bin, "-s", "reload", "-p", s.dir, "-c", confPath).CombinedOutput(); err != nil {
		t.Fatalf("nginx -s reload: %v\n%s", err, out)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		now := s.workers()
		if len(now) > 0 && !slices.ContainsFunc(now, func(pid int) bool { return slices.Contains(old, pid) }) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx reload: workers %v still running 30 s after (before: %v)\n%s", now, old, s.ErrorLog())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// workers are the pids of the master's children.
func (s *Server) workers() []int {
	master := s.cmd.Process.Pid
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so read after
		// its closing parenthesis.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(stat[i+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(master) {
			out = append(out, pid)
		}
	}
	return out
}

// ErrorLog is nginx's error log so far, for failure messages.
func (s *Server) ErrorLog() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "error.log"))
	return strings.TrimSpace(string(b))
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
