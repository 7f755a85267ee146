package storage

import (
	"context"
	"fmt"
	"net/url"
	"strings"
)

// Open opens the store named by BUCKET: "s3://name" (configured by the AWS
// SDK's standard environment) or "file:///path" (a local folder).
func Open(ctx context.Context, bucket string, opts S3Options) (Store, error) {
	u, err := url.Parse(bucket)
	if err != nil {
		return nil, fmt.Errorf("BUCKET %q: %w", bucket, err)
	}
	switch u.Scheme {
	case "s3":
		if u.Host == "" || strings.Trim(u.Path, "/") != "" {
			return nil, fmt.Errorf("BUCKET %q: want s3://<bucket name>, without a path", bucket)
		}
		cfg, err := LoadS3Config(ctx)
		if err != nil {
			return nil, err
		}
		return NewS3(cfg, u.Host, opts), nil
	case "file":
		if u.Host != "" && u.Host != "localhost" || u.Path == "" {
			return nil, fmt.Errorf("BUCKET %q: want file:///absolute/path", bucket)
		}
		return NewDir(u.Path)
	default:
		return nil, fmt.Errorf("BUCKET %q: want s3://<bucket name> or file:///<path>", bucket)
	}
}
