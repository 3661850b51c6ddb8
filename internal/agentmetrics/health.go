package agentmetrics

import (
	"fmt"
	"net/http"
	"strings"
	"time"
)

// DefaultUnhealthyAfter is how long a flow may have records to deliver while delivering nothing
// before HealthHandler reports the agent unhealthy.
const DefaultUnhealthyAfter = 5 * time.Minute

// Health reports whether the agent behind src is healthy at now: "" when it is, else the reason.
// It is unhealthy when no agent runs, or when a flow has had data to deliver (unread bytes or
// pending records) for at least after while delivering nothing in that time.
func Health(src Source, now time.Time, after time.Duration) string {
	s := src()
	if s.Started.IsZero() {
		return "agent not running"
	}
	var reasons []string
	for _, f := range s.Flows {
		if !f.Stalled(now, after) {
			continue
		}
		last := "never"
		if !f.LastDelivery.IsZero() {
			last = now.Sub(f.LastDelivery).Round(time.Second).String() + " ago"
		}
		reasons = append(reasons, fmt.Sprintf("flow %s -> %s: %d records and %d bytes waiting since %s, last delivery %s",
			f.FilePattern, destination(f), f.PendingRecords, f.BytesBehind, f.PendingSince.UTC().Format(time.RFC3339), last))
	}
	return strings.Join(reasons, "; ")
}

// HealthHandler serves GET /healthz: 200 "ok" while the agent is healthy, else 503 with the reason
// (see Health). now is the clock (time.Now when nil).
func HealthHandler(src Source, after time.Duration, now func() time.Time) http.Handler {
	if now == nil {
		now = time.Now
	}
	if after <= 0 {
		after = DefaultUnhealthyAfter
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if reason := Health(src, now(), after); reason != "" {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, "unhealthy: "+reason)
			return
		}
		fmt.Fprintln(w, "ok")
	})
}

// Mux serves /metrics (Handler) and /healthz (HealthHandler).
func Mux(src Source, unhealthyAfter time.Duration) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", Handler(src))
	mux.Handle("GET /healthz", HealthHandler(src, unhealthyAfter, nil))
	return mux
}
