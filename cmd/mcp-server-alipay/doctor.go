package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/alipay"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/config"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/ledger"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/tools"
)

// runDoctor checks a configuration step by step and says how to fix what
// is wrong. It reads the same AP_* variables as the server.
func runDoctor(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if code, done := parseArgs(newFlagSet("doctor"), doctorUsage, args, stdout, stderr); done {
		return code
	}
	d := &doctor{out: stdout}
	d.printf("mcp-server-alipay %s doctor: 检查配置 / checking the configuration\n\n", versionString())
	cfg, err := config.Load(getenv)
	if err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			name, problem, _ := strings.Cut(line, ": ")
			d.fail("配置 / configuration "+name, problem, "按提示修正 "+name+"; `mcp-server-alipay help` 列出所有变量 / Fix "+name+" as described; `mcp-server-alipay help` lists every variable.")
		}
		return d.finish()
	}
	for _, w := range cfg.Warnings {
		d.printf("  ! %s\n", w)
	}
	served := tools.Served(cfg.Tools, cfg.ReadOnly)
	if err := tools.CheckServed(served, cfg.ReadOnly); err != nil {
		d.fail("配置 / configuration", err.Error(), "让 AP_SELECT_TOOLS 至少选中一个会被提供的工具 / Make AP_SELECT_TOOLS select at least one tool that is served.")
		return d.finish()
	}
	d.pass("配置 / configuration", fmt.Sprintf("AP_CURRENT_ENV=%s, %d 个工具 / tools", cfg.Env, len(served)))
	if cfg.ReadOnly {
		d.pass("只读模式 / read-only mode", "开启 (AP_READ_ONLY=true): 只提供只读工具, 不能创建支付、关闭订单或退款 / on: only read-only tools are served, no payments, closes or refunds: "+strings.Join(served, ", "))
	}
	if cfg.Env != config.Local {
		d.pass("AP_APP_KEY", fmt.Sprintf("RSA %d 位私钥可以解析 / a %d-bit RSA private key parses", cfg.PrivateKey.N.BitLen(), cfg.PrivateKey.N.BitLen()))
		d.pass("AP_PUB_KEY", fmt.Sprintf("RSA %d 位公钥可以解析, 不是应用自己的公钥 / a %d-bit RSA public key parses and is not the app's own public key", cfg.AlipayPublicKey.N.BitLen(), cfg.AlipayPublicKey.N.BitLen()))
	}
	if cfg.SignType == alipay.RSA {
		d.printf("  ! AP_ENCRYPTION_ALGO=RSA (SHA1) 是旧算法, 支付宝推荐 RSA2 / is the legacy algorithm; Alipay recommends RSA2\n")
	} else {
		d.pass("AP_ENCRYPTION_ALGO", string(cfg.SignType))
	}
	d.pass("支付有效期 / payment expiry (AP_PAY_TIMEOUT)", payTimeoutText(cfg.PayTimeout))
	switch {
	case cfg.Env == config.Local:
	case cfg.SellerID != "":
		d.pass("AP_SELLER_ID", fmt.Sprintf("付款通知须来自卖家 %s / payment notifications must name seller %s", cfg.SellerID, cfg.SellerID))
	case cfg.NotifyURL != "":
		d.printf("  ! AP_SELLER_ID 未设置: 第一个通过其他检查的付款通知会在账本中固定卖家; 建议设置为你的 2088 开头的 PID / " +
			"unset: the first notification that passes every other check pins its seller in the ledger; set it to your 2088… PID\n")
	}

	b, err := newBackend(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		d.fail("支付宝客户端 / Alipay client", err.Error(), "检查上面提到的设置 / Check the setting named above.")
		return d.finish()
	}
	defer b.Close()
	if b.local != nil {
		d.pass("本地支付宝 / local Alipay", fmt.Sprintf("%s (数据 / data: %s)", b.local.URL(), b.dataDir))
	}
	d.ledgerCheck(ctx, cfg, b.client.AppID())
	gw := b.client.GatewayURL()
	if !d.gatewayReachable(ctx, gw) {
		return d.finish()
	}
	d.signedCall(ctx, b.client, cfg)
	return d.finish()
}

// payTimeoutText says how long links and QR codes stay payable, for doctor
// and the start-up line.
func payTimeoutText(d time.Duration) string {
	v := fmt.Sprintf("%dm", int64(d/time.Minute))
	switch {
	case d%(24*time.Hour) == 0:
		v = fmt.Sprintf("%dd", int64(d/(24*time.Hour)))
	case d%time.Hour == 0:
		v = fmt.Sprintf("%dh", int64(d/time.Hour))
	}
	return fmt.Sprintf("%s: 链接和二维码自创建起 %s 内可付款, 之后未付款的订单关闭 / links and QR codes stay payable for %s from when they are made; an unpaid order closes then", v, v, v)
}

type doctor struct {
	out    io.Writer
	failed int
}

func (d *doctor) printf(format string, args ...any) { fmt.Fprintf(d.out, format, args...) }

func (d *doctor) pass(what, detail string) { d.printf("  ✓ %s: %s\n", what, detail) }

func (d *doctor) fail(what, problem, fix string) {
	d.failed++
	d.printf("  ✗ %s: %s\n    怎么修 / How to fix: %s\n", what, problem, fix)
}

func (d *doctor) finish() int {
	if d.failed > 0 {
		d.printf("\n✗ %d 项检查失败 / %d check(s) failed.\n", d.failed, d.failed)
		return 1
	}
	d.printf("\n✓ 所有检查通过 / All checks passed.\n")
	return 0
}

// ledgerCheck shows what the ledger holds for this app in this environment:
// its orders, the seller its notifications pinned, and the paid
// notifications the webhook has not yet taken. It reads without creating or
// migrating anything (read-only), so that a doctor of another version
// changes nothing under running servers.
func (d *doctor) ledgerCheck(ctx context.Context, cfg *config.Config, appID string) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	in, err := ledger.Inspect(ctx, ledgerOptions(cfg), appID, string(cfg.Env))
	var newer *ledger.NewerSchemaError
	switch {
	case errors.As(err, &newer):
		d.fail("账本 / ledger "+in.Where, err.Error(), "使用写入它的版本或更新的 mcp-server-alipay / Use the mcp-server-alipay version that wrote it, or a newer one.")
		return
	case err != nil:
		d.fail("账本 / ledger", err.Error(), "按上一行的说明处理; AP_DATABASE_URL 的写法见 `mcp-server-alipay help` / Do what the line above says; `mcp-server-alipay help` describes AP_DATABASE_URL.")
		return
	case !in.Exists:
		d.pass("账本 / ledger", fmt.Sprintf("%s 尚未创建, 服务器首次启动时创建 / not created yet; the server creates it when it first starts", in.Where))
		return
	case in.Schema < ledger.SchemaVersion:
		d.pass("账本 / ledger", fmt.Sprintf("%s: 结构版本 v%d, 服务器启动时迁移到 v%d / schema v%d; the server migrates it to v%d when it starts",
			in.Where, in.Schema, ledger.SchemaVersion, in.Schema, ledger.SchemaVersion))
		return
	}
	d.pass("账本 / ledger", fmt.Sprintf("%s: 本应用 (%s) 在 %s 环境有 %d 笔订单 / this app's orders in %s: %d",
		in.Where, appID, cfg.Env, in.Orders, cfg.Env, in.Orders))
	if cfg.Env != config.Local && in.Seller != "" {
		since := in.SellerSince.Local().Format("2006-01-02 15:04 MST")
		switch {
		case cfg.SellerID == "":
			d.pass("卖家 / seller", fmt.Sprintf("%s, 由首个通过其他检查的付款通知于 %s 固定; 设置 AP_SELLER_ID 可以代替它 / %s, pinned by the first notification that passed every other check, on %s; AP_SELLER_ID takes its place when set",
				in.Seller, since, in.Seller, since))
		case cfg.SellerID != in.Seller:
			d.printf("  ! 卖家 / seller: 账本于 %s 固定了 %s, 但 AP_SELLER_ID 是 %s, 以 AP_SELLER_ID 为准; 确认哪个是你的 PID / "+
				"the ledger pinned %s on %s, but AP_SELLER_ID is %s, which is what counts; make sure which one is your PID\n",
				since, in.Seller, cfg.SellerID, in.Seller, since, cfg.SellerID)
		}
	}
	if cfg.PaidWebhook.IsZero() {
		return
	}
	if in.Undelivered == 0 {
		d.pass("付款 webhook / paid webhook", fmt.Sprintf("%s: 没有待送达的通知 / no notification waiting", cfg.PaidWebhook))
		return
	}
	oldest := in.Oldest.Local().Format("2006-01-02 15:04 MST")
	d.printf("  ! 付款 webhook / paid webhook %s: %d 条通知尚未送达, 最早的一条于 %s 排队, 已尝试 %d 次; 服务器运行时会继续重试, 日志里有每次失败的原因 / "+
		"notifications not yet delivered: %d; the oldest was queued on %s and tried %d times; a running server keeps trying, and logs why each attempt failed\n",
		cfg.PaidWebhook, in.Undelivered, oldest, in.Attempts, in.Undelivered, oldest, in.Attempts)
}

// gatewayReachable makes a plain HTTP request to the gateway: any HTTP
// answer means the network path works.
func (d *doctor) gatewayReachable(ctx context.Context, gw string) bool {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, gw, nil)
	if err != nil {
		d.fail("网关 / gateway", err.Error(), "检查 AP_GATEWAY_URL / Check AP_GATEWAY_URL.")
		return false
	}
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		d.fail("网关 / gateway "+gw, "无法连接 / unreachable: "+err.Error(),
			"检查网络、代理 (HTTPS_PROXY)、AP_GATEWAY_URL 和 AP_CURRENT_ENV / Check the network, the proxy (HTTPS_PROXY), AP_GATEWAY_URL and AP_CURRENT_ENV.")
		return false
	}
	resp.Body.Close()
	d.pass("网关 / gateway", fmt.Sprintf("%s 可以访问 / reachable (HTTP %d, %d ms)", gw, resp.StatusCode, time.Since(start).Milliseconds()))
	return true
}

// signedCall queries an order number that cannot exist. ACQ.TRADE_NOT_EXIST
// proves the whole chain: Alipay accepted our signature (AP_APP_ID,
// AP_APP_KEY) and its signed answer verified (AP_PUB_KEY).
func (d *doctor) signedCall(ctx context.Context, c *alipay.Client, cfg *config.Config) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	const what = "签名调用 / signed call (alipay.trade.query)"
	no := "DOCTOR-" + time.Now().Format("20060102150405") + "-" + randomHex(4)
	_, err := c.Query(ctx, no)
	var ae *alipay.Error
	switch {
	case err == nil || alipay.IsSubCode(err, alipay.SubTradeNotExist):
		d.pass(what, "支付宝接受了请求签名, 响应验签通过 / Alipay accepted our signature and its answer verified with AP_PUB_KEY")
	case alipay.IsSubCode(err, alipay.SubInvalidSignature):
		d.fail(what, err.Error(), "AP_APP_KEY 与开放平台上为该应用配置的应用公钥不匹配 (或 AP_ENCRYPTION_ALGO 与平台不同): 在开放平台「接口加签方式」重新上传与 AP_APP_KEY 配对的应用公钥 / "+
			"AP_APP_KEY does not match the app public key configured for this app in the portal (or AP_ENCRYPTION_ALGO differs): upload the public key that pairs with AP_APP_KEY.")
	case alipay.IsSubCode(err, alipay.SubInvalidAppID):
		d.fail(what, err.Error(), fmt.Sprintf("这个环境 (%s) 里没有 AP_APP_ID 对应的应用: 检查 AP_APP_ID 和 AP_CURRENT_ENV, 沙箱应用要用 AP_CURRENT_ENV=sandbox / "+
			"No app with this AP_APP_ID exists in this environment (%s): check AP_APP_ID and AP_CURRENT_ENV; a sandbox app needs AP_CURRENT_ENV=sandbox.", cfg.Env, cfg.Env))
	case errors.Is(err, alipay.ErrBadSignature):
		d.fail(what, err.Error(), "支付宝的响应无法用 AP_PUB_KEY 验签: AP_PUB_KEY 应是开放平台上这个应用的「支付宝公钥」, 不是应用公钥, 也不是其他环境的公钥 / "+
			"Alipay's answer does not verify with AP_PUB_KEY: it must be the Alipay public key of this app in this environment, not the app public key nor another environment's.")
	case errors.As(err, &ae) && ae.Code != "":
		d.fail(what, err.Error(), "按 sub_msg 修正配置; 如果是权限问题, 在开放平台为应用开通电脑网站支付、手机网站支付 / Fix what sub_msg says; for permission errors enable page pay / wap pay for the app in the portal.")
	default:
		d.fail(what, err.Error(), "没有得到支付宝的有效答复: 检查网络和 AP_GATEWAY_URL / No valid answer from Alipay: check the network and AP_GATEWAY_URL.")
	}
}
