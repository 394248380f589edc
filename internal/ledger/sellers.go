package ledger

import "context"

// PinSeller returns the seller (支付宝 seller_id, 2088…) that this
// account's payments for authAppID (the authorising app; the app itself
// unless a service provider acts for a merchant) are made to: the first one
// pinned, which is sellerID when none was. Processes sharing the ledger
// agree on one: the first write wins and every caller reads it.
func (a *Account) PinSeller(ctx context.Context, authAppID, sellerID string) (string, error) {
	if _, err := a.l.db.ExecContext(ctx, `INSERT INTO ap_sellers (app_id, env, auth_app_id, seller_id, pinned_ms)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT (app_id, env, auth_app_id) DO NOTHING`,
		a.AppID, a.Env, authAppID, sellerID, ms(a.l.now())); err != nil {
		return "", a.l.unavailable(err)
	}
	var pinned string
	err := a.l.db.QueryRowContext(ctx, `SELECT seller_id FROM ap_sellers WHERE app_id = $1 AND env = $2 AND auth_app_id = $3`,
		a.AppID, a.Env, authAppID).Scan(&pinned)
	return pinned, a.l.unavailable(err)
}
