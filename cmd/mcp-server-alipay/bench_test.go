package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/localalipay"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/tools"
)

// Run with: go test -run '^$' -bench . -benchtime 20x ./cmd/mcp-server-alipay/
//
// Besides ns/op (the mean) each benchmark reports median-ms, and memory of
// the server process read from /proc/<pid>/status (Linux) just before the
// session closes: peak-rss-KiB is VmHWM, the peak resident set, and
// rss-anon-KiB is RssAnon, the anonymous (heap, stacks) part of the resident
// set at that moment; the rest is mostly file-backed code pages. The
// child's ru_maxrss from wait4 is not used: on Linux it can carry the
// parent's high-water mark from before exec.

// mem is a server process's memory in KiB.
type mem struct{ peak, anon int64 }

func (m mem) max(o mem) mem { return mem{max(m.peak, o.peak), max(m.anon, o.anon)} }

// procMem reads VmHWM and RssAnon of a live process; zero where /proc is
// not available.
func procMem(b *testing.B, cmd *exec.Cmd) mem {
	b.Helper()
	if cmd == nil || cmd.Process == nil {
		return mem{}
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
	if err != nil {
		return mem{}
	}
	var m mem
	for _, line := range strings.Split(string(data), "\n") {
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		kib, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
		if err != nil {
			continue
		}
		switch name {
		case "VmHWM":
			m.peak = kib
		case "RssAnon":
			m.anon = kib
		}
	}
	return m
}

// report adds the median of per-iteration durations and the memory.
func report(b *testing.B, durations []time.Duration, m mem) {
	b.Helper()
	if len(durations) > 0 {
		slices.Sort(durations)
		b.ReportMetric(float64(durations[len(durations)/2].Microseconds())/1000, "median-ms")
	}
	if m.peak > 0 {
		b.ReportMetric(float64(m.peak), "peak-rss-KiB")
	}
	if m.anon > 0 {
		b.ReportMetric(float64(m.anon), "rss-anon-KiB")
	}
}

// coldStart measures process start → initialize → tools/list, then reads
// the server's memory and closes the session.
func coldStart(b *testing.B, e *env) (time.Duration, mem) {
	b.Helper()
	cmd := e.command()
	start := time.Now()
	c := mcp.NewClient(&mcp.Implementation{Name: "bench", Version: "0"}, nil)
	ctx := context.Background()
	cs, err := c.Connect(ctx, &mcp.CommandTransport{Command: cmd, TerminateDuration: 2 * time.Second}, nil)
	if err != nil {
		b.Fatal(err)
	}
	lt, err := cs.ListTools(ctx, nil)
	if err != nil || len(lt.Tools) != 5 {
		b.Fatalf("tools/list: %v (%d tools)", err, len(lt.Tools))
	}
	d := time.Since(start)
	m := procMem(b, cmd)
	cs.Close()
	return d, m
}

func benchGateway(b *testing.B) *localalipay.Server {
	b.Helper()
	s, err := localalipay.Start(context.Background(), localalipay.Options{DataDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// BenchmarkColdStart: a merchant configuration (keys, gateway) pointing at a
// local Alipay in the test process, so nothing touches the network.
func BenchmarkColdStart(b *testing.B) {
	benchColdStart(b, newEnv(b, gatewayEnv(benchGateway(b))))
}

// BenchmarkColdStartLocal: AP_CURRENT_ENV=local, which also starts the
// local Alipay (keys, SQLite) inside the server process.
func BenchmarkColdStartLocal(b *testing.B) {
	benchColdStart(b, newEnv(b, nil))
}

// benchColdStart starts the server in e b.N times and reports the median
// time to tools/list and the peak memory.
func benchColdStart(b *testing.B, e *env) {
	var ds []time.Duration
	var peak mem
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d, m := coldStart(b, e)
		ds = append(ds, d)
		peak = peak.max(m)
	}
	report(b, ds, peak)
}

// warm opens one session used for every iteration.
func warm(b *testing.B) (*session, *env) {
	b.Helper()
	e := newEnv(b, gatewayEnv(benchGateway(b)))
	return e.connect(b), e
}

func timedCall(b *testing.B, s *session, tool, args string) time.Duration {
	b.Helper()
	start := time.Now()
	res, err := s.CallTool(context.Background(), &mcp.CallToolParams{Name: tool, Arguments: json.RawMessage(args)})
	d := time.Since(start)
	if err != nil || res.IsError {
		b.Fatalf("%s: %v %v", tool, err, res)
	}
	return d
}

func BenchmarkToolCallCreateLink(b *testing.B) {
	s, _ := warm(b)
	var ds []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ds = append(ds, timedCall(b, s, tools.NameWebPagePay, `{"outTradeNo":"`+orderNo("BENCH")+`","totalAmount":19.99,"orderTitle":"bench"}`))
	}
	b.StopTimer()
	report(b, ds, procMem(b, s.cmd))
}

func BenchmarkToolCallQuery(b *testing.B) {
	s, _ := warm(b)
	no := orderNo("BENCHQ")
	res := s.call(b, tools.NameWebPagePay, `{"outTradeNo":"`+no+`","totalAmount":19.99,"orderTitle":"bench"}`)
	if _, err := localalipay.PayLink(context.Background(), structuredField(res, "url")); err != nil {
		b.Fatal(err)
	}
	var ds []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ds = append(ds, timedCall(b, s, tools.NameQueryPay, `{"outTradeNo":"`+no+`"}`))
	}
	b.StopTimer()
	report(b, ds, procMem(b, s.cmd))
}
