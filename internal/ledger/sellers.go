package ledger

import "context"

// PinSeller returns the seller (支付宝 seller_id, 2088…) that this
// account's payments are made to: the first one pinned, which is sellerID
// when none was. There is one per app id and environment, whatever app a
// notification says authorised the trade (auth_app_id): a notification
// naming another authorising app must not get a seller of its own.
// Processes sharing the ledger agree on one: the first write wins and every
// caller reads it.
func (a *Account) PinSeller(ctx context.Context, sellerID string) (string, error) {
	// auth_app_id is kept in the key (schema v3) but is always '' since v4.
	if _, err := a.l.exec(ctx, `INSERT INTO ap_sellers (app_id, env, auth_app_id, seller_id, pinned_ms)
		VALUES ($1, $2, '', $3, $4) ON CONFLICT (app_id, env, auth_app_id) DO NOTHING`,
		a.AppID, a.Env, sellerID, ms(a.l.now())); err != nil {
		return "", a.l.unavailable(err)
	}
	var pinned string
	err := a.l.db.QueryRowContext(ctx, `SELECT seller_id FROM ap_sellers WHERE app_id = $1 AND env = $2 AND auth_app_id = ''`,
		a.AppID, a.Env).Scan(&pinned)
	return pinned, a.l.unavailable(err)
}
