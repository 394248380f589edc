package ledger

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/alipay"
)

// benchBackends runs fn per back end as sub-benchmarks.
func benchBackends(b *testing.B, fn func(b *testing.B, o Options)) {
	for _, be := range backends() {
		b.Run(be.name, func(b *testing.B) {
			if be.name == "postgres" && cluster == nil {
				b.Skip("PostgreSQL not installed")
			}
			fn(b, freshForBench(b, be.name))
		})
	}
}

func freshForBench(b *testing.B, name string) Options {
	b.Helper()
	if name == "postgres" {
		u, err := cluster.NewDatabase(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		return Options{DatabaseURL: u}
	}
	return Options{Path: b.TempDir() + "/ledger.db"}
}

func openB(b *testing.B, o Options) *Ledger {
	b.Helper()
	l, err := Open(context.Background(), o)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	return l
}

// BenchmarkToolCall is what the ledger adds to a tool call: a payment link
// records its order with the call's audit entry (one statement on
// PostgreSQL), a query records the status it saw.
func BenchmarkToolCall(b *testing.B) {
	benchBackends(b, func(b *testing.B, o Options) {
		a := openB(b, o).Account(app, "prod")
		ctx := context.Background()
		b.Run("link", func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				no := fmt.Sprintf("B%d", i)
				if _, _, err := a.RecordOrder(ctx, NewOrder{OutTradeNo: no, Kind: "web", Amount: 19900, Title: "插画", Who: "bench",
					Audit: &Entry{Who: "bench", Action: "create-web-page-alipay-payment", Amount: 19900, Result: "ok"}}); err != nil {
					b.Fatal(err)
				}
			}
		})
		// Many calls at once, as the HTTP service makes them: on SQLite
		// they share group commits, each write in its own savepoint. The
		// order numbers go on across the rounds (b.Run calls its function
		// once a round), so that every call records a new order.
		var n atomic.Int64
		b.Run("link-concurrent", func(b *testing.B) {
			b.SetParallelism(50)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					no := fmt.Sprintf("C%d", n.Add(1))
					_, created, err := a.RecordOrder(ctx, NewOrder{OutTradeNo: no, Kind: "web", Amount: 19900, Title: "插画", Who: "bench",
						Audit: &Entry{Who: "bench", Action: "create-web-page-alipay-payment", Amount: 19900, Result: "ok"}})
					if err != nil || !created {
						b.Errorf("order %s: created %v, err %v", no, created, err)
						return
					}
				}
			})
		})
		b.Run("query", func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				if _, err := a.RecordStatus(ctx, StatusSeen{OutTradeNo: "B0", Status: alipay.TradeWaitBuyerPay, Source: SourceQuery}); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}

// BenchmarkListOrders100k lists the first page (50 orders, newest first) of
// an account holding 100,000 orders, as `mcp-server-alipay orders` does.
func BenchmarkListOrders100k(b *testing.B) {
	benchBackends(b, func(b *testing.B, o Options) {
		l := openB(b, o)
		ctx := context.Background()
		start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
		if _, err := l.db.ExecContext(ctx, `INSERT INTO ap_orders
			(app_id, env, out_trade_no, kind, amount_fen, title, status, created_ms, status_ms, paid_ms)
			WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000)
			SELECT $1, 'prod', 'BULK' || i, 'web', 100 + i, 'order ' || i,
				CASE WHEN i % 3 = 0 THEN 'TRADE_SUCCESS' ELSE 'NOT_OPENED' END,
				CAST($2 AS BIGINT) + i * 1000, CAST($2 AS BIGINT) + i * 1000,
				CASE WHEN i % 3 = 0 THEN CAST($2 AS BIGINT) + i * 1000 ELSE 0 END FROM n`, app, start); err != nil {
			b.Fatal(err)
		}
		if _, err := l.db.ExecContext(ctx, "ANALYZE"); err != nil {
			b.Fatal(err)
		}
		a := l.Account(app, "prod")
		for _, f := range []struct {
			name string
			f    Filter
		}{
			{"all", Filter{}},
			{"paid", Filter{Statuses: []string{alipay.TradeSuccess}}},
		} {
			b.Run(f.name, func(b *testing.B) {
				for b.Loop() {
					p, err := a.ListOrders(ctx, f.f)
					if err != nil || len(p.Orders) != 50 {
						b.Fatalf("%d orders, %v", len(p.Orders), err)
					}
				}
			})
		}
	})
}
