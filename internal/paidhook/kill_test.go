package paidhook

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/ledger"
)

// childEnv names the ledger of the sender process TestSenderChild runs.
const childEnv = "PAIDHOOK_CHILD_LEDGER"

// TestSenderChild is not a test: it is the sender process that
// TestDeliverySurvivesKill9 starts (this test binary, re-executed) and
// kills. It runs until killed.
func TestSenderChild(t *testing.T) {
	db := os.Getenv(childEnv)
	if db == "" {
		t.Skip("the sender process of TestDeliverySurvivesKill9; runs only when started by it")
	}
	s := mustSender(t, FromLedger(openLedger(t, db)), Options{
		Target:  mustTarget(t, os.Getenv("PAIDHOOK_CHILD_URL"), testSecret),
		Logger:  slog.New(slog.NewTextHandler(os.Stderr, nil)),
		Timeout: time.Minute, // the receiver holds the first request until the kill
		Lease:   2 * time.Second,
		Poll:    20 * time.Millisecond, MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond,
	})
	_ = s.Run(context.Background())
}

// TestDeliverySurvivesKill9 is the issue's acceptance "webhook deliveries
// survive kill -9 of the sender", on the ledger's own outbox (SQLite and
// PostgreSQL, shared by the processes): three payments are recorded; a sender process is
// killed with SIGKILL while its receiver holds the first event's request
// open; a restarted sender delivers that event (again, same id, same bytes)
// and the two queued behind it, which the dead sender had claimed too.
// Nothing is lost.
func TestDeliverySurvivesKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	for _, b := range ledgerBackends() {
		t.Run(b.name, func(t *testing.T) { survivesKill9(t, b.where(t)) })
	}
}

func survivesKill9(t *testing.T, db string) {
	l := openLedger(t, db)
	var ids []string
	for _, out := range []string{"T202611290021", "T202611290022", "T202611290023"} {
		pay(t, l, out, 1234, ledger.SourceWatch)
		ids = append(ids, ledger.PaidEventID(ledgerApp, ledgerEnv, out))
	}

	arrived := make(chan struct{}, 16)
	killed := make(chan struct{})
	rc := &receiver{check: verifyGeneric(testSecret), received: arrived}
	rc.respond = func(n int, w http.ResponseWriter, d delivery) {
		if n == 1 {
			select { // hold the first request until its sender is dead
			case <-killed:
			case <-time.After(time.Minute):
			}
		}
		answerGeneric(w, d)
	}
	srv := httptest.NewServer(rc)
	defer srv.Close()

	start := func(name string) (*exec.Cmd, *bytes.Buffer) {
		cmd := exec.Command(os.Args[0], "-test.run=^TestSenderChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), childEnv+"="+db, "PAIDHOOK_CHILD_URL="+srv.URL+"/hooks/paid")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatalf("start %s: %v", name, err)
		}
		t.Cleanup(func() {
			if cmd.ProcessState == nil {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
			}
			if t.Failed() {
				t.Logf("%s output:\n%s", name, out.String())
			}
		})
		return cmd, &out
	}

	first, _ := start("first sender")
	select {
	case <-arrived:
	case <-time.After(60 * time.Second):
		t.Fatal("the first sender sent nothing")
	}
	if n := pending(t, l); n != len(ids) {
		t.Fatalf("before the kill: %d events pending, want %d", n, len(ids))
	}
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err := first.Wait()
	if ws, ok := first.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("first sender did not die of SIGKILL: %v", err)
	}
	close(killed)
	if n := pending(t, l); n != len(ids) {
		t.Fatalf("after the kill: %d events pending, want %d", n, len(ids))
	}

	start("restarted sender")
	waitFor(t, "every event delivered after the restart", func() bool { return pending(t, l) == 0 })

	got := rc.deliveries()
	bodies := map[string]string{}
	count := map[string]int{}
	for _, d := range got {
		if d.Problem != "" {
			t.Errorf("request for %s failed the receiver's checks: %s", d.EventID, d.Problem)
		}
		if b, seen := bodies[d.EventID]; seen && b != string(d.Body) {
			t.Errorf("%s sent with two different bodies", d.EventID)
		}
		bodies[d.EventID] = string(d.Body)
		count[d.EventID]++
	}
	if got[0].EventID != ids[0] || count[ids[0]] < 2 {
		t.Errorf("the interrupted event %s was sent %d times, want again after the restart", ids[0], count[ids[0]])
	}
	for _, id := range ids {
		if count[id] == 0 {
			t.Errorf("%s never reached the receiver", id)
		}
	}
	if len(count) != len(ids) {
		t.Errorf("receiver saw ids %v, want exactly the %d queued", count, len(ids))
	}
}
