package serve

import (
	"errors"
	"net/http"
)

// argoRequest is the JSON body the AnalysisTemplate's Web metric sends
// (jsonBody, with the Rollout's arguments filled in).
type argoRequest struct {
	Namespace  string `json:"namespace"`
	Rollout    string `json:"rollout"`
	CanaryHash string `json:"canaryHash"`
	StableHash string `json:"stableHash"`
}

func (r argoRequest) validate() error {
	if err := checkNamespace("namespace", r.Namespace); err != nil {
		return err
	}
	if err := checkName("rollout", r.Rollout); err != nil {
		return err
	}
	if err := checkHash("canaryHash", r.CanaryHash); err != nil {
		return err
	}
	if err := checkHash("stableHash", r.StableHash); err != nil {
		return err
	}
	if r.CanaryHash == r.StableHash {
		return errors.New("canaryHash and stableHash are the same ReplicaSet: there is no canary to judge")
	}
	return nil
}

// PhaseInvalid is answered to Argo for a request the gate cannot act on
// (a template without the arguments it needs); it is never a verdict.
const PhaseInvalid Phase = "invalid"

// argoAnswer is bound to `result` in the template's conditions:
// successCondition `result.phase == "pass"`, failureCondition
// `result.phase == "fail"`; anything else is an inconclusive measurement.
type argoAnswer struct {
	Phase    Phase  `json:"phase"`
	Reason   string `json:"reason"`
	Analysis string `json:"analysis,omitempty"`
}

// handleArgo answers Argo's Web provider. The answer is 200 for pass, fail,
// running and inconclusive alike (a non-2xx is an Error measurement to
// Argo, and five in a row abort the rollout); only an outage of the gate
// itself (too many analyses, state not writable) is a 503.
func (s *server) handleArgo() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req argoRequest
		if err := decodeJSON(w, r, &req, true); err != nil {
			writeJSON(w, http.StatusOK, argoAnswer{Phase: PhaseInvalid, Reason: "bad request from the AnalysisTemplate: " + err.Error()})
			return
		}
		if err := req.validate(); err != nil {
			writeJSON(w, http.StatusOK, argoAnswer{Phase: PhaseInvalid, Reason: "bad request from the AnalysisTemplate: " + err.Error()})
			return
		}
		key := Key{Controller: "argo", Namespace: req.Namespace, Name: req.Rollout, Revision: req.CanaryHash + ".." + req.StableHash}
		a, err := s.deps.Store.Ensure(key, s.deps.Selectors.argo(req))
		if err != nil {
			s.log.Error("start analysis", "key", key.String(), "err", err)
			writeJSON(w, http.StatusServiceUnavailable, argoAnswer{Phase: PhaseError, Reason: "gate serve cannot take this analysis now: " + err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, argoAnswer{Phase: a.Phase, Reason: a.Reason, Analysis: a.ID})
	})
}
