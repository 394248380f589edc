package ledger

import (
	"sync"
	"testing"
)

// TestPinSeller: the first seller pinned for an app in an environment
// stays, for every process sharing the ledger; another app or environment
// pins its own.
func TestPinSeller(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := ctxT(t)
		o := b.fresh(t)
		l := open(t, o)
		a := l.Account(app, "prod")
		const s1, s2 = "2088000000000001", "2088000000000002"
		for _, tc := range []struct {
			acct      *Account
			try, want string
		}{
			{a, s1, s1},
			{a, s2, s1}, // the pin stays
			{open(t, o).Account(app, "prod"), s2, s1}, // another process reads it too
			{l.Account(app, "sandbox"), s2, s2},
			{l.Account("2021000000000002", "prod"), s2, s2},
		} {
			got, err := tc.acct.PinSeller(ctx, tc.try)
			if err != nil || got != tc.want {
				t.Fatalf("PinSeller(%s %s, %s) = %q, %v; want %q", tc.acct.AppID, tc.acct.Env, tc.try, got, err, tc.want)
			}
		}
		// Processes racing to pin the first seller all read the winner.
		c := l.Account(app, "racing")
		var wg sync.WaitGroup
		got := make([]string, 8)
		for i := range got {
			wg.Go(func() {
				var err error
				if got[i], err = c.PinSeller(ctx, "20880000000000"+string(rune('1'+i%8))+"0"); err != nil {
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
		if got, err := a.PinSeller(ctx, "2088000000000001"); err != nil || got != "2088000000000001" {
			t.Fatalf("PinSeller after the migration = %q, %v", got, err)
		}
	})
}

// TestMigrateToOneSellerPerApp: a v3 ledger pinned a seller per
// authorising app, so a notification naming another auth_app_id could pin
// its own seller next to ours. Opened as v4, each app and environment keeps
// only the first seller pinned, and PinSeller answers it whatever is tried.
func TestMigrateToOneSellerPerApp(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := ctxT(t)
		o := b.fresh(t)
		l := open(t, o)
		const ours, theirs, other = "2088000000000001", "2088999999999999", "2088000000000003"
		back := "PRAGMA user_version = 3"
		if b.name == "postgres" {
			back = "UPDATE ap_schema SET version = 3"
		}
		for _, q := range []string{
			// prod: ours first, then one a notification with another
			// auth_app_id pinned (the v3 bypass); sandbox: the same time;
			// dev: the bypass first. The app's own auth_app_id wins, then
			// the earliest, then the smaller auth_app_id.
			`INSERT INTO ap_sellers (app_id, env, auth_app_id, seller_id, pinned_ms) VALUES
				('` + app + `', 'prod', '2021000000000999', '` + theirs + `', 2000),
				('` + app + `', 'prod', '` + app + `', '` + ours + `', 1000),
				('` + app + `', 'sandbox', '2021000000000999', '` + theirs + `', 1000),
				('` + app + `', 'sandbox', '` + app + `', '` + other + `', 1000),
				('` + app + `', 'dev', '2021000000000999', '` + theirs + `', 500),
				('` + app + `', 'dev', '` + app + `', '` + ours + `', 1500)`,
			back,
		} {
			if _, err := l.db.ExecContext(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
		l.Close()
		l = open(t, o)
		var rows int
		if err := l.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM ap_sellers`).Scan(&rows); err != nil || rows != 3 {
			t.Fatalf("rows after the migration = %d, %v; want 3 (one per app and environment)", rows, err)
		}
		for _, tc := range []struct{ env, want string }{{"prod", ours}, {"sandbox", other}, {"dev", ours}} {
			if got, err := l.Account(app, tc.env).PinSeller(ctx, theirs); err != nil || got != tc.want {
				t.Errorf("%s: PinSeller after the migration = %q, %v; want the app's own pin %q", tc.env, got, err, tc.want)
			}
		}
	})
}
