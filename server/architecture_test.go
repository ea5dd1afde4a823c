package server

import (
	"os"
	"os/exec"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// The import graph drawn in docs/ARCHITECTURE.md is the one the code has:
// a package that starts importing another, or stops, must be redrawn there,
// so that the page a contributor reads first never lies.
func TestArchitectureDocDrawsTheImportGraphAsItIs(t *testing.T) {
	doc, err := os.ReadFile("../docs/ARCHITECTURE.md")
	if err != nil {
		t.Fatal(err)
	}
	drawn := drawnImports(t, string(doc))

	const module = "github.com/moreweb/moreweb/"
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, "../...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	actual := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(fields[0], module)
		if _, ok := drawn[pkg]; !ok && !undrawn[pkg] {
			t.Errorf("package %s is not in the graph", pkg)
			continue
		}
		var deps []string
		for _, imp := range fields[1:] {
			if strings.HasPrefix(imp, module) {
				deps = append(deps, strings.TrimPrefix(imp, module))
			}
		}
		sort.Strings(deps)
		actual[pkg] = deps
	}
	for pkg, want := range drawn {
		if got := actual[pkg]; !reflect.DeepEqual(got, want) {
			t.Errorf("%s imports %v; the graph says %v", pkg, got, want)
		}
	}
}

// undrawn are packages the graph leaves out: test helpers, suites and
// measuring tools and the example app, which no program imports.
var undrawn = map[string]bool{"attack": true, "examples/app": true, "scripts": true, "scripts/idlemem": true, "internal/testkit": true, "handlers/handlertest": true}

// drawnImports reads the "Imports" code block: "pkg -> a, b," lines, with
// continuation lines, and outside dependencies in parentheses.
func drawnImports(t *testing.T, doc string) map[string][]string {
	t.Helper()
	_, rest, ok := strings.Cut(doc, "## Imports")
	if !ok {
		t.Fatal("no Imports section")
	}
	_, rest, _ = strings.Cut(rest, "```\n")
	block, _, _ := strings.Cut(rest, "```")
	graph := map[string][]string{}
	var cur string
	for _, line := range strings.Split(block, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		deps := line
		if name, after, ok := strings.Cut(line, "->"); ok {
			cur = strings.TrimSpace(name)
			deps = after
			graph[cur] = nil
		}
		if i := strings.Index(deps, "("); i >= 0 {
			deps = deps[:i]
		}
		for _, d := range strings.Split(deps, ",") {
			if d = strings.TrimSpace(d); d != "" {
				graph[cur] = append(graph[cur], d)
			}
		}
	}
	for _, deps := range graph {
		sort.Strings(deps)
	}
	return graph
}
