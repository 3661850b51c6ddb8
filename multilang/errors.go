package multilang

import "errors"

// ErrInvalidConfig is wrapped by errors about a properties file or a ChildConfig that cannot run.
var ErrInvalidConfig = errors.New("multilang: invalid configuration")
