package leads

import "strings"

// usccChars are the 31 characters of a unified social credit code (统一社会信用代码,
// GB 32100-2015), in the order of their values: the digits and the capitals without I, O, S,
// V and Z.
const usccChars = "0123456789ABCDEFGHJKLMNPQRTUWXY"

// usccWeights are the weights of the first 17 characters (3^i mod 31).
var usccWeights = [17]int{1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28}

// CheckCreditCode says whether code is a well-formed unified social credit code: 18
// characters of the code's alphabet whose 18th is the check character of the first 17
// (GB 32100-2015: 31 − (Σ value × weight mod 31), 31 written as 0). Lower case is accepted.
func CheckCreditCode(code string) bool {
	code = strings.ToUpper(code)
	if len(code) != 18 {
		return false
	}
	sum := 0
	for i := 0; i < 17; i++ {
		v := strings.IndexByte(usccChars, code[i])
		if v < 0 {
			return false
		}
		sum += v * usccWeights[i]
	}
	c := (31 - sum%31) % 31
	return code[17] == usccChars[c]
}
