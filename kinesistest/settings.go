package kinesistest

import (
	"slices"
	"sort"
)

// Operations beyond the data path that clients commonly call: tags, stream mode, enhanced monitoring
// and account limits. They keep state so that what is set reads back.

type tagsInput struct {
	streamRef
	Tags                 map[string]string
	TagKeys              []string
	ExclusiveStartTagKey string
	Limit                *int
}

type tagJSON struct {
	Key   string
	Value string
}

func (s *Server) addTags(c *call) ([]byte, *Error) {
	var in tagsInput
	if err := decode(c.body, &in); err != nil {
		return nil, err
	}
	st, err := s.lookup(in.streamRef)
	if err != nil {
		return nil, err
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	for k, v := range in.Tags {
		if st.tags == nil {
			st.tags = make(map[string]string)
		}
		st.tags[k] = v
	}
	if len(st.tags) > 50 {
		return nil, errorf(CodeLimitExceeded, "Stream %s would have more than 50 tags.", st.name)
	}
	return []byte("{}"), nil
}

func (s *Server) removeTags(c *call) ([]byte, *Error) {
	var in tagsInput
	if err := decode(c.body, &in); err != nil {
		return nil, err
	}
	st, err := s.lookup(in.streamRef)
	if err != nil {
		return nil, err
	}
	st.mu.Lock()
	for _, k := range in.TagKeys {
		delete(st.tags, k)
	}
	st.mu.Unlock()
	return []byte("{}"), nil
}

func (s *Server) listTags(c *call) ([]byte, *Error) {
	var in tagsInput
	if err := decode(c.body, &in); err != nil {
		return nil, err
	}
	st, err := s.lookup(in.streamRef)
	if err != nil {
		return nil, err
	}
	limit := 50
	if in.Limit != nil && *in.Limit > 0 {
		limit = min(*in.Limit, 50)
	}
	st.mu.RLock()
	keys := make([]string, 0, len(st.tags))
	for k := range st.tags {
		if k > in.ExclusiveStartTagKey {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	out := struct {
		Tags        []tagJSON
		HasMoreTags bool
	}{Tags: []tagJSON{}}
	for i, k := range keys {
		if i == limit {
			out.HasMoreTags = true
			break
		}
		out.Tags = append(out.Tags, tagJSON{k, st.tags[k]})
	}
	st.mu.RUnlock()
	return encode(out)
}

func (s *Server) updateStreamMode(c *call) ([]byte, *Error) {
	var in struct {
		streamRef
		StreamModeDetails streamModeJSON
	}
	if err := decode(c.body, &in); err != nil {
		return nil, err
	}
	st, err := s.lookup(in.streamRef)
	if err != nil {
		return nil, err
	}
	switch m := in.StreamModeDetails.StreamMode; m {
	case modeProvision, modeOnDemand:
		st.mu.Lock()
		defer st.mu.Unlock()
		if m == modeProvision && st.distribution == RecordDistributionAuto {
			// AWS documents AUTO as ON_DEMAND only; what it does to such a switch is not documented.
			return nil, errInvalid("Stream %s uses the AUTO record distribution strategy, which PROVISIONED streams do not support; switch it to USER_PARTITION_KEY first.", st.name)
		}
		st.mode = m
		return []byte("{}"), nil
	default:
		return nil, errorf(CodeValidation, "1 validation error detected: Value '%s' at 'streamModeDetails.streamMode' failed to satisfy constraint: Member must satisfy enum value set: [PROVISIONED, ON_DEMAND]", m)
	}
}

var shardLevelMetrics = []string{"IncomingBytes", "IncomingRecords", "OutgoingBytes", "OutgoingRecords",
	"WriteProvisionedThroughputExceeded", "ReadProvisionedThroughputExceeded", "IteratorAgeMilliseconds"}

func (s *Server) setMonitoring(c *call, enable bool) ([]byte, *Error) {
	var in struct {
		streamRef
		ShardLevelMetrics []string
	}
	if err := decode(c.body, &in); err != nil {
		return nil, err
	}
	st, err := s.lookup(in.streamRef)
	if err != nil {
		return nil, err
	}
	want := in.ShardLevelMetrics
	if slices.Contains(want, "ALL") {
		want = shardLevelMetrics
	}
	for _, m := range want {
		if !slices.Contains(shardLevelMetrics, m) {
			return nil, errorf(CodeValidation, "1 validation error detected: Value '%s' at 'shardLevelMetrics' failed to satisfy constraint: Member must satisfy enum value set", m)
		}
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	current := slices.Clone(st.metrics)
	for _, m := range want {
		has := slices.Contains(st.metrics, m)
		if enable && !has {
			st.metrics = append(st.metrics, m)
		} else if !enable && has {
			st.metrics = slices.DeleteFunc(st.metrics, func(x string) bool { return x == m })
		}
	}
	return encode(struct {
		StreamName               string
		StreamARN                string
		CurrentShardLevelMetrics []string
		DesiredShardLevelMetrics []string
	}{st.name, st.arn, nonNil(current), nonNil(slices.Clone(st.metrics))})
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (s *Server) enableMonitoring(c *call) ([]byte, *Error)  { return s.setMonitoring(c, true) }
func (s *Server) disableMonitoring(c *call) ([]byte, *Error) { return s.setMonitoring(c, false) }

func (s *Server) describeLimits(c *call) ([]byte, *Error) {
	s.mu.RLock()
	streams := make([]*stream, 0, len(s.streams))
	for _, st := range s.streams {
		streams = append(streams, st)
	}
	s.mu.RUnlock()
	open, onDemand := 0, 0
	for _, st := range streams {
		st.mu.RLock()
		open += len(st.open)
		if st.mode == modeOnDemand {
			onDemand++
		}
		st.mu.RUnlock()
	}
	return encode(struct {
		ShardLimit, OpenShardCount, OnDemandStreamCount, OnDemandStreamCountLimit int
	}{10000, open, onDemand, 50})
}
