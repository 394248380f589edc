package tools

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/alipay"
)

// A refund asks the human before money moves, so that a confused or
// manipulated model cannot refund on its own.
//
// The mechanism is the one the go-sdk v1.8.0 supports in both protocol eras
// with one handler: Multi Round-Trip Requests. The first call returns
// CallToolResult.InputRequests (one form elicitation) and a sealed
// RequestState; the answer comes back in a second call carrying
// Params.InputResponses and the state. A 2026-07-28 client makes that
// second call itself; for an older client the SDK's server middleware
// sends elicitation/create and re-invokes the handler with the answer.
// (ServerSession.Elicit is refused on 2026-07-28 sessions, so it could not
// serve both.) The second call runs validation, the cap and the trade
// precheck again before the answer is read, and the state must match its
// arguments: an answer only ever approves the refund it was asked about.

// ConfirmMode says when refund-alipay-payment asks the human to confirm
// (AP_REFUND_CONFIRM). The zero value is ConfirmAuto.
type ConfirmMode int

const (
	// ConfirmAuto asks when the client declares form elicitation and
	// refunds without asking otherwise.
	ConfirmAuto ConfirmMode = iota
	// ConfirmAlways asks, and refuses the refund when the client cannot ask.
	ConfirmAlways
	// ConfirmNever never asks.
	ConfirmNever
)

const (
	// confirmInput is the key of the question in InputRequests and of the
	// answer in InputResponses.
	confirmInput = "confirm_refund"
	// confirmField is the form's one field: a boolean the user must set.
	confirmField = "confirm"
	// confirmTTL is how long a question may wait for its answer.
	confirmTTL = 10 * time.Minute
)

// callRequestKey carries the call's request to runRefund through define.
type callRequestKey struct{}

func withCallRequest(ctx context.Context, req *mcp.CallToolRequest) context.Context {
	return context.WithValue(ctx, callRequestKey{}, req)
}

func callRequest(ctx context.Context) *mcp.CallToolRequest {
	req, _ := ctx.Value(callRequestKey{}).(*mcp.CallToolRequest)
	return req
}

// askRefund decides whether refund r may go ahead. It returns a nil result
// when it may; otherwise the result to return: the question for the user,
// or a tool error (declined, cancelled, a bad answer, or no way to ask under
// ConfirmAlways). q is the trade from the precheck, nil if unknown.
func askRefund(ctx context.Context, d Deps, r alipay.RefundRequest, q *alipay.TradeQuery, base Outcome) (*mcp.CallToolResult, Outcome) {
	if d.Confirm == ConfirmNever {
		return nil, base
	}
	req := callRequest(ctx)
	var p *mcp.CallToolParamsRaw
	if req != nil {
		p = req.Params
	}
	// An answer is judged whatever the capabilities say now: a retry must
	// never turn a "no" into a refund because it looks like a client that
	// cannot ask.
	if p != nil && (p.RequestState != "" || p.InputResponses != nil) {
		return judgeAnswer(p, r, base)
	}
	if req != nil && canAskForm(req.ClientCapabilities()) {
		base.Status, base.Code = "asked", "CONFIRMATION_REQUESTED"
		return &mcp.CallToolResult{
			InputRequests: mcp.InputRequestMap{confirmInput: confirmQuestion(d, r, q)},
			RequestState:  refundStates.seal(claimsOf(r)),
		}, base
	}
	if d.Confirm == ConfirmAlways {
		base.Status, base.Code = "refused", "CONFIRMATION_UNAVAILABLE"
		return toolError("退款被拒绝, 未调用退款接口 / Refund refused; the refund API was not called: " +
			"本服务要求每笔退款先由用户确认 (AP_REFUND_CONFIRM=always), 但这个 MCP 客户端不能询问用户 (未声明表单 elicitation)。" +
			"This server requires the user to confirm every refund (AP_REFUND_CONFIRM=always), but this MCP client cannot ask the user (it does not declare form elicitation).\n" +
			"怎么办 / What to do: 告诉用户无法在这里确认退款; 请用户在支持 elicitation 的客户端中操作, 或在支付宝商家平台手动退款。不要换参数重试。" +
			"Tell the user the refund cannot be confirmed here; they can use a client that supports elicitation, or refund in the Alipay merchant portal. Do not retry with other arguments."), base
	}
	return nil, base
}

// canAskForm reports whether the client declared form elicitation. A
// declaration without modes means form, as the SDK and the spec read it.
func canAskForm(caps *mcp.ClientCapabilities) bool {
	if caps == nil || caps.Elicitation == nil {
		return false
	}
	e := caps.Elicitation
	return e.Form != nil || e.URL == nil
}

// confirmQuestion is the form shown to the user: what is refunded, on which
// order, why, and one required boolean.
func confirmQuestion(d Deps, r alipay.RefundRequest, q *alipay.TradeQuery) *mcp.ElicitParams {
	var b strings.Builder
	fmt.Fprintf(&b, "确认退款 ¥%s 给订单 %s? / Refund ¥%s on order %s?\n", r.RefundAmount, r.OutTradeNo, r.RefundAmount, r.OutTradeNo)
	fmt.Fprintf(&b, "- 退款金额 / refund amount: ¥%s\n", r.RefundAmount)
	fmt.Fprintf(&b, "- 商户订单号 / order number (outTradeNo): %s\n", r.OutTradeNo)
	if q != nil {
		if total, err := alipay.ParseAmount(q.TotalAmount); err == nil {
			fmt.Fprintf(&b, "- 订单金额 / order amount: ¥%s\n", total)
		}
		if q.Subject != "" {
			fmt.Fprintf(&b, "- 商品 / item: %s\n", q.Subject)
		}
		if q.TradeStatus != "" {
			fmt.Fprintf(&b, "- 订单状态 / order status: %s\n", q.TradeStatus)
		}
	}
	reason := r.RefundReason
	if reason == "" {
		reason = "(未填写 / none given)"
	}
	fmt.Fprintf(&b, "- 退款原因 (由助手填写) / reason (given by the assistant): %s\n", reason)
	fmt.Fprintf(&b, "- 退款请求号 / outRequestNo: %s\n", r.OutRequestNo)
	b.WriteString("确认后钱会退回买家, 无法撤销; 不确定时请选否。Once confirmed the money goes back to the buyer and cannot be taken back; if unsure, answer no.")
	if d.Local {
		b.WriteString(localNote)
	}
	return &mcp.ElicitParams{
		Mode:    "form",
		Message: b.String(),
		RequestedSchema: map[string]any{
			"type": "object",
			"properties": map[string]any{
				confirmField: map[string]any{
					"type":        "boolean",
					"title":       "确认退款 / Confirm refund",
					"description": fmt.Sprintf("是: 退款 ¥%s 给订单 %s。否或取消: 不退款。Yes refunds ¥%s on order %s; no or cancel refunds nothing.", r.RefundAmount, r.OutTradeNo, r.RefundAmount, r.OutTradeNo),
					"default":     false,
				},
			},
			"required": []string{confirmField},
		},
	}
}

// judgeAnswer checks a retry's state against its arguments, then reads the
// user's answer. Only accept with confirm=true lets the refund go ahead.
func judgeAnswer(p *mcp.CallToolParamsRaw, r alipay.RefundRequest, base Outcome) (*mcp.CallToolResult, Outcome) {
	base.Status = "refused"
	if err := refundStates.open(p.RequestState, claimsOf(r)); err != nil {
		base.Code = "CONFIRMATION_INVALID"
		return toolError(fmt.Sprintf("退款未执行, 没有资金变动 / Refund NOT made; no money moved: %s\n"+
			"怎么办 / What to do: 重新调用 refund-alipay-payment (不带 requestState), 服务器会重新询问用户。"+
			"Call refund-alipay-payment again without requestState; the server asks the user again.", stateProblem(err))), base
	}
	answer, _ := p.InputResponses[confirmInput].(*mcp.ElicitResult)
	if answer == nil {
		base.Code = "CONFIRMATION_MISSING"
		return toolError("退款未执行, 没有资金变动 / Refund NOT made; no money moved: 没有收到用户对这笔退款的答复。No answer from the user to the refund confirmation arrived.\n" +
			"怎么办 / What to do: 重新调用 refund-alipay-payment, 服务器会重新询问用户。Call refund-alipay-payment again; the server asks the user again."), base
	}
	yes, _ := answer.Content[confirmField].(bool)
	if answer.Action == "accept" && yes {
		return nil, base
	}
	var why string
	switch answer.Action {
	case "accept":
		base.Code = "USER_DECLINED"
		why = "用户没有确认 (confirm=false)。The user did not confirm (confirm=false)."
	case "cancel":
		base.Code = "USER_CANCELLED"
		why = "用户关闭了确认框, 没有确认。The user dismissed the confirmation without confirming."
	default:
		base.Code = "USER_DECLINED"
		why = "用户拒绝了这笔退款。The user declined this refund."
	}
	return toolError(fmt.Sprintf("退款未执行, 没有资金变动 / Refund NOT made; no money moved: %s (¥%s, 订单 / order %s, outRequestNo %s)\n"+
		"怎么办 / What to do: 不要重试; 先问用户是否还要退款以及原因, 只有用户明确要求时才再调用。"+
		"Do not retry on your own: ask the user whether they still want this refund and why, and call again only if they say so.",
		why, r.RefundAmount, r.OutTradeNo, r.OutRequestNo)), base
}

// stateProblem explains a rejected request state.
func stateProblem(err error) string {
	switch {
	case errors.Is(err, errStateExpired):
		return "确认已超过 10 分钟, 已失效。The confirmation is older than 10 minutes and has expired."
	case errors.Is(err, errStateMismatch):
		return "参数与用户确认的不一致 (订单号、退款请求号、金额或原因变了)。The arguments differ from what the user was asked to confirm (order, outRequestNo, amount or reason changed)."
	}
	return "确认状态无效: 不是本服务进程签发的, 或已被改动 (服务重启后旧的确认也会失效)。The confirmation state is invalid: not issued by this server process, or altered (a restart also invalidates earlier ones)."
}

// confirmClaims is what a request state binds: the refund the user is asked
// about, and when the question expires.
type confirmClaims struct {
	OutTradeNo   string `json:"o"`
	OutRequestNo string `json:"r"`
	Fen          int64  `json:"a"`
	Reason       string `json:"why,omitempty"`
	Expires      int64  `json:"exp,omitempty"` // Unix seconds; set by seal
}

func claimsOf(r alipay.RefundRequest) confirmClaims {
	return confirmClaims{OutTradeNo: r.OutTradeNo, OutRequestNo: r.OutRequestNo, Fen: int64(r.RefundAmount), Reason: r.RefundReason}
}

var (
	errStateInvalid  = errors.New("request state invalid")
	errStateExpired  = errors.New("request state expired")
	errStateMismatch = errors.New("request state does not match the arguments")
)

// stateSealer signs request states with HMAC-SHA256 under a key that lives
// only in this process. The state travels through the client, so it is
// signed (the spec's "encrypt, sign and verify"); it holds nothing secret,
// only the refund's own arguments, so it is not encrypted.
type stateSealer struct {
	key []byte
	now func() time.Time
}

// refundStates is the process's sealer; its key is random per process.
var refundStates = newStateSealer()

func newStateSealer() *stateSealer {
	key := make([]byte, 32)
	rand.Read(key) // never fails (crypto/rand, Go ≥ 1.24)
	return &stateSealer{key: key, now: time.Now}
}

const stateVersion = "v1"

// seal returns "v1.<payload>.<mac>", both base64url, with c expiring
// confirmTTL from now.
func (s *stateSealer) seal(c confirmClaims) string {
	c.Expires = s.now().Add(confirmTTL).Unix()
	payload, err := json.Marshal(c)
	if err != nil {
		// Strings and integers always marshal.
		panic(fmt.Sprintf("tools: marshal request state: %v", err))
	}
	p := base64.RawURLEncoding.EncodeToString(payload)
	return stateVersion + "." + p + "." + base64.RawURLEncoding.EncodeToString(s.mac(p))
}

// open verifies state and that it binds want (Expires ignored).
func (s *stateSealer) open(state string, want confirmClaims) error {
	v, rest, ok := strings.Cut(state, ".")
	p, m, ok2 := strings.Cut(rest, ".")
	if !ok || !ok2 || v != stateVersion {
		return errStateInvalid
	}
	mac, err := base64.RawURLEncoding.DecodeString(m)
	if err != nil || !hmac.Equal(mac, s.mac(p)) {
		return errStateInvalid
	}
	payload, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil {
		return errStateInvalid
	}
	var got confirmClaims
	if err := json.Unmarshal(payload, &got); err != nil {
		return errStateInvalid
	}
	if !s.now().Before(time.Unix(got.Expires, 0)) {
		return errStateExpired
	}
	got.Expires, want.Expires = 0, 0
	if got != want {
		return errStateMismatch
	}
	return nil
}

func (s *stateSealer) mac(payload string) []byte {
	h := hmac.New(sha256.New, s.key)
	h.Write([]byte("mcp-server-alipay refund confirmation " + stateVersion + "\x00"))
	h.Write([]byte(payload))
	return h.Sum(nil)
}
