package paywatch

import (
	"context"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/ledger"
)

// FollowLedger publishes the ledger's paid and closed events of one
// account (appID in env) to the watcher's listeners and feeds until events
// is closed or ctx ends, so that a payment recorded elsewhere (a verified
// notification, another process sharing PostgreSQL) wakes a waiting tool at
// once. Events are hints without the trade's details: a waiting tool
// queries the order before it answers. Run it in its own goroutine.
func (w *Watcher) FollowLedger(ctx context.Context, events <-chan ledger.Event, appID, env string) {
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-events:
			if !ok {
				return
			}
			if e.AppID != appID || e.Env != env || (e.Kind != ledger.EventPaid && e.Kind != ledger.EventClosed) {
				continue
			}
			w.Publish(ctx, Change{OutTradeNo: e.OutTradeNo, Status: e.Status})
		}
	}
}
