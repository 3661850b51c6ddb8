//go:build !linux

package agent

import "errors"

// newNotifier: directory notifications are implemented with inotify (Linux) only; elsewhere the
// flows poll.
func newNotifier() (notifier, error) {
	return nil, errors.New("directory notifications not implemented on this platform: polling")
}
