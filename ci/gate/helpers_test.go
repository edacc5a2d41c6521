package gate

import (
	"math"
	"math/rand/v2"
)

func newTestRand() *rand.Rand { return rand.New(rand.NewPCG(11, 13)) }
func abs(x float64) float64   { return math.Abs(x) }
func sqrt(x float64) float64  { return math.Sqrt(x) }
