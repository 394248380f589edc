package main

import (
	"net"
	"slices"
	"strings"
	"testing"
)

// With an unspecified or non-loopback --listen address, sandbox names the
// gateway URLs a phone on the network can reach; on loopback, none.
func TestLanGatewayURLs(t *testing.T) {
	cidr := func(s string) net.Addr {
		ip, n, err := net.ParseCIDR(s)
		if err != nil {
			t.Fatal(err)
		}
		n.IP = ip
		return n
	}
	ifs := []net.Addr{cidr("127.0.0.1/8"), cidr("192.168.1.23/24"), cidr("::1/128"), cidr("fe80::1/64"),
		cidr("2001:db8::7/64"), cidr("10.0.0.5/8")}
	const local = "http://127.0.0.1:8800"
	tests := []struct {
		listen string
		want   []string
	}{
		{"127.0.0.1:8800", nil},
		{"localhost:8800", nil},
		{"0.0.0.0:8800", []string{"http://192.168.1.23:8800/gateway.do", "http://10.0.0.5:8800/gateway.do"}},
		{"[::]:8800", []string{"http://192.168.1.23:8800/gateway.do", "http://10.0.0.5:8800/gateway.do", "http://[2001:db8::7]:8800/gateway.do"}},
		{":8800", []string{"http://192.168.1.23:8800/gateway.do", "http://10.0.0.5:8800/gateway.do", "http://[2001:db8::7]:8800/gateway.do"}},
		{"192.168.1.23:8800", []string{"http://192.168.1.23:8800/gateway.do"}},
	}
	for _, tt := range tests {
		if got := lanGatewayURLs(tt.listen, local, ifs); !slices.Equal(got, tt.want) {
			t.Errorf("lanGatewayURLs(%q) = %v, want %v", tt.listen, got, tt.want)
		}
	}
	out := lanGatewayLines(lanGatewayURLs("0.0.0.0:8800", local, ifs))
	for _, want := range []string{"AP_GATEWAY_URL=http://192.168.1.23:8800/gateway.do\n", "用手机扫码付款", "to pay by scanning with a phone"} {
		if !strings.Contains(out, want) {
			t.Errorf("printed lines lack %q:\n%s", want, out)
		}
	}
	if lanGatewayLines(nil) != "" {
		t.Error("lines printed for a loopback sandbox")
	}
}
