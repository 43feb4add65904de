package proctest

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// compactionInterval is the apiserver's --etcd-compaction-interval: short,
// so its compactor (a Txn on compact_rev_key, then Compact) runs within
// the test.
const compactionInterval = 3 * time.Second

// TestProofKubeAPIServer is issue 11's proof 1: the kube-apiserver binary
// of the cluster tools build runs on the cluster (--etcd-servers). Through
// it the test creates namespaces, ConfigMaps and a Deployment, lists them
// with pagination (limit/continue), watches ConfigMaps from the list's
// resourceVersion (client-go's RetryWatcher, as `kubectl get -w` resumes)
// and sees every change, kills the raft leader with SIGKILL and goes on
// writing: no object is lost and the watch resumes. The apiserver's
// compactor runs and reads below its compaction fail as etcd's do.
func TestProofKubeAPIServer(t *testing.T) {
	c := newSystemCluster(t, clusterOptions{})
	cs := startKubeAPIServer(t, c)
	ctx := ctxT(t, 90*time.Second)
	k := &kubeWriter{t: t, cs: cs, ctx: ctx, want: map[string]string{}, changes: map[string][]string{}}

	for i := range 3 {
		k.createNamespace(fmt.Sprintf("proof-%d", i))
	}
	list, err := cs.CoreV1().ConfigMaps("").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w := startKubeWatch(t, cs, list.ResourceVersion)
	for i := range 12 {
		k.putConfigMap(fmt.Sprintf("proof-%d", i%3), fmt.Sprintf("cm-%d", i), "v1")
	}
	k.createDeployment("proof-0", "web")
	k.checkPaginatedList(5)

	leader := c.waitLeader(30 * time.Second)
	c.kill9(leader)
	// Writes go on while the raft cluster elects a new leader; the
	// apiserver's etcd client moves to the live members.
	for i := range 12 {
		k.putConfigMap(fmt.Sprintf("proof-%d", i%3), fmt.Sprintf("cm-%d", i), "v2")
	}
	for i := 12; i < 18; i++ {
		k.putConfigMap(fmt.Sprintf("proof-%d", i%3), fmt.Sprintf("cm-%d", i), "v1")
	}
	for i := 0; i < 4; i++ {
		k.deleteConfigMap(fmt.Sprintf("proof-%d", i%3), fmt.Sprintf("cm-%d", i))
	}
	c.start(leader, "new", c.initialCluster())
	c.waitLeader(30 * time.Second)
	k.checkPaginatedList(4)
	if _, err := cs.AppsV1().Deployments("proof-0").Get(ctx, "web", metav1.GetOptions{}); err != nil {
		t.Errorf("the Deployment is lost: %v", err)
	}

	waitCompacted(t, c)
	k.putConfigMap("proof-1", "after-compaction", "v1")
	k.checkPaginatedList(6)
	w.waitForState(t, k.snapshot())
	w.checkChanges(t, k.changeLog())
}

// startKubeAPIServer runs kube-apiserver on the cluster and returns an
// admin client once /readyz passes. envtest's APIServer makes the serving
// and client certificates and the service-account keys (crypto/x509), so
// the test writes none of that by hand.
func startKubeAPIServer(t *testing.T, c *cluster) *kubernetes.Clientset {
	t.Helper()
	var urls []string
	for _, m := range c.members {
		urls = append(urls, m.clientURL())
	}
	first, err := url.Parse(urls[0])
	if err != nil {
		t.Fatal(err)
	}
	api := &envtest.APIServer{Path: toolBinary(t, "kube-apiserver"), EtcdURL: first, StartTimeout: 90 * time.Second, StopTimeout: 20 * time.Second,
		Out: &testLogWriter{t: t, prefix: "kube-apiserver"}, Err: &testLogWriter{t: t, prefix: "kube-apiserver"}}
	api.Configure().
		Set("etcd-servers", strings.Join(urls, ",")).
		Set("etcd-compaction-interval", compactionInterval.String()).
		Set("v", "0")
	if err := api.Start(); err != nil {
		t.Fatalf("start kube-apiserver: %v", err)
	}
	t.Cleanup(func() { _ = api.Stop() })
	// A ControlPlane around the running APIServer only to mint a user's
	// config (client certificate, CA, URL); it starts nothing.
	plane := &envtest.ControlPlane{APIServer: api}
	user, err := plane.AddUser(envtest.User{Name: "proof-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(user.Config())
	if err != nil {
		t.Fatal(err)
	}
	waitReady(t, cs)
	return cs
}

// waitReady waits (bounded) for /readyz: every watch cache is initialised,
// which needs list and watch from a past revision on the store.
func waitReady(t *testing.T, cs *kubernetes.Clientset) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		body, err := cs.Discovery().RESTClient().Get().AbsPath("/readyz").Param("verbose", "true").DoRaw(ctx)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("kube-apiserver not ready within 90s: %v\n%s", err, body)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// testLogWriter keeps the apiserver's output for a failed test's log; on
// success it is dropped (it is long).
type testLogWriter struct {
	t      *testing.T
	prefix string
	mu     sync.Mutex
	lines  []string
	once   sync.Once
}

func (w *testLogWriter) Write(p []byte) (int, error) {
	w.once.Do(func() {
		w.t.Cleanup(func() {
			if w.t.Failed() {
				w.mu.Lock()
				defer w.mu.Unlock()
				w.t.Logf("---- %s output (last 40 lines) ----\n%s", w.prefix, strings.Join(w.lines[max(0, len(w.lines)-40):], ""))
			}
		})
	})
	w.mu.Lock()
	defer w.mu.Unlock()
	w.lines = append(w.lines, string(p))
	if len(w.lines) > 400 {
		w.lines = w.lines[len(w.lines)-200:]
	}
	return len(p), nil
}

// kubeWriter makes the test's changes through the apiserver, retrying
// each (bounded) while the raft cluster has no leader, and keeps the
// expected ConfigMaps: "ns/name" → data value.
type kubeWriter struct {
	t    *testing.T
	cs   *kubernetes.Clientset
	ctx  context.Context
	mu   sync.Mutex
	want map[string]string
	// changes is, per ConfigMap, the states written in order (a value, or
	// deletedState).
	changes map[string][]string
}

// deletedState marks a deletion in a ConfigMap's sequence of states.
const deletedState = "<deleted>"

// retry runs op until it succeeds, within 30s. An apiserver call that
// failed may still have been applied, so ops are written to be repeatable.
func (k *kubeWriter) retry(what string, op func(context.Context) error) {
	k.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(k.ctx, 10*time.Second)
		err := op(ctx)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			k.t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (k *kubeWriter) createNamespace(name string) {
	k.t.Helper()
	k.retry("create namespace "+name, func(ctx context.Context) error {
		_, err := k.cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
		return ignoreAlreadyExists(err)
	})
}

// putConfigMap creates or updates ns/name with data {"v": value}.
func (k *kubeWriter) putConfigMap(ns, name, value string) {
	k.t.Helper()
	k.retry("put configmap "+ns+"/"+name, func(ctx context.Context) error {
		cms := k.cs.CoreV1().ConfigMaps(ns)
		cur, err := cms.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			_, err = cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string]string{"v": value}}, metav1.CreateOptions{})
			return err
		}
		cur.Data = map[string]string{"v": value}
		_, err = cms.Update(ctx, cur, metav1.UpdateOptions{})
		return err
	})
	k.mu.Lock()
	k.want[ns+"/"+name] = value
	k.changes[ns+"/"+name] = append(k.changes[ns+"/"+name], value)
	k.mu.Unlock()
}

func (k *kubeWriter) deleteConfigMap(ns, name string) {
	k.t.Helper()
	k.retry("delete configmap "+ns+"/"+name, func(ctx context.Context) error {
		err := k.cs.CoreV1().ConfigMaps(ns).Delete(ctx, name, metav1.DeleteOptions{})
		if apierrors.IsNotFound(err) {
			return nil // an earlier attempt did it
		}
		return err
	})
	k.mu.Lock()
	delete(k.want, ns+"/"+name)
	k.changes[ns+"/"+name] = append(k.changes[ns+"/"+name], deletedState)
	k.mu.Unlock()
}

func (k *kubeWriter) createDeployment(ns, name string) {
	k.t.Helper()
	labels := map[string]string{"app": name}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "example.invalid/web:1"}}},
			},
		},
	}
	k.retry("create deployment", func(ctx context.Context) error {
		_, err := k.cs.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{})
		return ignoreAlreadyExists(err)
	})
}

// ignoreAlreadyExists: a create retried after a failure that was applied.
func ignoreAlreadyExists(err error) error {
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

func (k *kubeWriter) changeLog() map[string][]string {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := map[string][]string{}
	for key, v := range k.changes {
		out[key] = slices.Clone(v)
	}
	return out
}

func (k *kubeWriter) snapshot() map[string]string {
	k.mu.Lock()
	defer k.mu.Unlock()
	want := map[string]string{}
	for key, v := range k.want {
		want[key] = v
	}
	return want
}

// checkPaginatedList lists the test's ConfigMaps limit at a time, with
// continue tokens, straight from the store (resourceVersion unset: a
// quorum read per page, pinned to the first page's revision), and compares
// with what was written.
func (k *kubeWriter) checkPaginatedList(limit int64) {
	k.t.Helper()
	got := map[string]string{}
	pages, cont := 0, ""
	for {
		var page *corev1.ConfigMapList
		k.retry("list page", func(ctx context.Context) error {
			var err error
			page, err = k.cs.CoreV1().ConfigMaps("").List(ctx, metav1.ListOptions{Limit: limit, Continue: cont})
			return err
		})
		pages++
		if int64(len(page.Items)) > limit {
			k.t.Fatalf("page of %d items, limit %d", len(page.Items), limit)
		}
		for _, cm := range page.Items {
			if strings.HasPrefix(cm.Namespace, "proof-") {
				got[cm.Namespace+"/"+cm.Name] = cm.Data["v"]
			}
		}
		if cont = page.Continue; cont == "" {
			break
		}
	}
	want := k.snapshot()
	if !mapsEqual(got, want) {
		k.t.Fatalf("paginated list (%d pages of %d) = %v, want %v", pages, limit, got, want)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for key, v := range a {
		if w, ok := b[key]; !ok || w != v {
			return false
		}
	}
	return true
}

// kubeWatch follows ConfigMap changes from a resourceVersion with
// client-go's RetryWatcher, which re-watches from the last seen
// resourceVersion whenever the stream ends and fails on 410 Gone: a
// resumed watch that lost events cannot pass unnoticed.
type kubeWatch struct {
	mu     sync.Mutex
	state  map[string]string   // "ns/name" → data value, from the events
	seq    map[string][]string // "ns/name" → states in event order
	events []string
	err    error
}

func startKubeWatch(t *testing.T, cs *kubernetes.Clientset, rv string) *kubeWatch {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	lw := &cache.ListWatch{WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
		return cs.CoreV1().ConfigMaps("").Watch(ctx, opts)
	}}
	rw, err := watchtools.NewRetryWatcherWithContext(ctx, rv, lw)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	w := &kubeWatch{state: map[string]string{}, seq: map[string][]string{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range rw.ResultChan() {
			w.record(ev)
		}
	}()
	t.Cleanup(func() { cancel(); rw.Stop(); <-done })
	return w
}

func (w *kubeWatch) record(ev watch.Event) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if ev.Type == watch.Error {
		w.err = fmt.Errorf("watch error: %v", apiStatus(ev.Object))
		return
	}
	cm, ok := ev.Object.(*corev1.ConfigMap)
	if !ok || !strings.HasPrefix(cm.Namespace, "proof-") {
		return
	}
	key := cm.Namespace + "/" + cm.Name
	w.events = append(w.events, fmt.Sprintf("%s %s %s rv=%s", ev.Type, key, cm.Data["v"], cm.ResourceVersion))
	switch ev.Type {
	case watch.Added, watch.Modified:
		w.state[key] = cm.Data["v"]
		w.seq[key] = appendChange(w.seq[key], cm.Data["v"])
	case watch.Deleted:
		delete(w.state, key)
		w.seq[key] = appendChange(w.seq[key], deletedState)
	}
}

// appendChange appends a state unless it repeats the last one: a write
// retried after a failure that had been applied rewrites the same value.
func appendChange(seq []string, state string) []string {
	if len(seq) > 0 && seq[len(seq)-1] == state {
		return seq
	}
	return append(seq, state)
}

// checkChanges: for every ConfigMap the events went through exactly the
// states written, in order: no change was lost or reordered by the
// watch across the leader's kill.
func (w *kubeWatch) checkChanges(t *testing.T, written map[string][]string) {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	for key, states := range written {
		var want []string
		for _, st := range states {
			want = appendChange(want, st)
		}
		if !slices.Equal(w.seq[key], want) {
			t.Errorf("%s: the watch saw states %v, want %v", key, w.seq[key], want)
		}
	}
}

func apiStatus(obj runtime.Object) string {
	if st, ok := obj.(*metav1.Status); ok {
		return fmt.Sprintf("%d %s: %s", st.Code, st.Reason, st.Message)
	}
	return fmt.Sprintf("%v", obj)
}

// waitForState waits (bounded) until the state the watch events built
// equals want: the watch saw every change, across the leader's kill.
func (w *kubeWatch) waitForState(t *testing.T, want map[string]string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		w.mu.Lock()
		got, err, events := maps(w.state), w.err, slices.Clone(w.events)
		w.mu.Unlock()
		if err != nil {
			t.Fatalf("%v; events so far:\n%s", err, strings.Join(events, "\n"))
		}
		if mapsEqual(got, want) {
			t.Logf("the watch saw %d ConfigMap events", len(events))
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the watch built %v within 30s, want %v; events:\n%s", got, want, strings.Join(events, "\n"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func maps(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// waitCompacted waits (bounded) until the apiserver's compactor has
// compacted the store: its compact_rev_key was swapped at least twice (the
// first swap only records a revision; the next interval compacts to it)
// and a read at revision 1 fails with etcd's ErrCompacted.
//
// A store that keeps no history also fails reads at revision 1, so
// checkHistoryKept makes sure the compaction kept what it must.
func waitCompacted(t *testing.T, c *cluster) {
	t.Helper()
	cli := c.client()
	deadline := time.Now().Add(10 * compactionInterval)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		key, kerr := cli.Get(ctx, "compact_rev_key")
		_, oldErr := cli.Get(ctx, "compact_rev_key", clientv3.WithRev(1))
		cancel()
		if kerr == nil && len(key.Kvs) == 1 && key.Kvs[0].Version >= 2 && errors.Is(oldErr, rpctypes.ErrCompacted) {
			checkHistoryKept(t, cli, key.Header.Revision)
			t.Logf("the apiserver's compactor ran (compact_rev_key version %d, value %s)", key.Kvs[0].Version, key.Kvs[0].Value)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the apiserver's compactor did not compact within %v: compact_rev_key %v (%v), read at rev 1: %v", 10*compactionInterval, key, kerr, oldErr)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// checkHistoryKept: a read one revision back is still served after the
// compaction (the apiserver compacts to the revision it saw one interval
// earlier, and its own compact_rev_key write came after that).
func checkHistoryKept(t *testing.T, cli *clientv3.Client, cur int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := cli.Get(ctx, "compact_rev_key", clientv3.WithRev(cur-1)); err != nil {
		t.Fatalf("read at revision %d (current %d) after the apiserver's compaction: %v", cur-1, cur, err)
	}
}
