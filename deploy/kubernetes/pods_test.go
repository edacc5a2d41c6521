package kubernetes

import (
	"maps"
	"testing"

	rolloutsv1alpha1 "github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// runPod is a shortener pod as its controller creates it.
type runPod struct {
	role   string // stable or canary
	labels map[string]string
}

// Example hashes for Argo's ReplicaSets.
const (
	canaryHash = "6f8d7c9b5"
	stableHash = "5c9b8f7d4"
)

// podsAsRun derives the labels of the running pods from the manifests the
// way each controller does:
//   - plain: the Deployment's template;
//   - Argo Rollouts (workloadRef): the Deployment's template plus
//     rollouts-pod-template-hash and the canary's or stable's
//     canaryMetadata / stableMetadata labels (argo-rollouts
//     utils/replicaset: ephemeral metadata is merged over the template);
//   - Flagger: the template for the canary (target) pods; for the primary
//     the template with its selector label (the first of Flagger's
//     --selector-labels default "app,name,app.kubernetes.io/name" found in
//     the selector) set to <value>-primary (flagger pkg/canary/deployment_controller).
func podsAsRun(t *testing.T, b *built) []runPod {
	t.Helper()
	tpl := shortenerPod(t, b).Labels
	switch b.overlay {
	case "plain":
		return []runPod{{"stable", tpl}}
	case "argo-rollouts":
		ro := get[*rolloutsv1alpha1.Rollout](t, b, "Rollout", "shortener")
		c := ro.Spec.Strategy.Canary
		if c == nil || c.CanaryMetadata == nil || c.StableMetadata == nil {
			t.Fatal("the Rollout sets no canaryMetadata/stableMetadata")
		}
		canary, stable := maps.Clone(tpl), maps.Clone(tpl)
		canary[rolloutsv1alpha1.DefaultRolloutUniqueLabelKey] = canaryHash
		stable[rolloutsv1alpha1.DefaultRolloutUniqueLabelKey] = stableHash
		maps.Copy(canary, c.CanaryMetadata.Labels)
		maps.Copy(stable, c.StableMetadata.Labels)
		return []runPod{{"canary", canary}, {"stable", stable}}
	case "flagger":
		sel := shortenerSelector(t, b)
		key := ""
		for _, k := range []string{"app", "name", "app.kubernetes.io/name"} {
			if _, ok := sel[k]; ok {
				key = k
				break
			}
		}
		if key == "" {
			t.Fatalf("the Deployment's selector %v has none of Flagger's selector labels", sel)
		}
		primary := maps.Clone(tpl)
		primary[key] = tpl[key] + "-primary"
		return []runPod{{"canary", tpl}, {"stable", primary}}
	}
	t.Fatalf("unknown overlay %s", b.overlay)
	return nil
}

func shortenerSelector(t *testing.T, b *built) map[string]string {
	t.Helper()
	d := shortenerDeployment(t, b)
	return d.Spec.Selector.MatchLabels
}

func metaSelector(s *metav1.LabelSelector) (labels.Selector, error) {
	return metav1.LabelSelectorAsSelector(s)
}
