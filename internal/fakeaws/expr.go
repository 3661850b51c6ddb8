package fakeaws

import (
	"bytes"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"unicode"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// This file implements the subset of DynamoDB's expression language the fake supports, with DynamoDB's
// semantics: top-level attribute paths only (a name or a #placeholder), values only as :placeholders.
//
// Conditions: OR, AND, NOT, parentheses, comparisons = <> < <= > >=, attribute_exists(path),
// attribute_not_exists(path), begins_with(path, operand).
// Updates: SET path = operand | operand + operand | operand - operand | if_not_exists(path, operand);
// REMOVE path; ADD path :number-or-set; DELETE path :set.
// Anything else is a ValidationException, as DynamoDB answers for malformed expressions.

type token struct {
	kind string // "ident", "name" (#x), "value" (:x), or the punctuation itself
	text string
}

func tokenize(s string) ([]token, error) {
	var out []token
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '#' || c == ':' || isIdent(c):
			j := i + 1
			for j < len(s) && isIdent(s[j]) {
				j++
			}
			kind := "ident"
			if c == '#' {
				kind = "name"
			} else if c == ':' {
				kind = "value"
			}
			if (kind != "ident" && j == i+1) || (j < len(s) && (s[j] == '.' || s[j] == '[')) {
				return nil, fmt.Errorf("invalid or nested attribute path near %q (the fake supports top-level attributes only)", s[i:])
			}
			out = append(out, token{kind, s[i:j]})
			i = j
		case strings.HasPrefix(s[i:], "<>") || strings.HasPrefix(s[i:], "<=") || strings.HasPrefix(s[i:], ">="):
			out = append(out, token{s[i : i+2], s[i : i+2]})
			i += 2
		case strings.ContainsRune("()=<>,+-", rune(c)):
			out = append(out, token{string(c), string(c)})
			i++
		default:
			return nil, fmt.Errorf("unexpected character %q in expression", c)
		}
	}
	return out, nil
}

func isIdent(c byte) bool {
	return c == '_' || c < 128 && (unicode.IsLetter(rune(c)) || unicode.IsDigit(rune(c)))
}

// exprCtx resolves placeholders and records which ones were used, because DynamoDB rejects requests that
// define names or values no expression uses.
type exprCtx struct {
	names      map[string]string
	values     map[string]types.AttributeValue
	usedNames  map[string]bool
	usedValues map[string]bool
}

func newExprCtx(names map[string]string, values map[string]types.AttributeValue) *exprCtx {
	return &exprCtx{names: names, values: values, usedNames: map[string]bool{}, usedValues: map[string]bool{}}
}

func (x *exprCtx) checkAllUsed() error {
	for n := range x.names {
		if !x.usedNames[n] {
			return fmt.Errorf("Value provided in ExpressionAttributeNames unused in expressions: keys: {%s}", n)
		}
	}
	for v := range x.values {
		if !x.usedValues[v] {
			return fmt.Errorf("Value provided in ExpressionAttributeValues unused in expressions: keys: {%s}", v)
		}
	}
	return nil
}

type parser struct {
	x    *exprCtx
	toks []token
	pos  int
}

func (p *parser) peek() token {
	if p.pos < len(p.toks) {
		return p.toks[p.pos]
	}
	return token{kind: "eof"}
}

func (p *parser) next() token { t := p.peek(); p.pos++; return t }

func (p *parser) keyword(k string) bool {
	t := p.peek()
	if t.kind == "ident" && strings.EqualFold(t.text, k) {
		p.pos++
		return true
	}
	return false
}

func (p *parser) expect(kind string) error {
	if t := p.next(); t.kind != kind {
		return fmt.Errorf("syntax error: expected %q, found %q", kind, t.text)
	}
	return nil
}

// path parses an attribute path and returns the attribute name.
func (p *parser) path() (string, error) {
	t := p.next()
	switch t.kind {
	case "ident":
		return t.text, nil
	case "name":
		n, ok := p.x.names[t.text]
		if !ok {
			return "", fmt.Errorf("An expression attribute name used in the document path is not defined; attribute name: %s", t.text)
		}
		p.x.usedNames[t.text] = true
		return n, nil
	}
	return "", fmt.Errorf("syntax error: expected an attribute path, found %q", t.text)
}

// operand is a path (evaluated against an item) or a literal value.
type operand struct {
	path  string
	value types.AttributeValue
}

func (o operand) eval(item map[string]types.AttributeValue) (types.AttributeValue, bool) {
	if o.value != nil {
		return o.value, true
	}
	v, ok := item[o.path]
	return v, ok
}

func (p *parser) operand() (operand, error) {
	if t := p.peek(); t.kind == "value" {
		p.pos++
		v, ok := p.x.values[t.text]
		if !ok {
			return operand{}, fmt.Errorf("An expression attribute value used in expression is not defined; attribute value: %s", t.text)
		}
		p.x.usedValues[t.text] = true
		return operand{value: v}, nil
	}
	n, err := p.path()
	return operand{path: n}, err
}

// cond is a parsed condition.
type cond func(item map[string]types.AttributeValue) bool

func parseCondition(s string, x *exprCtx) (cond, error) {
	toks, err := tokenize(s)
	if err != nil {
		return nil, err
	}
	p := &parser{x: x, toks: toks}
	c, err := p.or()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != "eof" {
		return nil, fmt.Errorf("syntax error: unexpected %q", t.text)
	}
	return c, nil
}

func (p *parser) or() (cond, error) {
	l, err := p.and()
	for err == nil && p.keyword("OR") {
		var r cond
		if r, err = p.and(); err == nil {
			a, b := l, r
			l = func(it map[string]types.AttributeValue) bool { return a(it) || b(it) }
		}
	}
	return l, err
}

func (p *parser) and() (cond, error) {
	l, err := p.not()
	for err == nil && p.keyword("AND") {
		var r cond
		if r, err = p.not(); err == nil {
			a, b := l, r
			l = func(it map[string]types.AttributeValue) bool { return a(it) && b(it) }
		}
	}
	return l, err
}

func (p *parser) not() (cond, error) {
	if p.keyword("NOT") {
		c, err := p.not()
		if err != nil {
			return nil, err
		}
		return func(it map[string]types.AttributeValue) bool { return !c(it) }, nil
	}
	return p.primary()
}

func (p *parser) primary() (cond, error) {
	if p.peek().kind == "(" {
		p.pos++
		c, err := p.or()
		if err != nil {
			return nil, err
		}
		return c, p.expect(")")
	}
	t := p.peek()
	if t.kind == "ident" && p.pos+1 < len(p.toks) && p.toks[p.pos+1].kind == "(" {
		p.pos += 2
		return p.function(strings.ToLower(t.text))
	}
	l, err := p.operand()
	if err != nil {
		return nil, err
	}
	op := p.next()
	r, err := p.operand()
	if err != nil {
		return nil, err
	}
	switch op.kind {
	case "=", "<>", "<", "<=", ">", ">=":
	default:
		return nil, fmt.Errorf("syntax error: expected a comparator, found %q", op.text)
	}
	return func(it map[string]types.AttributeValue) bool {
		a, okA := l.eval(it)
		b, okB := r.eval(it)
		if !okA || !okB { // a missing attribute is never equal, less or greater than anything
			return op.kind == "<>"
		}
		switch op.kind {
		case "=":
			return equal(a, b)
		case "<>":
			return !equal(a, b)
		}
		c, ok := compare(a, b)
		if !ok {
			return false
		}
		switch op.kind {
		case "<":
			return c < 0
		case "<=":
			return c <= 0
		case ">":
			return c > 0
		}
		return c >= 0
	}, nil
}

func (p *parser) function(name string) (cond, error) {
	switch name {
	case "attribute_exists", "attribute_not_exists":
		attr, err := p.path()
		if err != nil {
			return nil, err
		}
		if err := p.expect(")"); err != nil {
			return nil, err
		}
		want := name == "attribute_exists"
		return func(it map[string]types.AttributeValue) bool { _, ok := it[attr]; return ok == want }, nil
	case "begins_with":
		attr, err := p.path()
		if err != nil {
			return nil, err
		}
		if err := p.expect(","); err != nil {
			return nil, err
		}
		prefix, err := p.operand()
		if err != nil {
			return nil, err
		}
		if err := p.expect(")"); err != nil {
			return nil, err
		}
		return func(it map[string]types.AttributeValue) bool {
			a, okA := it[attr].(*types.AttributeValueMemberS)
			v, _ := prefix.eval(it)
			b, okB := v.(*types.AttributeValueMemberS)
			return okA && okB && strings.HasPrefix(a.Value, b.Value)
		}, nil
	}
	return nil, fmt.Errorf("Invalid function name; function: %s", name)
}

// update is a parsed update expression: actions applied to a copy of the item.
type update struct {
	paths   []string
	actions []func(item map[string]types.AttributeValue) error
}

func parseUpdate(s string, x *exprCtx) (*update, error) {
	toks, err := tokenize(s)
	if err != nil {
		return nil, err
	}
	p := &parser{x: x, toks: toks}
	u := &update{}
	seen := map[string]bool{}
	for p.peek().kind != "eof" {
		clause := p.next()
		kw := strings.ToUpper(clause.text)
		if clause.kind != "ident" || !slices.Contains([]string{"SET", "REMOVE", "ADD", "DELETE"}, kw) {
			return nil, fmt.Errorf("syntax error: expected SET, REMOVE, ADD or DELETE, found %q", clause.text)
		}
		if seen[kw] {
			return nil, fmt.Errorf("The %s section can only be used once in an update expression", kw)
		}
		seen[kw] = true
		for {
			attr, act, err := p.action(kw)
			if err != nil {
				return nil, err
			}
			if slices.Contains(u.paths, attr) {
				return nil, fmt.Errorf("Two document paths overlap with each other; path one: [%s], path two: [%s]", attr, attr)
			}
			u.paths = append(u.paths, attr)
			u.actions = append(u.actions, act)
			if p.peek().kind != "," {
				break
			}
			p.pos++
		}
	}
	if len(u.actions) == 0 {
		return nil, fmt.Errorf("empty update expression")
	}
	return u, nil
}

func (p *parser) action(kw string) (string, func(map[string]types.AttributeValue) error, error) {
	attr, err := p.path()
	if err != nil {
		return "", nil, err
	}
	switch kw {
	case "REMOVE":
		return attr, func(it map[string]types.AttributeValue) error { delete(it, attr); return nil }, nil
	case "ADD", "DELETE":
		v, err := p.operand()
		if err != nil {
			return "", nil, err
		}
		if v.value == nil {
			return "", nil, fmt.Errorf("%s takes a value placeholder", kw)
		}
		return attr, func(it map[string]types.AttributeValue) error {
			nv, err := addOrDelete(kw, it[attr], v.value)
			if err != nil {
				return err
			}
			if nv == nil {
				delete(it, attr)
			} else {
				it[attr] = nv
			}
			return nil
		}, nil
	}
	// SET
	if err := p.expect("="); err != nil {
		return "", nil, err
	}
	val, err := p.setValue()
	if err != nil {
		return "", nil, err
	}
	return attr, func(it map[string]types.AttributeValue) error {
		v, err := val(it)
		if err != nil {
			return err
		}
		it[attr] = v
		return nil
	}, nil
}

type valueFn func(item map[string]types.AttributeValue) (types.AttributeValue, error)

func (p *parser) setValue() (valueFn, error) {
	l, err := p.setOperand()
	if err != nil {
		return nil, err
	}
	if k := p.peek().kind; k == "+" || k == "-" {
		p.pos++
		r, err := p.setOperand()
		if err != nil {
			return nil, err
		}
		return func(it map[string]types.AttributeValue) (types.AttributeValue, error) {
			a, err := l(it)
			if err != nil {
				return nil, err
			}
			b, err := r(it)
			if err != nil {
				return nil, err
			}
			return arith(k, a, b)
		}, nil
	}
	return l, nil
}

func (p *parser) setOperand() (valueFn, error) {
	if t := p.peek(); t.kind == "ident" && strings.EqualFold(t.text, "if_not_exists") {
		p.pos++
		if err := p.expect("("); err != nil {
			return nil, err
		}
		attr, err := p.path()
		if err != nil {
			return nil, err
		}
		if err := p.expect(","); err != nil {
			return nil, err
		}
		def, err := p.operand()
		if err != nil {
			return nil, err
		}
		if err := p.expect(")"); err != nil {
			return nil, err
		}
		return func(it map[string]types.AttributeValue) (types.AttributeValue, error) {
			if v, ok := it[attr]; ok {
				return v, nil
			}
			v, ok := def.eval(it)
			if !ok {
				return nil, fmt.Errorf("The provided expression refers to an attribute that does not exist in the item")
			}
			return v, nil
		}, nil
	}
	o, err := p.operand()
	if err != nil {
		return nil, err
	}
	return func(it map[string]types.AttributeValue) (types.AttributeValue, error) {
		v, ok := o.eval(it)
		if !ok {
			return nil, fmt.Errorf("The provided expression refers to an attribute that does not exist in the item")
		}
		return v, nil
	}, nil
}

func number(v types.AttributeValue) (*big.Rat, bool) {
	n, ok := v.(*types.AttributeValueMemberN)
	if !ok {
		return nil, false
	}
	r, ok := new(big.Rat).SetString(n.Value)
	return r, ok
}

func formatNumber(r *big.Rat) types.AttributeValue {
	if r.IsInt() {
		return &types.AttributeValueMemberN{Value: r.Num().String()}
	}
	return &types.AttributeValueMemberN{Value: r.FloatString(38)}
}

func arith(op string, a, b types.AttributeValue) (types.AttributeValue, error) {
	x, okA := number(a)
	y, okB := number(b)
	if !okA || !okB {
		return nil, fmt.Errorf("An operand in the update expression has an incorrect data type")
	}
	if op == "+" {
		return formatNumber(new(big.Rat).Add(x, y)), nil
	}
	return formatNumber(new(big.Rat).Sub(x, y)), nil
}

func addOrDelete(kw string, cur, v types.AttributeValue) (types.AttributeValue, error) {
	switch v := v.(type) {
	case *types.AttributeValueMemberN:
		if kw != "ADD" {
			return nil, fmt.Errorf("DELETE takes a set")
		}
		if cur == nil {
			return v, nil
		}
		return arith("+", cur, v)
	case *types.AttributeValueMemberSS:
		var have []string
		if cur != nil {
			c, ok := cur.(*types.AttributeValueMemberSS)
			if !ok {
				return nil, fmt.Errorf("An operand in the update expression has an incorrect data type")
			}
			have = slices.Clone(c.Value)
		}
		for _, s := range v.Value {
			i := slices.Index(have, s)
			switch {
			case kw == "ADD" && i < 0:
				have = append(have, s)
			case kw == "DELETE" && i >= 0:
				have = slices.Delete(have, i, i+1)
			}
		}
		if len(have) == 0 {
			return nil, nil
		}
		return &types.AttributeValueMemberSS{Value: have}, nil
	}
	return nil, fmt.Errorf("%s supports numbers and string sets only in this fake", kw)
}

func equal(a, b types.AttributeValue) bool {
	switch a := a.(type) {
	case *types.AttributeValueMemberS:
		b, ok := b.(*types.AttributeValueMemberS)
		return ok && a.Value == b.Value
	case *types.AttributeValueMemberN:
		x, _ := number(a)
		y, ok := number(b)
		return ok && x != nil && x.Cmp(y) == 0
	case *types.AttributeValueMemberB:
		b, ok := b.(*types.AttributeValueMemberB)
		return ok && bytes.Equal(a.Value, b.Value)
	case *types.AttributeValueMemberBOOL:
		b, ok := b.(*types.AttributeValueMemberBOOL)
		return ok && a.Value == b.Value
	case *types.AttributeValueMemberNULL:
		_, ok := b.(*types.AttributeValueMemberNULL)
		return ok
	case *types.AttributeValueMemberSS:
		b, ok := b.(*types.AttributeValueMemberSS)
		return ok && sameSet(a.Value, b.Value)
	}
	return false
}

func sameSet(a, b []string) bool {
	x, y := slices.Clone(a), slices.Clone(b)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(x, y)
}

func compare(a, b types.AttributeValue) (int, bool) {
	switch a := a.(type) {
	case *types.AttributeValueMemberS:
		if b, ok := b.(*types.AttributeValueMemberS); ok {
			return strings.Compare(a.Value, b.Value), true
		}
	case *types.AttributeValueMemberN:
		x, okA := number(a)
		y, okB := number(b)
		if okA && okB {
			return x.Cmp(y), true
		}
	case *types.AttributeValueMemberB:
		if b, ok := b.(*types.AttributeValueMemberB); ok {
			return bytes.Compare(a.Value, b.Value), true
		}
	}
	return 0, false
}
