package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// dropped is the capability the host cannot grant (see the package doc).
const dropped = "CAP_SYS_RESOURCE"

// capSets are the OCI process.capabilities sets that may name it.
var capSets = []string{"bounding", "effective", "inheritable", "permitted", "ambient"}

// globalValueFlags are runc's global flags that take a separate value; they
// come before the subcommand, so the parser must skip their values.
var globalValueFlags = map[string]bool{"--root": true, "--log": true, "--log-format": true, "--criu": true, "--rootless": true}

// stripFor edits the JSON file that the runc command line args points at:
// <bundle>/config.json for create and run, the --process file for exec.
func stripFor(args []string) error {
	sub, rest := subcommand(args)
	switch sub {
	case "create", "run":
		bundle := flagValue(rest, "--bundle", "-b")
		if bundle == "" {
			bundle = "."
		}
		return stripFile(filepath.Join(bundle, "config.json"), "process")
	case "exec":
		if p := flagValue(rest, "--process", "-p"); p != "" {
			return stripFile(p, "")
		}
	}
	return nil
}

// subcommand returns the first non-flag argument and what follows it.
func subcommand(args []string) (string, []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			return a, args[i+1:]
		}
		if globalValueFlags[a] {
			i++ // skip the value
		}
	}
	return "", nil
}

// flagValue returns the value of the first of names in args, given as
// "--name value", "--name=value" or "-n value".
func flagValue(args []string, names ...string) string {
	for i, a := range args {
		for _, n := range names {
			if a == n && i+1 < len(args) {
				return args[i+1]
			}
			if v, ok := strings.CutPrefix(a, n+"="); ok {
				return v
			}
		}
	}
	return ""
}

// stripFile removes the capability from the process object found at key in
// the file (key "" means the file is the process object itself) and rewrites
// the file only if something changed. Numbers are kept as written (UseNumber),
// so large uids and rlimits survive the round trip.
func stripFile(path, key string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var doc map[string]any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	proc := doc
	if key != "" {
		p, ok := doc[key].(map[string]any)
		if !ok {
			return nil
		}
		proc = p
	}
	if !stripCaps(proc) {
		return nil
	}
	out, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	return os.WriteFile(path, out, 0o600)
}

// stripCaps removes the capability from every set of proc.capabilities and
// reports whether it removed any.
func stripCaps(proc map[string]any) bool {
	caps, ok := proc["capabilities"].(map[string]any)
	if !ok {
		return false
	}
	changed := false
	for _, set := range capSets {
		list, ok := caps[set].([]any)
		if !ok {
			continue
		}
		kept := list[:0:0]
		for _, c := range list {
			if c == dropped {
				changed = true
				continue
			}
			kept = append(kept, c)
		}
		caps[set] = kept
	}
	return changed
}
