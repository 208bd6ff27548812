// promrules checks Prometheus rule groups as Prometheus itself loads them (rulefmt: the PromQL of
// every expression, the `for` durations, the label and annotation templates): the `spec` of a
// PrometheusRule as JSON on stdin; the errors on stderr and exit 1, or nothing and exit 0.
// tests/chart.rs runs it on the chart's PrometheusRule.
package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"
)

func main() {
	spec, err := io.ReadAll(os.Stdin)
	if err != nil {
		fmt.Fprintf(os.Stderr, "promrules: reading stdin: %v\n", err)
		os.Exit(2)
	}
	// JSON is YAML; rulefmt reads the rule file format, which a PrometheusRule's spec is.
	var groups map[string]interface{}
	if err := yaml.Unmarshal(spec, &groups); err != nil {
		fmt.Fprintf(os.Stderr, "promrules: %v\n", err)
		os.Exit(2)
	}
	content, err := yaml.Marshal(groups)
	if err != nil {
		fmt.Fprintf(os.Stderr, "promrules: %v\n", err)
		os.Exit(2)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	parsed, errs := rulefmt.Parse(content, false, model.UTF8Validation, parser.NewParser(parser.Options{}), logger)
	if len(errs) > 0 {
		for _, err := range errs {
			fmt.Fprintln(os.Stderr, err)
		}
		os.Exit(1)
	}
	rules := 0
	for _, group := range parsed.Groups {
		rules += len(group.Rules)
	}
	fmt.Printf("%d groups, %d rules\n", len(parsed.Groups), rules)
}
