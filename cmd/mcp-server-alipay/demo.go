package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/alipay"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/localalipay"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/tools"
)

// runDemo plays the reference README's illustrator story against the local
// Alipay: this same binary runs as a stdio MCP server subprocess in local
// mode, and a real MCP client session drives it step by step.
func runDemo(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := newFlagSet("demo")
	dataDir := fs.String("data-dir", "", "local Alipay data directory")
	if code, done := parseArgs(fs, demoUsage, args, stdout, stderr); done {
		return code
	}
	dir, note, err := demoDataDir(*dataDir, getenv)
	if err != nil {
		fmt.Fprintf(stderr, "mcp-server-alipay demo: 找不到数据目录 / no data directory: %v\n", err)
		return 1
	}
	fmt.Fprint(stderr, note)
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "demo: 找不到程序自身 / cannot find this program: %v\n", err)
		return 1
	}
	d := &demo{out: stdout}
	if err := d.run(ctx, self, dir, getenv); err != nil {
		fmt.Fprintf(stdout, "\n✗ 演示失败 / demo failed: %v\n", err)
		return 1
	}
	return 0
}

// demoDataDir is the data directory of demo and sandbox: the flag, else
// AP_LOCAL_DATA_DIR, else the default. A relative path is made absolute, and
// note says so.
func demoDataDir(flagValue string, getenv func(string) string) (dir, note string, err error) {
	dir, from := flagValue, "--data-dir"
	if dir == "" {
		dir, from = strings.TrimSpace(getenv("AP_LOCAL_DATA_DIR")), "AP_LOCAL_DATA_DIR"
	}
	if dir == "" {
		dir, err = localalipay.DefaultDataDir()
		return dir, "", err
	}
	if filepath.IsAbs(dir) {
		return dir, "", nil
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", "", err
	}
	return abs, fmt.Sprintf("%s %q 是相对路径, 已按当前目录解析为 %s / %s %q is relative; resolved against the current directory to %s\n",
		from, dir, abs, from, dir, abs), nil
}

type demo struct {
	out      io.Writer
	cs       *mcp.ClientSession
	step     int
	progress chan string // notifications/progress of the running call
}

func (d *demo) printf(format string, args ...any) { fmt.Fprintf(d.out, format, args...) }

func (d *demo) heading(zh, en string) {
	d.step++
	d.printf("\n%d. %s / %s\n", d.step, zh, en)
}

// indent prints a tool's text result under its step.
func (d *demo) indent(s string) {
	for _, line := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		d.printf("     %s\n", line)
	}
}

// call invokes a tool with arguments given as JSON text, so amounts travel
// exactly as written (199.00, 50.00).
func (d *demo) call(ctx context.Context, tool, args string) (*mcp.CallToolResult, error) {
	d.printf("   → %s %s\n", tool, args)
	res, err := d.cs.CallTool(ctx, &mcp.CallToolParams{Name: tool, Arguments: json.RawMessage(args)})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", tool, err)
	}
	if res.IsError {
		d.printf("   ← 工具错误 / tool error (isError):\n")
	} else {
		d.printf("   ← 结果 / result:\n")
	}
	d.indent(resultText(res))
	return res, nil
}

func resultText(res *mcp.CallToolResult) string {
	var b strings.Builder
	for _, c := range res.Content {
		if t, ok := c.(*mcp.TextContent); ok {
			b.WriteString(t.Text)
		}
	}
	return b.String()
}

// structuredField reads one field of a result's structured content; an
// amount is given as yuan with two decimals ("199.00").
//
// The SDK client has already decoded the numbers into float64. Go writes a
// float64 back as the shortest decimal that reads as the same float, which
// for an amount (at most 11 significant digits) is the decimal the server
// sent, so the amount is re-read from that text as alipay.Amount (integer
// fen), never by rounding a float.
func structuredField(res *mcp.CallToolResult, key string) string {
	m, _ := res.StructuredContent.(map[string]any)
	switch v := m[key].(type) {
	case string:
		return v
	case float64:
		raw, err := json.Marshal(v)
		if err != nil {
			return ""
		}
		a, err := alipay.AmountFromJSON(raw)
		if err != nil {
			return ""
		}
		return a.String()
	}
	return ""
}

func (d *demo) run(ctx context.Context, self, dir string, getenv func(string) string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	d.printf("支付宝 MCP Server 演示: 插画师的一单生意 / Alipay MCP server demo: an illustrator's order\n")
	d.printf("本地支付宝, 不涉及真实资金 / Local Alipay, no real money. 数据目录 / data directory: %s\n", dir)

	cmd := exec.Command(self)
	cmd.Env = demoEnv(os.Environ(), dir)
	cmd.Stderr = io.Discard
	d.progress = make(chan string, 16)
	client := mcp.NewClient(&mcp.Implementation{Name: "mcp-server-alipay-demo", Version: versionString()}, &mcp.ClientOptions{
		ProgressNotificationHandler: func(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
			select {
			case d.progress <- fmt.Sprintf("%.0f/%.0f s: %s", req.Params.Progress, req.Params.Total, req.Params.Message):
			default:
			}
		},
	})
	cs, err := client.Connect(ctx, &mcp.CommandTransport{Command: cmd, TerminateDuration: 2 * time.Second}, nil)
	if err != nil {
		return fmt.Errorf("启动 MCP 服务子进程失败 / cannot start the MCP server subprocess: %w", err)
	}
	defer cs.Close()
	d.cs = cs
	init := cs.InitializeResult()
	lt, err := cs.ListTools(ctx, nil)
	if err != nil {
		return fmt.Errorf("tools/list: %w", err)
	}
	var names []string
	for _, t := range lt.Tools {
		names = append(names, t.Name)
	}
	d.printf("MCP 会话 / MCP session: %s %s over stdio, protocol %s; %d 个工具 / tools: %s\n",
		init.ServerInfo.Name, init.ServerInfo.Version, init.ProtocolVersion, len(names), strings.Join(names, ", "))

	orderNo := demoOrderNo(time.Now())
	const title = "定制插画 Custom illustration"

	d.heading("报价", "Quote")
	d.printf("   客户: \"想要一张 A4 水彩风格的猫咪插画, 做手机壁纸, 一周内交付。\"\n")
	d.printf("   Customer: \"A watercolour cat illustration, A4, for a phone wallpaper, within a week.\"\n")
	d.printf("   Agent: 报价 ¥199.00, 订单号 %s (来自商户订单系统) / quotes ¥199.00, order number %s (from the merchant's order system)\n", orderNo, orderNo)

	d.heading("创建支付链接", "Create the payment link")
	res, err := d.call(ctx, tools.NameWebPagePay, fmt.Sprintf(`{"outTradeNo":%q,"totalAmount":199.00,"orderTitle":%q}`, orderNo, title))
	if err != nil {
		return err
	}
	link := structuredField(res, "url")
	if res.IsError || link == "" {
		return errors.New("未创建支付链接 / no payment link was created")
	}

	d.heading("买家打开链接之前查询", "Query before the buyer opens the link")
	res, err = d.call(ctx, tools.NameQueryPay, fmt.Sprintf(`{"outTradeNo":%q}`, orderNo))
	if err != nil {
		return err
	}
	if !res.IsError || !strings.Contains(resultText(res), "ACQ.TRADE_NOT_EXIST") {
		return errors.New("买家打开链接之前的查询应返回 ACQ.TRADE_NOT_EXIST / expected ACQ.TRADE_NOT_EXIST before the buyer opens the link")
	}
	d.printf("   正常: 买家打开链接后支付宝才创建交易 / expected: Alipay creates the trade when the buyer opens the link\n")

	d.heading("买家打开链接并付款", "The buyer opens the link and pays")
	d.printf("   本地收银台, 通过 HTTP 模拟买家 / the local cashier, with the buyer simulated over HTTP\n")
	back, err := localalipay.PayLink(ctx, link)
	if err != nil {
		return fmt.Errorf("付款失败 / paying the link failed: %w", err)
	}
	d.printf("   ✓ 已付款, 浏览器将回到 / paid; the browser goes back to:\n     %s\n", back)

	d.heading("查询支付", "Query the payment")
	res, err = d.call(ctx, tools.NameQueryPay, fmt.Sprintf(`{"outTradeNo":%q}`, orderNo))
	if err != nil {
		return err
	}
	if res.IsError || structuredField(res, "tradeStatus") != alipay.TradeSuccess {
		return errors.New("支付状态不是 TRADE_SUCCESS / the payment is not TRADE_SUCCESS")
	}
	d.printf("   ✓ 已付款, 插画师开始创作 / paid: the illustrator starts drawing\n")

	d.heading("部分退款", "Partial refund")
	d.printf("   客户改为不要高清源文件, 退 ¥50.00 / the customer drops the high-resolution source file: refund ¥50.00\n")
	reqNo := orderNo + "-R1"
	res, err = d.call(ctx, tools.NameRefundPay, fmt.Sprintf(`{"outTradeNo":%q,"refundAmount":50.00,"outRequestNo":%q,"refundReason":"不需要源文件 / no source file"}`, orderNo, reqNo))
	if err != nil {
		return err
	}
	if res.IsError || structuredField(res, "refundResult") != tools.RefundResultSuccess {
		return errors.New("退款未成功 / the refund did not succeed")
	}

	d.heading("查询退款", "Query the refund")
	res, err = d.call(ctx, tools.NameRefundQuery, fmt.Sprintf(`{"outTradeNo":%q,"outRequestNo":%q}`, orderNo, reqNo))
	if err != nil {
		return err
	}
	if res.IsError || structuredField(res, "refundStatus") != alipay.RefundSuccess || structuredField(res, "refundAmount") != "50.00" {
		return errors.New("退款查询结果不符 / the refund query does not show REFUND_SUCCESS of ¥50.00")
	}

	if err := d.qrStory(ctx); err != nil {
		return err
	}

	d.printf("\n✓ 演示完成 / Demo complete: %d 步全部成功 / all %d steps succeeded.\n", d.step, d.step)
	d.printf("下一步 / Next: 把 mcp-server-alipay 加进你的 MCP 客户端, 设 AP_CURRENT_ENV=local 即可试用所有工具;\n")
	d.printf("  用真实商户时设置 AP_APP_ID、AP_APP_KEY、AP_PUB_KEY, 并先运行 `mcp-server-alipay doctor`。\n")
	d.printf("  Add mcp-server-alipay to your MCP client with AP_CURRENT_ENV=local to try every tool;\n")
	d.printf("  for a real merchant set AP_APP_ID, AP_APP_KEY and AP_PUB_KEY and run `mcp-server-alipay doctor` first.\n")
	return nil
}

// demoEnv is the parent's environment without AP_* settings, in local mode
// on dir. The user's own AP_LOG_ENABLED is kept.
func demoEnv(environ []string, dir string) []string {
	var env []string
	for _, kv := range environ {
		if strings.HasPrefix(kv, "AP_") && !strings.HasPrefix(kv, "AP_LOG_ENABLED=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "AP_CURRENT_ENV=local", "AP_LOCAL_DATA_DIR="+dir)
}

// demoOrderNo is a fresh order number dated in Beijing time, like every
// time the tools show.
func demoOrderNo(now time.Time) string {
	return "DEMO-" + now.In(alipay.ChinaZone()).Format("20060102-150405") + "-" + randomHex(3)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
