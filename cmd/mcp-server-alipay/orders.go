package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/config"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/ledger"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/localalipay"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/tools"
)

const ordersUsage = `用法 / Usage: mcp-server-alipay orders [--json | --csv] [--status S] [--since D] [--until D] [--limit N] [--cursor C]
  列出账本记录的订单, 最新的在前: 状态、金额、已退款、付款时间。读取与服务器相同的 AP_* 变量
  (AP_CURRENT_ENV、AP_APP_ID、AP_DATABASE_URL; 本地模式读 AP_LOCAL_DATA_DIR 或 --data-dir)。
  Lists the orders the ledger recorded, newest first: status, amount, refunded, paid at. Reads the same AP_*
  variables as the server (AP_CURRENT_ENV, AP_APP_ID, AP_DATABASE_URL; local mode AP_LOCAL_DATA_DIR or --data-dir).

  --json        每行一个 JSON 对象 / one JSON object per line
  --csv         CSV, 带表头 / CSV with a header line
  --status S    只列出这些状态, 逗号分隔; paid = TRADE_SUCCESS,TRADE_FINISHED / only these statuses, comma-separated
  --since D     创建时间不早于 (北京时间日期 2006-01-02 或 RFC 3339) / created at or after (a Beijing date or RFC 3339)
  --until D     创建时间早于 (日期含当天) / created before (a date includes that day)
  --limit N     最多列出 N 条 (默认 50, 最多 1000) / at most N orders (default 50, at most 1000)
  --cursor C    从上次输出末尾提示的游标继续 / continue from the cursor the previous page printed
  --data-dir D  本地模式的数据目录 / local mode's data directory
`

// runOrders prints the ledger's orders of the configured app and
// environment.
func runOrders(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := newFlagSet("orders")
	asJSON := fs.Bool("json", false, "")
	asCSV := fs.Bool("csv", false, "")
	status := fs.String("status", "", "")
	since := fs.String("since", "", "")
	until := fs.String("until", "", "")
	limit := fs.Int("limit", 50, "")
	cursor := fs.String("cursor", "", "")
	dataDir := fs.String("data-dir", "", "")
	if code, done := parseArgs(fs, ordersUsage, args, stdout, stderr); done {
		return code
	}
	var problems []string
	if *asJSON && *asCSV {
		problems = append(problems, "--json 和 --csv 只能选一个 / choose one of --json and --csv")
	}
	f := ledger.Filter{Limit: *limit, Cursor: *cursor}
	if *limit < 1 || *limit > 1000 {
		problems = append(problems, fmt.Sprintf("--limit %d: 应为 1 至 1000 / must be 1 to 1000", *limit))
	}
	var err error
	if f.Statuses, err = tools.ParseStatuses(*status); err != nil {
		problems = append(problems, "--status: "+err.Error())
	}
	if *since != "" {
		if f.Since, err = tools.ParseWhen(*since, false); err != nil {
			problems = append(problems, "--since: "+err.Error())
		}
	}
	if *until != "" {
		if f.Until, err = tools.ParseWhen(*until, true); err != nil {
			problems = append(problems, "--until: "+err.Error())
		}
	}
	env, appID, dbURL, err := ordersScope(getenv, *dataDir, stderr)
	if err != nil {
		problems = append(problems, err.Error())
	}
	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintf(stderr, "mcp-server-alipay orders: %s\n", p)
		}
		return 2
	}
	// Read as it is: a newer binary must not migrate a ledger that running
	// servers of the older one share, and a file that does not exist (a
	// mistyped path, a machine that never served) is said to be missing
	// rather than created.
	o := ledgerOptions(&config.Config{DatabaseURL: dbURL})
	o.NoMigrate = true
	octx, cancel := context.WithTimeout(ctx, 30*time.Second)
	led, err := ledger.Open(octx, o)
	cancel()
	if err != nil {
		fmt.Fprintf(stderr, "mcp-server-alipay orders: %v\n", err)
		return 1
	}
	defer led.Close()
	p, err := led.Account(appID, env).ListOrders(ctx, f)
	if err != nil {
		fmt.Fprintf(stderr, "mcp-server-alipay orders: %v\n", err)
		return 1
	}
	switch {
	case *asJSON:
		enc := json.NewEncoder(stdout)
		for _, o := range p.Orders {
			enc.Encode(orderRecord(o))
		}
	case *asCSV:
		w := csv.NewWriter(stdout)
		w.Write([]string{"out_trade_no", "status", "amount", "refunded", "paid_at", "created_at", "title", "kind", "trade_no"})
		for _, o := range p.Orders {
			r := orderRecord(o)
			w.Write([]string{csvCell(r.OutTradeNo), r.Status, r.Amount, r.Refunded, r.PaidAt, r.CreatedAt, csvCell(r.Title), r.Kind, csvCell(r.TradeNo)})
		}
		w.Flush()
	default:
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "OUT_TRADE_NO\tSTATUS\tAMOUNT\tREFUNDED\tPAID AT (北京时间)\tCREATED AT")
		for _, o := range p.Orders {
			r := orderRecord(o)
			paid := "-"
			if !o.PaidAt.IsZero() {
				paid = o.PaidAt.In(beijing).Format("2006-01-02 15:04:05")
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.OutTradeNo, r.Status, r.Amount, r.Refunded, paid, o.CreatedAt.In(beijing).Format("2006-01-02 15:04:05"))
		}
		tw.Flush()
		if len(p.Orders) == 0 {
			fmt.Fprintln(stdout, "(没有订单 / no orders)")
		}
	}
	if p.Next != "" {
		fmt.Fprintf(stderr, "还有更多 / more: --cursor %s\n", p.Next)
	}
	// Refunds sent whose outcome is unknown, on stdout under the table and
	// on stderr beside --json and --csv (whose format they would break).
	unsettledTo := stdout
	if *asJSON || *asCSV {
		unsettledTo = stderr
	}
	reportUnsettled(ctx, led.Account(appID, env), unsettledTo)
	return 0
}

// orderJSON is one order as --json and --csv print it; amounts are exact
// decimal strings of yuan.
type orderJSON struct {
	OutTradeNo string `json:"out_trade_no"`
	Status     string `json:"status"`
	Amount     string `json:"amount"`
	Refunded   string `json:"refunded"`
	PaidAt     string `json:"paid_at,omitempty"`
	CreatedAt  string `json:"created_at"`
	Title      string `json:"title,omitempty"`
	Kind       string `json:"kind"`
	TradeNo    string `json:"trade_no,omitempty"`
}

func orderRecord(o ledger.Order) orderJSON {
	r := orderJSON{OutTradeNo: o.OutTradeNo, Status: o.Status, Amount: o.Amount.String(), Refunded: o.Refunded.String(),
		CreatedAt: o.CreatedAt.In(beijing).Format(time.RFC3339), Title: o.Title, Kind: o.Kind, TradeNo: o.TradeNo}
	if !o.PaidAt.IsZero() {
		r.PaidAt = o.PaidAt.In(beijing).Format(time.RFC3339)
	}
	return r
}

// ordersScope reads which records to list: the environment, the app id
// (local mode: the local Alipay's, from its data directory) and the ledger.
// It needs no keys.
func ordersScope(getenv func(string) string, dataDir string, stderr io.Writer) (env, appID, dbURL string, err error) {
	get := func(k string) string { return strings.TrimSpace(getenv(k)) }
	env = strings.ToLower(get("AP_CURRENT_ENV"))
	if env == "" {
		env = string(config.Prod)
	}
	dbURL = get("AP_DATABASE_URL")
	if dbURL != "" && !ledger.IsPostgres(dbURL) {
		if abs, e := filepath.Abs(dbURL); e == nil {
			dbURL = abs
		}
	}
	switch config.Env(env) {
	case config.Local:
		// Relative: resolved against the current directory and said, as
		// sandbox, doctor and the server do.
		dir, note, err := demoDataDir(dataDir, get)
		if err != nil {
			return "", "", "", err
		}
		fmt.Fprint(stderr, note)
		if appID, err = localalipay.AppID(dir); err != nil {
			return "", "", "", fmt.Errorf("本地模式: %s 里还没有本地支付宝, 没有订单 / local mode: no local Alipay has run in %s yet, so there are no orders", dir, dir)
		}
	case config.Prod, config.Sandbox:
		if appID = get("AP_APP_ID"); appID == "" {
			return "", "", "", fmt.Errorf("AP_APP_ID: 必填, 订单按 APPID 记录 / required: orders are recorded per APPID")
		}
	default:
		return "", "", "", fmt.Errorf("AP_CURRENT_ENV: %q 只能是 prod、sandbox 或 local / use prod, sandbox or local", env)
	}
	return env, appID, dbURL, nil
}

// csvCell keeps a text cell from being read as a formula by a spreadsheet
// (CSV injection): a cell starting with = + - @, a tab or a carriage return
// gets a leading apostrophe, which spreadsheets show as text.
func csvCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
