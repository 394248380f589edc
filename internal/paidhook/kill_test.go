package paidhook

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestSenderChild is not a test: it is the sender process that
// TestDeliverySurvivesKill9 starts (this test binary, re-executed) and
// kills. It runs until killed.
func TestSenderChild(t *testing.T) {
	db := os.Getenv("PAIDHOOK_CHILD_DB")
	if db == "" {
		t.Skip("the sender process of TestDeliverySurvivesKill9; runs only when started by it")
	}
	ob := openOutbox(t, db)
	s := mustSender(t, ob, Options{
		Target:  mustTarget(t, os.Getenv("PAIDHOOK_CHILD_URL"), testSecret),
		Logger:  slog.New(slog.NewTextHandler(os.Stderr, nil)),
		Timeout: time.Minute, // the receiver holds the first request until the kill
		Lease:   2 * time.Second,
		Poll:    20 * time.Millisecond, MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond,
	})
	_ = s.Run(context.Background())
}

// TestDeliverySurvivesKill9 is the issue's acceptance "webhook deliveries
// survive kill -9 of the sender": a sender process is killed with SIGKILL
// while its receiver holds the first event's request open; a restarted
// sender delivers that event (again, same id, same bytes) and the two
// queued behind it, which the dead sender had claimed too. Nothing is lost.
func TestDeliverySurvivesKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	db := filepath.Join(t.TempDir(), "outbox.db")
	ob := openOutbox(t, db)
	events := []Event{testEvent(21), testEvent(22), testEvent(23)}
	for _, e := range events {
		ob.add(t, e)
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
		cmd.Env = append(os.Environ(), "PAIDHOOK_CHILD_DB="+db, "PAIDHOOK_CHILD_URL="+srv.URL+"/hooks/paid")
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
	if r := ob.row(t, events[0].ID); r.Delivered || r.LeaseOwner == "" {
		t.Fatalf("before the kill: %+v, want leased and not delivered", r)
	}
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err := first.Wait()
	if ws, ok := first.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("first sender did not die of SIGKILL: %v", err)
	}
	close(killed)
	for _, e := range events {
		if r := ob.row(t, e.ID); r.Delivered {
			t.Fatalf("%s delivered by a dead sender", e.ID)
		}
	}

	start("restarted sender")
	waitFor(t, "every event delivered after the restart", func() bool {
		for _, e := range events {
			if !ob.row(t, e.ID).Delivered {
				return false
			}
		}
		return true
	})

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
	if count[events[0].ID] < 2 {
		t.Errorf("the interrupted event was sent %d times, want again after the restart", count[events[0].ID])
	}
	for _, e := range events {
		if count[e.ID] == 0 {
			t.Errorf("%s never reached the receiver", e.ID)
		}
	}
	if len(count) != len(events) {
		t.Errorf("receiver saw ids %v, want exactly the %d queued", count, len(events))
	}
}
