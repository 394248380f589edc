package main

import (
	"context"
	"encoding/json"
	"os"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/localalipay"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/tools"
)

// Run with: go test -run '^$' -bench . -benchtime 20x ./cmd/mcp-server-alipay/
//
// Besides ns/op (the mean) each benchmark reports median-ms, and the server
// process's peak resident memory as maxrss-KiB (Linux reports ru_maxrss in KiB).

// report adds the median of per-iteration durations and the peak RSS.
func report(b *testing.B, durations []time.Duration, maxRSS int64) {
	b.Helper()
	if len(durations) > 0 {
		slices.Sort(durations)
		b.ReportMetric(float64(durations[len(durations)/2].Microseconds())/1000, "median-ms")
	}
	if maxRSS > 0 {
		b.ReportMetric(float64(maxRSS), "maxrss-KiB")
	}
}

// coldStart measures process start → initialize → tools/list, then closes
// the session and returns the child's peak RSS.
func coldStart(b *testing.B, e *env) (time.Duration, int64) {
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
	cs.Close()
	return d, rssOf(cmd.ProcessState)
}

func rssOf(ps *os.ProcessState) int64 {
	if ps == nil {
		return 0
	}
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		return int64(ru.Maxrss)
	}
	return 0
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
	e := newEnv(b, gatewayEnv(benchGateway(b)))
	var ds []time.Duration
	var peak int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d, rss := coldStart(b, e)
		ds = append(ds, d)
		peak = max(peak, rss)
	}
	report(b, ds, peak)
}

// BenchmarkColdStartLocal: AP_CURRENT_ENV=local, which also starts the
// local Alipay (keys, SQLite) inside the server process.
func BenchmarkColdStartLocal(b *testing.B) {
	e := newEnv(b, nil)
	var ds []time.Duration
	var peak int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d, rss := coldStart(b, e)
		ds = append(ds, d)
		peak = max(peak, rss)
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
	report(b, ds, 0)
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
	report(b, ds, 0)
}
