package lease

import (
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// write collects the pieces of one conditional UpdateItem: attribute names are always referenced through
// #placeholders (some, like "checkpoint", would otherwise risk DynamoDB's reserved words) and values
// through :placeholders.
type write struct {
	names  map[string]string
	values map[string]types.AttributeValue
	conds  []string
	set    []string
	remove []string
	add    []string
}

func newWrite() *write {
	return &write{names: map[string]string{}, values: map[string]types.AttributeValue{}}
}

// name returns the placeholder of attribute a.
func (w *write) name(a string) string {
	p := "#" + a
	w.names[p] = a
	return p
}

// value registers v under placeholder :id and returns the placeholder.
func (w *write) value(id string, v types.AttributeValue) string {
	p := ":" + id
	w.values[p] = v
	return p
}

func (w *write) condEquals(attr string, id string, v types.AttributeValue) *write {
	w.conds = append(w.conds, w.name(attr)+" = "+w.value(id, v))
	return w
}

func (w *write) condExists(attr string) *write {
	w.conds = append(w.conds, "attribute_exists("+w.name(attr)+")")
	return w
}

func (w *write) condNotExists(attr string) *write {
	w.conds = append(w.conds, "attribute_not_exists("+w.name(attr)+")")
	return w
}

// condCounter requires the lease counter to be exactly counter (which also requires the item to exist).
func (w *write) condCounter(counter int64) *write {
	return w.condEquals(attrCounter, "expectedCounter", attrN(counter))
}

// condOwner requires the owner to be owner, or the lease to be unowned when owner is "".
func (w *write) condOwner(owner string) *write {
	if owner == "" {
		return w.condNotExists(attrOwner)
	}
	return w.condEquals(attrOwner, "expectedOwner", attrS(owner))
}

func (w *write) setValue(attr, id string, v types.AttributeValue) *write {
	w.set = append(w.set, w.name(attr)+" = "+w.value(id, v))
	return w
}

// bumpCounter sets the counter to counter+1; with condCounter(counter) this is the Java KCL's update.
func (w *write) bumpCounter(counter int64) *write {
	return w.setValue(attrCounter, "nextCounter", attrN(counter+1))
}

func (w *write) removeAttr(attrs ...string) *write {
	for _, a := range attrs {
		w.remove = append(w.remove, w.name(a))
	}
	return w
}

func (w *write) addNumber(attr, id string, n int64) *write {
	w.add = append(w.add, w.name(attr)+" "+w.value(id, attrN(n)))
	return w
}

func (w *write) condition() *string {
	if len(w.conds) == 0 {
		return nil
	}
	s := strings.Join(w.conds, " AND ")
	return &s
}

func (w *write) update() *string {
	var parts []string
	if len(w.set) > 0 {
		parts = append(parts, "SET "+strings.Join(w.set, ", "))
	}
	if len(w.remove) > 0 {
		parts = append(parts, "REMOVE "+strings.Join(w.remove, ", "))
	}
	if len(w.add) > 0 {
		parts = append(parts, "ADD "+strings.Join(w.add, ", "))
	}
	s := strings.Join(parts, " ")
	return &s
}

func (w *write) valuesOrNil() map[string]types.AttributeValue {
	if len(w.values) == 0 {
		return nil
	}
	return w.values
}
