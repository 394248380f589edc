package ledger

import (
	"sync"
	"testing"
)

// TestPinSeller: the first seller pinned for an authorising app stays, for
// every process sharing the ledger; another app, environment or
// authorising app pins its own.
func TestPinSeller(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := ctxT(t)
		o := b.fresh(t)
		l := open(t, o)
		a := l.Account(app, "prod")
		const s1, s2 = "2088000000000001", "2088000000000002"
		for _, tc := range []struct {
			acct      *Account
			auth, try string
			want      string
		}{
			{a, app, s1, s1},
			{a, app, s2, s1}, // the pin stays
			{open(t, o).Account(app, "prod"), app, s2, s1}, // another process reads it too
			{a, "2021000000000777", s2, s2},                // a merchant another service provider acts for
			{l.Account(app, "sandbox"), app, s2, s2},
			{l.Account("2021000000000002", "prod"), "2021000000000002", s2, s2},
		} {
			got, err := tc.acct.PinSeller(ctx, tc.auth, tc.try)
			if err != nil || got != tc.want {
				t.Fatalf("PinSeller(%s %s, %s, %s) = %q, %v; want %q", tc.acct.AppID, tc.acct.Env, tc.auth, tc.try, got, err, tc.want)
			}
		}
		// Processes racing to pin the first seller all read the winner.
		c := l.Account(app, "racing")
		var wg sync.WaitGroup
		got := make([]string, 8)
		for i := range got {
			wg.Go(func() {
				var err error
				if got[i], err = c.PinSeller(ctx, app, "20880000000000"+string(rune('1'+i%8))+"0"); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		for _, g := range got {
			if g != got[0] || g == "" {
				t.Fatalf("racing pins read %q", got)
			}
		}
	})
}

// TestMigrateToPinnedSellers: a v2 ledger (before sellers were pinned)
// opens as v3 with its orders kept and pins work.
func TestMigrateToPinnedSellers(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := ctxT(t)
		o := b.fresh(t)
		l := open(t, o)
		if _, _, err := l.Account(app, "prod").RecordOrder(ctx, NewOrder{OutTradeNo: "M1", Kind: "web", Amount: 100, Title: "x"}); err != nil {
			t.Fatal(err)
		}
		back := "PRAGMA user_version = 2"
		if b.name == "postgres" {
			back = "UPDATE ap_schema SET version = 2"
		}
		for _, q := range []string{"DROP TABLE ap_sellers", back} {
			if _, err := l.db.ExecContext(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
		l.Close()
		a := open(t, o).Account(app, "prod")
		if _, err := a.Order(ctx, "M1"); err != nil {
			t.Fatalf("order after the migration: %v", err)
		}
		if got, err := a.PinSeller(ctx, app, "2088000000000001"); err != nil || got != "2088000000000001" {
			t.Fatalf("PinSeller after the migration = %q, %v", got, err)
		}
	})
}
