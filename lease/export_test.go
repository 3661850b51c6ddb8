package lease

import (
	"time"
)

// The coordinator is internal (kcl reaches it through internal/leasecoord); the black-box tests of
// this package use it under its former exported names, with the fleet timing that the kcl worker's
// options set.

type Coordinator = coordinator

func NewCoordinator(m *Manager) *Coordinator { return newCoordinator(m) }

func (c *coordinator) Tracker() *tracker { return c.tracker }

func RenewInterval(d time.Duration) Option {
	return optionFunc(func(c *config) { c.renewInterval = d })
}
func TakeInterval(d time.Duration) Option { return optionFunc(func(c *config) { c.takeInterval = d }) }
func RenewTimeout(d time.Duration) Option { return optionFunc(func(c *config) { c.renewTimeout = d }) }
func MaxLeasesToStealAtOnce(n int) Option { return optionFunc(func(c *config) { c.maxSteal = n }) }
func MaxLeasesForWorker(n int) Option     { return optionFunc(func(c *config) { c.maxLeases = n }) }

const DefaultMaxLeasesToStealAtOnce = defaultMaxLeasesToStealAtOnce
