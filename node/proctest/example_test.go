package proctest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/kuberaft/kuberaft/node/api/nodepb"
	"github.com/kuberaft/kuberaft/node/clientseq"

	"github.com/kuberaft/kuberaft/internal/testport"
)

// Example_counter shows the two operations of our Counter service that
// etcd lacks: Append (6.824 kvraft) and IncrementAndGet (SOFAJRaft's
// counter), with the at-most-once identity in gRPC metadata: a retry with
// the same (client id, seq) is applied once and answers the first result.
func Example_counter() {
	endpoint, stop, err := startSingleMember()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stop()
	conn, err := grpc.NewClient(endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer func() { _ = conn.Close() }()
	counter := nodepb.NewCounterClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// once tags a call with this client's identity and sequence number.
	once := func(seq int) context.Context {
		return metadata.AppendToOutgoingContext(ctx,
			clientseq.MetadataClientID, "example-client", clientseq.MetadataSeq, fmt.Sprint(seq))
	}
	if _, err := counter.Append(once(1), &nodepb.AppendRequest{Key: []byte("log"), Suffix: []byte("a")}); err != nil {
		fmt.Println(err)
		return
	}
	app, err := counter.Append(once(2), &nodepb.AppendRequest{Key: []byte("log"), Suffix: []byte("b")})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("append: %s\n", app.Value)

	inc, err := counter.IncrementAndGet(once(3), &nodepb.IncrementRequest{Key: []byte("hits"), Delta: 5})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("increment:", inc.Value)
	// The reply was "lost"; the client retries with the same seq.
	retry, err := counter.IncrementAndGet(once(3), &nodepb.IncrementRequest{Key: []byte("hits"), Delta: 5})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("retried increment:", retry.Value)
	next, err := counter.IncrementAndGet(once(4), &nodepb.IncrementRequest{Key: []byte("hits"), Delta: 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("next increment:", next.Value)
	// Output:
	// append: ab
	// increment: 5
	// retried increment: 5
	// next increment: 6
}

// startSingleMember runs a one-member raftnode and waits until a put
// commits. It returns the client endpoint and a stop function.
func startSingleMember() (endpoint string, stop func(), err error) {
	dir, err := os.MkdirTemp("", "proctest-example-")
	if err != nil {
		return "", nil, err
	}
	ports, err := testport.ReserveErr(2)
	if err != nil {
		return "", nil, err
	}
	client, peer := fmt.Sprintf("127.0.0.1:%d", ports[0]), fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	cmd := exec.Command(raftnodeBin, "--name", "solo", "--data-dir", filepath.Join(dir, "data"),
		"--listen-client-urls", "http://"+client, "--advertise-client-urls", "http://"+client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", "solo="+peer, "--log-level", "error")
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop = func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		_ = os.RemoveAll(dir)
	}
	if err := waitWritable(client, 30*time.Second); err != nil {
		stop()
		return "", nil, err
	}
	return client, stop, nil
}

func waitWritable(endpoint string, timeout time.Duration) error {
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return err
	}
	defer func() { _ = cli.Close() }()
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := cli.Put(ctx, "example-ready", "1")
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("member at %s not writable after %v: %w", endpoint, timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
