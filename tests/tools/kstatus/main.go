// kstatus prints how GitOps tools judge the health of objects, with their own code:
//
//   - "kstatus": sigs.k8s.io/cli-utils/pkg/kstatus/status, the library kpt, Config Sync and others
//     use for any resource;
//   - "flux": github.com/fluxcd/cli-utils (Flux's fork of it), what Flux's kustomize-controller and
//     helm-controller read when they wait for health;
//   - "fluxCel": Flux's evaluator of a Kustomization's healthCheckExprs
//     (github.com/fluxcd/pkg/runtime/cel), when expressions are given.
//
// Input on stdin: {"objects": [...], "healthCheckExprs": {"current": ..., "failed": ...,
// "inProgress": ...} or null}. Output on stdout: one {"kstatus", "flux", "fluxCel"} per object,
// each {"status", "message"}, in the same order. tests/gitops.rs and tests/chart_real.rs use it on
// the statuses the operator writes.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	fluxstatus "github.com/fluxcd/cli-utils/pkg/kstatus/status"
	"github.com/fluxcd/pkg/apis/kustomize"
	fluxcel "github.com/fluxcd/pkg/runtime/cel"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

type input struct {
	Objects          []json.RawMessage                 `json:"objects"`
	HealthCheckExprs *kustomize.HealthCheckExpressions `json:"healthCheckExprs"`
}

type verdict struct {
	Status  string `json:"status"`
	Message string `json:"message"`
}

type verdicts struct {
	Kstatus verdict  `json:"kstatus"`
	Flux    verdict  `json:"flux"`
	FluxCel *verdict `json:"fluxCel,omitempty"`
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "kstatus: "+format+"\n", args...)
	os.Exit(1)
}

func main() {
	var in input
	if err := json.NewDecoder(os.Stdin).Decode(&in); err != nil {
		fail("reading {\"objects\": [...]} on stdin: %v", err)
	}
	var evaluator *fluxcel.StatusEvaluator
	if in.HealthCheckExprs != nil {
		var err error
		if evaluator, err = fluxcel.NewStatusEvaluator(in.HealthCheckExprs); err != nil {
			fail("healthCheckExprs: %v", err)
		}
	}
	out := make([]verdicts, 0, len(in.Objects))
	for i, raw := range in.Objects {
		// As the API machinery decodes objects: whole numbers as int64, which kstatus expects.
		var object map[string]interface{}
		if err := utiljson.Unmarshal(raw, &object); err != nil {
			fail("object %d: %v", i, err)
		}
		var v verdicts
		upstream, err := status.Compute(&unstructured.Unstructured{Object: object})
		if err != nil {
			fail("object %d: kstatus: %v", i, err)
		}
		v.Kstatus = verdict{Status: upstream.Status.String(), Message: upstream.Message}
		flux, err := fluxstatus.Compute(&unstructured.Unstructured{Object: object})
		if err != nil {
			fail("object %d: Flux kstatus: %v", i, err)
		}
		v.Flux = verdict{Status: flux.Status.String(), Message: flux.Message}
		if evaluator != nil {
			result, err := evaluator.Evaluate(context.Background(), &unstructured.Unstructured{Object: object})
			if err != nil {
				// Flux reports an evaluation error as the object's status not being Current.
				v.FluxCel = &verdict{Status: "Error", Message: err.Error()}
			} else {
				v.FluxCel = &verdict{Status: result.Status.String(), Message: result.Message}
			}
		}
		out = append(out, v)
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fail("%v", err)
	}
}
