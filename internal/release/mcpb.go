package main

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"slices"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/config"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/tools"
)

//go:embed assets/mcpb-run.sh
var mcpbRunSh []byte

// Manifest is the part of the MCPB manifest (version 0.3) we write.
type Manifest struct {
	ManifestVersion string                `json:"manifest_version"`
	Name            string                `json:"name"`
	DisplayName     string                `json:"display_name"`
	Version         string                `json:"version"`
	Description     string                `json:"description"`
	LongDescription string                `json:"long_description"`
	Author          manifestAuthor        `json:"author"`
	Repository      npmRepository         `json:"repository"`
	Homepage        string                `json:"homepage"`
	Server          manifestServer        `json:"server"`
	Tools           []ManifestTool        `json:"tools"`
	ToolsGenerated  bool                  `json:"tools_generated"`
	Keywords        []string              `json:"keywords"`
	Compatibility   manifestCompatibility `json:"compatibility"`
	UserConfig      map[string]UserOption `json:"user_config"`
}

type manifestAuthor struct {
	Name string `json:"name"`
	URL  string `json:"url,omitempty"`
}

type manifestServer struct {
	Type       string    `json:"type"`
	EntryPoint string    `json:"entry_point"`
	MCPConfig  mcpConfig `json:"mcp_config"`
}

type mcpConfig struct {
	Command           string               `json:"command"`
	Args              []string             `json:"args"` // always written: an override without args inherits the base's
	Env               map[string]string    `json:"env,omitempty"`
	PlatformOverrides map[string]mcpConfig `json:"platform_overrides,omitempty"`
}

type manifestCompatibility struct {
	Platforms []string `json:"platforms"`
}

// ManifestTool is a tool as the manifest lists it.
type ManifestTool struct {
	Name        string `json:"name"`
	Description string `json:"description"`
}

// UserOption is one field Claude Desktop asks the user for.
type UserOption struct {
	Type        string `json:"type"`
	Title       string `json:"title"`
	Description string `json:"description"`
	Required    bool   `json:"required"`
	// Default is never absent: Claude Desktop passes an optional field the
	// user left blank as the literal text "${user_config.KEY}" unless it has
	// a default, and the server would refuse that value.
	Default   any  `json:"default"`
	Sensitive bool `json:"sensitive,omitempty"`
}

// userOptions are the manifest's user_config, one per variable of
// config.Variables (a test keeps them in step), keyed by the variable's name.
// Defaults are the server's own, and "" where the server has none, which it
// reads as unset. AP_CURRENT_ENV defaults to local so that the bundle works
// at once, without an Alipay account.
var userOptions = map[string]UserOption{
	"AP_APP_ID":              {Type: "string", Title: "应用 ID / App ID (AP_APP_ID)", Description: "开放平台应用的 APPID; 本地模式不需要 / The APPID of your app on open.alipay.com; not needed in local mode.", Default: ""},
	"AP_APP_KEY":             {Type: "string", Title: "应用私钥 / App private key (AP_APP_KEY)", Description: "应用私钥, PKCS#1 或 PKCS#8, PEM 或单行 base64; 本地模式不需要 / Your app private key, PKCS#1 or PKCS#8, PEM or one-line base64; not needed in local mode.", Default: "", Sensitive: true},
	"AP_PUB_KEY":             {Type: "string", Title: "支付宝公钥 / Alipay public key (AP_PUB_KEY)", Description: "支付宝公钥 (不是应用公钥); 本地模式不需要 / The Alipay public key (not your app public key); not needed in local mode.", Default: ""},
	"AP_CURRENT_ENV":         {Type: "string", Title: "环境 / Environment (AP_CURRENT_ENV)", Description: "local 是本地支付宝, 不动真钱; 另有 sandbox 和 prod / local is a local Alipay, no real money; or sandbox, or prod.", Default: "local"},
	"AP_RETURN_URL":          {Type: "string", Title: "同步返回地址 / Return URL (AP_RETURN_URL)", Description: "买家付款后浏览器跳转的地址, http(s) / Where the buyer's browser goes after paying, http(s).", Default: ""},
	"AP_NOTIFY_URL":          {Type: "string", Title: "异步通知地址 / Notify URL (AP_NOTIFY_URL)", Description: "支付宝推送支付结果的地址, http(s), 不带查询串 / Where Alipay posts the payment result, http(s), no query string.", Default: ""},
	"AP_ENCRYPTION_ALGO":     {Type: "string", Title: "签名方式 / Sign type (AP_ENCRYPTION_ALGO)", Description: "RSA2 或 / or RSA, 与开放平台一致 / as configured in the portal.", Default: "RSA2"},
	"AP_SELECT_TOOLS":        {Type: "string", Title: "启用的工具 / Tools (AP_SELECT_TOOLS)", Description: "all 是除 closePay 外的全部工具, 或用逗号分隔列出 / all is every tool but closePay; or a comma list of mobilePay, webPagePay, queryPay, refundPay, refundQuery, qrPay, closePay, waitPay.", Default: "all"},
	"AP_LOG_ENABLED":         {Type: "boolean", Title: "记录日志 / Log tool calls (AP_LOG_ENABLED)", Description: "每次工具调用一行写入 $HOME/mcp-server-alipay.log, 不含密钥 / One line per tool call in $HOME/mcp-server-alipay.log, never keys.", Default: true},
	"AP_INVOKE_AUTH_TOKEN":   {Type: "string", Title: "app_auth_token (AP_INVOKE_AUTH_TOKEN)", Description: "服务商代商户调用时的 app_auth_token / For service providers calling on behalf of a merchant.", Default: "", Sensitive: true},
	"AP_GATEWAY_URL":         {Type: "string", Title: "网关地址 / Gateway URL (AP_GATEWAY_URL)", Description: "覆盖按环境选择的网关; 通常留空 / Overrides the gateway chosen by the environment; usually blank.", Default: ""},
	"AP_LOCAL_DATA_DIR":      {Type: "directory", Title: "本地模式数据目录 / Local mode data directory (AP_LOCAL_DATA_DIR)", Description: "本地支付宝的密钥和数据; 留空用默认目录 / Keys and state of the local Alipay; blank for the default.", Default: ""},
	"AP_REFUND_MAX_AMOUNT":   {Type: "string", Title: "单笔退款上限 (元) / Refund cap in yuan (AP_REFUND_MAX_AMOUNT)", Description: "拒绝超过此金额的单笔退款, 如 500 或 99.50; 留空不设上限 / Refuse any single refund above this, e.g. 500 or 99.50; blank for no cap.", Default: ""},
	"AP_WATCH_PAYMENTS":      {Type: "boolean", Title: "关注付款 / Watch payments (AP_WATCH_PAYMENTS)", Description: "为每个支付链接查询订单直到付款, 并可订阅 alipay://trade/<outTradeNo> / Watch each order a link is made for; clients may subscribe to alipay://trade/<outTradeNo>.", Default: true},
	"AP_REFUND_CONFIRM":      {Type: "string", Title: "退款确认 / Refund confirmation (AP_REFUND_CONFIRM)", Description: "auto: 客户端支持时询问用户; always: 总是询问, 无法询问时拒绝退款; never: 不询问 / auto: ask when the client can; always: ask, and refuse when it cannot; never: do not ask.", Default: "auto"},
	"AP_REFUND_DAILY_LIMIT":  {Type: "string", Title: "每日退款上限 (元) / Daily refund limit in yuan (AP_REFUND_DAILY_LIMIT)", Description: "北京时间每天所有退款的合计上限, 如 2000; 留空不限 / The most all refunds of one Beijing-time day may add up to, e.g. 2000; blank for no limit.", Default: ""},
	"AP_DATABASE_URL":        {Type: "string", Title: "账本位置 / Ledger location (AP_DATABASE_URL)", Description: "SQLite 文件路径或 postgres:// 地址; 留空用默认 SQLite 文件 / A SQLite file path or a postgres:// URL; blank for the default SQLite file.", Default: "", Sensitive: true},
	"AP_READ_ONLY":           {Type: "boolean", Title: "只读模式 / Read-only mode (AP_READ_ONLY)", Description: "只提供只读工具 (查询、等待付款) / Serve only the read-only tools (queries, waiting for a payment).", Default: false},
	"AP_PAY_TIMEOUT":         {Type: "string", Title: "支付有效期 / Payment timeout (AP_PAY_TIMEOUT)", Description: "链接和二维码的有效期, 5m 至 15d, 如 30m、2h、1d / How long a link or QR code stays payable, 5m to 15d, e.g. 30m, 2h, 1d.", Default: "1d"},
	"AP_PAID_WEBHOOK":        {Type: "string", Title: "付款通知地址 / Paid webhook (AP_PAID_WEBHOOK)", Description: "买家付款时通知的地址: 你的 http(s) 接口, 或钉钉、企业微信、飞书群机器人 / Where you are told a buyer paid: your http(s) endpoint, or a DingTalk, WeCom or Feishu group bot.", Default: ""},
	"AP_PAID_WEBHOOK_SECRET": {Type: "string", Title: "付款通知密钥 / Paid webhook secret (AP_PAID_WEBHOOK_SECRET)", Description: "付款通知的签名密钥 (自己的接口必填, 至少 16 个字符) / The paid notifications' signing key (required for your own endpoint, at least 16 characters).", Default: "", Sensitive: true},
}

// notInBundle are the variables the server reads that the bundle leaves
// out, and why; a test keeps userOptions and these covering config.Variables.
var notInBundle = map[string]string{
	"AP_STATE_KEY": "shares refund confirmations between replicas of an HTTP deployment; Claude Desktop runs one process",
	"AP_SELLER_ID": "checked by the notification receiver of the http command; the bundle runs stdio, which receives no notifications",
}

// bundleBinaries are the binaries the bundle carries and where. Windows
// on arm64 runs the amd64 binary (x64 emulation), as MCPB's overrides
// know platforms, not architectures; on darwin and linux a shell script
// picks the architecture.
var bundleBinaries = map[Target]string{
	{"linux", "amd64"}:   "server/linux-amd64/mcp-server-alipay",
	{"linux", "arm64"}:   "server/linux-arm64/mcp-server-alipay",
	{"darwin", "amd64"}:  "server/darwin-amd64/mcp-server-alipay",
	{"darwin", "arm64"}:  "server/darwin-arm64/mcp-server-alipay",
	{"windows", "amd64"}: "server/win32-x64/mcp-server-alipay.exe",
}

// NewManifest returns the bundle's manifest for version (semver), listing
// the tools the server serves with the bundle's defaults (AP_SELECT_TOOLS=all).
func NewManifest(version string) Manifest {
	env := map[string]string{}
	for k := range userOptions {
		env[k] = "${user_config." + k + "}"
	}
	selected, err := config.ParseSelectTools("all")
	if err != nil {
		panic(err) // "all" is always valid
	}
	var ts []ManifestTool
	for _, t := range tools.All(tools.Deps{}) {
		if slices.Contains(selected, t.Tool.Name) {
			ts = append(ts, ManifestTool{Name: t.Tool.Name, Description: t.Tool.Description})
		}
	}
	return Manifest{
		ManifestVersion: "0.3",
		Name:            PackageName,
		DisplayName:     "支付宝 / Alipay (" + PackageName + ")",
		Version:         version,
		Description:     npmDescription,
		LongDescription: "创建支付链接 (手机 / 电脑网站)、查询支付、退款、查询退款。默认本地模式 (AP_CURRENT_ENV=local): 本机上的本地支付宝, 不动真钱; 填入 APPID 和密钥并把环境改为 prod 即可收真钱。\n\n" +
			"Payment links (mobile and desktop), payment queries, refunds and refund queries. It starts in local mode (AP_CURRENT_ENV=local): a local Alipay on this machine, no real money; fill in your APPID and keys and set the environment to prod to take real payments.",
		Author:     manifestAuthor{Name: "mcp-server-alipay", URL: Repository},
		Repository: npmRepository{Type: "git", URL: Repository + ".git"},
		Homepage:   Repository,
		Server: manifestServer{
			Type:       "binary",
			EntryPoint: "server/mcp-server-alipay.sh",
			MCPConfig: mcpConfig{
				Command: "/bin/sh",
				Args:    []string{"${__dirname}/server/mcp-server-alipay.sh"},
				Env:     env,
				PlatformOverrides: map[string]mcpConfig{
					"win32": {Command: "${__dirname}/" + bundleBinaries[Target{"windows", "amd64"}], Args: []string{}},
				},
			},
		},
		Tools:         ts,
		Keywords:      []string{"alipay", "支付宝", "payment", "mcp"},
		Compatibility: manifestCompatibility{Platforms: []string{"darwin", "win32", "linux"}},
		UserConfig:    userOptions,
	}
}

// StageBundle writes the bundle's directory: manifest.json, the binaries
// and the script that picks one. bins maps targets to built binaries.
func StageBundle(dir, version string, bins map[Target]string) error {
	for t, rel := range bundleBinaries {
		src, ok := bins[t]
		if !ok {
			return fmt.Errorf("the bundle needs the %s binary; build all targets", t)
		}
		if err := copyFile(src, filepath.Join(dir, filepath.FromSlash(rel)), 0o755); err != nil {
			return err
		}
	}
	if err := writeFile(filepath.Join(dir, "server", "mcp-server-alipay.sh"), mcpbRunSh, 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(NewManifest(version), "", "  ")
	if err != nil {
		return err
	}
	return writeFile(filepath.Join(dir, "manifest.json"), append(b, '\n'), 0o644)
}

// MCPB runs the @anthropic-ai/mcpb CLI (cli is its dist/cli/cli.js) with args.
func MCPB(ctx context.Context, cli string, log io.Writer, args ...string) error {
	cmd := exec.CommandContext(ctx, "node", append([]string{cli}, args...)...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("mcpb %v: %w", args, err)
	}
	return nil
}
