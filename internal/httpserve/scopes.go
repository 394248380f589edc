package httpserve

import (
	"context"
	"fmt"
	"slices"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/tools"
)

// scopeMiddleware tells the tools who calls (for the audit log), and makes
// the server show each caller only what its token
// allows, per request (so it holds for stateless requests and for every
// request of a stateful session alike): tools/list leaves out the tools the
// token may not use, tools/call refuses them as unknown, and the order
// status resource (reads, subscriptions, its template) needs read.
func scopeMiddleware(authOn bool) mcp.Middleware {
	return func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			var ti = tokenInfo(req)
			if ti != nil {
				// The ledger's audit log names the token (token:<name>,
				// oauth:<sub>) instead of the client's self-declared name.
				ctx = tools.WithWho(ctx, ti.UserID)
			}
			if !authOn {
				return next(ctx, method, req)
			}
			can := func(s tools.Scope) bool { return hasScope(ti, authOn, s) }
			switch method {
			case "tools/call":
				if p, ok := req.GetParams().(*mcp.CallToolParamsRaw); ok && p != nil {
					if s := tools.ScopeOf(p.Name); s != "" && !can(s) {
						return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: fmt.Sprintf(
							"未知工具 %q 或此令牌无权使用, 需要权限 %s / unknown tool %q, or this token may not use it; it needs scope %s", p.Name, s, p.Name, s)}
					}
				}
			case "resources/read", "resources/subscribe", "resources/unsubscribe":
				if !can(tools.ScopeRead) {
					return nil, needRead()
				}
			case "subscriptions/listen":
				if p, ok := req.GetParams().(*mcp.SubscriptionsListenParams); ok && p != nil && p.Notifications != nil &&
					len(p.Notifications.ResourceSubscriptions) > 0 && !can(tools.ScopeRead) {
					return nil, needRead()
				}
			}
			res, err := next(ctx, method, req)
			if err != nil {
				return res, err
			}
			switch r := res.(type) {
			case *mcp.ListToolsResult:
				r.Tools = slices.DeleteFunc(slices.Clone(r.Tools), func(t *mcp.Tool) bool {
					s := tools.ScopeOf(t.Name)
					return s != "" && !can(s)
				})
			case *mcp.ListResourceTemplatesResult:
				if !can(tools.ScopeRead) {
					r.ResourceTemplates = []*mcp.ResourceTemplate{}
				}
			case *mcp.ListResourcesResult:
				if !can(tools.ScopeRead) {
					r.Resources = []*mcp.Resource{}
				}
			}
			return res, nil
		}
	}
}

func needRead() error {
	return &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: "此令牌无权读取订单状态, 需要权限 read / this token may not read order status; it needs scope read"}
}

func tokenInfo(req mcp.Request) *auth.TokenInfo {
	if ex := req.GetExtra(); ex != nil {
		return ex.TokenInfo
	}
	return nil
}
