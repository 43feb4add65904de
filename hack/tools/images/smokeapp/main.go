// Command smokeapp is the workload of the cluster smoke test. Scratch images
// have no shell, so the binary is also its own toolbox for `kubectl exec`:
//
//	smokeapp serve [-addr :8080] [-data DIR]  HTTP server; /healthz, / prints the pod's id
//	smokeapp lookup [-server IP:53] NAME      resolves NAME (default: the system resolver)
//	smokeapp get URL                          HTTP GET, prints the body
//	smokeapp cat FILE                         prints a file
//	smokeapp tlsprobe HOST:PORT               TLS without a client certificate; prints
//	                                          whether the server accepted it (exit 0) or refused it
//
// serve writes DIR/id once (hostname and first boot time), so a test can see
// that a restarted pod got its old volume back.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "smokeapp:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		return errors.New("usage: smokeapp serve|lookup|get|cat|tlsprobe ...")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	switch cmd, rest := args[0], args[1:]; {
	case cmd == "serve":
		return serve(rest)
	case cmd == "lookup" && len(rest) == 1:
		return lookup(ctx, net.DefaultResolver, rest[0])
	case cmd == "lookup" && len(rest) == 3 && rest[0] == "-server":
		return lookup(ctx, resolverFor(rest[1]), rest[2])
	case cmd == "get" && len(rest) == 1:
		return get(ctx, rest[0])
	case cmd == "cat" && len(rest) == 1:
		data, err := os.ReadFile(rest[0])
		if err != nil {
			return err
		}
		_, err = os.Stdout.Write(data)
		return err
	case cmd == "tlsprobe" && len(rest) == 1:
		return tlsProbe(ctx, rest[0], os.Stdout)
	default:
		return fmt.Errorf("unknown command or wrong arguments: %q", args)
	}
}

// resolverFor returns a resolver that asks only server (host:port): the
// host's own resolver does not know cluster.local.
func resolverFor(server string) *net.Resolver {
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, server)
		},
	}
}

func lookup(ctx context.Context, r *net.Resolver, host string) error {
	addrs, err := r.LookupHost(ctx, host)
	if err != nil {
		return err
	}
	for _, a := range addrs {
		fmt.Println(a)
	}
	return nil
}

func get(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(os.Stdout, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}

func serve(args []string) error {
	fset := flag.NewFlagSet("serve", flag.ContinueOnError)
	addr := fset.String("addr", ":8080", "listen address")
	dataDir := fset.String("data", "", "directory for the id file (a volume); empty: none")
	if err := fset.Parse(args); err != nil {
		return err
	}
	id, err := ensureID(*dataDir)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, id) })
	srv := &http.Server{Addr: *addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(shutdownCtx)
	}
}

// ensureID returns the content of dir/id, writing it on first boot.
func ensureID(dir string) (string, error) {
	host, err := os.Hostname()
	if err != nil {
		return "", err
	}
	if dir == "" {
		return host + "\n", nil
	}
	path := filepath.Join(dir, "id")
	data, err := os.ReadFile(path)
	if err == nil {
		return string(data), nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	id := fmt.Sprintf("%s %s\n", host, time.Now().UTC().Format(time.RFC3339Nano))
	if err := os.WriteFile(path, []byte(id), 0o644); err != nil {
		return "", err
	}
	return id, nil
}

// tlsProbe connects to addr over TLS as a client without a certificate
// (and without verifying the server: the question is only whether the
// server lets such a client in). Under TLS 1.3 a server that requires
// client certificates refuses after the client's side of the handshake, so
// the probe also sends an HTTP/2 preface and reads the answer, where the
// refusal (alert "certificate required") shows. The outcome goes to w:
// "refused: <error>" (and an error) or "accepted".
func tlsProbe(ctx context.Context, addr string, w io.Writer) error {
	d := tls.Dialer{Config: &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}}} //nolint:gosec // see above
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err == nil {
		defer func() { _ = conn.Close() }()
		if dl, ok := ctx.Deadline(); ok {
			_ = conn.SetDeadline(dl)
		}
		if _, err = conn.Write([]byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")); err == nil {
			_, err = conn.Read(make([]byte, 64))
		}
	}
	if err != nil {
		fmt.Fprintf(w, "refused: %v\n", err)
		return fmt.Errorf("TLS without a client certificate: %w", err)
	}
	fmt.Fprintln(w, "accepted")
	return nil
}
