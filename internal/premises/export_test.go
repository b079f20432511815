package premises

// SetFewCellsShare sets fewCellsShare for a test and returns the function that restores it.
func SetFewCellsShare(n int) func() {
	old := fewCellsShare
	fewCellsShare = n
	return func() { fewCellsShare = old }
}
