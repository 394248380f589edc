package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
)

const usageText = `mcp-server-alipay %s — 支付宝 MCP Server / Alipay MCP server

用法 / Usage:
  mcp-server-alipay              通过 stdio 提供 MCP 服务 (由 MCP 客户端启动)
                                 serve MCP over stdio (started by an MCP client)
  mcp-server-alipay http         通过 Streamable HTTP 提供 MCP 服务 (智能体平台), 见 http --help
                                 serve MCP over Streamable HTTP (agent platforms); see http --help
  mcp-server-alipay demo         用本地支付宝完整演示: 报价、支付链接、付款、查询、部分退款、查询退款
                                 the whole story against the local Alipay: quote, link, pay, query, partial refund, refund query
  mcp-server-alipay doctor       检查配置: 密钥、账本、网关、一次签名调用 / check a configuration: keys, ledger, gateway, a signed call
  mcp-server-alipay orders       列出账本里的订单 (--json, --csv, --status, --since, --until), 见 orders --help
                                 list the ledger's orders: status, amount, refunded, paid at; see orders --help
  mcp-server-alipay sandbox      单独运行本地支付宝 (见 docs/local-alipay.md) / run the local Alipay on its own
  mcp-server-alipay version      显示版本 / print the version
  mcp-server-alipay help         显示本帮助 / show this help

环境变量 / Environment variables:
  AP_APP_ID              应用 ID (APPID); prod/sandbox 必填 / app id; required unless local
  AP_APP_KEY             应用私钥, PKCS#1/PKCS#8, PEM 或一行 base64; 必填 / app private key; required unless local
  AP_PUB_KEY             支付宝公钥 (不是应用公钥); 必填 / the Alipay public key (not your app public key); required unless local
  AP_RETURN_URL          付款后浏览器跳回的地址 / where the buyer's browser returns after paying
  AP_NOTIFY_URL          异步通知地址, 不能带参数 / asynchronous notification URL, no query string
  AP_SELLER_ID           卖家 ID (商户 PID, 2088 开头 16 位数字), 通知必须属于它; 不设置时以首个通过验证的通知为准
                         the seller id (merchant PID, 2088 + 12 digits) notifications must name; unset: the first accepted pins it
  AP_ENCRYPTION_ALGO     RSA2 (默认 / default) | RSA
  AP_CURRENT_ENV         prod (默认 / default) | sandbox | local (本地支付宝, 无需其他变量 / local Alipay, nothing else needed)
  AP_SELECT_TOOLS        all (默认 / default), 或逗号分隔 / or a comma list of:
                         mobilePay, webPagePay, queryPay, refundPay, refundQuery, qrPay, closePay, waitPay, listOrders
                         (或完整工具名 / or full tool names);
                         all 不含 closePay, 要用请写 all,closePay / all leaves out closePay: name it, e.g. all,closePay
  AP_LOG_ENABLED         true (默认 / default) | false; 日志 / log: $HOME/mcp-server-alipay.log
  AP_INVOKE_AUTH_TOKEN   服务商代调用的 app_auth_token / app_auth_token for service providers
  AP_GATEWAY_URL         覆盖网关地址 / override the gateway URL
  AP_LOCAL_DATA_DIR      本地模式的数据目录 / data directory of local mode
                         (默认 / default: $XDG_DATA_HOME/mcp-server-alipay/local or ~/.local/share/mcp-server-alipay/local)
  AP_REFUND_MAX_AMOUNT   单笔退款上限 (元), 超过则拒绝; 默认不限 / refuse refunds above this many yuan; default no cap
  AP_WATCH_PAYMENTS      true (默认 / default) | false; 关注已建链接的订单, 付款时通知订阅者 (alipay://trade/<outTradeNo>)
                         watch orders with links and tell subscribers when they are paid
  AP_REFUND_CONFIRM      auto (默认 / default) | always | never; 退款前请用户确认 / ask the user before a refund:
                         auto: 客户端支持表单 elicitation 时询问 / ask when the client supports form elicitation;
                         always: 无法询问时拒绝退款 / refuse refunds when the client cannot ask; never: 不询问 / never ask
  AP_PAID_WEBHOOK        买家付款时通知的网址: 你的 https 接口, 或钉钉/企业微信/飞书群机器人的 Webhook
                         where to tell you a buyer paid: your https endpoint, or a DingTalk/WeCom/Feishu bot webhook
  AP_PAID_WEBHOOK_SECRET 签名密钥 (HMAC-SHA256); 通用接口必填, 钉钉/飞书为机器人的加签密钥
                         signing secret; required for your own endpoint, the bot's signing secret for DingTalk/Feishu
  AP_READ_ONLY           false (默认 / default) | true; 只提供只读工具 (查询、等待) / serve only the read-only tools (queries, waiting)
  AP_PAY_TIMEOUT         1d (默认 / default); 支付链接和二维码的有效期, 5m 至 15d / how long links and QR codes stay payable, 5m to 15d
  AP_STATE_KEY           退款确认状态的签名密钥, 至少 32 个字符, 所有副本相同; 设置 AP_DATABASE_URL 时必填
                         key sealing refund confirmations, at least 32 characters, the same on every replica;
                         required with AP_DATABASE_URL (e.g. openssl rand -base64 32)
  AP_DATABASE_URL        postgres://… 时账本在共享的 PostgreSQL; 默认 SQLite 文件 / a postgres:// URL puts the ledger in a shared
                         PostgreSQL; default the SQLite file $XDG_DATA_HOME/mcp-server-alipay/ledger.db
  AP_REFUND_DAILY_LIMIT  每个北京时间自然日所有退款合计上限 (元); 默认不限 / the most all refunds of one Beijing-time day
                         may add up to, in yuan, for every process sharing the ledger; default no limit

先试试 / Try first:  mcp-server-alipay demo
文档 / Docs:         https://github.com/mcp-server-alipay/mcp-server-alipay
`

func usage(w io.Writer) { fmt.Fprintf(w, usageText, versionString()) }

const serveUsage = `用法 / Usage: mcp-server-alipay [serve | stdio]
  通过 stdin/stdout 提供 MCP 服务, 由 MCP 客户端 (Cursor、Cline、Claude Desktop 等) 启动; 配置来自 AP_* 环境变量。
  Serves MCP over stdin/stdout, started by an MCP client (Cursor, Cline, Claude Desktop…); configured by the AP_* variables.
  所有变量 / Every variable:  mcp-server-alipay help
`

const demoUsage = `用法 / Usage: mcp-server-alipay demo [--data-dir DIR]
  用本地支付宝完整演示一单生意: 报价、支付链接、付款、查询、部分退款、查询退款; 不涉及真实资金。
  Plays a whole order against the local Alipay: quote, link, pay, query, partial refund, refund query; no real money.

  --data-dir DIR   本地支付宝数据目录 / the local Alipay's data directory
                   (默认 / default: AP_LOCAL_DATA_DIR, 否则 / otherwise $XDG_DATA_HOME/mcp-server-alipay/local
                   或 / or ~/.local/share/mcp-server-alipay/local)
`

const doctorUsage = `用法 / Usage: mcp-server-alipay doctor
  读取与服务相同的 AP_* 环境变量并逐项检查: 配置、密钥、账本 (只读, 不创建不迁移)、网关能否访问、一次签名调用;
  每个失败项都说明怎么修。
  Reads the same AP_* variables as the server and checks the configuration, the keys, the ledger (read only: never
  created or migrated), that the gateway answers, and one signed call; every failure says how to fix it.
  退出码 / Exit code: 0 全部通过 / all passed; 1 有检查失败 / a check failed; 2 用法错误 / usage error.
  所有变量 / Every variable:  mcp-server-alipay help
`

// newFlagSet is a subcommand's flag set that prints nothing itself:
// parseArgs prints its help or its errors.
func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// parseArgs parses a subcommand's flags and refuses positional arguments.
// When done, the command exits with code at once: 0 after --help/-h, whose
// usage goes to stdout as the user asked for it; 2 after a usage error,
// explained with the usage on stderr.
func parseArgs(fs *flag.FlagSet, usage string, args []string, stdout, stderr io.Writer) (code int, done bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, usage)
			return 0, true
		}
		fmt.Fprintf(stderr, "mcp-server-alipay %s: 无效的参数 / invalid flag: %v\n\n%s", fs.Name(), err, usage)
		return 2, true
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "mcp-server-alipay %s: 不接受参数 %q / unexpected argument %q\n\n%s", fs.Name(), fs.Arg(0), fs.Arg(0), usage)
		return 2, true
	}
	return 0, false
}
