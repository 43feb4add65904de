// Tools to build and test container images with no docker and no registry:
// mkimage packs static binaries into image tarballs, pause is the pod sandbox
// image's binary, smokeapp is the workload of the cluster smoke test, runcwrap is the OCI
// runtime wrapper that lets privileged (kind node) containers start here.
module github.com/kuberaft/kuberaft/hack/tools/images

go 1.26.0

require github.com/google/go-containerregistry v0.22.1

require (
	github.com/klauspost/compress v1.19.2 // indirect
	github.com/opencontainers/go-digest v1.0.0 // indirect
	github.com/opencontainers/image-spec v1.1.1 // indirect
)
