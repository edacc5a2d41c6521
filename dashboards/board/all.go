package board

// All returns every dashboard, in file-name order.
func All() []Board {
	return []Board{Canary(), Overview(), Pipeline(), Runtime(), SLO()}
}
