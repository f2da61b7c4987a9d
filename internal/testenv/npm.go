package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// NPMPackage installs the npm package spec ("name@version") with the real
// npm client and returns the package's directory (node_modules/NAME). The
// install is cached under the user cache directory, so the registry is
// asked once per machine and version. When npm is missing or the registry
// cannot be reached, the test is skipped (failed under RELOADD_CI).
func NPMPackage(t testing.TB, spec string) string {
	t.Helper()
	pkg, err := InstallNPM(spec)
	if err != nil {
		Missing(t, err.Error())
	}
	return pkg
}

// InstallNPM is [NPMPackage] for code that is not a test (the bench
// suite): it returns an error instead of skipping.
func InstallNPM(spec string) (string, error) {
	name := spec
	if i := strings.LastIndex(spec, "@"); i > 0 {
		name = spec[:i]
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "reloadd-test", "npm", strings.ReplaceAll(spec, "/", "_"))
	pkg := filepath.Join(dir, "node_modules", name)
	if _, err := os.Stat(filepath.Join(pkg, "package.json")); err == nil {
		return pkg, nil
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		return "", fmt.Errorf("npm is not installed (needed for %s)", spec)
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".install-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "install", "--no-audit", "--no-fund", "--no-package-lock",
		"--no-save", "--ignore-scripts", "--prefix", tmp, spec)
	cmd.Env = append(os.Environ(), "npm_config_update_notifier=false")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("npm install %s: %v\n%s", spec, err, out)
	}
	// Another process may have won the race; either copy will do.
	if err := os.Rename(tmp, dir); err != nil {
		if _, serr := os.Stat(filepath.Join(pkg, "package.json")); serr != nil {
			return "", fmt.Errorf("npm install %s: %w", spec, err)
		}
	}
	return pkg, nil
}
