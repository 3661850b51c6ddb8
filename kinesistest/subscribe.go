package kinesistest

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
)

// SubscribeToShard: an event stream (application/vnd.amazon.eventstream) that starts with an
// initial-response event, then pushes SubscribeToShardEvent events as records arrive, a heartbeat
// event when idle, and a last event with ChildShards and no continuation at the end of a closed shard.

const (
	heartbeatInterval = time.Second
	maxEventRecords   = 10000
	maxEventBytes     = 1 << 20
	throttleRetry     = 50 * time.Millisecond
)

type subKey struct {
	streamID uint64
	consumer string
	shard    int
}

// subState remembers the last subscription of a consumer to a shard: when it started (real time, for
// the 5 s rule) and its read budget (server clock, under EnforceLimits).
type subState struct {
	last       time.Time
	budget     bucket
	superseded chan struct{} // closed when a newer subscription for the consumer and shard starts
}

func (s *Server) subscribeWindow() time.Duration {
	return min(subscribeRetryWindow, s.cfg.subscriptionDuration)
}

func (s *Server) subscribe(w http.ResponseWriter, r *http.Request, body []byte) {
	var in subscribeInput
	if err := decode(body, &in); err != nil {
		writeError(w, err)
		return
	}
	st, con, apiErr := s.consumerByARN(in.ConsumerARN)
	if apiErr != nil {
		writeError(w, apiErr)
		return
	}
	now := s.now()
	st.mu.RLock()
	sh := st.shardByID(in.ShardId)
	if sh == nil || !st.visible(sh, now) {
		st.mu.RUnlock()
		writeError(w, errNotFound("Shard %s in stream %s under account %s does not exist", in.ShardId, st.name, s.cfg.account))
		return
	}
	sp := in.StartingPosition
	pos, apiErr := st.position(sh, sp.Type, sp.SequenceNumber, sp.Timestamp, now)
	st.mu.RUnlock()
	if apiErr != nil {
		writeError(w, apiErr)
		return
	}
	key := subKey{streamID: st.id, consumer: con.arn, shard: sh.index}
	s.mu.Lock()
	state := s.subs[key]
	if state != nil && time.Since(state.last) < s.subscribeWindow() {
		s.mu.Unlock()
		writeError(w, errInUse("Another active subscription exists for consumer %s and shard %s.", con.arn, sh.id))
		return
	}
	if state == nil {
		state = &subState{}
		s.subs[key] = state
	}
	state.last = time.Now()
	if state.superseded != nil {
		close(state.superseded) // a subscription still open past the 5 s window gives way to this one
	}
	superseded := make(chan struct{})
	state.superseded = superseded
	s.mu.Unlock()

	flusher, _ := w.(http.Flusher)
	w.Header().Set("Content-Type", "application/vnd.amazon.eventstream")
	w.WriteHeader(http.StatusOK)
	sub := &subscription{s: s, st: st, sh: sh, con: con, state: state, superseded: superseded, w: w, flusher: flusher, enc: eventstream.NewEncoder(), pos: pos}
	if err := sub.send("initial-response", "application/x-amz-json-1.1", []byte("{}")); err != nil {
		return
	}
	sub.run(r)
}

type subscription struct {
	s          *Server
	st         *stream
	sh         *shard
	con        *consumer
	state      *subState
	superseded <-chan struct{}
	w          http.ResponseWriter
	flusher    http.Flusher
	enc        *eventstream.Encoder
	pos        uint64
	buf        []byte
}

func (sub *subscription) send(eventType, contentType string, payload []byte) error {
	var msg eventstream.Message
	msg.Headers.Set(":event-type", eventstream.StringValue(eventType))
	msg.Headers.Set(":content-type", eventstream.StringValue(contentType))
	msg.Headers.Set(":message-type", eventstream.StringValue("event"))
	msg.Payload = payload
	return sub.write(msg)
}

func (sub *subscription) sendException(e *Error) {
	payload, _ := json.Marshal(struct {
		Message string `json:"message"`
	}{e.Message})
	var msg eventstream.Message
	msg.Headers.Set(":exception-type", eventstream.StringValue(e.Code))
	msg.Headers.Set(":content-type", eventstream.StringValue("application/json"))
	msg.Headers.Set(":message-type", eventstream.StringValue("exception"))
	msg.Payload = payload
	_ = sub.write(msg) // the last event: a client gone already needs no exception
}

func (sub *subscription) write(msg eventstream.Message) error {
	if err := sub.enc.Encode(sub.w, msg); err != nil {
		return err
	}
	if sub.flusher != nil {
		sub.flusher.Flush()
	}
	return nil
}

// run pushes events until the shard ends, the subscription expires, the client goes away, the
// consumer or stream is removed, or the server closes.
func (sub *subscription) run(r *http.Request) {
	s, st, sh := sub.s, sub.st, sub.sh
	expire := time.NewTimer(s.cfg.subscriptionDuration)
	defer expire.Stop()
	heartbeat := time.NewTimer(heartbeatInterval)
	defer heartbeat.Stop()
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	beat := true // the first read sends an event even when there are no records, as Kinesis does
	for {
		now := s.now()
		if !s.live(st) {
			sub.sendException(errNotFound("Stream %s was deleted.", st.name))
			return
		}
		st.mu.RLock()
		if st.consumers[sub.con.name] != sub.con {
			st.mu.RUnlock()
			sub.sendException(errNotFound("Consumer %s was deregistered.", sub.con.arn))
			return
		}
		all := st.retained(sh, sub.pos, now)
		recs := all
		budget := maxEventBytes
		throttled := false
		if s.cfg.limits {
			s.mu.Lock()
			sub.state.budget.refill(subscribeBytesPerSec, now)
			if t := sub.state.budget.tokens; t < float64(budget) {
				budget = int(t)
			}
			s.mu.Unlock()
			if budget <= 0 && len(recs) > 0 {
				recs, throttled = nil, true
			}
		}
		if len(recs) > maxEventRecords {
			recs = recs[:maxEventRecords]
		}
		bytes := 0
		for i := range recs {
			b := recs[i].size()
			if bytes+b > budget && i > 0 {
				recs = recs[:i]
				break
			}
			bytes += b
		}
		if s.cfg.limits && bytes > 0 {
			s.mu.Lock()
			sub.state.budget.tokens -= float64(bytes)
			s.mu.Unlock()
		}
		atEnd := !sh.isOpen() && len(recs) == len(all) && !throttled
		var behind int64
		if len(recs) < len(all) {
			behind = max(0, now.UnixMilli()-all[len(recs)].arrivalMs)
		}
		notify := sh.notify
		enc := st.encryption
		st.mu.RUnlock()

		if len(recs) > 0 || atEnd || beat {
			if len(recs) > 0 {
				sub.pos = recs[len(recs)-1].seq + 1
			}
			b := append(sub.buf[:0], '{')
			b = st.appendRecords(b, sh, recs, enc)
			if !atEnd {
				b = append(b, `,"ContinuationSequenceNumber":"`...)
				b = appendSeq(b, sub.pos-1, sh.index, st.created.UnixMilli())
				b = append(b, '"')
			}
			b = append(b, ',')
			b = appendIntField(b, "MillisBehindLatest", behind)
			if atEnd {
				b = append(b, ',')
				b = appendChildShards(b, sh)
			}
			b = append(b, '}')
			sub.buf = b
			if err := sub.send("SubscribeToShardEvent", "application/json", b); err != nil || atEnd {
				return
			}
			beat = false
			heartbeat.Reset(heartbeatInterval)
		}
		if len(recs) < len(all) && !throttled {
			continue // more to send now
		}
		if throttled {
			retry.Reset(throttleRetry)
		}
		select {
		case <-notify:
		case <-retry.C:
		case <-heartbeat.C:
			beat = true
		case <-expire.C:
			return
		case <-sub.superseded:
			return
		case <-s.closing:
			return
		case <-r.Context().Done():
			return
		}
	}
}
