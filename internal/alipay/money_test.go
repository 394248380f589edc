package alipay

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestParseAmount(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Amount
	}{
		{"19.99", 1999},
		{"0.1", 10},
		{"0.07", 7},
		{"0.29", 29},
		{"0.01", 1},
		{"7", 700},
		{"7.5", 750},
		{" 19.99 ", 1999},
		{"007.50", 750},
		{"100000000", MaxAmount},
		{"100000000.00", MaxAmount},
		{"99999999.99", MaxAmount - 1},
		{"1.10", 110},
		{"1e2", 10000},
		{"1.5E1", 1500},
		{"1999e-2", 1999},
		{"0.100", 10},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseAmount(tc.in)
			if err != nil {
				t.Fatalf("ParseAmount(%q): %v", tc.in, err)
			}
			if got != tc.want {
				t.Fatalf("ParseAmount(%q) = %d fen, want %d", tc.in, got, tc.want)
			}
		})
	}
}

func TestParseAmountRefused(t *testing.T) {
	for _, tc := range []struct {
		in, says string
	}{
		{"0.001", "two decimals"},
		{"1e-3", "two decimals"},
		{"19.999", "two decimals"},
		{"0", "at least 0.01"},
		{"0.00", "at least 0.01"},
		{"-1", "negative"},
		{"-0.01", "negative"},
		{"-0", "greater than 0"},
		{"100000000.01", "at most 100000000"},
		{"1e9", "at most 100000000"},
		{"1e20", "at most 100000000"},
		{"99999999999999999999", "at most 100000000"},
		{"abc", "not a decimal"},
		{"", "empty"},
		{"   ", "empty"},
		{"NaN", "not a decimal"},
		{"nan", "not a decimal"},
		{"Inf", "not a decimal"},
		{"+Inf", "not a decimal"},
		{"-Infinity", "not a decimal"},
		{"0x10", "not a decimal"},
		{"1_000", "not a decimal"},
		{"1,000.00", "not a decimal"},
		{"19.99元", "not a decimal"},
		{"¥19.99", "not a decimal"},
		{"1.", "not a decimal"},
		{".", "not a decimal"},
		{"1e", "not a decimal"},
		{"1e999", "not a decimal"},
		{"1.2.3", "not a decimal"},
		{"--1", "not a decimal"},
		{"１９.９９", "not a decimal"}, // full-width digits
		{strings.Repeat("1", 80), "too long"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseAmount(tc.in)
			if err == nil {
				t.Fatalf("ParseAmount(%q) = %v, want an error", tc.in, got)
			}
			if !errors.Is(err, ErrAmount) {
				t.Errorf("error does not wrap ErrAmount: %v", err)
			}
			if !strings.Contains(err.Error(), tc.says) || !hasHan(err.Error()) {
				t.Errorf("error %q should say %q, in Chinese and English", err, tc.says)
			}
		})
	}
}

func TestAmountFromJSON(t *testing.T) {
	for _, tc := range []struct {
		raw  string
		want Amount
		bad  string // substring of the error, "" for success
	}{
		{`19.99`, 1999, ""},
		{`"19.99"`, 1999, ""},
		{`0.07`, 7, ""},
		{`"0.07"`, 7, ""},
		{`0.29`, 29, ""},
		{`0.1`, 10, ""},
		{`"0.1"`, 10, ""},
		{` 88.88 `, 8888, ""},
		{`100000000`, MaxAmount, ""},
		{`"100000000"`, MaxAmount, ""},
		{`1e2`, 10000, ""},
		{`"\u0031\u0039.99"`, 1999, ""},
		{`0.001`, 0, "two decimals"},
		{`"0.001"`, 0, "two decimals"},
		{`0`, 0, "at least 0.01"},
		{`-1`, 0, "negative"},
		{`"-1"`, 0, "negative"},
		{`100000000.01`, 0, "at most 100000000"},
		{`"abc"`, 0, "not a decimal"},
		{`""`, 0, "empty"},
		{`"1e-3"`, 0, "two decimals"},
		{`"NaN"`, 0, "not a decimal"},
		{`NaN`, 0, "not a number"},
		{`Infinity`, 0, "not a number"},
		{`null`, 0, "missing"},
		{``, 0, "missing"},
		{`true`, 0, "not a number"},
		{`{}`, 0, "not a number"},
		{`[19.99]`, 0, "not a number"},
		{`19.99 20`, 0, "not a number"},
		{`+19.99`, 0, "not a number"},
		{`019.99`, 0, "not a number"},
		{`.5`, 0, "not a number"},
		{`"19.99`, 0, "not a JSON string"},
		{`"19.99"x`, 0, "not a JSON string"},
		{`"`, 0, "not a JSON string"},
	} {
		t.Run(tc.raw, func(t *testing.T) {
			got, err := AmountFromJSON(json.RawMessage(tc.raw))
			if tc.bad == "" {
				if err != nil || got != tc.want {
					t.Fatalf("AmountFromJSON(%s) = %d, %v; want %d", tc.raw, got, err, tc.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("AmountFromJSON(%s) = %d, want an error", tc.raw, got)
			}
			if !errors.Is(err, ErrAmount) || !strings.Contains(err.Error(), tc.bad) {
				t.Fatalf("AmountFromJSON(%s): error %q should say %q", tc.raw, err, tc.bad)
			}
		})
	}
}

func TestAmountString(t *testing.T) {
	for _, tc := range []struct {
		a    Amount
		want string
	}{
		{1999, "19.99"}, {10, "0.10"}, {7, "0.07"}, {1, "0.01"}, {0, "0.00"}, {100, "1.00"},
		{MaxAmount, "100000000.00"}, {-5, "-0.05"}, {-1999, "-19.99"},
	} {
		if got := tc.a.String(); got != tc.want {
			t.Errorf("Amount(%d).String() = %q, want %q", int64(tc.a), got, tc.want)
		}
		if tc.a <= 0 {
			continue
		}
		back, err := ParseAmount(tc.a.String())
		if err != nil || back != tc.a {
			t.Errorf("round trip of %d: %d, %v", int64(tc.a), back, err)
		}
	}
}

func TestAmountJSON(t *testing.T) {
	type doc struct {
		Total  Amount `json:"total"`
		Refund Amount `json:"refund"`
	}
	b, err := json.Marshal(doc{Total: 1999, Refund: 0})
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"total":19.99,"refund":0.00}` {
		t.Fatalf("marshal: %s", b)
	}
	var d doc
	if err := json.Unmarshal(b, &d); err != nil || d.Total != 1999 || d.Refund != 0 {
		t.Fatalf("unmarshal of our own output: %+v, %v", d, err)
	}
	if err := json.Unmarshal([]byte(`{"total":"88.88","refund":"0.00"}`), &d); err != nil || d.Total != 8888 || d.Refund != 0 {
		t.Fatalf("unmarshal of Alipay strings: %+v, %v", d, err)
	}
	for _, bad := range []string{`{"total":0.001}`, `{"total":"x"}`, `{"total":-1}`, `{"total":true}`} {
		if err := json.Unmarshal([]byte(bad), &d); err == nil {
			t.Errorf("unmarshal %s: want an error", bad)
		}
	}
}

func TestParseResponseAmount(t *testing.T) {
	for in, want := range map[string]Amount{"0.00": 0, "88.88": 8888, "0": 0, "100000000.00": MaxAmount} {
		if got, err := ParseResponseAmount(in); err != nil || got != want {
			t.Errorf("ParseResponseAmount(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "-1.00", "0.001", "x"} {
		if _, err := ParseResponseAmount(bad); err == nil {
			t.Errorf("ParseResponseAmount(%q): want an error", bad)
		}
	}
}
