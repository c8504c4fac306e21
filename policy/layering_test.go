package policy

import (
	"os/exec"
	"strings"
	"testing"
)

// TestLayeringPolicyImportsNoProxy: the control plane never imports the
// data plane (issue 10, layering). policy used to import proxy/accesslog
// for the [access_log] config type; it lives in policy/logconf now.
func TestLayeringPolicyImportsNoProxy(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool on PATH")
	}
	out, err := exec.Command(gobin, "list", "-deps", "./...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	var bad []string
	for _, pkg := range strings.Fields(string(out)) {
		if pkg == "github.com/sluicegw/sluice/proxy" || strings.HasPrefix(pkg, "github.com/sluicegw/sluice/proxy/") {
			bad = append(bad, pkg)
		}
	}
	if len(bad) > 0 {
		t.Fatalf("go list -deps ./policy/... holds data-plane packages: %v", bad)
	}
	if !strings.Contains(string(out), "github.com/sluicegw/sluice/policy/logconf") {
		t.Fatalf("go list output looks wrong (no policy/logconf):\n%.2000s", out)
	}
}
