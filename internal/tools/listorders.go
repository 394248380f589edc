package tools

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/alipay"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/ledger"
)

// NameListOrders is list-alipay-orders: the ledger's orders, paged.
const NameListOrders = "list-alipay-orders"

// listOrders reads the ledger only: read-only, and closed-world (it never
// calls Alipay), so the model may call it freely.
func listOrders(d Deps) ServerTool {
	return define("listOrders", NameListOrders, "列出订单 / List orders",
		"Lists the orders this server recorded, newest first and paged: status, amount, refunded so far, paid at. Read-only; it does not call Alipay, and each status is the latest a query, watch or notification saw.",
		mcp.ToolAnnotations{ReadOnlyHint: true, DestructiveHint: boolPtr(false), IdempotentHint: true, OpenWorldHint: boolPtr(false)},
		runListOrders(d))
}

type orderOut struct {
	OutTradeNo string        `json:"outTradeNo"`
	Status     string        `json:"status"`
	Amount     alipay.Amount `json:"amount"`
	Refunded   alipay.Amount `json:"refunded"`
	Title      string        `json:"title,omitempty"`
	CreatedAt  string        `json:"createdAt"`
	PaidAt     string        `json:"paidAt,omitempty"`
}

type listOut struct {
	Orders     []orderOut `json:"orders"`
	NextCursor string     `json:"nextCursor,omitempty"`
}

// Statuses an order can have in the ledger, for filters.
var orderStatuses = []string{ledger.StatusNotOpened, alipay.TradeWaitBuyerPay, alipay.TradeSuccess, alipay.TradeFinished, alipay.TradeClosed}

// ParseStatuses reads a status filter: a comma list of statuses, any case,
// where paid means TRADE_SUCCESS and TRADE_FINISHED.
func ParseStatuses(s string) ([]string, error) {
	var out []string
	for _, item := range strings.Split(s, ",") {
		item = strings.ToUpper(strings.TrimSpace(item))
		switch {
		case item == "":
		case item == "PAID":
			out = append(out, alipay.TradeSuccess, alipay.TradeFinished)
		case contains(orderStatuses, item):
			out = append(out, item)
		default:
			return nil, fmt.Errorf("未知的状态 / unknown status %q; allowed: paid, %s", item, strings.Join(orderStatuses, ", "))
		}
	}
	return out, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// beijing is the time zone dates are read in.
var beijing = time.FixedZone("CST", 8*3600)

// ParseWhen reads a date (2006-01-02, Beijing time) or an RFC 3339 time.
// A date used as an upper bound includes its whole day (endOfDay).
func ParseWhen(s string, endOfDay bool) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.ParseInLocation("2006-01-02", s, beijing); err == nil {
		if endOfDay {
			t = t.AddDate(0, 0, 1)
		}
		return t, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q 不是日期 2006-01-02 或 RFC 3339 时间 / is neither a date like 2006-01-02 nor an RFC 3339 time", s)
	}
	return t, nil
}

func runListOrders(d Deps) run {
	return func(ctx context.Context, a *args) (*mcp.CallToolResult, Outcome) {
		if d.Ledger == nil {
			return toolError("本服务器没有启用账本, 没有订单记录。This server runs without a ledger, so it has no orders to list."), Outcome{Status: "tool_error", Code: "NO_LEDGER"}
		}
		f := ledger.Filter{Limit: 20, Cursor: a.text("cursor")}
		if n, ok := a.integer("limit"); ok {
			f.Limit = int(n)
		}
		var problems []string
		var err error
		if f.Statuses, err = ParseStatuses(a.text("status")); err != nil {
			problems = append(problems, "status: "+err.Error())
		}
		if s := a.text("since"); s != "" {
			if f.Since, err = ParseWhen(s, false); err != nil {
				problems = append(problems, "since: "+err.Error())
			}
		}
		if s := a.text("until"); s != "" {
			if f.Until, err = ParseWhen(s, true); err != nil {
				problems = append(problems, "until: "+err.Error())
			}
		}
		if len(problems) > 0 {
			return invalidInput(NameListOrders, problems), Outcome{Status: "invalid_input"}
		}
		p, err := d.Ledger.ListOrders(ctx, f)
		if err != nil {
			why := displayErr(err)
			if errors.Is(err, ledger.ErrCursor) {
				why = displayTitle(err.Error(), 300) // it quotes the model's cursor
			}
			return toolError(fmt.Sprintf("无法读取订单 / Could not read the orders: %v\n"+
					"怎么办 / What to do: cursor 无效时去掉它从第一页开始; 账本不可用时请运营者检查数据库。Without a valid cursor start from the first page; if the ledger is unavailable, ask the operator to check the database.", why)),
				Outcome{Status: "tool_error", Code: "LEDGER"}
		}
		out := listOut{Orders: []orderOut{}, NextCursor: p.Next}
		var b strings.Builder
		fmt.Fprintf(&b, "本服务器记录的订单 (最新在前) / Orders this server recorded, newest first: %d\n", len(p.Orders))
		b.WriteString("| outTradeNo | 状态 / status | 金额 / amount | 已退 / refunded | 付款时间 / paid at |\n|---|---|---|---|---|\n")
		for _, o := range p.Orders {
			oo := orderOut{OutTradeNo: o.OutTradeNo, Status: o.Status, Amount: o.Amount, Refunded: o.Refunded, Title: o.Title,
				CreatedAt: o.CreatedAt.In(beijing).Format(time.RFC3339)}
			paid := "—"
			if !o.PaidAt.IsZero() {
				oo.PaidAt = o.PaidAt.In(beijing).Format(time.RFC3339)
				paid = o.PaidAt.In(beijing).Format("2006-01-02 15:04:05")
			}
			out.Orders = append(out.Orders, oo)
			fmt.Fprintf(&b, "| %s | %s | ¥%s | ¥%s | %s |\n", o.OutTradeNo, o.Status, o.Amount, o.Refunded, paid)
		}
		if p.Next != "" {
			fmt.Fprintf(&b, "\n还有更多: 用 cursor %q 取下一页。More: call again with cursor %q for the next page.", p.Next, p.Next)
		}
		b.WriteString("\n状态以本服务器最近一次查询、关注或通知为准; 以 query-alipay-payment 为准。Statuses are the latest this server saw; query-alipay-payment asks Alipay.")
		return success(out, b.String()), Outcome{Status: "ok"}
	}
}
