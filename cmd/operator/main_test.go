package main

import (
	"fmt"
	"testing"
)

func TestSplitNamespaces(t *testing.T) {
	for in, want := range map[string]string{"": "[]", "db": "[db]", " db, kv ,,": "[db kv]"} {
		if got := fmt.Sprint(splitNamespaces(in)); got != want {
			t.Errorf("splitNamespaces(%q) = %s, want %s", in, got, want)
		}
	}
}
