package stats

import (
	"math"
	"slices"
)

// Pool combines the evidence of many tests into one by a weighted mean of
// their Bayes factors with weights fixed in advance that sum to at most 1.
// Under the intersection of their nulls every Bayes factor is a
// nonnegative supermartingale starting at 1, and so is any such mean:
// Ville's inequality bounds the chance that the mean ever reaches 1/α by α,
// without splitting α per test. A single test showing a regression needs
// (1/weight)/α, as under Bonferroni; several showing it at once need less.
//
// The gate pools routes, status codes and latency buckets. The keys known
// when the pool is made share 1 − 1/(n+1) equally; keys that appear later
// (a route or status code born during the analysis) take halves of the
// remaining 1/(n+1) in the order they appear (ties by name), so the weights
// never sum to more than 1.
type Pool struct {
	w    map[string]float64
	rest float64
}

// NewPool fixes the weights of the keys known at the start.
func NewPool(keys []string) *Pool {
	p := &Pool{w: map[string]float64{}}
	n := float64(len(keys))
	for _, k := range keys {
		p.w[k] = 1 / (n + 1)
	}
	p.rest = 1 / (n + 1)
	return p
}

// Weight returns the weight of key, assigning one to a new key.
func (p *Pool) Weight(key string) float64 {
	if w, ok := p.w[key]; ok {
		return w
	}
	p.rest /= 2
	p.w[key] = p.rest
	return p.rest
}

// LogMean returns ln Σ w_k BF_k given ln BF_k by key. Keys without a
// Bayes factor (not yet observed) count as BF = 1, their value at the start,
// and so does the weight still kept for new keys (a constant 1 is a
// martingale too; a new key takes its weight when its Bayes factor is 1).
func (p *Pool) LogMean(logBF map[string]float64) float64 {
	keys := make([]string, 0, len(logBF))
	for k := range logBF {
		keys = append(keys, k)
	}
	slices.Sort(keys) // new keys get their weights in a fixed order
	terms := make([]float64, 0, len(p.w)+len(keys))
	seen := map[string]bool{}
	for _, k := range keys {
		terms = append(terms, math.Log(p.Weight(k))+logBF[k])
		seen[k] = true
	}
	unobserved := 0.0
	for k, w := range p.w {
		if !seen[k] {
			unobserved += w
		}
	}
	unobserved += p.rest
	if unobserved > 0 {
		terms = append(terms, math.Log(unobserved))
	}
	return logSumExp(terms)
}

func logSumExp(xs []float64) float64 {
	if len(xs) == 0 {
		return math.Inf(-1)
	}
	m := slices.Max(xs)
	if math.IsInf(m, 0) {
		return m
	}
	s := 0.0
	for _, x := range xs {
		s += math.Exp(x - m)
	}
	return m + math.Log(s)
}
