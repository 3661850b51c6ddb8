// Package hookset sorts the hooks given to a Shardwise component (kpl.WithHooks, kcl.WithHooks,
// lease.WithHooks, agent.WithHooks) into one slice per hook kind, the way franz-go's client does: a
// hook is any value, and it receives the events of every HookXxx interface it implements. The
// component lists its kinds once, with Take, and Unmatched rejects a value that implements none of
// them (most likely a hook meant for another package, or a method name misspelt).
package hookset

import "fmt"

// A Set holds the hooks given to one component while they are sorted.
type Set struct {
	hooks   []any
	matched []bool
}

// New starts sorting hooks (a package's []Hook, whatever its Hook type).
func New[T any](hooks []T) *Set {
	s := &Set{hooks: make([]any, len(hooks)), matched: make([]bool, len(hooks))}
	for i, h := range hooks {
		s.hooks[i] = h
	}
	return s
}

// Take returns the hooks of s implementing H, in the order given (nil when none does), and marks
// them as used.
func Take[H any](s *Set) []H {
	var out []H
	for i, x := range s.hooks {
		if h, ok := x.(H); ok {
			out = append(out, h)
			s.matched[i] = true
		}
	}
	return out
}

// Unmatched returns an error naming the first hook that no Take matched, or nil; pkg names the
// component in the message ("kcl").
func (s *Set) Unmatched(pkg string) error {
	for i, ok := range s.matched {
		if !ok {
			return fmt.Errorf("hook %d (%T) implements no %s hook interface", i, s.hooks[i], pkg)
		}
	}
	return nil
}
