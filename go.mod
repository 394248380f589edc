module github.com/mcp-server-alipay/mcp-server-alipay

go 1.25.0
