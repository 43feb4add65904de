package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const processJSON = `{"user":{"uid":0,"gid":0,"additionalGids":[18446744073709551615]},` +
	`"capabilities":{"bounding":["CAP_CHOWN","CAP_SYS_RESOURCE"],"effective":["CAP_SYS_RESOURCE"],` +
	`"permitted":["CAP_SYS_RESOURCE","CAP_NET_ADMIN"],"inheritable":[]},"args":["sh"]}`

func TestStripFor(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    func(dir string) []string
		file    string // relative to dir
		wrapped bool   // the process object sits under "process"
	}{
		{name: "create with --bundle after globals", file: "config.json", wrapped: true,
			args: func(d string) []string {
				return []string{"--root", "/run/x", "--log", "/l.json", "--log-format", "json", "create", "--bundle", d, "--pid-file", "p", "id1"}
			}},
		{name: "run with --bundle=", file: "config.json", wrapped: true,
			args: func(d string) []string { return []string{"run", "--bundle=" + d, "id1"} }},
		{name: "exec --process", file: "process.json",
			args: func(d string) []string {
				return []string{"--root", "/run/x", "exec", "--process", filepath.Join(d, "process.json"), "--detach", "id1"}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			content := processJSON
			if tc.wrapped {
				content = `{"ociVersion":"1.0.2","process":` + processJSON + `}`
			}
			path := filepath.Join(dir, tc.file)
			if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := stripFor(tc.args(dir)); err != nil {
				t.Fatalf("stripFor: %v", err)
			}
			proc := readProcess(t, path, tc.wrapped)
			caps := proc["capabilities"].(map[string]any)
			for set, want := range map[string][]string{"bounding": {"CAP_CHOWN"}, "effective": {}, "permitted": {"CAP_NET_ADMIN"}, "inheritable": {}} {
				if got := strs(caps[set]); !slices.Equal(got, want) {
					t.Errorf("%s = %v, want %v", set, got, want)
				}
			}
			raw, _ := os.ReadFile(path)
			if !strings.Contains(string(raw), "18446744073709551615") {
				t.Errorf("a uint64 did not survive the round trip: %s", raw)
			}
		})
	}
}

func TestStripForLeavesOtherCommandsAlone(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.json")
	if err := os.WriteFile(path, []byte(processJSON), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"start", "id1"}, {"delete", "--force", "id1"}, {"--root", dir, "state", "id1"}, {}} {
		if err := stripFor(args); err != nil {
			t.Errorf("stripFor(%v): %v", args, err)
		}
	}
	if raw, _ := os.ReadFile(path); string(raw) != processJSON {
		t.Errorf("file changed: %s", raw)
	}
}

func readProcess(t *testing.T, path string, wrapped bool) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	if wrapped {
		return doc["process"].(map[string]any)
	}
	return doc
}

func strs(v any) []string {
	out := []string{}
	for _, s := range v.([]any) {
		out = append(out, s.(string))
	}
	return out
}
