package pyobj

import (
	"errors"
	"fmt"
)

// finish checks the value a pickle returns.
func (d *decoder) finish(root Value) error {
	err := checkGraph(root, d.b.lim.MaxDepth, func(v Value) error {
		if a, ok := v.(*Array); ok && d.pending[a] {
			return errors.New("an ndarray never received its state (BUILD)")
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("pickle: %w", err)
	}
	return nil
}

// checkGraph walks the values reachable from root and fails if they form a
// cycle, if they nest deeper than maxDepth, or if check fails for one of
// them. Each container is visited once, so shared values cost nothing
// extra however many paths lead to them. It uses its own stack, never
// recursion.
func checkGraph(root Value, maxDepth int, check func(Value) error) error {
	type frame struct {
		key    any
		node   Value
		next   int // index of the next child to visit
		height int // greatest height of the children seen so far
	}
	const inProgress = -1
	key, ok := nodeKey(root)
	if !ok {
		return nil
	}
	if err := check(root); err != nil {
		return err
	}
	if maxDepth < 1 {
		return fmt.Errorf("nested deeper than %d (MaxDepth): %w", maxDepth, ErrLimit)
	}
	height := map[any]int{key: inProgress} // of containers visited
	stack := []frame{{key: key, node: root}}
	for len(stack) > 0 {
		f := &stack[len(stack)-1]
		child, more := childAt(f.node, f.next)
		if !more {
			h := f.height + 1
			height[f.key] = h
			stack = stack[:len(stack)-1]
			if len(stack) > 0 {
				p := &stack[len(stack)-1]
				p.height = max(p.height, h)
			}
			continue
		}
		f.next++
		ck, ok := nodeKey(child)
		if !ok {
			continue
		}
		if h, seen := height[ck]; seen {
			if h == inProgress {
				return errors.New("the value graph has a cycle (a container contains itself)")
			}
			if len(stack)+h > maxDepth {
				return fmt.Errorf("nested deeper than %d (MaxDepth): %w", maxDepth, ErrLimit)
			}
			f.height = max(f.height, h)
			continue
		}
		if len(stack)+1 > maxDepth {
			return fmt.Errorf("nested deeper than %d (MaxDepth): %w", maxDepth, ErrLimit)
		}
		if err := check(child); err != nil {
			return err
		}
		height[ck] = inProgress
		stack = append(stack, frame{key: ck, node: child})
	}
	return nil
}

// nodeKey identifies a container value for checkGraph; ok is false for
// values without children. A Tuple is identified by its first element's
// address: the readers never let two tuples share storage unless they are
// the same tuple.
func nodeKey(v Value) (key any, ok bool) {
	switch v := v.(type) {
	case *List, *Dict, *Set, *Object, *Array:
		return v, true
	case Tuple:
		if len(v) > 0 {
			return &v[0], true
		}
	}
	return nil, false
}

// childAt returns a container's i-th child. An Object's children are its
// Args (as one Tuple, so that objects sharing an argument tuple share the
// walk) and its State.
func childAt(v Value, i int) (Value, bool) {
	var items []Value
	switch v := v.(type) {
	case Tuple:
		items = v
	case *List:
		items = v.Items
	case *Set:
		items = v.Items
	case *Array:
		items = v.Objects
	case *Dict:
		if i < len(v.Keys) {
			return v.Keys[i], true
		}
		i -= len(v.Keys)
		items = v.Values
	case *Object:
		switch i {
		case 0:
			return Tuple(v.Args), true
		case 1:
			return v.State, true
		}
	}
	if i < len(items) {
		return items[i], true
	}
	return nil, false
}
