package ledger

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// Ready follows the schema under a running process: a newer version's
// migration, or an older schema put back, makes it fail; the schema this
// binary writes makes it pass again.
func TestReadyFollowsSchema(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := ctxT(t)
		l := open(t, b.fresh(t))
		set := func(v int) {
			t.Helper()
			q := fmt.Sprintf("PRAGMA user_version = %d", v)
			if b.name == "postgres" {
				q = fmt.Sprintf("UPDATE ap_schema SET version = %d", v)
			}
			if _, err := l.db.ExecContext(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
		if err := l.Ready(ctx); err != nil {
			t.Fatalf("Ready on a fresh ledger: %v", err)
		}
		for _, tc := range []struct {
			version int
			is      error
			want    []string
		}{
			{SchemaVersion + 1, ErrNewerSchema, []string{fmt.Sprintf("v%d", SchemaVersion+1), "newer", " / "}},
			{SchemaVersion - 1, nil, []string{fmt.Sprintf("v%d", SchemaVersion-1), "older", "restart", " / "}},
		} {
			set(tc.version)
			err := l.Ready(ctx)
			if err == nil || (tc.is != nil && !errors.Is(err, tc.is)) {
				t.Fatalf("Ready at schema v%d: %v", tc.version, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Ready at schema v%d: %q lacks %q", tc.version, err, w)
				}
			}
		}
		set(SchemaVersion)
		if err := l.Ready(ctx); err != nil {
			t.Errorf("Ready with the schema back at v%d: %v", SchemaVersion, err)
		}
		l.Close()
		if err := l.Ready(ctx); !errors.Is(err, ErrUnavailable) {
			t.Errorf("Ready on a closed ledger: %v, want ErrUnavailable", err)
		}
	})
}
