package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/kuberaft/kuberaft/node/compactor"
	"github.com/kuberaft/kuberaft/node/limits"
	"github.com/kuberaft/kuberaft/node/storage"
)

func TestParseFlagsDefaultsAndValues(t *testing.T) {
	o, err := parseFlags([]string{
		"--name", "n1", "--listen-client-urls", "http://127.0.0.1:2379,http://127.0.0.1:22379",
		"--initial-cluster", "n1=http://127.0.0.1:2380,n2=http://127.0.0.1:12380",
		"--heartbeat-interval=50", "--election-timeout", "500", "--snapshot-count", "100",
		"--listen-metrics-urls", "http://127.0.0.1:2381", "--log-level", "debug",
	}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if o.dataDir != "n1.etcd" {
		t.Errorf("data dir default = %q, want n1.etcd (etcd's ${name}.etcd)", o.dataDir)
	}
	if got := strings.Join(o.clientAddrs, ","); got != "127.0.0.1:2379,127.0.0.1:22379" {
		t.Errorf("client addrs = %s", got)
	}
	if len(o.peers) != 2 || o.peers[1].Name != "n2" || o.metricAddrs[0] != "127.0.0.1:2381" {
		t.Errorf("peers = %+v, metrics = %v", o.peers, o.metricAddrs)
	}
	if o.heartbeatMS != 50 || o.electionMS != 500 || o.snapshotCount != 100 || o.level != zapcore.DebugLevel {
		t.Errorf("parsed %+v", o)
	}
	if o.initialClusterState != "new" || o.limits.MaxRequestBytes != 1536*1024 || o.limits.MaxTxnOps != 128 || o.fencedGracePeriod != 30*time.Second {
		t.Errorf("defaults: %+v", o)
	}
}

func TestParseFlagsRejectsBadInput(t *testing.T) {
	base := []string{"--name", "n1", "--initial-cluster", "n1=http://127.0.0.1:2380"}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown flag", []string{"--nope"}, "unknown flag: --nope"},
		{"positional", []string{"extra"}, "unexpected arguments"},
		{"client url without scheme", []string{"--listen-client-urls", "127.0.0.1:2379"}, "--listen-client-urls"},
		{"client url https", []string{"--listen-client-urls", "https://127.0.0.1:2379"}, "scheme must be http"},
		{"client url without port", []string{"--listen-client-urls", "http://127.0.0.1"}, "want http://host:port"},
		{"client url with path", []string{"--listen-client-urls", "http://127.0.0.1:1/x"}, "must not have a path"},
		{"peer url malformed", []string{"--listen-peer-urls", "http://[::1"}, "--listen-peer-urls: malformed URL"},
		{"advertise url malformed", []string{"--advertise-client-urls", "localhost"}, "--advertise-client-urls"},
		{"metrics url malformed", []string{"--listen-metrics-urls", "ftp://x:1"}, "--listen-metrics-urls"},
		{"initial cluster malformed", []string{"--initial-cluster", "n1"}, "--initial-cluster"},
		{"initial cluster bad url", []string{"--initial-cluster", "n1=127.0.0.1:2380"}, "--initial-cluster"},
		{"name not in initial cluster", []string{"--initial-cluster", "n2=http://127.0.0.1:2380"}, `no member named "n1"`},
		{"bad cluster state", []string{"--initial-cluster-state", "old"}, "want new or existing"},
		{"election too short", []string{"--heartbeat-interval", "100", "--election-timeout", "400"}, "at least 5 times"},
		{"heartbeat zero", []string{"--heartbeat-interval", "0"}, "--heartbeat-interval must be > 0"},
		{"heartbeat not a number", []string{"--heartbeat-interval", "1s"}, "invalid argument"},
		{"negative election", []string{"--election-timeout", "-5"}, "invalid argument"},
		{"snapshot count zero", []string{"--snapshot-count", "0"}, "--snapshot-count"},
		{"max request bytes zero", []string{"--max-request-bytes", "0"}, "--max-request-bytes"},
		{"max request bytes above ceiling", []string{"--max-request-bytes", "67108865"}, "MaxRequestBytes"},
		{"max txn ops zero", []string{"--max-txn-ops", "0"}, "--max-txn-ops"},
		{"bad log level", []string{"--log-level", "loud"}, "--log-level"},
		{"empty name", []string{"--name", ""}, "--name must not be empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseFlags(append(append([]string{}, base...), tt.args...), &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestRunExitCodes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out, errOut bytes.Buffer
	if code := run(ctx, []string{"--version"}, &out, &errOut); code != exitOK || !strings.Contains(out.String(), "raftnode version:") {
		t.Errorf("--version: code %d, out %q", code, out.String())
	}
	errOut.Reset()
	if code := run(ctx, []string{"--listen-client-urls", "localhost:2379"}, &out, &errOut); code != exitUsage {
		t.Errorf("malformed URL: code %d, want %d", code, exitUsage)
	}
	if !strings.Contains(errOut.String(), "raftnode: --listen-client-urls") {
		t.Errorf("stderr = %q, want a clear message", errOut.String())
	}
	if code := run(ctx, []string{"--help"}, &out, &errOut); code != exitOK {
		t.Errorf("--help: code %d", code)
	}
}

func TestParseCompactionFlags(t *testing.T) {
	cases := []struct {
		mode, retention string
		want            compactor.Config
		err             bool
	}{
		{mode: "periodic", retention: "0", want: compactor.Config{Mode: "periodic"}},
		{mode: "periodic", retention: "1", want: compactor.Config{Mode: "periodic", Retention: time.Hour}},
		{mode: "periodic", retention: "30m", want: compactor.Config{Mode: "periodic", Retention: 30 * time.Minute}},
		{mode: "revision", retention: "1000", want: compactor.Config{Mode: "revision", Revisions: 1000}},
		{mode: "revision", retention: "1h", err: true},
		{mode: "periodic", retention: "soon", err: true},
		{mode: "periodic", retention: "-5m", err: true},
		{mode: "hourly", retention: "1", err: true},
	}
	for _, tc := range cases {
		got, err := parseCompaction(tc.mode, tc.retention)
		if (err != nil) != tc.err || (!tc.err && got != tc.want) {
			t.Errorf("parseCompaction(%q, %q) = %+v, %v; want %+v (error %v)", tc.mode, tc.retention, got, err, tc.want, tc.err)
		}
	}
}

// TestLimitFlagsReachNodeAndServer: every limit flag sets the one Limits
// that both the raft driver and the client server get (--max-txn-ops used
// to exist only in the server's config, never set by the command).
func TestLimitFlagsReachNodeAndServer(t *testing.T) {
	o, err := parseFlags([]string{"--name", "n1", "--initial-cluster", "n1=http://127.0.0.1:2380",
		"--max-request-bytes", "4096", "--max-txn-ops", "7"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := limits.Limits{MaxRequestBytes: 4096, MaxTxnOps: 7}
	if got := o.nodeConfig(nil, nil).Limits; got != want {
		t.Errorf("raftnode limits = %+v, want %+v", got, want)
	}
	if got := o.serverConfig(nil, nil).Limits; got != want {
		t.Errorf("server limits = %+v, want %+v", got, want)
	}
}

func TestParseFlagsTLSSchemes(t *testing.T) {
	peerTLS := []string{"--peer-cert-file", "p.crt", "--peer-key-file", "p.key", "--peer-trusted-ca-file", "ca.crt"}
	clientTLS := []string{"--cert-file", "s.crt", "--key-file", "s.key", "--trusted-ca-file", "ca.crt"}
	httpsPeers := []string{"--listen-peer-urls", "https://127.0.0.1:2380", "--initial-advertise-peer-urls", "https://127.0.0.1:2380", "--initial-cluster", "n1=https://127.0.0.1:2380"}
	httpsClients := []string{"--listen-client-urls", "https://127.0.0.1:2379", "--advertise-client-urls", "https://127.0.0.1:2379"}
	join := func(parts ...[]string) []string {
		out := []string{"--name", "n1"}
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	for _, tt := range []struct {
		name string
		args []string
		want string // "" = accepted
	}{
		{"all TLS", join(peerTLS, clientTLS, httpsPeers, httpsClients), ""},
		{"peer TLS, plaintext clients", join(peerTLS, httpsPeers), ""},
		{"client TLS with an http client URL", join(clientTLS, httpsClients, []string{"--advertise-client-urls", "http://127.0.0.1:2379"}, []string{"--initial-cluster", "n1=http://localhost:2380"}), "--advertise-client-urls"},
		{"https peer URL without peer TLS", join(httpsClients, clientTLS, []string{"--listen-peer-urls", "https://127.0.0.1:2380"}, []string{"--initial-cluster", "n1=http://localhost:2380"}), "scheme must be http"},
		{"peer TLS with a plaintext member", join(peerTLS, httpsPeers, []string{"--initial-cluster", "n1=https://127.0.0.1:2380,n2=http://127.0.0.1:12380"}), "--initial-cluster"},
		{"metrics stay http", join(peerTLS, clientTLS, httpsPeers, httpsClients, []string{"--listen-metrics-urls", "https://127.0.0.1:2381"}), "scheme must be http"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			o, err := parseFlags(tt.args, &bytes.Buffer{})
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if len(o.membershipAllowedCNs) != 1 || o.membershipAllowedCNs[0] != "kuberaft-operator" {
					t.Errorf("--membership-allowed-cn default = %q", o.membershipAllowedCNs)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// TestForceNewClusterMember: the operator's pod template carries the force
// flags for every member; only the named survivor, and only with data,
// forces a new cluster (a fresh member with an empty data dir joins).
func TestForceNewClusterMember(t *testing.T) {
	withData := t.TempDir()
	st, err := storage.Create(zap.NewNop(), withData, storage.Metadata{ClusterID: 1, MemberID: 1, Name: "kv-0"})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	empty := t.TempDir()
	for _, tt := range []struct {
		name, member, dataDir string
		force, want           bool
	}{
		{name: "no force flag", member: "kv-0", dataDir: withData},
		{name: "unrestricted force", dataDir: empty, force: true, want: true},
		{name: "the survivor with data", member: "kv-0", dataDir: withData, force: true, want: true},
		{name: "another member", member: "kv-1", dataDir: withData, force: true},
		{name: "the survivor's name on an empty volume", member: "kv-0", dataDir: empty, force: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			args := []string{"--name", "kv-0", "--data-dir", tt.dataDir, "--initial-cluster", "kv-0=http://127.0.0.1:2380",
				"--force-new-cluster-id", "plan1", "--force-new-cluster-member", tt.member}
			if tt.force {
				args = append(args, "--force-new-cluster")
			}
			o, err := parseFlags(args, &bytes.Buffer{})
			if err != nil {
				t.Fatal(err)
			}
			if got := o.nodeConfig(nil, zap.NewNop()).ForceNewCluster; got != tt.want {
				t.Fatalf("ForceNewCluster = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestRestoreMemberSelectsTheSeededMember: every pod of a restored
// cluster carries the same --restore-from and --restore-member; only the
// named member restores, the others start (and join) normally, and so
// does the named member on a volume without the file (a replacement after
// its volume was lost: fenced, then replaced, never a crash loop).
func TestRestoreMemberSelectsTheSeededMember(t *testing.T) {
	file := filepath.Join(t.TempDir(), "s.db")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "s.db")
	tests := []struct {
		name, self, member, file string
		existing                 bool
		wantRestore              string
	}{
		{name: "the seeded member restores", self: "kv-0", member: "kv-0", file: file, wantRestore: file},
		{name: "another member ignores the file", self: "kv-1", member: "kv-0", file: file, wantRestore: ""},
		{name: "the seeded member on a replaced volume starts normally", self: "kv-0", member: "kv-0", file: missing, existing: true, wantRestore: ""},
		{name: "first boot without the file: refused later, never an empty cluster", self: "kv-0", member: "kv-0", file: missing, wantRestore: missing},
		{name: "no --restore-member: every member restores (etcd's meaning)", self: "kv-1", file: missing, wantRestore: missing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := []string{"--name", tt.self, "--initial-cluster", tt.self + "=http://127.0.0.1:2380", "--restore-from", tt.file}
			if tt.member != "" {
				args = append(args, "--restore-member", tt.member)
			}
			if tt.existing {
				args = append(args, "--initial-cluster-state", "existing")
			}
			o, err := parseFlags(args, &bytes.Buffer{})
			if err != nil {
				t.Fatal(err)
			}
			if o.restoreFrom != tt.wantRestore {
				t.Errorf("restoreFrom = %q, want %q", o.restoreFrom, tt.wantRestore)
			}
		})
	}
	if _, err := parseFlags([]string{"--name", "kv-0", "--initial-cluster", "kv-0=http://127.0.0.1:2380", "--restore-member", "kv-0"}, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "--restore-member needs --restore-from") {
		t.Errorf("--restore-member alone: err = %v", err)
	}
}
