package memberplan

import (
	"fmt"
	"net"
	"net/url"

	"github.com/kuberaft/kuberaft/node/transport"
)

// ValidatePeerURL accepts a peer URL only if it is well formed and the
// peer transport can dial it (http or https; whether the scheme matches
// this cluster's is View.PeerScheme's rule).
func ValidatePeerURL(s string) error {
	if err := ValidateURL(s); err != nil {
		return err
	}
	return transport.CheckPeerURL(s)
}

// ValidateURL accepts http(s)://host:port URLs.
func ValidateURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("malformed URL %q: %w", s, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("URL %q: scheme must be http or https", s)
	}
	if _, port, err := net.SplitHostPort(u.Host); err != nil || port == "" {
		return fmt.Errorf("URL %q: want host:port", s)
	}
	if u.Path != "" && u.Path != "/" {
		return fmt.Errorf("URL %q: must not have a path", s)
	}
	return nil
}
