package kinesistest

import (
	"encoding/base64"
	"regexp"
	"sort"
	"time"
)

// Stream control plane: create, delete, describe, list, retention, encryption, record size. Changes
// take effect at once: streams are ACTIVE as soon as CreateStream returns.

var streamNameRE = regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,128}$`)

func (s *Server) createStream(c *call) ([]byte, *Error) {
	var in createStreamInput
	if err := decode(c.body, &in); err != nil {
		return nil, err
	}
	if !streamNameRE.MatchString(in.StreamName) {
		return nil, errorf(CodeValidation, "1 validation error detected: Value '%s' at 'streamName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+", in.StreamName)
	}
	mode := modeProvision
	if in.StreamModeDetails != nil && in.StreamModeDetails.StreamMode != "" {
		mode = in.StreamModeDetails.StreamMode
	}
	n := 0
	switch mode {
	case modeProvision:
		if in.ShardCount == nil {
			return nil, errInvalid("ShardCount is required for a PROVISIONED stream.")
		}
		n = *in.ShardCount
	case modeOnDemand:
		n = onDemandShards
		if in.ShardCount != nil {
			n = *in.ShardCount
		}
	default:
		return nil, errorf(CodeValidation, "1 validation error detected: Value '%s' at 'streamModeDetails.streamMode' failed to satisfy constraint: Member must satisfy enum value set: [PROVISIONED, ON_DEMAND]", mode)
	}
	if n < 1 || n > 10000 {
		return nil, errInvalid("ShardCount %d must be between 1 and 10000.", n)
	}
	dist := in.RecordDistributionStrategy
	switch dist {
	case "":
		dist = RecordDistributionUserPartitionKey
		if mode == modeOnDemand && s.cfg.distribution != "" {
			dist = s.cfg.distribution
		}
	case RecordDistributionUserPartitionKey, RecordDistributionAuto:
		if dist == RecordDistributionAuto && mode != modeOnDemand {
			return nil, errInvalid("The AUTO record distribution strategy is supported for ON_DEMAND streams only; stream %s is %s.", in.StreamName, mode)
		}
	default:
		return nil, errDistributionEnum(dist)
	}
	maxKiB := defaultMaxRecordKiB
	if in.MaxRecordSizeInKiB != nil {
		maxKiB = *in.MaxRecordSizeInKiB
		if maxKiB < minRecordKiB || maxKiB > maxRecordKiB {
			return nil, errInvalid("MaxRecordSizeInKiB %d must be between %d and %d.", maxKiB, minRecordKiB, maxRecordKiB)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.streams[in.StreamName]; ok {
		return nil, errInUse("Stream %s under account %s already exists.", in.StreamName, s.cfg.account)
	}
	s.nextID++
	st := &stream{
		id:           s.nextID,
		name:         in.StreamName,
		arn:          s.streamARN(in.StreamName),
		created:      c.now,
		mode:         mode,
		retention:    defaultRetentionHours * time.Hour,
		encryption:   encryptionNone,
		maxRecordKiB: maxKiB,
		consumers:    make(map[string]*consumer),
		tags:         in.Tags,
		distribution: dist,
	}
	for _, rng := range uniformRanges(n) {
		st.newShard(rng, "", "", c.now)
	}
	st.rebuildOpen()
	s.streams[st.name] = st
	s.byID[st.id] = st
	return []byte("{}"), nil
}

func (s *Server) deleteStream(c *call) ([]byte, *Error) {
	var in struct {
		streamRef
		EnforceConsumerDeletion bool
	}
	if err := decode(c.body, &in); err != nil {
		return nil, err
	}
	st, err := s.lookup(in.streamRef)
	if err != nil {
		return nil, err
	}
	st.mu.Lock()
	if len(st.consumers) > 0 && !in.EnforceConsumerDeletion {
		st.mu.Unlock()
		return nil, errInUse("Stream %s has registered consumers; set EnforceConsumerDeletion to delete it.", st.name)
	}
	for _, sh := range st.shards {
		sh.wake() // subscriptions notice the stream is gone
	}
	st.mu.Unlock()
	s.mu.Lock()
	if s.streams[st.name] == st {
		delete(s.streams, st.name)
		delete(s.byID, st.id)
	}
	for k := range s.subs {
		if k.streamID == st.id {
			delete(s.subs, k)
		}
	}
	s.mu.Unlock()
	return []byte("{}"), nil
}

// live reports whether st is still the stream of its name (it has not been deleted).
func (s *Server) live(st *stream) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.byID[st.id] == st
}

func (st *stream) shardJSON(sh *shard) shardJSON {
	j := shardJSON{
		ShardId:               sh.id,
		ParentShardId:         sh.parent,
		AdjacentParentShardId: sh.adjacent,
		HashKeyRange:          hashKeyRangeJSON{sh.rng.Start.String(), sh.rng.End.String()},
		SequenceNumberRange:   seqRangeJSON{StartingSequenceNumber: st.seqString(sh.startSeq, sh)},
	}
	if !sh.isOpen() {
		j.SequenceNumberRange.EndingSequenceNumber = st.seqString(sh.endSeq, sh)
	}
	return j
}

func (s *Server) describeStream(c *call) ([]byte, *Error) {
	var in describeStreamInput
	if err := decode(c.body, &in); err != nil {
		return nil, err
	}
	st, err := s.lookup(in.streamRef)
	if err != nil {
		return nil, err
	}
	limit := 100
	if in.Limit != nil {
		limit = *in.Limit
		if limit < 1 || limit > 10000 {
			return nil, errorf(CodeValidation, "1 validation error detected: Value '%d' at 'limit' failed to satisfy constraint: Member must have value between 1 and 10000", limit)
		}
	}
	after := -1
	if in.ExclusiveStartShardId != "" {
		if idx, ok := parseShardIndex(in.ExclusiveStartShardId); ok {
			after = idx
		}
	}
	st.mu.RLock()
	defer st.mu.RUnlock()
	d := streamDescriptionJSON{
		StreamName:              st.name,
		StreamARN:               st.arn,
		StreamStatus:            statusActive,
		StreamModeDetails:       streamModeJSON{st.mode},
		Shards:                  []shardJSON{},
		RetentionPeriodHours:    int(st.retention / time.Hour),
		StreamCreationTimestamp: epoch(st.created),
		EnhancedMonitoring:      []enhancedMetricsJSON{{ShardLevelMetrics: nonNil(st.metrics)}},
		EncryptionType:          st.encryption,
		KeyId:                   st.keyID,
	}
	for _, sh := range st.shards {
		if sh.index <= after || !st.visible(sh, c.now) {
			continue
		}
		if len(d.Shards) == limit {
			d.HasMoreShards = true
			break
		}
		d.Shards = append(d.Shards, st.shardJSON(sh))
	}
	return encode(struct{ StreamDescription streamDescriptionJSON }{d})
}

func (s *Server) describeStreamSummary(c *call) ([]byte, *Error) {
	if s.cfg.limits && !s.accountLim.admitDescribeSummary(c.now) {
		return nil, errorf(CodeLimitExceeded, "Rate exceeded for DescribeStreamSummary under account %s: the limit is %d calls per second.", s.cfg.account, describeSummaryPerSec)
	}
	var in streamRef
	if err := decode(c.body, &in); err != nil {
		return nil, err
	}
	st, err := s.lookup(in)
	if err != nil {
		return nil, err
	}
	st.mu.RLock()
	defer st.mu.RUnlock()
	d := streamSummaryJSON{
		StreamName:              st.name,
		StreamARN:               st.arn,
		StreamStatus:            statusActive,
		StreamModeDetails:       streamModeJSON{st.mode},
		RetentionPeriodHours:    int(st.retention / time.Hour),
		StreamCreationTimestamp: epoch(st.created),
		EnhancedMonitoring:      []enhancedMetricsJSON{{ShardLevelMetrics: nonNil(st.metrics)}},
		EncryptionType:          st.encryption,
		KeyId:                   st.keyID,
		OpenShardCount:          st.openShardCount(),
		ConsumerCount:           len(st.consumers),
		MaxRecordSizeInKiB:      st.maxRecordKiB,
	}
	if st.mode == modeOnDemand {
		d.RecordDistributionStrategy = st.distribution
	}
	return encode(struct{ StreamDescriptionSummary streamSummaryJSON }{d})
}

func (s *Server) listStreams(c *call) ([]byte, *Error) {
	var in listStreamsInput
	if err := decode(c.body, &in); err != nil {
		return nil, err
	}
	limit := 100
	if in.Limit != nil {
		limit = *in.Limit
		if limit < 1 || limit > 10000 {
			return nil, errorf(CodeValidation, "1 validation error detected: Value '%d' at 'limit' failed to satisfy constraint: Member must have value between 1 and 10000", limit)
		}
		limit = min(limit, 100) // Kinesis returns at most 100 streams per call
	}
	after := in.ExclusiveStartStreamName
	if in.NextToken != "" {
		b, err := base64.RawURLEncoding.DecodeString(in.NextToken)
		if err != nil {
			return nil, errInvalid("NextToken %s is invalid.", in.NextToken)
		}
		after = string(b)
	}
	s.mu.RLock()
	names := make([]*stream, 0, len(s.streams))
	for _, st := range s.streams {
		if st.name > after {
			names = append(names, st)
		}
	}
	s.mu.RUnlock()
	sort.Slice(names, func(i, j int) bool { return names[i].name < names[j].name })
	out := listStreamsOutput{StreamNames: []string{}, StreamSummaries: []streamListEntryJSON{}}
	for i, st := range names {
		if i == limit {
			out.HasMoreStreams = true
			out.NextToken = base64.RawURLEncoding.EncodeToString([]byte(names[i-1].name))
			break
		}
		st.mu.RLock()
		mode := st.mode
		st.mu.RUnlock()
		out.StreamNames = append(out.StreamNames, st.name)
		out.StreamSummaries = append(out.StreamSummaries, streamListEntryJSON{
			StreamName:              st.name,
			StreamARN:               st.arn,
			StreamStatus:            statusActive,
			StreamModeDetails:       streamModeJSON{mode},
			StreamCreationTimestamp: epoch(st.created),
		})
	}
	return encode(out)
}

func (s *Server) changeRetention(c *call, increase bool) ([]byte, *Error) {
	var in retentionInput
	if err := decode(c.body, &in); err != nil {
		return nil, err
	}
	st, err := s.lookup(in.streamRef)
	if err != nil {
		return nil, err
	}
	h := in.RetentionPeriodHours
	if h < minRetentionHours || h > maxRetentionHours {
		return nil, errInvalid("Minimum allowed retention period is %d hours. Maximum allowed retention period is %d hours. Requested retention period (%d hours) is out of range.", minRetentionHours, maxRetentionHours, h)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	cur := int(st.retention / time.Hour)
	if increase && h < cur {
		return nil, errInvalid("Requested retention period (%d hours) for stream %s can not be shorter than existing retention period (%d hours). Use DecreaseRetentionPeriod API.", h, st.name, cur)
	}
	if !increase && h > cur {
		return nil, errInvalid("Requested retention period (%d hours) for stream %s can not be longer than existing retention period (%d hours). Use IncreaseRetentionPeriod API.", h, st.name, cur)
	}
	st.retention = time.Duration(h) * time.Hour
	return []byte("{}"), nil
}

func (s *Server) increaseRetention(c *call) ([]byte, *Error) { return s.changeRetention(c, true) }
func (s *Server) decreaseRetention(c *call) ([]byte, *Error) { return s.changeRetention(c, false) }

func (s *Server) setEncryption(c *call, start bool) ([]byte, *Error) {
	var in encryptionInput
	if err := decode(c.body, &in); err != nil {
		return nil, err
	}
	st, err := s.lookup(in.streamRef)
	if err != nil {
		return nil, err
	}
	if in.EncryptionType != encryptionKMS {
		return nil, errorf(CodeValidation, "1 validation error detected: Value '%s' at 'encryptionType' failed to satisfy constraint: Member must satisfy enum value set: [KMS]", in.EncryptionType)
	}
	if in.KeyId == "" {
		return nil, errorf(CodeValidation, "1 validation error detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null")
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if start {
		st.encryption, st.keyID = encryptionKMS, in.KeyId
	} else {
		st.encryption, st.keyID = encryptionNone, ""
	}
	return []byte("{}"), nil
}

func (s *Server) startEncryption(c *call) ([]byte, *Error) { return s.setEncryption(c, true) }
func (s *Server) stopEncryption(c *call) ([]byte, *Error)  { return s.setEncryption(c, false) }

func (s *Server) updateMaxRecordSize(c *call) ([]byte, *Error) {
	var in maxRecordSizeInput
	if err := decode(c.body, &in); err != nil {
		return nil, err
	}
	st, err := s.lookup(in.streamRef)
	if err != nil {
		return nil, err
	}
	if k := in.MaxRecordSizeInKiB; k < minRecordKiB || k > maxRecordKiB {
		return nil, errorf(CodeValidation, "1 validation error detected: Value '%d' at 'maxRecordSizeInKiB' failed to satisfy constraint: Member must have value between %d and %d", k, minRecordKiB, maxRecordKiB)
	}
	st.mu.Lock()
	st.maxRecordKiB = in.MaxRecordSizeInKiB
	st.mu.Unlock()
	return []byte("{}"), nil
}

func errDistributionEnum(v string) *Error {
	return errorf(CodeValidation, "1 validation error detected: Value '%s' at 'recordDistributionStrategy' failed to satisfy constraint: Member must satisfy enum value set: [AUTO, USER_PARTITION_KEY]", v)
}

// updateRecordDistribution is UpdateStreamRecordDistributionStrategy: it names the stream by ARN only
// and switches an ON_DEMAND stream between AUTO and USER_PARTITION_KEY; records written afterwards
// are placed by the new strategy, records already written stay where they are.
func (s *Server) updateRecordDistribution(c *call) ([]byte, *Error) {
	var in struct {
		StreamARN                  string
		RecordDistributionStrategy string
	}
	if err := decode(c.body, &in); err != nil {
		return nil, err
	}
	var v violations
	if in.StreamARN == "" {
		v.add("Value null at 'streamARN' failed to satisfy constraint: Member must not be null")
	}
	switch in.RecordDistributionStrategy {
	case RecordDistributionAuto, RecordDistributionUserPartitionKey:
	case "":
		v.add("Value null at 'recordDistributionStrategy' failed to satisfy constraint: Member must not be null")
	default:
		v.add("Value '%s' at 'recordDistributionStrategy' failed to satisfy constraint: Member must satisfy enum value set: [AUTO, USER_PARTITION_KEY]", in.RecordDistributionStrategy)
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	st, err := s.lookup(streamRef{StreamARN: in.StreamARN})
	if err != nil {
		return nil, err
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if in.RecordDistributionStrategy == RecordDistributionAuto && st.mode != modeOnDemand {
		return nil, errInvalid("The AUTO record distribution strategy is supported for ON_DEMAND streams only; stream %s is %s.", st.name, st.mode)
	}
	st.distribution = in.RecordDistributionStrategy
	return []byte("{}"), nil
}
