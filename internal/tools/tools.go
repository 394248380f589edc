package tools

import (
	"context"
	"log/slog"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/alipay"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/paywatch"
)

// Deps is what the tools need at call time.
type Deps struct {
	Client    *alipay.Client
	Local     bool          // talking to the local Alipay: texts say no real money moves
	RefundMax alipay.Amount // refunds above this are refused; 0 = no cap (AP_REFUND_MAX_AMOUNT)
	// Watcher watches every order a link is made for, and orders clients
	// subscribe to; nil = no watching (AP_WATCH_PAYMENTS=false).
	Watcher *paywatch.Watcher
	// Confirm says when a refund asks the human first (AP_REFUND_CONFIRM);
	// the zero value is ConfirmAuto. See refundask.go.
	Confirm ConfirmMode
	// StateKey is AP_STATE_KEY: refund confirmation states are sealed under
	// a key derived from it, so that every replica accepts the others'
	// states; nil = a random key per process.
	StateKey []byte
	// Answers spends each confirmation's one answer across the processes
	// sharing the ledger (the ledger account); nil = in this process only.
	Answers AnswerBook
	// Ledger records orders, statuses, refunds and the audit log; nil =
	// nothing is recorded (and listOrders says so).
	Ledger Ledger
	// RefundDailyLimit is AP_REFUND_DAILY_LIMIT: what all refunds of one
	// Beijing-time day may add up to, for every process sharing the
	// ledger; 0 = no limit.
	RefundDailyLimit alipay.Amount
	// PayTimeout is how long a link or QR code stays payable
	// (AP_PAY_TIMEOUT); 0 = DefaultPayTimeout.
	PayTimeout time.Duration
	// CallBudget bounds every tool call and resource read, checks,
	// retries and the call itself together; 0 = DefaultCallBudget. Tests
	// scale it down. wait-alipay-payment keeps its own bound
	// (timeoutSeconds).
	CallBudget time.Duration
	// History knows the earlier refunds of an order, for the refund
	// arithmetic before the human is asked; nil = this process's memory of
	// the refunds it sent (see RefundHistory). A caller that builds a
	// server per request passes one shared history.
	History RefundHistory

	// expiries remembers until when the links and QR codes this server
	// made can be paid; NewServer sets it.
	expiries *expiryBook
	// canWait: wait-alipay-payment is served, so results may point to it.
	canWait bool
}

// DefaultPayTimeout is Deps.PayTimeout when 0; config.DefaultPayTimeout
// is the same.
const DefaultPayTimeout = 24 * time.Hour

// payTimeout is how long a new link stays payable.
func (d Deps) payTimeout() time.Duration {
	if d.PayTimeout > 0 {
		return d.PayTimeout
	}
	return DefaultPayTimeout
}

// DefaultCallBudget is the wall-clock bound of one tool call, whatever the
// gateway does (stalls after the headers, trickles the body, never
// answers). Hosts give up on a call at 60 s (the TypeScript SDK's default);
// 45 s leaves the answer time to arrive, so the model reads "outcome
// unknown, retry with the SAME outRequestNo" instead of a host timeout.
const DefaultCallBudget = 45 * time.Second

// budget is d.CallBudget or the default.
func (d Deps) budget() time.Duration {
	if d.CallBudget > 0 {
		return d.CallBudget
	}
	return DefaultCallBudget
}

// Handler runs one call and reports its outcome for the log. Tool errors are
// results with IsError; a Handler never returns a Go error.
type Handler func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, Outcome)

// ServerTool is a tool definition with its handler.
type ServerTool struct {
	Short   string // the name AP_SELECT_TOOLS accepts, e.g. webPagePay
	Tool    *mcp.Tool
	Handler Handler
	// OptIn tools are served only when named in AP_SELECT_TOOLS, never
	// by "all" (see config.ToolNames).
	OptIn bool
}

// All returns every tool: the reference's five in its order, then ours;
// each is bounded by the call budget, except wait-alipay-payment, which
// waits as long as it is asked to (timeoutSeconds) and bounds itself.
func All(d Deps) []ServerTool {
	if d.History == nil && d.Ledger != nil {
		d.History = ledgerHistory{d.Ledger}
	}
	if d.History == nil && d.Client != nil {
		// One per All: a caller that builds servers per request shares
		// one history through Deps instead.
		d.History = NewMemoryHistory(d.Client, 0)
	}
	all := []ServerTool{
		createMobilePayment(d),
		createWebPagePayment(d),
		queryPayment(d),
		refundPayment(d),
		queryRefund(d),
		createQRPayment(d),
		closePayment(d),
		waitPayment(d),
		listOrders(d),
	}
	for i := range all {
		if all[i].Tool.Name != NameWaitPay {
			all[i].Handler = bounded(d.budget(), all[i].Handler)
		}
	}
	return all
}

// bounded gives a handler one deadline for everything it does.
func bounded(budget time.Duration, h Handler) Handler {
	return func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, Outcome) {
		ctx, cancel := context.WithTimeout(ctx, budget)
		defer cancel()
		return h(ctx, req)
	}
}

// MCPHandler adapts the tool's handler to the SDK, logging one line per call
// when logger is not nil, and telling onCall, when not nil, of every call's
// outcome and duration.
func (t ServerTool) MCPHandler(logger *slog.Logger, onCall func(tool, outcome string, d time.Duration)) mcp.ToolHandler {
	name := t.Tool.Name
	return func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		start := time.Now()
		res, out := t.Handler(ctx, req)
		if onCall != nil {
			onCall(name, out.Status, time.Since(start))
		}
		if logger != nil {
			attrs := []slog.Attr{
				slog.String("tool", name),
				slog.String("outcome", out.Status),
				slog.Int64("duration_ms", time.Since(start).Milliseconds()),
			}
			if out.OutTradeNo != "" {
				attrs = append(attrs, slog.String("outTradeNo", out.OutTradeNo))
			}
			if out.OutRequestNo != "" {
				attrs = append(attrs, slog.String("outRequestNo", out.OutRequestNo))
			}
			if out.Code != "" {
				attrs = append(attrs, slog.String("code", out.Code))
			}
			if out.SubCode != "" {
				attrs = append(attrs, slog.String("sub_code", out.SubCode))
			}
			level := slog.LevelInfo
			if out.Status != "ok" && out.Status != "asked" {
				level = slog.LevelWarn
			}
			logger.LogAttrs(ctx, level, "工具调用 / tool call", attrs...)
		}
		return res, nil
	}
}

// boolPtr returns a pointer for the *bool annotation hints.
func boolPtr(b bool) *bool { return &b }

// run handles a call whose arguments have been validated.
type run func(ctx context.Context, a *args) (*mcp.CallToolResult, Outcome)

// runReq is run for handlers that need the request itself (its session
// and progress token).
type runReq func(ctx context.Context, req *mcp.CallToolRequest, a *args) (*mcp.CallToolResult, Outcome)

// define builds a tool from the reference definition of name: the
// reference's Chinese description followed by english, its input schema
// byte for byte, our output schema (see outputSchema), the annotations
// under title, and a handler that validates the arguments against the input
// schema before r sees them.
func define(short, name, title, english string, ann mcp.ToolAnnotations, r run) ServerTool {
	return defineReq(short, name, title, english, ann, func(ctx context.Context, _ *mcp.CallToolRequest, a *args) (*mcp.CallToolResult, Outcome) {
		return r(ctx, a)
	})
}

// defineReq is define for a runReq.
func defineReq(short, name, title, english string, ann mcp.ToolAnnotations, r runReq) ServerTool {
	ann.Title = title
	fields := fieldsOf(name)
	return ServerTool{
		Short: short,
		Tool: &mcp.Tool{
			Name:         name,
			Title:        title,
			Description:  seed[name].Description + " " + english,
			InputSchema:  inputSchema(name),
			OutputSchema: outputSchema(name),
			Annotations:  &ann,
		},
		Handler: func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, Outcome) {
			var raw []byte
			if req != nil && req.Params != nil {
				raw = req.Params.Arguments
			}
			a, problems := validate(fields, raw)
			if len(problems) > 0 {
				return invalidInput(name, problems), Outcome{Status: "invalid_input"}
			}
			return r(ctx, req, a)
		},
	}
}
