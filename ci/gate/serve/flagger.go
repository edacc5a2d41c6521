package serve

import (
	"fmt"
	"net/http"
)

// flaggerRequest is the body of every Flagger webhook
// (flaggerv1.CanaryWebhookPayload); event webhooks put eventMessage,
// eventType and timestamp into metadata.
type flaggerRequest struct {
	Name      string            `json:"name"`
	Namespace string            `json:"namespace"`
	Phase     string            `json:"phase"`
	Checksum  string            `json:"checksum"`
	Metadata  map[string]string `json:"metadata"`
}

func (r flaggerRequest) validate() error {
	if err := checkName("name", r.Name); err != nil {
		return err
	}
	if err := checkNamespace("namespace", r.Namespace); err != nil {
		return err
	}
	return checkHash("checksum", r.Checksum)
}

func (r flaggerRequest) key() Key {
	return Key{Controller: "flagger", Namespace: r.Namespace, Name: r.Name, Revision: r.Checksum}
}

// flaggerHook is how one webhook type maps the analysis to an answer.
// Flagger goes on when the status is at most 202; for a deliberate "no"
// the service answers 412 with the reason, which Flagger shows in its
// events (a 5xx would be retried and its body dropped).
type flaggerHook struct {
	name string
	// ok lists the phases answered 200; the others get 412.
	ok []Phase
	// start: the hook starts the analysis when there is none yet.
	start bool
	// always answers 200 without looking at an analysis.
	always bool
}

// flaggerHooks: pre-rollout and rollout halt (and count a failed check)
// on a non-2xx; confirm-traffic-increase and confirm-promotion hold
// without failing, so an inconclusive or lost analysis waits there for a
// human; confirm-promotion goes on only on a shown pass; rollback is
// inverted (200 rolls back), so it answers 200 only on a fail.
var flaggerHooks = []flaggerHook{
	{name: "pre-rollout", ok: []Phase{PhaseRunning, PhasePass}, start: true},
	{name: "rollout", ok: []Phase{PhaseRunning, PhasePass, PhaseInconclusive, PhaseLost}, start: true},
	{name: "confirm-traffic-increase", ok: []Phase{PhaseRunning, PhasePass}, start: true},
	{name: "confirm-promotion", ok: []Phase{PhasePass}, start: true},
	{name: "rollback", ok: []Phase{PhaseFail}},
	{name: "post-rollout", always: true},
	{name: "event", always: true},
}

func (h flaggerHook) answer(p Phase) int {
	for _, ok := range h.ok {
		if p == ok {
			return http.StatusOK
		}
	}
	return http.StatusPreconditionFailed
}

func (s *server) handleFlagger(h flaggerHook) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req flaggerRequest
		if err := decodeJSON(w, r, &req, false); err != nil {
			writeText(w, http.StatusBadRequest, "gate: "+err.Error())
			return
		}
		if err := req.validate(); err != nil {
			writeText(w, http.StatusBadRequest, "gate: "+err.Error())
			return
		}
		key := req.key()
		switch h.name {
		case "event":
			s.log.Info("flagger event", "key", key.String(), "phase", req.Phase,
				"type", req.Metadata["eventType"], "message", truncate(req.Metadata["eventMessage"], 300))
			writeText(w, http.StatusOK, "gate: event noted")
			return
		case "post-rollout":
			// The canary is finished with: an analysis still running is
			// stopped and forgotten; a finished one stays until idle.
			if a, ok := s.deps.Store.Find(key); ok && a.Phase == PhaseRunning {
				s.deps.Store.Delete(a.ID)
			}
			writeText(w, http.StatusOK, "gate: rollout over ("+req.Phase+")")
			return
		}
		var (
			a   Analysis
			err error
			ok  bool
		)
		if h.start {
			a, err = s.deps.Store.Ensure(key, s.deps.Selectors.flagger(req))
			ok = err == nil
		} else {
			a, ok = s.deps.Store.Find(key)
		}
		switch {
		case err != nil:
			// An outage of the gate, not a verdict: Flagger retries a 5xx.
			s.log.Error("start analysis", "key", key.String(), "err", err)
			writeText(w, http.StatusServiceUnavailable, "gate: cannot take this analysis now: "+err.Error())
		case !ok:
			writeText(w, http.StatusPreconditionFailed, "gate: no analysis of this canary revision; nothing to act on")
		default:
			writeText(w, h.answer(a.Phase), fmt.Sprintf("gate %s: %s: %s (analysis %s)", h.name, a.Phase, a.Reason, a.ID))
		}
	})
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
