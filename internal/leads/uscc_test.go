package leads

import "testing"

func TestCheckCreditCode(t *testing.T) {
	for _, c := range []struct {
		code string
		ok   bool
	}{
		{"914403001922038216", true},  // 华为技术有限公司
		{"91110108551385082Q", true},  // 北京小米科技有限责任公司
		{"91110108551385082q", true},  // lower case
		{"91110108551385082R", false}, // wrong check character
		{"914403001922038217", false},
		{"91440300192203821", false},   // 17 characters
		{"9144030019220382161", false}, // 19
		{"91440300192203821I", false},  // I is not in the alphabet
		{"", false},
	} {
		if got := CheckCreditCode(c.code); got != c.ok {
			t.Errorf("CheckCreditCode(%q) = %v, want %v", c.code, got, c.ok)
		}
	}
}
