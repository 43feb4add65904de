// Command hostpathprovisioner is the offline cluster's volume provisioner:
// for every pending claim of a StorageClass naming it, a hostPath
// PersistentVolume in a fresh directory under -dir; for every released
// volume it made, the directory and the volume are deleted.
//
// It replaces kube-controller-manager's in-tree hostPath provisioner, which
// creates each directory root-owned with mode 0750. The kubelet applies no
// fsGroup to hostPath volumes, so a pod running as non-root (the restricted
// Pod Security profile) could not write there. Like rancher's
// local-path-provisioner (kind's default), it creates the directories
// mode 0777 instead; the node is the test machine, so world-writable
// volume directories expose nothing that the pods could not already reach.
//
//	hostpathprovisioner -kubeconfig FILE -dir /tmp/hostpath_pv [-name kuberaft.io/hostpath]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// Annotations the PV controller (kube-controller-manager) and external
// provisioners agree on.
const (
	annProvisioner   = "volume.kubernetes.io/storage-provisioner"
	annProvisionedBy = "pv.kubernetes.io/provisioned-by"
	annDefaultClass  = "storageclass.kubernetes.io/is-default-class"
)

func main() {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig of the cluster")
	dir := flag.String("dir", "/tmp/hostpath_pv", "directory holding one subdirectory per volume")
	name := flag.String("name", "kuberaft.io/hostpath", "provisioner name, as StorageClasses spell it")
	period := flag.Duration("period", time.Second, "how often pending claims and released volumes are looked for")
	flag.Parse()
	if err := run(*kubeconfig, *dir, *name, *period); err != nil {
		fmt.Fprintln(os.Stderr, "hostpathprovisioner:", err)
		os.Exit(1)
	}
}

func run(kubeconfig, dir, name string, period time.Duration) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	p := &provisioner{cs: cs, dir: dir, name: name}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	logf("Started: provisioner %s, volumes under %s", name, dir)
	// A poll, not informers: a test cluster has a handful of claims, and a
	// full pass each second is simpler to get right than event handling
	// (a missed event would leave a claim pending for ever).
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		if err := p.pass(ctx); err != nil && ctx.Err() == nil {
			logf("Pass failed: %v", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

type provisioner struct {
	cs        kubernetes.Interface
	dir, name string
}

// pass provisions every pending claim and deletes every released volume.
func (p *provisioner) pass(ctx context.Context) error {
	classes, err := p.ourClasses(ctx)
	if err != nil {
		return err
	}
	pvcs, err := p.cs.CoreV1().PersistentVolumeClaims("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for i := range pvcs.Items {
		c := &pvcs.Items[i]
		sc, ok := classes[className(c, classes)]
		if !ok || c.Spec.VolumeName != "" || c.Status.Phase != corev1.ClaimPending || c.DeletionTimestamp != nil {
			continue
		}
		if err := p.provision(ctx, c, sc); err != nil {
			logf("Provisioning failed: claim %s/%s: %v", c.Namespace, c.Name, err)
		}
	}
	pvs, err := p.cs.CoreV1().PersistentVolumes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for i := range pvs.Items {
		pv := &pvs.Items[i]
		if pv.Annotations[annProvisionedBy] == p.name && pv.Status.Phase == corev1.VolumeReleased &&
			pv.Spec.PersistentVolumeReclaimPolicy == corev1.PersistentVolumeReclaimDelete {
			if err := p.delete(ctx, pv); err != nil {
				logf("Deleting failed: volume %s: %v", pv.Name, err)
			}
		}
	}
	return nil
}

// storageClass is what provisioning needs of a class naming us.
type storageClass struct {
	reclaim   corev1.PersistentVolumeReclaimPolicy
	isDefault bool
}

func (p *provisioner) ourClasses(ctx context.Context) (map[string]storageClass, error) {
	list, err := p.cs.StorageV1().StorageClasses().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	out := map[string]storageClass{}
	for _, sc := range list.Items {
		if sc.Provisioner != p.name {
			continue
		}
		reclaim := corev1.PersistentVolumeReclaimDelete
		if sc.ReclaimPolicy != nil {
			reclaim = *sc.ReclaimPolicy
		}
		out[sc.Name] = storageClass{reclaim: reclaim, isDefault: sc.Annotations[annDefaultClass] == "true"}
	}
	return out, nil
}

// className is the claim's class; a claim naming none gets the default
// class (the admission plugin normally fills it in already).
func className(c *corev1.PersistentVolumeClaim, classes map[string]storageClass) string {
	if c.Spec.StorageClassName != nil {
		return *c.Spec.StorageClassName
	}
	for name, sc := range classes {
		if sc.isDefault {
			return name
		}
	}
	return ""
}

// provision makes the directory, then the volume pre-bound to the claim
// (the PV controller completes the binding). The volume's name derives
// from the claim's UID, so a retry after a crash finds it already there.
func (p *provisioner) provision(ctx context.Context, c *corev1.PersistentVolumeClaim, sc storageClass) error {
	name := "pvc-" + string(c.UID)
	path := filepath.Join(p.dir, name)
	logf("Provisioning: claim %s/%s, volume %s at %s", c.Namespace, c.Name, name, path)
	if err := os.MkdirAll(path, 0o777); err != nil {
		return err
	}
	// MkdirAll's mode passes through the umask; set it outright.
	if err := os.Chmod(path, 0o777); err != nil {
		return err
	}
	class := ""
	if c.Spec.StorageClassName != nil {
		class = *c.Spec.StorageClassName
	}
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{annProvisionedBy: p.name}},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: c.Spec.Resources.Requests[corev1.ResourceStorage]},
			AccessModes:                   c.Spec.AccessModes,
			PersistentVolumeReclaimPolicy: sc.reclaim,
			StorageClassName:              class,
			VolumeMode:                    c.Spec.VolumeMode,
			ClaimRef: &corev1.ObjectReference{Kind: "PersistentVolumeClaim", APIVersion: "v1",
				Namespace: c.Namespace, Name: c.Name, UID: c.UID},
			PersistentVolumeSource: corev1.PersistentVolumeSource{
				HostPath: &corev1.HostPathVolumeSource{Path: path, Type: ptr(corev1.HostPathDirectory)},
			},
		},
	}
	_, err := p.cs.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

// delete removes a released volume's directory, then the volume.
func (p *provisioner) delete(ctx context.Context, pv *corev1.PersistentVolume) error {
	hp := pv.Spec.HostPath
	if hp == nil || filepath.Dir(hp.Path) != filepath.Clean(p.dir) || !strings.HasPrefix(filepath.Base(hp.Path), "pvc-") {
		return fmt.Errorf("path %v is not one of ours; leaving the volume alone", hp)
	}
	logf("Deleting: volume %s at %s", pv.Name, hp.Path)
	if err := os.RemoveAll(hp.Path); err != nil {
		return err
	}
	err := p.cs.CoreV1().PersistentVolumes().Delete(ctx, pv.Name, metav1.DeleteOptions{
		Preconditions: &metav1.Preconditions{UID: &pv.UID}})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

func ptr[T any](v T) *T { return &v }

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s %s\n", time.Now().UTC().Format(time.RFC3339), fmt.Sprintf(format, args...))
}
