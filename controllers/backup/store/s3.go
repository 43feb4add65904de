package store

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3Config is an S3-compatible destination.
type S3Config struct {
	// Endpoint is http(s)://host[:port].
	Endpoint             string
	Bucket, Prefix       string
	Region               string
	AccessKey, SecretKey string
	// CAPEM, if set, are the only CAs trusted for an https endpoint.
	CAPEM []byte
}

// S3 is a bucket.
type S3 struct {
	client *minio.Client
	bucket string
}

// NewS3 returns a client for cfg; it does not contact the server.
func NewS3(cfg S3Config) (*S3, error) {
	u, err := url.Parse(cfg.Endpoint)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("s3 endpoint %q: want http(s)://host[:port]", cfg.Endpoint)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if len(cfg.CAPEM) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(cfg.CAPEM) {
			return nil, errors.New("s3 CA bundle: no PEM certificate found")
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	c, err := minio.New(u.Host, &minio.Options{
		Creds:     credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure:    u.Scheme == "https",
		Region:    cfg.Region,
		Transport: tr,
		// Path-style (endpoint/bucket/key) works on every S3-compatible
		// server; virtual-host style needs wildcard DNS.
		BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		return nil, fmt.Errorf("s3 client: %w", err)
	}
	return &S3{client: c, bucket: cfg.Bucket}, nil
}

// Put uploads in one request for known sizes (multipart above minio-go's
// part size); S3 makes the object visible only once complete.
func (s *S3) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	_, err := s.client.PutObject(ctx, s.bucket, key, r, size, minio.PutObjectOptions{ContentType: "application/octet-stream"})
	if err != nil {
		return fmt.Errorf("s3 put %s: %w", s.Location(key), err)
	}
	return nil
}

// Get downloads key.
func (s *S3) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if _, err := s.client.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{}); err != nil {
		if minio.ToErrorResponse(err).Code == minio.NoSuchKey {
			return nil, fmt.Errorf("%s: %w", s.Location(key), ErrNotFound)
		}
		return nil, fmt.Errorf("s3 stat %s: %w", s.Location(key), err)
	}
	obj, err := s.client.GetObject(ctx, s.bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, fmt.Errorf("s3 get %s: %w", s.Location(key), err)
	}
	return obj, nil
}

// Delete removes key (S3 deletes of missing keys succeed).
func (s *S3) Delete(ctx context.Context, key string) error {
	if err := s.client.RemoveObject(ctx, s.bucket, key, minio.RemoveObjectOptions{}); err != nil {
		return fmt.Errorf("s3 delete %s: %w", s.Location(key), err)
	}
	return nil
}

// Location is s3://bucket/key.
func (s *S3) Location(key string) string { return "s3://" + s.bucket + "/" + key }
