#!/bin/sh
# Starts the binary of this machine's architecture: the bundle carries one per
# platform and architecture, and MCPB's platform_overrides only know the
# platform. exec hands the process over, so stdio and signals reach the server.
dir=$(dirname "$0")
case "$(uname -s)" in
Darwin) os=darwin ;;
Linux) os=linux ;;
*) echo "mcp-server-alipay: 不支持的系统 / unsupported system $(uname -s)" >&2; exit 1 ;;
esac
case "$(uname -m)" in
x86_64 | amd64) arch=amd64 ;;
arm64 | aarch64) arch=arm64 ;;
*) echo "mcp-server-alipay: 不支持的架构 / unsupported architecture $(uname -m)" >&2; exit 1 ;;
esac
exec "$dir/$os-$arch/mcp-server-alipay" "$@"
