package kinesistest

import (
	"encoding/base64"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Enhanced fan-out consumers: Register, Describe, List, Deregister. Consumers are ACTIVE at once.

type consumer struct {
	name    string
	arn     string
	created time.Time
}

var consumerNameRE = regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,128}$`)

func (st *stream) consumerJSON(c *consumer, withStream bool) consumerJSON {
	j := consumerJSON{ConsumerName: c.name, ConsumerARN: c.arn, ConsumerStatus: statusActive, ConsumerCreationTimestamp: epoch(c.created)}
	if withStream {
		j.StreamARN = st.arn
	}
	return j
}

// consumerByARN finds a consumer from its ARN, "<stream ARN>/consumer/<name>:<creation seconds>".
func (s *Server) consumerByARN(arn string) (*stream, *consumer, *Error) {
	streamARN, rest, ok := strings.Cut(arn, "/consumer/")
	if !ok {
		return nil, nil, errInvalid("ConsumerARN %s is not a valid consumer ARN.", arn)
	}
	st, err := s.lookup(streamRef{StreamARN: streamARN})
	if err != nil {
		return nil, nil, err
	}
	name, _, _ := strings.Cut(rest, ":")
	st.mu.RLock()
	c := st.consumers[name]
	st.mu.RUnlock()
	if c == nil || c.arn != arn {
		return nil, nil, errNotFound("Consumer %s under account %s not found.", arn, s.cfg.account)
	}
	return st, c, nil
}

func (s *Server) registerConsumer(c *call) ([]byte, *Error) {
	var in consumerInput
	if err := decode(c.body, &in); err != nil {
		return nil, err
	}
	if !consumerNameRE.MatchString(in.ConsumerName) {
		return nil, errorf(CodeValidation, "1 validation error detected: Value '%s' at 'consumerName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+", in.ConsumerName)
	}
	st, err := s.lookup(streamRef{StreamARN: in.StreamARN})
	if err != nil {
		return nil, err
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if _, ok := st.consumers[in.ConsumerName]; ok {
		return nil, errInUse("Consumer %s under stream %s already exists for account %s.", in.ConsumerName, st.name, s.cfg.account)
	}
	if len(st.consumers) >= maxConsumersPerStream {
		return nil, errorf(CodeLimitExceeded, "Consumer limit of %d exceeded for stream %s.", maxConsumersPerStream, st.name)
	}
	con := &consumer{
		name:    in.ConsumerName,
		arn:     st.arn + "/consumer/" + in.ConsumerName + ":" + strconv.FormatInt(c.now.Unix(), 10),
		created: c.now,
	}
	st.consumers[con.name] = con
	return encode(struct{ Consumer consumerJSON }{st.consumerJSON(con, false)})
}

// findConsumer resolves ConsumerARN, or StreamARN plus ConsumerName.
func (s *Server) findConsumer(in consumerInput) (*stream, *consumer, *Error) {
	if in.ConsumerARN != "" {
		return s.consumerByARN(in.ConsumerARN)
	}
	if in.StreamARN == "" || in.ConsumerName == "" {
		return nil, nil, errInvalid("Either ConsumerARN or both StreamARN and ConsumerName must be provided.")
	}
	st, err := s.lookup(streamRef{StreamARN: in.StreamARN})
	if err != nil {
		return nil, nil, err
	}
	st.mu.RLock()
	con := st.consumers[in.ConsumerName]
	st.mu.RUnlock()
	if con == nil {
		return nil, nil, errNotFound("Consumer %s under stream %s not found.", in.ConsumerName, st.name)
	}
	return st, con, nil
}

func (s *Server) describeConsumer(c *call) ([]byte, *Error) {
	var in consumerInput
	if err := decode(c.body, &in); err != nil {
		return nil, err
	}
	st, con, err := s.findConsumer(in)
	if err != nil {
		return nil, err
	}
	return encode(struct{ ConsumerDescription consumerJSON }{st.consumerJSON(con, true)})
}

func (s *Server) listConsumers(c *call) ([]byte, *Error) {
	var in listConsumersInput
	if err := decode(c.body, &in); err != nil {
		return nil, err
	}
	st, err := s.lookup(streamRef{StreamARN: in.StreamARN})
	if err != nil {
		return nil, err
	}
	limit := 100
	if in.MaxResults != nil {
		limit = *in.MaxResults
		if limit < 1 || limit > 10000 {
			return nil, errorf(CodeValidation, "1 validation error detected: Value '%d' at 'maxResults' failed to satisfy constraint: Member must have value between 1 and 10000", limit)
		}
		limit = min(limit, 100) // Kinesis returns at most 100 consumers per call
	}
	after := ""
	if in.NextToken != "" {
		b, derr := base64.RawURLEncoding.DecodeString(in.NextToken)
		if derr != nil {
			return nil, errInvalid("NextToken %s is invalid.", in.NextToken)
		}
		after = string(b)
	}
	st.mu.RLock()
	list := make([]*consumer, 0, len(st.consumers))
	for _, con := range st.consumers {
		if con.name > after {
			list = append(list, con)
		}
	}
	st.mu.RUnlock()
	sort.Slice(list, func(i, j int) bool { return list[i].name < list[j].name })
	out := listConsumersOutput{Consumers: []consumerJSON{}}
	for i, con := range list {
		if i == limit {
			out.NextToken = base64.RawURLEncoding.EncodeToString([]byte(list[i-1].name))
			break
		}
		out.Consumers = append(out.Consumers, st.consumerJSON(con, false))
	}
	return encode(out)
}

func (s *Server) deregisterConsumer(c *call) ([]byte, *Error) {
	var in consumerInput
	if err := decode(c.body, &in); err != nil {
		return nil, err
	}
	st, con, err := s.findConsumer(in)
	if err != nil {
		return nil, err
	}
	st.mu.Lock()
	if st.consumers[con.name] == con {
		delete(st.consumers, con.name)
	}
	for _, sh := range st.shards {
		sh.wake() // its subscriptions end
	}
	st.mu.Unlock()
	return []byte("{}"), nil
}
